//! The agent API: JSON answers for a gomon Grafana plugin elsewhere (its data source
//! `agentUrl`), the same answers the plugin computes from its own collector.
//!
//! | GET | answer |
//! |---|---|
//! | `/api/nodegraph?pid=N` | the connection graph with node arcs (`{"nodes":[…],"edges":[…]}`) |
//! | `/api/series?metric=&filter=&from=&to=&max_points=` | recent series (`[{"name","labels","unit","displayName","points":[[ms,v],…]}]`); `from`/`to` in ms since the epoch (default: the last hour), `metric` empty for CPU, memory and load, `filter` a regex on label values |
//! | `/api/processes` | `[{"pid","ppid","comm","cpuSeconds","residentBytes"}]` by comm |
//! | `/api/events?filter=&from=&to=&limit=` | recent observations, newest first (`{"rows":[…],"fed":bool,"truncated":bool}`); `from`/`to` in ns; at most [`MAX_EVENTS_BYTES`] of rows (`truncated` says rows were left out for that) |
//! | `/api/health` | `[{"name","ok","message"}]`: sampler, probes, observations, loki, capabilities |
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

/// The time range of `/api/series`: `to` (default now) and `from` (default an hour
/// before `to`), any i64 without overflow.
pub fn series_range(from: Option<i64>, to: Option<i64>, now: i64) -> Result<(i64, i64), String> {
    let to_ms = to.unwrap_or(now);
    let from_ms = from.unwrap_or(to_ms.saturating_sub(3_600_000));
    if from_ms > to_ms {
        return Err(format!("from ({from_ms}) is after to ({to_ms})"));
    }
    Ok((from_ms, to_ms))
}

/// Bytes of rows one `/api/events` answer holds at most.
pub const MAX_EVENTS_BYTES: usize = 4 << 20;

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
        let (from_ms, to_ms) = series_range(params.number::<i64>("from")?, params.number::<i64>("to")?, now_ms())?;
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

/// `GET /api/events?…`: built on a blocking thread, [`super::EVENTS_AT_ONCE`] at a time,
/// bounded to [`MAX_EVENTS_BYTES`] of rows.
pub async fn events(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let params = params(req);
    let parsed = (|| {
        let to_nanos = params.number::<u64>("to")?.unwrap_or(u64::MAX);
        let from_nanos = params.number::<u64>("from")?.unwrap_or(0);
        let limit = params.number::<usize>("limit")?.filter(|l| *l > 0).unwrap_or(DEFAULT_EVENTS_LIMIT);
        let filter = params.text("filter").map(str::to_owned);
        Ok::<_, String>(EventsQuery { from_nanos, to_nanos, filter, limit: limit.min(MAX_EVENTS_LIMIT) })
    })();
    let query = match parsed {
        Ok(query) => query,
        Err(message) => return bad_request(message),
    };
    let Ok(_permit) = state.events.acquire().await else {
        return super::plain(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
    };
    let local = state.local.clone();
    let built = tokio::task::spawn_blocking(move || {
        let (rows, truncated) = local.events_within(&query, MAX_EVENTS_BYTES);
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            rows: &'a [crate::observations::recent::ObservationRow],
            fed: bool,
            truncated: bool,
        }
        serde_json::to_vec(&Answer { rows: &rows.rows, fed: rows.fed, truncated })
    })
    .await;
    match built {
        Ok(Ok(body)) => json_bytes(body),
        _ => super::plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the answer\n"),
    }
}

/// `GET /api/health`.
pub async fn health(state: &AppState) -> Response<Full<Bytes>> {
    json(&state.local.health().await)
}

fn json<T: serde::Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(body),
        Err(_) => super::plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the answer\n"),
    }
}

fn json_bytes(body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| super::plain(StatusCode::INTERNAL_SERVER_ERROR, "\n"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extreme_series_ranges_do_not_overflow() {
        // Regression: `to=-9223372036854775808` overflowed `to - 1h`.
        assert_eq!(series_range(None, Some(i64::MIN), 0), Ok((i64::MIN, i64::MIN)));
        assert_eq!(series_range(None, Some(i64::MAX), 0), Ok((i64::MAX - 3_600_000, i64::MAX)));
        assert_eq!(series_range(None, None, 5_000_000), Ok((1_400_000, 5_000_000)));
        assert!(series_range(Some(2), Some(1), 0).unwrap_err().contains("after"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(super::super::proptest_cases()))]
        #[test]
        fn any_series_range_is_answered(from in any::<Option<i64>>(), to in any::<Option<i64>>(), now in any::<i64>()) {
            if let Ok((f, t)) = series_range(from, to, now) {
                prop_assert!(f <= t);
            }
        }
    }
}
