//! `/gomon` (the connections page), `/gomon/svg` (its live-refreshed SVG)
//! and `/api/graph` (the same graph as JSON), drawn by the graph probe on
//! the latest snapshot.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use gomon_sink_graphviz as graphviz;

use super::{AppState, plain};
use crate::runtime::bindings::topology;

/// How long `dot` may take before the built-in layout is used.
const DOT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `pid` query parameter that is not a process id.
#[derive(Debug)]
pub struct BadPid;

/// `pid=N` from a query string; absent, empty or 0 means the overview.
pub fn query_pid(req: &Request<Incoming>) -> Result<Option<u32>, BadPid> {
    let Some(query) = req.uri().query() else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("pid=") {
            return match value {
                "" | "0" => Ok(None),
                v => v.parse::<u32>().map(Some).map_err(|_| BadPid),
            };
        }
    }
    Ok(None)
}

/// The graph and the host name it was drawn on.
async fn draw(state: &AppState, pid: Option<u32>) -> Result<(graphviz::Graph, String), String> {
    let exposition = state.schedule.current().await;
    let snapshot = exposition.snapshot.clone().ok_or("no sample yet")?;
    let host = snapshot.system.as_ref().and_then(|s| s.hostname.clone()).unwrap_or_default();
    let probes = state.probes.clone();
    let graph =
        tokio::task::spawn_blocking(move || probes.lock().unwrap_or_else(|e| e.into_inner()).draw(&snapshot, pid))
            .await
            .map_err(|e| format!("graph task failed: {e}"))?
            .map_err(|e| e.to_string())?;
    Ok((convert(graph), host))
}

/// The graph probe's answer as the sinks' model (`gomon_sink_graphviz::Graph`,
/// which the Grafana frames take too): a move, field for field.
pub fn convert(graph: topology::Graph) -> graphviz::Graph {
    let nodes = graph
        .nodes
        .into_iter()
        .map(|n| graphviz::Node {
            id: n.id,
            kind: match n.kind {
                topology::NodeKind::Process => graphviz::NodeKind::Process,
                topology::NodeKind::Host => graphviz::NodeKind::Host,
                topology::NodeKind::Data => graphviz::NodeKind::Data,
            },
            title: n.title,
            subtitle: n.subtitle,
            main_stat: n.main_stat,
            secondary_stat: n.secondary_stat,
            arcs: n.arcs.into_iter().map(|a| graphviz::Arc { name: a.name, fraction: a.fraction }).collect(),
            details: n.details,
            depth: n.depth,
        })
        .collect();
    let edges = graph
        .edges
        .into_iter()
        .map(|e| graphviz::Edge {
            id: e.id,
            source: e.source,
            target: e.target,
            main_stat: e.main_stat,
            secondary_stat: e.secondary_stat,
            details: e.details,
        })
        .collect();
    graphviz::Graph { nodes, edges }
}

/// `GET /api/graph[?pid=N]`: `{"nodes": [...], "edges": [...]}`.
pub async fn api(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let Ok(pid) = query_pid(req) else {
        return plain(StatusCode::BAD_REQUEST, "pid must be a process id\n");
    };
    match draw(state, pid).await {
        Ok((graph, _)) => match serde_json::to_vec(&graph) {
            Ok(body) => respond("application/json", body),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the graph\n"),
        },
        Err(message) => unavailable(message),
    }
}

/// `GET /gomon[?pid=N]` (`svg_only = false`) or `GET /gomon/svg[?pid=N]`.
pub async fn page(req: &Request<Incoming>, state: &AppState, svg_only: bool) -> Response<Full<Bytes>> {
    let Ok(pid) = query_pid(req) else {
        return plain(StatusCode::BAD_REQUEST, "pid must be a process id\n");
    };
    let (graph, host, mut notice) = match draw(state, pid).await {
        Ok((graph, host)) => (graph, host, None),
        Err(message) => (graphviz::Graph::default(), String::new(), Some(format!("No graph: {message}."))),
    };
    if svg_only && notice.is_some() {
        return unavailable(notice.unwrap_or_default());
    }
    let focus_name = pid.and_then(|pid| graph.nodes.iter().find(|n| n.pid() == Some(pid)).map(|n| n.title.clone()));
    let options = graphviz::DotOptions {
        host_name: host,
        focus_pid: pid,
        generated_at: Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
        ..Default::default()
    };
    let svg = tokio::task::spawn_blocking(move || {
        let dot = graphviz::to_dot(&graph, &options);
        match graphviz::render_svg(&dot, DOT_TIMEOUT) {
            Ok(svg) => (svg, None),
            Err(e) => {
                tracing::debug!("Graphviz unavailable, using the built-in layout: {e}");
                (graphviz::layout_svg_with(&graph, &options), Some(format!("Built-in layout ({e}).")))
            }
        }
    })
    .await;
    let Ok((svg, layout_notice)) = svg else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
    };
    if svg_only {
        return respond("image/svg+xml", graphviz::svg_body(&svg).as_bytes().to_vec());
    }
    notice = notice.or(layout_notice);
    let refresh = state.interval.as_secs().clamp(1, 3600) as u32;
    let options =
        graphviz::PageOptions { focus_pid: pid, focus_name, refresh_secs: refresh, notice, ..Default::default() };
    respond("text/html; charset=utf-8", graphviz::page_html(&svg, &options).into_bytes())
}

fn respond(content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "\n"))
}

fn unavailable(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
