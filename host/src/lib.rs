//! gomon: a Linux system monitor whose metrics are derived by sandboxed
//! WebAssembly probes.
//!
//! The host samples the kernel ([`sample`]), builds a typed snapshot
//! ([`snapshot`]), hands it to the probes ([`runtime`]) on a schedule
//! ([`collect`]), and serves the resulting metric families over HTTPS
//! ([`serve`]). The data flows one way: samplers know nothing of probes,
//! probes nothing of the OS, the server nothing of sampling.

pub mod collect;
pub mod config;
pub mod observations;
pub mod observe;
pub mod plugin;
pub mod runtime;
pub mod sample;
pub mod serve;
pub mod snapshot;
pub mod telemetry;
pub mod trust;

/// The wasmtime version gomon is built with (pinned in Cargo.toml).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// USER_HZ: clock ticks per second, read once.
pub fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 { ticks as f64 } else { 100.0 }
    })
}
