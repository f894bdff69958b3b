//! `/gomon` (the connections page), `/gomon/svg` (its live-refreshed SVG)
//! and `/api/graph` (the same graph as JSON), drawn by the graph probe on
//! the latest snapshot and rendered by the agent's one shared renderer.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use gomon_sink_graphviz as graphviz;

use super::{AppState, plain};
use crate::agent::query::Params;

/// `pid=N` from a query string; absent, empty or 0 means the overview.
fn query_pid(req: &Request<Incoming>) -> Result<Option<u32>, String> {
    Params::parse(req.uri().query()).focus().map(|focus| focus.pid())
}

/// `GET /api/graph[?pid=N]`: `{"nodes": [...], "edges": [...]}`; `?scope=fleet`: the
/// fleet's graph ([`super::fleet`]).
pub async fn api(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    if let Some(response) = super::fleet::scoped(req, state, super::fleet::View::Json).await {
        return response;
    }
    let pid = match query_pid(req) {
        Ok(pid) => pid,
        Err(e) => return bad_request(e),
    };
    match state.local.graph(pid).await {
        Ok(drawn) => match serde_json::to_vec(&drawn.graph) {
            Ok(body) => respond("application/json", body),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the graph\n"),
        },
        Err(e) => unavailable(e.to_string()),
    }
}

/// `GET /gomon[?pid=N]` (`svg_only = false`) or `GET /gomon/svg[?pid=N]`.
pub async fn page(req: &Request<Incoming>, state: &AppState, svg_only: bool) -> Response<Full<Bytes>> {
    let view = if svg_only { super::fleet::View::Svg } else { super::fleet::View::Page };
    if let Some(response) = super::fleet::scoped(req, state, view).await {
        return response;
    }
    let pid = match query_pid(req) {
        Ok(pid) => pid,
        Err(e) => return bad_request(e),
    };
    let (graph, host, taken_at, mut notice) = match state.local.graph(pid).await {
        Ok(drawn) => (drawn.graph, drawn.host, drawn.taken_at, None),
        Err(e) => (graphviz::Graph::default(), String::new(), None, Some(format!("No graph: {e}."))),
    };
    if svg_only && let Some(notice) = notice {
        return unavailable(notice);
    }
    let focus_name = pid.and_then(|pid| graph.nodes.iter().find(|n| n.pid() == Some(pid)).map(|n| n.title.clone()));
    let options = graphviz::DotOptions {
        host_name: host,
        focus_pid: pid,
        // The sample's time, not the request's: viewers of one sample share one rendering.
        generated_at: taken_at.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        ..Default::default()
    };
    let Ok(rendered) = state.local.render(graph, options).await else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
    };
    if svg_only {
        return respond("image/svg+xml", graphviz::svg_body(&rendered.svg).as_bytes().to_vec());
    }
    notice = notice.or(rendered.fallback.map(|e| format!("Built-in layout ({e}).")));
    let refresh = state.local.schedule().interval().as_secs().clamp(1, 3600) as u32;
    let options =
        graphviz::PageOptions { focus_pid: pid, focus_name, refresh_secs: refresh, notice, ..Default::default() };
    respond("text/html; charset=utf-8", graphviz::page_html(&rendered.svg, &options).into_bytes())
}

pub(super) fn respond(content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "\n"))
}

pub(super) fn unavailable(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

pub(super) fn bad_request(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
