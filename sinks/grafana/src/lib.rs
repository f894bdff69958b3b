//! Grafana data frames for gomon's backend data-source plugin.
//!
//! - [`Frame`], [`Field`], [`Values`]: a small data-frame model with the metadata Grafana
//!   reads (frame `meta`, field `labels` and `config`).
//! - [`to_arrow`]: a frame as an Arrow IPC file, as `QueryData` responses carry them.
//!   Field labels and config are both kept (the Rust SDK 0.5 drops labels when a field
//!   has config).
//! - [`to_json`]: a frame as data-frame JSON, as stream packets carry them.
//! - Builders: [`node_graph_frames`] (the connection graph, [`NodeGraph`]),
//!   [`time_series_frames`] (recent samples, [`Series`]) and [`logs_frame`] (recent
//!   observations, [`LogRow`]).
//!
//! No OS or WASM code; Arrow is used only for its arrays and IPC writer.
//!
//! ```
//! use gomon_sink_grafana::*;
//!
//! let graph = NodeGraph {
//!     nodes: vec![GraphNode { id: "812".into(), kind: NodeKind::Process, title: "nginx".into(), ..Default::default() }],
//!     edges: vec![],
//! };
//! let link = DrillDown { datasource_uid: "gomon".into(), datasource_name: "gomon".into(), scope: None };
//! let [nodes, edges] = node_graph_frames(&graph, "A", Some(&link), vec![]);
//! assert_eq!(nodes.field("arc__process").unwrap().values, Values::Float64(vec![1.0]));
//! let bytes = to_arrow(&nodes).unwrap();
//! assert!(bytes.starts_with(b"ARROW1") && bytes.ends_with(b"ARROW1"));
//! assert!(to_arrow(&edges).is_ok());
//! ```

mod arrow;
mod frame;
mod json;
mod logs;
mod nodegraph;
mod timeseries;

pub use arrow::to_arrow;
pub use frame::{
    DataLink, Field, FieldColor, FieldConfig, Frame, FrameMeta, InternalLink, Notice, QueryStat, Severity, Values,
};
pub use json::to_json;
pub use logs::{LogRow, logs_frame};
pub use nodegraph::{
    ARCS, Arc, DrillDown, GraphEdge, GraphNode, MAX_EDGE_DETAIL_COLUMNS, NodeGraph, NodeKind, node_graph_frames,
    normalised_arcs,
};
pub use timeseries::{Series, time_series_frames};

/// Why a frame could not be encoded; names the frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A field's length differs from the first field's.
    #[error("frame {frame:?}: field {field:?} has {found} values, the frame has {expected} rows")]
    Length {
        /// The frame.
        frame: String,
        /// The field.
        field: String,
        /// Its length.
        found: usize,
        /// The first field's length.
        expected: usize,
    },
    /// Metadata could not be written as JSON.
    #[error("frame {frame:?}: cannot write metadata as JSON: {source}")]
    Json {
        /// The frame.
        frame: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The Arrow writer failed.
    #[error("frame {frame:?}: Arrow encoding failed: {source}")]
    Arrow {
        /// The frame.
        frame: String,
        /// The cause.
        source: arrow_schema::ArrowError,
    },
}
