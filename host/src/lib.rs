//! gomon: a Linux system monitor whose metrics are derived by sandboxed
//! WebAssembly probes.
//!
//! The host samples the kernel ([`sample`]), builds a typed snapshot
//! ([`snapshot`]), hands it to the probes ([`runtime`]) on a schedule
//! ([`collect`]), observes events ([`observe`]) and delivers them through the
//! observe probes ([`observations`]). [`agent`] builds and owns all of that from
//! the configuration; the HTTPS server ([`serve`]) and Grafana plugin mode
//! ([`plugin`]) are adapters over it. The data flows one way: samplers know
//! nothing of probes, probes nothing of the OS, the adapters nothing of sampling,
//! and no layer imports from one above it.

pub mod agent;
pub mod collect;
pub mod config;
pub mod observations;
pub mod observe;
pub mod plugin;
pub mod runtime;
pub mod serve;
pub mod snapshot;
pub mod telemetry;
pub mod trust;

/// The samplers, a crate of their own (`host/sample`, no WASM or tokio in
/// it); `crate::sample::…` paths name them.
pub use gomon_sample as sample;

/// USER_HZ: clock ticks per second, read once (the samplers' seam owns it).
pub use gomon_sample::ticks_per_second;

/// The wasmtime version gomon is built with (pinned in Cargo.toml).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// An error with its causes, on one line (reqwest's own message hides the TLS or
/// connect reason).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
