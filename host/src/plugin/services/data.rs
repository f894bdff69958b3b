//! `Data.QueryData`: each query of a request answered with Arrow frames, or an error
//! of its own (one bad query never fails the others).
//!
//! | queryType | frames |
//! |---|---|
//! | `nodegraph` | `nodes` and `edges` (node-graph frames; data links drill down to a pid) |
//! | `metrics` | one `timeseries-multi` frame per series from the in-memory history |
//! | `events` | one `log-lines` frame of recent observations, newest first |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use gomon_sink_grafana::{
    DrillDown, Frame, LogRow, Notice, logs_frame, node_graph_frames, time_series_frames, to_arrow,
};

use super::super::proto::pluginv2::data_server::Data;
use super::super::proto::pluginv2::{DataResponse, QueryDataRequest, QueryDataResponse};
use super::super::query::{self, PanelQuery, Request};
use super::super::settings::Instance;
use super::{Plugin, ResolveError};
use crate::agent::history::SeriesQuery;
use crate::agent::query::{Focus, now_ms};
use crate::agent::{DataSource, SourceError};
use crate::observations::recent::{EventsQuery, ObservationRow};

/// The `Data` service.
pub struct DataService {
    plugin: Arc<Plugin>,
}

impl DataService {
    /// The service over shared state.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        DataService { plugin }
    }
}

/// Log levels Grafana colours; other event names show as `info`.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

#[tonic::async_trait]
impl Data for DataService {
    async fn query_data(
        &self,
        request: tonic::Request<QueryDataRequest>,
    ) -> Result<tonic::Response<QueryDataResponse>, tonic::Status> {
        let request = request.into_inner();
        let context = request.plugin_context.as_ref();
        let parsed: Vec<_> = request.queries.iter().map(|q| (q, query::parse(q))).collect();
        let is_fleet = |p: &Result<PanelQuery, _>| matches!(p, Ok(q) if matches!(q.request, Request::FleetGraph(_)));
        // Fleet queries have sources of their own: only the others wait for this one.
        let source = match parsed.iter().all(|(_, p)| is_fleet(p)) {
            true => None,
            false => Some(self.plugin.source(context).await),
        };
        let mut responses = HashMap::with_capacity(request.queries.len());
        for (data_query, parsed) in parsed {
            let started = Instant::now();
            let answer = match (&source, parsed) {
                (_, Ok(query)) if matches!(query.request, Request::FleetGraph(_)) => {
                    super::super::fleet::run(&self.plugin, context, &query).await
                }
                (None, _) => Err((500, "no source resolved".to_owned())),
                (Some(Err(e @ ResolveError::Settings(_))), _) => Err((400, e.to_string())),
                (Some(Err(e)), _) => Err((503, e.to_string())),
                (_, Err(e)) => Err((400, e.to_string())),
                (Some(Ok((source, instance))), Ok(query)) => run(source, instance, &query).await.map_err(|e| {
                    let status = if e.is_bad_request() { 400 } else { 502 };
                    (status, e.to_string())
                }),
            };
            let response = match answer.and_then(|frames| encode(&frames)) {
                Ok(frames) => DataResponse { frames, status: 200, ..Default::default() },
                Err((status, error)) => {
                    tracing::warn!(ref_id = %data_query.ref_id, status, "Query failed: {error}");
                    DataResponse { error, status, ..Default::default() }
                }
            };
            tracing::debug!(
                ref_id = %data_query.ref_id,
                query_type = %data_query.query_type,
                millis = started.elapsed().as_secs_f64() * 1000.0,
                "Query answered."
            );
            responses.insert(data_query.ref_id.clone(), response);
        }
        if let Some(Err(ResolveError::Settings(e))) = &source {
            tracing::warn!("Data source settings: {e}");
        }
        Ok(tonic::Response::new(QueryDataResponse { responses }))
    }
}

fn encode(frames: &[Frame]) -> Result<Vec<Vec<u8>>, (i32, String)> {
    frames.iter().map(|f| to_arrow(f).map_err(|e| (500, e.to_string()))).collect()
}

/// Runs one parsed query against a source.
pub async fn run(source: &DataSource, instance: &Instance, query: &PanelQuery) -> Result<Vec<Frame>, SourceError> {
    let to_ms = if query.to_ms > 0 { query.to_ms } else { now_ms() };
    let from_ms = if query.from_ms > 0 { query.from_ms } else { to_ms.saturating_sub(3_600_000) };
    match &query.request {
        Request::NodeGraph(focus) => {
            let mut notices = Vec::new();
            let pid = match focus {
                Focus::Overview => None,
                Focus::Pid(pid) => Some(*pid),
                Focus::NotAProcess(id) => {
                    notices.push(Notice::info(format!("{id} is not a process; showing the overview.")));
                    None
                }
            };
            let graph = source.nodegraph(pid).await?;
            if let Some(pid) = pid
                && !graph.nodes.iter().any(|n| n.id == pid.to_string())
            {
                notices.push(Notice::warning(format!("Process {pid} is not running; showing the overview.")));
            }
            if let DataSource::Local(local) = source
                && let Some(degraded) = local.degraded()
            {
                notices.push(Notice::info(degraded));
            }
            let drill_down = (!instance.uid.is_empty()).then(|| DrillDown {
                datasource_uid: instance.uid.clone(),
                datasource_name: instance.name.clone(),
                scope: None,
            });
            Ok(node_graph_frames(&graph, &query.ref_id, drill_down.as_ref(), notices).into())
        }
        Request::FleetGraph(_) => Err(SourceError::Graph("a fleet query needs the plugin's fleet view".into())),
        Request::Metrics { metric, filter } => {
            let series_query = SeriesQuery {
                metric: metric.clone(),
                filter: filter.clone(),
                from_ms,
                to_ms,
                max_points: query.max_points,
            };
            let series = source.series(&series_query).await?;
            let mut notices = Vec::new();
            if series.iter().all(|s| s.points.is_empty()) {
                notices.push(Notice::info(
                    "No samples in this time range: gomon keeps the last hour in memory, from when it started.",
                ));
            }
            Ok(time_series_frames(&series, &query.ref_id, notices))
        }
        Request::Events { filter, limit } => {
            let nanos = |ms: i64| u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000);
            let events_query = EventsQuery {
                from_nanos: nanos(from_ms),
                to_nanos: nanos(to_ms).saturating_add(999_999),
                filter: filter.clone(),
                limit: *limit,
            };
            let recent = source.events(&events_query).await?;
            let mut notices = Vec::new();
            if !recent.fed {
                notices.push(Notice::info(
                    "No observations: the observe pipeline does not feed this data source yet. \
                     Query the Loki data source for stored events.",
                ));
            }
            let rows: Vec<LogRow> = recent.rows.iter().map(log_row).collect();
            Ok(vec![logs_frame(&rows, &query.ref_id, notices)])
        }
    }
}

fn log_row(row: &ObservationRow) -> LogRow {
    let mut labels: BTreeMap<String, String> = row.labels.iter().cloned().collect();
    labels.insert("source".into(), row.source.clone());
    labels.insert("event".into(), row.event.clone());
    let body = if row.line.is_empty() {
        let detail: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {} {}", row.source, row.event, detail.join(" ")).trim_end().to_owned()
    } else {
        row.line.clone()
    };
    let event = row.event.to_ascii_lowercase();
    LogRow {
        time_nanos: i64::try_from(row.time_nanos).unwrap_or(i64::MAX),
        body,
        severity: if LEVELS.contains(&event.as_str()) { event } else { "info".into() },
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_become_log_rows() {
        let row = ObservationRow {
            time_nanos: 5,
            source: "logs".into(),
            event: "ERROR".into(),
            line: String::new(),
            labels: vec![("pid".into(), "7".into())],
        };
        let log = log_row(&row);
        assert_eq!(log.severity, "error");
        assert_eq!(log.body, "logs ERROR pid=7");
        assert_eq!(log.labels["source"], "logs");
        assert_eq!(log.labels["pid"], "7");
        let exec = log_row(&ObservationRow { event: "exec".into(), line: "exec sshd".into(), ..row });
        assert_eq!((exec.severity.as_str(), exec.body.as_str()), ("info", "exec sshd"));
    }
}
