//! The HTTPS server: `/metrics` and a small index page.
//!
//! Hardened for a hostile network: TLS handshakes and request heads must
//! arrive within a deadline, request heads are size-limited, connections are
//! capped, and a bad connection only ever affects itself.

pub mod api;
pub mod fleet;
pub mod graph;
pub mod tls;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use gomon_sink_prometheus::{Format, MetricFamily};

use crate::agent::Local;
use crate::telemetry::{self, HttpStats};

/// Connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 512;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request head to arrive (also bounds idle keep-alive).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the request handlers share: the agent's answers and the server's own state.
pub struct AppState {
    /// The agent's answers.
    pub local: Arc<Local>,
    /// Request counters.
    pub http: HttpStats,
    /// `https` or `http`, for the index page.
    pub scheme: &'static str,
    /// SHA-256 of the bearer token the agent API asks for (`api_token_file`);
    /// `None`: no token is asked.
    pub api_token: Option<[u8; 32]>,
}

/// The server's slice of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Certificate, key, or plain HTTP.
    pub tls: crate::config::TlsConfig,
    /// The agent API's bearer token file.
    pub api_token_file: Option<std::path::PathBuf>,
    /// Where the generated certificate lives.
    pub state_dir: std::path::PathBuf,
}

impl Settings {
    /// The server's slice of `config`.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            listen: config.listen,
            tls: config.tls.clone(),
            api_token_file: config.api_token_file.clone(),
            state_dir: config.state_dir.clone(),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    api_token: Option<[u8; 32]>,
}

impl Server {
    /// Everything that can fail on a bad setting, before any work starts: the
    /// certificate (generated on first start), the token file, the address. Logs where
    /// it serves and the certificate's path (Prometheus' `ca_file`).
    pub async fn bind(settings: &Settings) -> anyhow::Result<Server> {
        use anyhow::Context;
        let tls = if settings.tls.plain_http {
            None
        } else {
            let paths = tls::ensure_certificate(
                settings.tls.cert.as_deref(),
                settings.tls.key.as_deref(),
                &settings.state_dir,
            )?;
            let server_config = tls::server_config(&paths)?;
            if paths.generated {
                tracing::info!(cert = %paths.cert.display(), "Generated a self-signed TLS certificate.");
            }
            tracing::info!(ca_file = %paths.cert.display(), "TLS certificate (give it to Prometheus as tls_config.ca_file).");
            Some(TlsAcceptor::from(server_config))
        };
        let api_token = match &settings.api_token_file {
            Some(path) => {
                let token = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read api_token_file {}", path.display()))?;
                let token = token.trim();
                anyhow::ensure!(!token.is_empty(), "api_token_file {} is empty", path.display());
                Some(token_digest(token))
            }
            None => None,
        };
        let listener = bind(settings.listen).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let local = listener.local_addr().unwrap_or(settings.listen);
        tracing::info!(url = %format!("{scheme}://{local}/metrics"), "Serving metrics.");
        if tls.is_none() {
            tracing::warn!(
                "Serving plain HTTP (--plain-http): anyone who can connect can read and tamper with the metrics."
            );
        }
        Ok(Server { listener, tls, api_token })
    }

    /// Serves the agent's answers until `shutdown` turns true, then drains.
    pub async fn run(self, local: Arc<Local>, shutdown: watch::Receiver<bool>) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let state = Arc::new(AppState { local, http: Default::default(), scheme, api_token: self.api_token });
        serve(self.listener, self.tls, state, shutdown).await
    }
}

/// The agent API: what a Grafana plugin elsewhere reads (process lists, log
/// lines), so the part a token guards.
const AGENT_API: [&str; 6] =
    ["/api/nodegraph", "/api/series", "/api/processes", "/api/events", "/api/health", "/api/endpoints"];

/// SHA-256 of a token, so tokens are compared as digests (no timing leak of the token).
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Whether a request may use the agent API: no token configured, or
/// `Authorization: Bearer <token>` with the right token.
fn authorized(req: &Request<Incoming>, state: &AppState) -> bool {
    let Some(expected) = &state.api_token else { return true };
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token_digest(token.trim()) == *expected)
}

/// Accepts connections until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!("Accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "Too many connections; closing a new one.");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
            let result = match tls {
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                    Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out."),
                },
                None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "Connection ended with an error: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::info!("Closing connections still open after {DRAIN_TIMEOUT:?}.");
    }
}

async fn handle(req: Request<Incoming>, state: Arc<AppState>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if AGENT_API.contains(&path) && !authorized(&req, &state) {
        let response = Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(hyper::header::WWW_AUTHENTICATE, "Bearer")
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"this gomon's agent API needs its bearer token (api_token_file)\n")))
            .unwrap_or_else(|_| plain(StatusCode::UNAUTHORIZED, "unauthorized\n"));
        state.http.record("unauthorized", 401);
        return Ok(response);
    }
    let (route, response) = match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/metrics") => ("/metrics", metrics(&req, &state).await),
        (&Method::GET | &Method::HEAD, "/") => ("/", index(&state)),
        (&Method::GET | &Method::HEAD, "/api/probes") => ("/api/probes", probes(&state)),
        (&Method::GET | &Method::HEAD, "/api/graph") => ("/api/graph", graph::api(&req, &state).await),
        (&Method::GET | &Method::HEAD, "/gomon" | "/gomon/") => ("/gomon", graph::page(&req, &state, false).await),
        (&Method::GET | &Method::HEAD, "/gomon/svg") => ("/gomon/svg", graph::page(&req, &state, true).await),
        (&Method::GET | &Method::HEAD, "/api/nodegraph") => ("/api/nodegraph", api::nodegraph(&req, &state).await),
        (&Method::GET | &Method::HEAD, "/api/series") => ("/api/series", api::series(&req, &state).await),
        (&Method::GET | &Method::HEAD, "/api/processes") => ("/api/processes", api::processes(&state).await),
        (&Method::GET | &Method::HEAD, "/api/events") => ("/api/events", api::events(&req, &state)),
        (&Method::GET | &Method::HEAD, "/api/health") => ("/api/health", api::health(&state).await),
        (&Method::GET | &Method::HEAD, "/api/endpoints") => ("/api/endpoints", fleet::endpoints(&state).await),
        (_, "/api/nodegraph" | "/api/series" | "/api/processes" | "/api/events" | "/api/health" | "/api/endpoints") => {
            ("method", method_not_allowed())
        }
        (_, "/metrics" | "/" | "/api/probes" | "/api/graph" | "/gomon" | "/gomon/svg") => {
            ("method", method_not_allowed())
        }
        _ => ("other", plain(StatusCode::NOT_FOUND, "not found\n")),
    };
    let mut response = response;
    if req.method() == Method::HEAD {
        *response.body_mut() = Full::new(Bytes::new());
    }
    state.http.record(route, response.status().as_u16());
    Ok(response)
}

async fn metrics(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let header = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let format = Format::from_accept(header(header::ACCEPT));
    let gzip = gomon_sink_prometheus::wants_gzip(header(header::ACCEPT_ENCODING));
    let exposition = state.local.current().await;
    state.http.scraped();

    let mut host: Vec<MetricFamily> = vec![telemetry::build_info()];
    host.extend(state.http.families());
    host.extend(telemetry::process_families());
    if let Some(taken) = exposition.taken {
        let mut age =
            MetricFamily::gauge("gomon_sample_age_seconds", "Age of the sample this scrape returns.").unit("seconds");
        age.push(&[], taken.elapsed().as_secs_f64());
        host.push(age);
    }
    let mut families: Vec<&MetricFamily> = exposition.families.iter().chain(host.iter()).collect();
    families.sort_by(|a, b| a.name.cmp(&b.name));

    let mut body = Vec::with_capacity(64 * 1024);
    gomon_sink_prometheus::encode(format, families.iter().copied(), &mut body);
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::VARY, "Accept, Accept-Encoding");
    if gzip {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        if encoder.write_all(&body).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            body = compressed;
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"))
}

/// The loaded probes as of the last cycle, as JSON.
fn probes(state: &AppState) -> Response<Full<Bytes>> {
    let exposition = state.local.latest();
    match serde_json::to_vec_pretty(&exposition.probes) {
        Ok(body) => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "\n")),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the probe list\n"),
    }
}

fn index(state: &AppState) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gomon</title></head>\
         <body><h1>gomon {}</h1><ul><li><a href=\"/metrics\">/metrics</a> (Prometheus, {})</li><li><a href=\"/api/probes\">/api/probes</a> (loaded probes, JSON)</li><li><a href=\"/gomon\">/gomon</a> (connections graph)</li><li><a href=\"/api/graph\">/api/graph</a> (the graph, JSON)</li></ul></body></html>\n",
        env!("CARGO_PKG_VERSION"),
        state.scheme
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(html)))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "\n"))
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Binds the listener; the error names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (is another gomon running? choose another with --listen)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
    })
}
