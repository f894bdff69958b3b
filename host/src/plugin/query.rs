//! Panel queries: the JSON the query editor saves, with the type in `queryType`.
//!
//! ```json
//! {"refId":"A","queryType":"nodegraph","pid":812}
//! {"refId":"B","queryType":"metrics","metric":"gomon_cpu_seconds_total","filter":"^ssh"}
//! {"refId":"C","queryType":"events","filter":"exec","limit":200}
//! {"refId":"D","queryType":"nodegraph","scope":"fleet","pid":"web1:1234/812"}
//! ```
//!
//! `scope` (nodegraph only): `host` (the default: this data source's host) or `fleet`
//! (the fleet's graph; `pid` then is a fleet node id, `<host>/<pid>`, to drill down to).
//!
//! The type comes from `DataQuery.queryType`, else the JSON's `queryType`, else
//! `nodegraph`. `pid` may be a number or a string (a data link's `${__value.raw}`):
//! empty or 0 is the overview; a node id that is not a pid (`host:…`, `data:…`) is the
//! overview with a notice. Unknown JSON keys (Grafana adds `datasource`, `key`, …) are
//! ignored; a wrong type or value is an error naming the key.

use serde::Deserialize;
use serde_json::Value;

use super::proto::pluginv2::DataQuery;
use crate::agent::fleet::{FleetFocus, fleet_focus};
use crate::agent::query::{DEFAULT_EVENTS_LIMIT, Focus, MAX_EVENTS_LIMIT, focus_text};

/// What a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The connection graph.
    NodeGraph(Focus),
    /// The fleet's connection graph (`scope: "fleet"`).
    FleetGraph(FleetFocus),
    /// Recent series.
    Metrics {
        /// A family name; `None`: the default set.
        metric: Option<String>,
        /// A regex on label values.
        filter: Option<String>,
    },
    /// Recent observations.
    Events {
        /// A substring of the line, source, event or a label value.
        filter: Option<String>,
        /// Most rows.
        limit: usize,
    },
}

/// One parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelQuery {
    /// The query's refId.
    pub ref_id: String,
    /// What it asks for.
    pub request: Request,
    /// Start of the time range, ms since the epoch.
    pub from_ms: i64,
    /// End of the time range, ms since the epoch.
    pub to_ms: i64,
    /// Most points per series (0: no limit).
    pub max_points: usize,
}

/// Why a query cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The JSON does not parse.
    #[error("the query is not valid JSON: {0}")]
    Json(String),
    /// An unknown query type.
    #[error("unknown queryType {0:?}: expected nodegraph, metrics or events")]
    Type(String),
    /// A key with a bad value.
    #[error("{key}: {message}")]
    Value {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct QueryJson {
    #[serde(default)]
    query_type: Option<String>,
    #[serde(default)]
    pid: Value,
    #[serde(default)]
    metric: Value,
    #[serde(default)]
    filter: Value,
    #[serde(default)]
    limit: Value,
    #[serde(default)]
    scope: Value,
}

/// Parses a `DataQuery`.
pub fn parse(query: &DataQuery) -> Result<PanelQuery, QueryError> {
    let json: QueryJson = if query.json.iter().all(u8::is_ascii_whitespace) {
        QueryJson::default()
    } else {
        serde_json::from_slice(&query.json).map_err(|e| QueryError::Json(e.to_string()))?
    };
    let kind = Some(query.query_type.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or(json.query_type.clone().filter(|t| !t.trim().is_empty()))
        .unwrap_or_else(|| "nodegraph".to_owned());
    let request = match kind.trim().to_ascii_lowercase().as_str() {
        "nodegraph" => match text(&json.scope, "scope")?.as_deref() {
            None | Some("host") => Request::NodeGraph(focus(&json.pid)?),
            Some("fleet") => Request::FleetGraph(fleet_node(&json.pid)?),
            Some(other) => {
                return Err(QueryError::Value {
                    key: "scope",
                    message: format!("{other:?} is neither host nor fleet"),
                });
            }
        },
        "metrics" => Request::Metrics { metric: text(&json.metric, "metric")?, filter: text(&json.filter, "filter")? },
        "events" => Request::Events { filter: text(&json.filter, "filter")?, limit: limit(&json.limit)? },
        _ => return Err(QueryError::Type(kind)),
    };
    let (from_ms, to_ms) = query.time_range.as_ref().map_or((0, 0), |r| (r.from_epoch_ms, r.to_epoch_ms));
    Ok(PanelQuery {
        ref_id: query.ref_id.clone(),
        request,
        from_ms,
        to_ms,
        max_points: usize::try_from(query.max_data_points).unwrap_or(0),
    })
}

/// `pid`: a number, a numeric string, empty, or a node id.
pub fn focus(value: &Value) -> Result<Focus, QueryError> {
    let bad = |message: String| QueryError::Value { key: "pid", message };
    match value {
        Value::Null => Ok(Focus::Overview),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Ok(Focus::Overview),
            Some(pid) => u32::try_from(pid).map(Focus::Pid).map_err(|_| bad(format!("{pid} is not a process id"))),
            None => Err(bad(format!("{n} is not a process id (a whole number above 0)"))),
        },
        Value::String(s) => focus_text(s.trim()).map_err(bad),
        other => Err(bad(format!("expected a number or a string, got {other}"))),
    }
}

/// `pid` in the fleet scope: a fleet node id (`<host>/<pid>`), a host's label, or empty.
pub fn fleet_node(value: &Value) -> Result<FleetFocus, QueryError> {
    match value {
        Value::Null => Ok(FleetFocus::Overview),
        Value::String(s) => Ok(fleet_focus(s)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(FleetFocus::Overview),
        other => Err(QueryError::Value {
            key: "pid",
            message: format!("in the fleet scope, a node id such as web1:1234/812, not {other}"),
        }),
    }
}

fn text(value: &Value, key: &'static str) -> Result<Option<String>, QueryError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned())),
        other => Err(QueryError::Value { key, message: format!("expected a string, got {other}") }),
    }
}

fn limit(value: &Value) -> Result<usize, QueryError> {
    let bad = |message: String| QueryError::Value { key: "limit", message };
    let n = match value {
        Value::Null => return Ok(DEFAULT_EVENTS_LIMIT),
        Value::String(s) if s.trim().is_empty() => return Ok(DEFAULT_EVENTS_LIMIT),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| bad(format!("{s:?} is not a number")))?,
        Value::Number(n) => n.as_i64().ok_or_else(|| bad(format!("{n} is not a whole number")))?,
        other => return Err(bad(format!("expected a number, got {other}"))),
    };
    match n {
        0 => Ok(DEFAULT_EVENTS_LIMIT),
        n if n < 0 => Err(bad(format!("{n} is negative"))),
        n => Ok(usize::try_from(n).unwrap_or(MAX_EVENTS_LIMIT).min(MAX_EVENTS_LIMIT)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto::pluginv2::TimeRange;
    use super::*;

    fn query(query_type: &str, json: &str) -> DataQuery {
        DataQuery {
            ref_id: "A".into(),
            max_data_points: 500,
            interval_ms: 1000,
            time_range: Some(TimeRange { from_epoch_ms: 1_000, to_epoch_ms: 2_000 }),
            json: json.as_bytes().to_vec(),
            query_type: query_type.into(),
        }
    }

    #[test]
    fn the_type_comes_from_the_field_then_the_json_then_the_default() {
        let parsed = parse(&query("metrics", r#"{"queryType":"events"}"#)).unwrap();
        assert!(matches!(parsed.request, Request::Metrics { .. }));
        assert!(matches!(parse(&query("", r#"{"queryType":"events"}"#)).unwrap().request, Request::Events { .. }));
        assert_eq!(parse(&query("", "{}")).unwrap().request, Request::NodeGraph(Focus::Overview));
        assert_eq!(parse(&query("", "")).unwrap().request, Request::NodeGraph(Focus::Overview));
        let parsed = parse(&query("", r#"{"pid":812,"datasource":{"uid":"x"}}"#)).unwrap();
        assert_eq!((parsed.from_ms, parsed.to_ms, parsed.max_points), (1_000, 2_000, 500));
        assert_eq!(parsed.request, Request::NodeGraph(Focus::Pid(812)));
    }

    #[test]
    fn pids_come_as_numbers_or_strings() {
        let pid = |v: Value| focus(&v);
        assert_eq!(pid(serde_json::json!("812")), Ok(Focus::Pid(812)));
        assert_eq!(pid(serde_json::json!("")), Ok(Focus::Overview));
        assert_eq!(pid(serde_json::json!(0)), Ok(Focus::Overview));
        assert_eq!(pid(serde_json::json!("host:10.0.0.9")), Ok(Focus::NotAProcess("host:10.0.0.9".into())));
        for bad in [serde_json::json!(-1), serde_json::json!(1.5), serde_json::json!("12ab"), serde_json::json!([1])] {
            let error = pid(bad.clone()).unwrap_err().to_string();
            assert!(error.starts_with("pid: "), "{bad}: {error}");
        }
        assert!(pid(serde_json::json!(5_000_000_000_u64)).is_err());
    }

    #[test]
    fn bad_queries_name_what_is_wrong() {
        assert_eq!(parse(&query("cpu", "{}")).unwrap_err(), QueryError::Type("cpu".into()));
        assert!(matches!(parse(&query("", "{nope")), Err(QueryError::Json(_))));
        let error = parse(&query("metrics", r#"{"metric":42}"#)).unwrap_err().to_string();
        assert!(error.starts_with("metric: "), "{error}");
        let error = parse(&query("events", r#"{"limit":-5}"#)).unwrap_err().to_string();
        assert!(error.starts_with("limit: "), "{error}");
    }

    #[test]
    fn the_fleet_scope_takes_node_ids() {
        let request = |json: &str| parse(&query("nodegraph", json)).map(|q| q.request);
        assert_eq!(request(r#"{"scope":"fleet"}"#), Ok(Request::FleetGraph(FleetFocus::Overview)));
        assert_eq!(
            request(r#"{"scope":"fleet","pid":"a:1/812"}"#),
            Ok(Request::FleetGraph(FleetFocus::Node("a:1/812".into())))
        );
        assert_eq!(request(r#"{"scope":"host","pid":812}"#), Ok(Request::NodeGraph(Focus::Pid(812))));
        assert!(request(r#"{"scope":"fleet","pid":812}"#).unwrap_err().to_string().starts_with("pid: "));
        assert!(request(r#"{"scope":"world"}"#).unwrap_err().to_string().starts_with("scope: "));
    }

    #[test]
    fn events_limits_default_and_clamp() {
        let limit_of = |json: &str| match parse(&query("events", json)).unwrap().request {
            Request::Events { limit, .. } => limit,
            other => panic!("{other:?}"),
        };
        assert_eq!(limit_of("{}"), DEFAULT_EVENTS_LIMIT);
        assert_eq!(limit_of(r#"{"limit":"25"}"#), 25);
        assert_eq!(limit_of(r#"{"limit":1000000}"#), MAX_EVENTS_LIMIT);
    }
}
