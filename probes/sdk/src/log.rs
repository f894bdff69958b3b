//! Writing to the gomon log.
//!
//! The host tags each line with the probe's name. Off wasm (in native unit
//! tests) lines go to standard error instead.
//!
//! ```
//! gomon_probe::log::info!("{} interfaces", 3);
//! gomon_probe::log::write(gomon_probe::log::Level::Warn, "no disks in the snapshot");
//! ```

pub use crate::bindings::gomon::probe::host::LogLevel as Level;

/// Writes `message` to the gomon log at `level`.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::gomon::probe::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style message at trace level.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace { ($($arg:tt)+) => { $crate::__log!(Trace, $($arg)+) }; }
/// Logs a `format!`-style message at debug level.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug { ($($arg:tt)+) => { $crate::__log!(Debug, $($arg)+) }; }
/// Logs a `format!`-style message at info level.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_info { ($($arg:tt)+) => { $crate::__log!(Info, $($arg)+) }; }
/// Logs a `format!`-style message at warn level.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn { ($($arg:tt)+) => { $crate::__log!(Warn, $($arg)+) }; }
/// Logs a `format!`-style message at error level.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_error { ($($arg:tt)+) => { $crate::__log!(Error, $($arg)+) }; }

#[doc(inline)]
pub use {
    __log_debug as debug, __log_error as error, __log_info as info, __log_trace as trace,
    __log_warn as warn,
};
