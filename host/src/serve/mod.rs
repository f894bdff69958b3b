//! The HTTPS server: `/metrics`, the `/gomon` page and the agent API, over
//! [`agent::Local`](crate::agent::Local).
//!
//! Secure by default on a hostile network:
//! - **Credentials** ([`auth`], [`credential`], [`webconfig`]): routes that reveal more
//!   than `/proc` shows any local user ([`routes`]) need the generated token (basic auth
//!   user `gomon` or `Bearer`), the `api_token_file` token, a web config user, or a
//!   client certificate the TLS layer verified. `/metrics` is open unless the web
//!   config has users. `[web] auth = "off"` on a non-loopback address serves `/metrics`
//!   only.
//! - **Connection bounds** ([`limits`], [`conn`]): a cap per peer and in all, with the
//!   oldest idle (then slow-reading) connection evicted to make room, so a new peer's
//!   scrape always gets in; handshake, header, idle, write, response and lifetime
//!   deadlines; a bounded send buffer; request heads at most 16 KiB and no request bodies.
//! - **Bounded answers**: `/api/events` is built on a blocking thread, two at a time,
//!   and bounded in bytes.

pub mod api;
pub mod auth;
pub mod conn;
pub mod credential;
pub mod crypto;
pub mod fleet;
pub mod graph;
pub mod limits;
pub mod ratelimit;
pub mod routes;
pub mod settings;
pub mod tls;
pub mod webconfig;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use gomon_sink_prometheus::{Format, MetricFamily};

use crate::agent::Local;
use crate::telemetry::{self, HttpStats};

use auth::{Access, Authenticator, Denied};
use limits::{ConnState, Phase, Registry};
use settings::{AuthMode, WebSettings};

/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// `/api/events` answers built at once.
const EVENTS_AT_ONCE: usize = 2;

/// Who the server lets see what, beyond the credentials themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `[web] auth`.
    pub auth: AuthMode,
    /// Whether the listen address is a loopback one.
    pub loopback: bool,
}

/// What a request for a route needs under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing.
    Nothing,
    /// A credential.
    Credential,
    /// Not served here at all.
    NotServed,
}

impl Policy {
    /// What `access` needs; `users`: the web config has basic-auth users.
    pub fn need(&self, access: Access, users: bool) -> Need {
        match access {
            Access::Open => Need::Nothing,
            Access::Scrape if users => Need::Credential,
            Access::Scrape => Need::Nothing,
            Access::Private => match (self.auth, self.loopback) {
                (AuthMode::On, _) => Need::Credential,
                (AuthMode::Off, true) => Need::Nothing,
                (AuthMode::Off, false) => Need::NotServed,
            },
        }
    }
}

/// What the request handlers share: the agent's answers and the server's own state.
pub struct AppState {
    /// The agent's answers.
    pub local: Arc<Local>,
    /// Request counters.
    pub http: HttpStats,
    /// `https` or `http`, for the index page.
    pub scheme: &'static str,
    /// The credentials accepted.
    pub auth: Authenticator,
    /// Who sees what.
    pub policy: Policy,
    /// Extra response headers (web config `http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The web config's request rate limit.
    pub rate_limit: Option<ratelimit::RateLimiter>,
    /// Permits to build `/api/events` answers.
    pub events: Semaphore,
    /// The connections held.
    pub registry: Arc<Registry>,
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
    /// Where the generated certificate and credential live.
    pub state_dir: std::path::PathBuf,
    /// `[web]`: web config file, auth switch, connection bounds.
    pub web: WebSettings,
}

impl Settings {
    /// The server's slice of `config`.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            listen: config.listen,
            tls: config.tls.clone(),
            api_token_file: config.api_token_file.clone(),
            state_dir: config.state_dir.clone(),
            web: config.web.clone(),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Box<dyn FnOnce(Arc<Local>) -> AppState + Send>,
}

impl Server {
    /// Everything that can fail on a bad setting, before any work starts: the web config,
    /// the certificate (generated on first start), the credential (generated on first
    /// start), the token file, the address. Logs where it serves, the certificate's path
    /// (Prometheus' `ca_file`) and the credential's path.
    pub async fn bind(settings: &Settings) -> anyhow::Result<Server> {
        use anyhow::Context;
        let web = match &settings.web.config_file {
            Some(file) => Some(webconfig::WebConfig::load(file)?),
            None => None,
        };
        let auth_off = settings.web.auth == AuthMode::Off;
        if let Some(web) = web.as_ref().filter(|w| auth_off && !w.users.is_empty()) {
            anyhow::bail!("[web] auth = \"off\" contradicts basic_auth_users in the web config {}", web.file.display());
        }
        let web_tls = web.as_ref().and_then(|w| w.tls.clone());
        if web_tls.is_some() && settings.tls.plain_http {
            anyhow::bail!("--plain-http contradicts tls_server_config in the web config");
        }
        let tls = if let Some(config) = web_tls {
            tracing::info!(web_config = %settings.web.config_file.as_deref().unwrap_or_else(|| std::path::Path::new("")).display(), "TLS from the web config.");
            Some(TlsAcceptor::from(config))
        } else if settings.tls.plain_http {
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
        let mut tokens = Vec::new();
        if auth_off {
            tracing::debug!("[web] auth = \"off\": no credential generated or asked.");
        } else {
            let credential = credential::ensure(&settings.state_dir)?;
            if credential.generated {
                tracing::info!(credential = %credential.path.display(), "Generated a credential.");
            }
            tracing::info!(
                credential = %credential.path.display(),
                "Credential for the page and the agent API: basic auth user \"{}\" with the file's token as password, or Authorization: Bearer <token>.",
                credential::BASIC_USER
            );
            tokens.push(credential.token);
        }
        if let Some(path) = &settings.api_token_file {
            let token = credential::read(path).with_context(|| format!("api_token_file {}", path.display()))?;
            tokens.push(token);
        }
        let listener = bind(settings.listen).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let local = listener.local_addr().unwrap_or(settings.listen);
        let loopback = local.ip().is_loopback();
        tracing::info!(url = %format!("{scheme}://{local}/metrics"), "Serving metrics.");
        if tls.is_none() {
            tracing::warn!(
                "Serving plain HTTP (--plain-http): anyone who can connect can read and tamper with the metrics{}.",
                if auth_off { "" } else { " and see the credentials sent" }
            );
        }
        match (auth_off, loopback) {
            (true, false) => tracing::warn!(
                "[web] auth = \"off\" on {local}, not a loopback address: serving /metrics only (the page and the agent API need auth on)."
            ),
            (true, true) => tracing::warn!(
                "[web] auth = \"off\": every local user can read the page and the agent API (log lines, processes, connections) without a credential."
            ),
            _ => {}
        }
        let policy = Policy { auth: settings.web.auth, loopback };
        let registry = Registry::new(settings.web.limits());
        let state = move |local: Arc<Local>| {
            let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let (users, headers, rate_limit) = match web {
                Some(web) => (web.users, web.headers, web.rate_limit),
                None => Default::default(),
            };
            AppState {
                local,
                http: Default::default(),
                scheme,
                auth: Authenticator::new(&token_refs, users),
                policy,
                headers,
                rate_limit: rate_limit.map(|l| ratelimit::RateLimiter::new(l.interval, l.burst)),
                events: Semaphore::new(EVENTS_AT_ONCE),
                registry,
            }
        };
        Ok(Server { listener, tls, state: Box::new(state) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves the agent's answers until `shutdown` turns true, then drains.
    pub async fn run(self, local: Arc<Local>, shutdown: watch::Receiver<bool>) {
        let state = Arc::new((self.state)(local));
        serve(self.listener, self.tls, state, shutdown).await
    }
}

/// Accepts connections until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
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
        let Some(ticket) = state.registry.admit(peer.ip()) else {
            tracing::debug!(%peer, "Every connection is busy; closing a new one.");
            continue;
        };
        let _ = stream.set_nodelay(true);
        conn::bound_send_buffer(&stream);
        let state = state.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let limits = state.registry.limits();
            let watched = conn::Watched::new(stream, ticket.state.clone());
            let ended = match tls {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(watched));
                    let stream = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out."),
                        },
                        _ = ticket.evicted() => return tracing::debug!(%peer, "Evicted during the TLS handshake."),
                    };
                    let client_certificate = stream.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    ticket.state.set(Phase::Idle);
                    http(TokioIo::new(stream), client_certificate, &ticket, state, shutdown, peer).await
                }
                None => http(TokioIo::new(watched), false, &ticket, state, shutdown, peer).await,
            };
            tracing::trace!(%peer, ?ended, "Connection ended.");
        });
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while state.registry.stats().open > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::info!("Closing connections still open after {DRAIN_TIMEOUT:?}.");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// HTTP/1.1 on an accepted (and TLS-terminated) stream, under the ticket's deadlines.
async fn http<I>(
    io: I,
    client_certificate: bool,
    ticket: &limits::Ticket,
    state: Arc<AppState>,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
) -> conn::Ended
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let limits = state.registry.limits();
    let conn_state = ticket.state.clone();
    let service = hyper::service::service_fn(move |req| {
        let (state, conn_state) = (state.clone(), conn_state.clone());
        async move { handle(req, state, client_certificate, conn_state).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A backstop: the watchdog closes idle connections and slow heads first.
        .header_read_timeout(limits.idle_timeout + limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection = builder.serve_connection(io, service);
    conn::supervise(connection, |c| c.graceful_shutdown(), ticket, &limits, shutdown, peer).await
}

/// A response body that marks its connection idle again once hyper is done with it.
pub struct Tracked {
    body: Full<Bytes>,
    state: Option<Arc<ConnState>>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.set(Phase::Idle);
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<AppState>,
    client_certificate: bool,
    conn_state: Arc<ConnState>,
) -> Result<Response<Tracked>, Infallible> {
    conn_state.set(Phase::Handling);
    let mut response = respond(req, &state, client_certificate).await;
    for (name, value) in &state.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    conn_state.set(Phase::Writing);
    Ok(response.map(|body| Tracked { body, state: Some(conn_state) }))
}

fn unauthorized(message: &'static str) -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::UNAUTHORIZED, message);
    let headers = response.headers_mut();
    headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gomon\", charset=\"UTF-8\""));
    headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gomon\""));
    response
}

async fn respond(req: Request<Incoming>, state: &AppState, client_certificate: bool) -> Response<Full<Bytes>> {
    if let Some(limiter) = &state.rate_limit
        && !limiter.allow()
    {
        state.http.record("limited", 429);
        return plain(StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
    }
    let Some(route) = routes::route(req.uri().path()) else {
        state.http.record("other", 404);
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        state.http.record("method", 405);
        return method_not_allowed();
    }
    if !req.body().is_end_stream() {
        // No route reads a body: refuse one rather than read or drain it.
        state.http.record("body", 413);
        let mut response = plain(StatusCode::PAYLOAD_TOO_LARGE, "no route takes a request body\n");
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    match state.policy.need(route.access, state.auth.has_users()) {
        Need::Nothing => {}
        Need::NotServed => {
            state.http.record(route.path, 403);
            return plain(
                StatusCode::FORBIDDEN,
                "this gomon serves /metrics only: [web] auth is off on a non-loopback address\n",
            );
        }
        Need::Credential => match state.auth.check(req.headers(), client_certificate).await {
            Ok(_) => {}
            Err(Denied::Busy) => {
                state.http.record(route.path, 503);
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "too many password checks waiting\n");
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            Err(denied) => {
                state.http.record(route.path, 401);
                return unauthorized(if denied == Denied::Missing {
                    "this route needs a credential: basic auth user gomon with the token in <state-dir>/credentials/token, or Authorization: Bearer <token>\n"
                } else {
                    "wrong credential\n"
                });
            }
        },
    }
    let mut response = match route.path {
        "/metrics" => metrics(&req, state).await,
        "/" => index(state),
        "/api/probes" => probes(state),
        "/api/graph" => graph::api(&req, state).await,
        "/gomon" => graph::page(&req, state, false).await,
        "/gomon/svg" => graph::page(&req, state, true).await,
        "/api/nodegraph" => api::nodegraph(&req, state).await,
        "/api/series" => api::series(&req, state).await,
        "/api/processes" => api::processes(state).await,
        "/api/events" => api::events(&req, state).await,
        "/api/health" => api::health(state).await,
        "/api/endpoints" => fleet::endpoints(state).await,
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    if req.method() == Method::HEAD {
        *response.body_mut() = Full::new(Bytes::new());
    }
    state.http.record(route.path, response.status().as_u16());
    response
}

async fn metrics(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let header = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let format = Format::from_accept(header(header::ACCEPT));
    let gzip = gomon_sink_prometheus::wants_gzip(header(header::ACCEPT_ENCODING));
    let exposition = state.local.current().await;
    state.http.scraped();

    let mut host: Vec<MetricFamily> = vec![telemetry::build_info()];
    host.extend(state.http.families());
    host.extend(connection_families(&state.registry));
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

/// `gomon_http_connections`, `gomon_http_connections_evicted_total`, `gomon_http_connections_refused_total`.
fn connection_families(registry: &Registry) -> Vec<MetricFamily> {
    let stats = registry.stats();
    let mut open = MetricFamily::gauge("gomon_http_connections", "HTTP connections held now.");
    open.push(&[], stats.open as f64);
    let mut evicted = MetricFamily::counter(
        "gomon_http_connections_evicted",
        "HTTP connections closed to make room for a newer one (idle or slow-reading ones, oldest first).",
    );
    evicted.push(&[], stats.evicted as f64);
    let mut refused =
        MetricFamily::counter("gomon_http_connections_refused", "HTTP connections refused: every held one was busy.");
    refused.push(&[], stats.refused as f64);
    vec![open, evicted, refused]
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
    // Links only; what they lead to asks for its own credential.
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

/// Cases per property test: 256, or `PROPTEST_CASES` for a longer run.
#[cfg(test)]
pub(crate) fn proptest_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
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
