//! The data-frame model: a frame is named columns of equal length, with the metadata
//! Grafana reads (frame `meta`, field `labels` and `config`).
//!
//! It mirrors the Go SDK's `data.Frame` closely enough that [`crate::to_arrow`] and
//! [`crate::to_json`] produce what the Go SDK produces, and no more than gomon needs: no
//! nested frames, no enums, no durations (Grafana's frontend reads no Arrow `Duration`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One data frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// The frame's name (`nodes`, `edges`, a metric family).
    pub name: String,
    /// The query it answers; Grafana matches it against the query's refId.
    pub ref_id: String,
    /// Frame metadata, written as JSON (schema metadata key `meta`).
    pub meta: Option<FrameMeta>,
    /// The columns; all of one length.
    pub fields: Vec<Field>,
}

impl Frame {
    /// An empty frame.
    pub fn new(name: impl Into<String>, ref_id: impl Into<String>) -> Self {
        Frame { name: name.into(), ref_id: ref_id.into(), meta: None, fields: Vec::new() }
    }

    /// Sets the metadata.
    pub fn with_meta(mut self, meta: FrameMeta) -> Self {
        self.meta = Some(meta);
        self
    }

    /// Appends a field.
    pub fn with_field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// The number of rows (of the first field; 0 without fields).
    pub fn rows(&self) -> usize {
        self.fields.first().map_or(0, |f| f.values.len())
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The column name (`id`, `mainstat`, `arc__process`, `time`).
    pub name: String,
    /// Series labels (`{"cpu": "0", "mode": "user"}`); written when not empty.
    pub labels: BTreeMap<String, String>,
    /// Display configuration; written when set.
    pub config: Option<FieldConfig>,
    /// The values.
    pub values: Values,
}

impl Field {
    /// A field without labels or config.
    pub fn new(name: impl Into<String>, values: Values) -> Self {
        Field { name: name.into(), labels: BTreeMap::new(), config: None, values }
    }

    /// Sets the labels.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the config.
    pub fn with_config(mut self, config: FieldConfig) -> Self {
        self.config = Some(config);
        self
    }
}

/// A column's values. The variant decides the Arrow type and the JSON `typeInfo`.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Time, nanoseconds since the Unix epoch (Arrow `Timestamp(ns)`, Go `time.Time`).
    Time(Vec<i64>),
    /// Arrow `Float64`.
    Float64(Vec<f64>),
    /// Arrow `Float64`, nullable.
    NullableFloat64(Vec<Option<f64>>),
    /// Arrow `Int64`.
    Int64(Vec<i64>),
    /// Arrow `UInt64`.
    UInt64(Vec<u64>),
    /// Arrow `Boolean`.
    Bool(Vec<bool>),
    /// Arrow `Utf8`.
    String(Vec<String>),
    /// Arrow `Utf8`, nullable.
    NullableString(Vec<Option<String>>),
    /// JSON documents (Arrow `Binary` holding JSON text, Go `json.RawMessage`), e.g. a logs
    /// frame's `labels`.
    Json(Vec<serde_json::Value>),
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::Time(v) | Values::Int64(v) => v.len(),
            Values::Float64(v) => v.len(),
            Values::NullableFloat64(v) => v.len(),
            Values::UInt64(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::String(v) => v.len(),
            Values::NullableString(v) => v.len(),
            Values::Json(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the column may hold nulls (decided by the variant, as in the Go SDK).
    pub fn nullable(&self) -> bool {
        matches!(self, Values::NullableFloat64(_) | Values::NullableString(_))
    }

    /// The Go SDK's field type name (`typeInfo.frame` in data-frame JSON).
    pub fn go_type(&self) -> &'static str {
        match self {
            Values::Time(_) => "time.Time",
            Values::Float64(_) | Values::NullableFloat64(_) => "float64",
            Values::Int64(_) => "int64",
            Values::UInt64(_) => "uint64",
            Values::Bool(_) => "bool",
            Values::String(_) | Values::NullableString(_) => "string",
            Values::Json(_) => "json.RawMessage",
        }
    }

    /// The frontend's simple type (`type` in data-frame JSON).
    pub fn simple_type(&self) -> &'static str {
        match self {
            Values::Time(_) => "time",
            Values::Float64(_) | Values::NullableFloat64(_) | Values::Int64(_) | Values::UInt64(_) => "number",
            Values::Bool(_) => "boolean",
            Values::String(_) | Values::NullableString(_) => "string",
            Values::Json(_) => "other",
        }
    }
}

/// Frame metadata (a subset of the Go SDK's `FrameMeta`), serialized as camelCase JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameMeta {
    /// Data-plane frame type: `timeseries-multi`, `log-lines`, …
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub frame_type: Option<String>,
    /// Version of the data-plane frame type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_version: Option<[u32; 2]>,
    /// `nodeGraph`, `logs`, `graph`, `table`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_visualisation_type: Option<String>,
    /// Messages Grafana shows with the panel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// Statistics shown in the query inspector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<QueryStat>,
    /// What was run, shown in the query inspector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed_query_string: Option<String>,
    /// Free-form, data-source specific.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
}

/// A message about a frame (`warning`: shown as a warning on the panel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `info`, `warning` or `error`.
    pub severity: Severity,
    /// The message.
    pub text: String,
}

/// A notice's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information.
    Info,
    /// Something is missing or degraded.
    Warning,
    /// Something failed.
    Error,
}

impl Notice {
    /// An `info` notice.
    pub fn info(text: impl Into<String>) -> Self {
        Notice { severity: Severity::Info, text: text.into() }
    }

    /// A `warning` notice.
    pub fn warning(text: impl Into<String>) -> Self {
        Notice { severity: Severity::Warning, text: text.into() }
    }
}

/// A statistic (`{"displayName": "Node count", "value": 42}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStat {
    /// Its label.
    pub display_name: String,
    /// Its value.
    pub value: f64,
}

/// A field's display configuration (a subset of Grafana's `FieldConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldConfig {
    /// Replaces the field name in legends and tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A display name chosen by the data source (a user's override still wins).
    #[serde(rename = "displayNameFromDS", skip_serializing_if = "Option::is_none")]
    pub display_name_from_ds: Option<String>,
    /// Shown as a tooltip in tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A Grafana unit id: `bytes`, `s`, `percentunit`, `Bps`, `suffix:/s`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Colour scheme (`{"mode": "fixed", "fixedColor": "#5794F2"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<FieldColor>,
    /// Data links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<DataLink>,
}

/// A field's colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldColor {
    /// `fixed`.
    pub mode: String,
    /// An HTML colour.
    pub fixed_color: String,
}

impl FieldColor {
    /// A fixed colour.
    pub fn fixed(color: impl Into<String>) -> Self {
        FieldColor { mode: "fixed".into(), fixed_color: color.into() }
    }
}

/// A data link. With `internal`, Grafana runs `internal.query` on the data source
/// `internal.datasourceUid` (in Explore); `url` is then empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataLink {
    /// The link text; may use `${__value.raw}`.
    pub title: String,
    /// The target, or empty for an internal link.
    pub url: String,
    /// A query on a data source instead of a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<InternalLink>,
}

/// The query half of an internal data link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InternalLink {
    /// The query to run; string values may use `${__value.raw}`.
    pub query: serde_json::Value,
    /// The data source to run it on.
    pub datasource_uid: String,
    /// Its name.
    pub datasource_name: String,
}
