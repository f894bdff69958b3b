//! The guest SDK for gomon probes.
//!
//! A probe is a WebAssembly component that turns the host's snapshot of the
//! machine into Prometheus metric families. With this crate a probe is one
//! dependency, one [`Probe`] impl and one [`export_probe!`] line:
//!
//! ```
//! use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};
//!
//! #[derive(Default)]
//! struct Uptime;
//!
//! impl Probe for Uptime {
//!     fn info() -> ProbeInfo {
//!         ProbeInfo::new("uptime", env!("CARGO_PKG_VERSION"), "Seconds since boot.", [Capability::System])
//!     }
//!     fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
//!         let system = gomon_probe::require_system(now)?;
//!         // `None` when /proc/uptime could not be read: then no series.
//!         Ok(vec![Family::gauge("gomon_uptime_seconds", "Seconds since boot.").optional(system.uptime_seconds)])
//!     }
//! }
//!
//! gomon_probe::export_probe!(Uptime);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown` (then make a component
//! with `wit-component`) or for `wasm32-wasip2` (a component directly).
//!
//! A graph probe (the contract's `graph` world: it draws the connection
//! graph of processes, remote hosts and data on demand) is one [`GraphProbe`]
//! impl and one [`export_graph_probe!`] line:
//!
//! ```
//! use gomon_probe::{Arc, Capability, Graph, GraphProbe, GraphQuery, Node, NodeKind, ProbeInfo, Snapshot};
//!
//! #[derive(Default)]
//! struct Processes;
//!
//! impl GraphProbe for Processes {
//!     fn info() -> ProbeInfo {
//!         ProbeInfo::new("processes", env!("CARGO_PKG_VERSION"), "Every process, no edges.", [Capability::Processes])
//!     }
//!     fn draw(&mut self, now: &Snapshot, _query: &GraphQuery) -> Result<Graph, String> {
//!         let nodes = now.processes.iter().map(|p| Node {
//!             id: p.pid.to_string(),
//!             kind: NodeKind::Process,
//!             title: p.comm.clone(),
//!             subtitle: p.pid.to_string(),
//!             main_stat: String::new(),
//!             secondary_stat: String::new(),
//!             arcs: vec![Arc::whole("process")],
//!             details: vec![],
//!             depth: 0,
//!         });
//!         Ok(Graph { nodes: nodes.collect(), edges: vec![] })
//!     }
//! }
//!
//! gomon_probe::export_graph_probe!(Processes);
//! ```
//!
//! The contract is the WIT package `gomon:probe@0.2.0` in `probes-wit/wit`;
//! its records appear here as Rust structs with snake_case fields
//! (`taken-at-seconds` is [`Snapshot::taken_at_seconds`]).

mod family;
mod info;
pub mod log;
mod probe;
mod table;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod value;

#[doc(hidden)]
pub mod bindings;
mod graph;
#[doc(hidden)]
pub mod graph_bindings;
mod instance;
#[doc(hidden)]
pub mod metrics_bindings;
mod observe;
#[doc(hidden)]
pub mod observe_bindings;

pub use bindings::gomon::probe::types::{
    Capability, Connection, ConnectionKind, Cpu, CpuTimes, Disk, Event, FileEvent, FileEventKind,
    Filesystem, FilesystemUsage, Limits, Load, LogEvent, Memory, MetricFamily, MetricKind,
    NetworkInterface, Observation, ObservationSource, ProbeInfo, Process, ProcessDetails,
    ProcessEvent, ProcessEventKind, ProcessState, Series, Settings, Severity, Snapshot, System,
    VmEvents,
};
pub use family::{BASE_UNITS, Family};
pub use graph::GraphProbe;
pub use graph_bindings::exports::gomon::probe::topology::{
    Arc, Edge, Graph, GraphQuery, Node, NodeKind,
};
pub use observe::ObserveProbe;
pub use probe::{Probe, check_settings, require_setting, require_system, setting};
pub use table::{Column, table};

/// Implementation details of [`export_probe!`], [`export_graph_probe!`] and
/// [`export_observe_probe!`];
/// not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::export as export_probe_part;
    pub use crate::graph::GraphAdapter;
    pub use crate::graph_bindings::export as export_topology_part;
    pub use crate::metrics_bindings::export as export_metrics_part;
    pub use crate::observe::ObserveAdapter;
    pub use crate::observe_bindings::export as export_observations_part;
    pub use crate::probe::Adapter;

    /// Fails to compile unless `P` is a [`Probe`](crate::Probe).
    pub fn assert_probe<P: crate::Probe>() {}

    /// Fails to compile unless `P` is a [`GraphProbe`](crate::GraphProbe).
    pub fn assert_graph_probe<P: crate::GraphProbe>() {}

    /// Fails to compile unless `P` is an [`ObserveProbe`](crate::ObserveProbe).
    pub fn assert_observe_probe<P: crate::ObserveProbe>() {}
}

/// Exports a [`Probe`] implementation as the component's `probe` and
/// `metrics` interfaces.
///
/// Use it once per crate, at module level, with a type that implements
/// [`Probe`]:
///
/// ```ignore
/// gomon_probe::export_probe!(MyProbe);
/// ```
///
/// The host calls `describe`, then `configure`, then `measure` once per
/// sampling cycle. One instance of the type (made with [`Default`]) lives as
/// long as the component instance; see [`Probe`].
///
/// Off wasm32 (native unit tests) it only checks that the type is a
/// [`Probe`]: the contract's export names (`gomon:probe/metrics@0.2.0#measure`)
/// are not valid symbols for native linkers.
#[macro_export]
macro_rules! export_probe {
    ($probe:ty) => {
        const _: fn() = || $crate::__private::assert_probe::<$probe>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type GomonProbeExport = $crate::__private::Adapter<$probe>;
            $crate::__private::export_probe_part! { GomonProbeExport with_types_in $crate::bindings }
            $crate::__private::export_metrics_part! { GomonProbeExport with_types_in $crate::metrics_bindings }
        };
    };
}

/// Exports a [`GraphProbe`] implementation as the component's `probe` and
/// `topology` interfaces (the contract's `graph` world).
///
/// Use it once per crate, at module level, instead of [`export_probe!`]:
///
/// ```ignore
/// gomon_probe::export_graph_probe!(MyGraph);
/// ```
///
/// The host calls `describe`, then `configure`, then `draw` whenever the
/// graph is asked for. Off wasm32 it only checks that the type is a
/// [`GraphProbe`], as [`export_probe!`] does.
#[macro_export]
macro_rules! export_graph_probe {
    ($probe:ty) => {
        const _: fn() = || $crate::__private::assert_graph_probe::<$probe>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type GomonGraphProbeExport = $crate::__private::GraphAdapter<$probe>;
            $crate::__private::export_probe_part! { GomonGraphProbeExport with_types_in $crate::bindings }
            $crate::__private::export_topology_part! { GomonGraphProbeExport with_types_in $crate::graph_bindings }
        };
    };
}

/// Exports an [`ObserveProbe`] implementation as the component's `probe` and
/// `observations` interfaces (the contract's `observe` world).
///
/// ```ignore
/// gomon_probe::export_observe_probe!(MyFilter);
/// ```
///
/// The host calls `describe`, then `configure`, then `observe` once per
/// batch of events. Off wasm32 it only checks that the type is an
/// [`ObserveProbe`], as [`export_probe!`] does.
#[macro_export]
macro_rules! export_observe_probe {
    ($probe:ty) => {
        const _: fn() = || $crate::__private::assert_observe_probe::<$probe>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type GomonObserveProbeExport = $crate::__private::ObserveAdapter<$probe>;
            $crate::__private::export_probe_part! { GomonObserveProbeExport with_types_in $crate::bindings }
            $crate::__private::export_observations_part! { GomonObserveProbeExport with_types_in $crate::observe_bindings }
        };
    };
}
