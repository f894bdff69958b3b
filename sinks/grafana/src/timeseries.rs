//! Recent samples as time-series frames, one frame per series (Grafana's
//! `timeseries-multi` data-plane type):
//!
//! ```text
//! frame name = gomon_load_average, meta {"type":"timeseries-multi","typeVersion":[0,1]}
//!   time   Timestamp(ns)
//!   value  Float64, labels {"window":"1m"}, config {"unit":"short","displayNameFromDS":…}
//! ```
//!
//! The model ([`Series`]) is also the JSON an agent serves at `/api/series`:
//!
//! ```json
//! [{"name":"gomon_load_average","labels":{"window":"1m"},"unit":"short",
//!   "displayName":"gomon_load_average{window=\"1m\"}","points":[[1700000000000,0.5]]}]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::frame::{Field, FieldConfig, Frame, FrameMeta, Notice, Values};

/// One series: a metric family's samples for one label set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The family name (`gomon_cpu_seconds_total`).
    pub name: String,
    /// The series' labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A Grafana unit id; empty for none.
    #[serde(default)]
    pub unit: String,
    /// How Grafana should name it; empty: Grafana derives it from name and labels.
    #[serde(default)]
    pub display_name: String,
    /// `(milliseconds since the epoch, value)`, oldest first.
    #[serde(default)]
    pub points: Vec<(i64, f64)>,
}

/// One frame per series. `notices` go on the first frame, or on a single empty frame when
/// there is no series (so the panel shows them).
pub fn time_series_frames(series: &[Series], ref_id: &str, notices: Vec<Notice>) -> Vec<Frame> {
    let meta =
        || FrameMeta { frame_type: Some("timeseries-multi".into()), type_version: Some([0, 1]), ..Default::default() };
    let mut frames: Vec<Frame> = series
        .iter()
        .map(|s| {
            let config = FieldConfig {
                unit: (!s.unit.is_empty()).then(|| s.unit.clone()),
                display_name_from_ds: (!s.display_name.is_empty()).then(|| s.display_name.clone()),
                ..Default::default()
            };
            let time = Values::Time(s.points.iter().map(|(ms, _)| ms.saturating_mul(1_000_000)).collect());
            let value = Values::Float64(s.points.iter().map(|(_, v)| *v).collect());
            Frame::new(s.name.clone(), ref_id)
                .with_meta(meta())
                .with_field(Field::new("time", time))
                .with_field(Field::new("value", value).with_labels(s.labels.clone()).with_config(config))
        })
        .collect();
    if !notices.is_empty() {
        match frames.first_mut() {
            Some(first) => first.meta.get_or_insert_with(meta).notices = notices,
            None => frames.push(Frame::new("", ref_id).with_meta(FrameMeta { notices, ..meta() })),
        }
    }
    frames
}
