//! Recent observations as a logs frame (Grafana's `log-lines` data-plane type), newest
//! first:
//!
//! ```text
//! frame name = events, meta {"type":"log-lines","typeVersion":[0,0],"preferredVisualisationType":"logs"}
//!   timestamp  Timestamp(ns)
//!   body       Utf8                the line
//!   severity   Utf8                a log level, or `info` for process and file events
//!   id         Utf8                unique per row: `<nanoseconds>_<index>`
//!   labels     Binary (JSON)       {"source":"process","event":"exec","pid":"42",…}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::frame::{Field, Frame, FrameMeta, Notice, Values};

/// One log row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRow {
    /// Nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// The line.
    pub body: String,
    /// `trace`, `debug`, `info`, `warn`, `error`, `fatal` (Grafana colours by it).
    pub severity: String,
    /// Labels shown with the line.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The logs frame of `rows` (kept in the order given).
pub fn logs_frame(rows: &[LogRow], ref_id: &str, notices: Vec<Notice>) -> Frame {
    let meta = FrameMeta {
        frame_type: Some("log-lines".into()),
        type_version: Some([0, 0]),
        preferred_visualisation_type: Some("logs".into()),
        notices,
        ..Default::default()
    };
    Frame::new("events", ref_id)
        .with_meta(meta)
        .with_field(Field::new("timestamp", Values::Time(rows.iter().map(|r| r.time_nanos).collect())))
        .with_field(Field::new("body", Values::String(rows.iter().map(|r| r.body.clone()).collect())))
        .with_field(Field::new("severity", Values::String(rows.iter().map(|r| r.severity.clone()).collect())))
        .with_field(Field::new(
            "id",
            Values::String(rows.iter().enumerate().map(|(i, r)| format!("{}_{i}", r.time_nanos)).collect()),
        ))
        .with_field(Field::new("labels", Values::Json(rows.iter().map(|r| serde_json::json!(r.labels)).collect())))
}
