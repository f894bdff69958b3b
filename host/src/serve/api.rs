//! The agent API: JSON answers for a gomon Grafana plugin elsewhere (its data source
//! `agentUrl`), the same answers the plugin computes from its own collector.
//!
//! | GET | answer |
//! |---|---|
//! | `/api/nodegraph?pid=N` | the connection graph with node arcs (`{"nodes":[…],"edges":[…]}`) |
//! | `/api/series?metric=&filter=&from=&to=&max_points=` | recent series (`[{"name","labels","unit","displayName","points":[[ms,v],…]}]`); `from`/`to` in ms since the epoch (default: the last hour), `metric` empty for CPU, memory and load, `filter` a regex on label values |
//! | `/api/processes` | `[{"pid","ppid","comm","cpuSeconds","residentBytes"}]` by comm |
//! | `/api/events?filter=&from=&to=&limit=` | recent observations, newest first (`{"rows":[…],"fed":bool}`); `from`/`to` in ns |
//! | `/api/health` | `[{"name","ok","message"}]`: sampler, probes, privileges |
//!
//! A bad parameter is a 400 naming it.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use super::AppState;
use crate::agent::SourceError;
use crate::agent::history::SeriesQuery;
use crate::agent::query::{DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, Params, now_ms};
use crate::observations::recent::EventsQuery;

/// The query parameters, decoded.
fn params(req: &Request<Incoming>) -> Params {
    Params::parse(req.uri().query())
}

/// `GET /api/nodegraph[?pid=N]`.
pub async fn nodegraph(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let pid = match params(req).focus() {
        Ok(focus) => focus.pid(),
        Err(e) => return bad_request(e),
    };
    match state.local.nodegraph(pid).await {
        Ok(graph) => json(&graph),
        Err(e) => failure(&e),
    }
}

/// `GET /api/series?…`.
pub async fn series(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let params = params(req);
    let text = |name: &str| params.text(name).map(str::to_owned);
    let parsed = (|| {
        let to_ms = params.number::<i64>("to")?.unwrap_or_else(now_ms);
        let from_ms = params.number::<i64>("from")?.unwrap_or(to_ms.saturating_sub(3_600_000));
        if from_ms > to_ms {
            return Err(format!("from ({from_ms}) is after to ({to_ms})"));
        }
        let max_points = params.number::<usize>("max_points")?.unwrap_or(0);
        Ok(SeriesQuery { metric: text("metric"), filter: text("filter"), from_ms, to_ms, max_points })
    })();
    let query = match parsed {
        Ok(query) => query,
        Err(message) => return bad_request(message),
    };
    match state.local.series(&query) {
        Ok(series) => json(&series),
        Err(e) => failure(&e),
    }
}

/// `GET /api/processes`.
pub async fn processes(state: &AppState) -> Response<Full<Bytes>> {
    match state.local.processes().await {
        Ok(rows) => json(&rows),
        Err(e) => failure(&e),
    }
}

/// `GET /api/events?…`.
pub fn events(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let params = params(req);
    let parsed = (|| {
        let to_nanos = params.number::<u64>("to")?.unwrap_or(u64::MAX);
        let from_nanos = params.number::<u64>("from")?.unwrap_or(0);
        let limit = params.number::<usize>("limit")?.filter(|l| *l > 0).unwrap_or(DEFAULT_EVENTS_LIMIT);
        let filter = params.text("filter").map(str::to_owned);
        Ok::<_, String>(EventsQuery { from_nanos, to_nanos, filter, limit: limit.min(MAX_EVENTS_LIMIT) })
    })();
    match parsed {
        Ok(query) => json(&state.local.events(&query)),
        Err(message) => bad_request(message),
    }
}

/// `GET /api/health`.
pub async fn health(state: &AppState) -> Response<Full<Bytes>> {
    json(&state.local.health().await)
}

fn json<T: serde::Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| super::plain(StatusCode::INTERNAL_SERVER_ERROR, "\n")),
        Err(_) => super::plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the answer\n"),
    }
}

fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn bad_request(message: String) -> Response<Full<Bytes>> {
    text(StatusCode::BAD_REQUEST, message)
}

fn failure(error: &SourceError) -> Response<Full<Bytes>> {
    let status = if error.is_bad_request() { StatusCode::BAD_REQUEST } else { StatusCode::SERVICE_UNAVAILABLE };
    text(status, error.to_string())
}
