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
pub mod serve;
pub mod snapshot;
pub mod telemetry;

/// The samplers, a crate of their own (`host/sample`, no WASM or tokio in
/// it); `crate::sample::…` paths name them.
pub use gomon_sample as sample;

/// USER_HZ: clock ticks per second, read once (the samplers' seam owns it).
pub use gomon_sample::ticks_per_second;

/// The wasmtime version gomon is built with (pinned in Cargo.toml).
pub const WASMTIME_VERSION: &str = "48.0.8";
