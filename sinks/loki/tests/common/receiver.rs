//! An in-process Loki push receiver for tests and the benchmark: hyper on
//! loopback, decodes both bodies (raw snappy + protobuf, JSON with or without
//! gzip), records what it kept, answers from a script of status codes, and can
//! go down and come back on the same port. Plain HTTP, or HTTPS with a given
//! certificate. The protobuf body is decoded by [`wire`], a reader written for the
//! tests, never by the sink's own `proto` module.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[path = "wire.rs"]
pub mod wire;

/// One entry as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub time_nanos: u64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
    /// When the receiver decoded it (Unix nanoseconds).
    pub received_nanos: u64,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub tenant: Option<String>,
    pub authorization: Option<String>,
    pub body_bytes: usize,
    pub raw_bytes: usize,
    pub entries: usize,
    pub decode_error: Option<String>,
}

#[derive(Debug)]
pub struct State {
    /// Keep the decoded entries in `streams` (off for long benchmarks).
    pub store: bool,
    pub script: VecDeque<u16>,
    pub requests: Vec<RequestInfo>,
    /// Kept entries by stream selector, in arrival order.
    pub streams: BTreeMap<String, Vec<Got>>,
    pub kept_entries: u64,
    pub kept_bytes: u64,
    /// Receive time minus entry time of every kept entry, in nanoseconds.
    pub latencies_nanos: Vec<u64>,
}

impl Default for State {
    fn default() -> Self {
        State {
            store: true,
            script: VecDeque::new(),
            requests: Vec::new(),
            streams: BTreeMap::new(),
            kept_entries: 0,
            kept_bytes: 0,
            latencies_nanos: Vec::new(),
        }
    }
}

/// The receiver. Dropping it stops it.
pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on 127.0.0.1, any port.
    pub async fn start() -> Receiver {
        Receiver::start_on(0, None).await
    }

    /// Starts on `port` (0: any), with TLS when `tls` is given.
    pub async fn start_on(port: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let mut r = Receiver {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            state: Arc::new(Mutex::new(State::default())),
            tls,
            task: None,
        };
        r.up().await;
        r
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let host = if self.tls.is_some() { "localhost".to_owned() } else { self.addr.ip().to_string() };
        format!("{scheme}://{host}:{}/loki/api/v1/push", self.addr.port())
    }

    /// Serves again, on the same port; keeps what was recorded.
    pub async fn up(&mut self) {
        assert!(self.task.is_none(), "already up");
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot bind {}: {e}", self.addr),
            }
        };
        self.addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        let tls = self.tls.clone();
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = state.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// Goes down: the listener closes and open connections are cut.
    pub async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Statuses to answer next (then 204).
    pub fn script(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    pub fn requests(&self) -> Vec<RequestInfo> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn streams(&self) -> BTreeMap<String, Vec<Got>> {
        self.state.lock().unwrap().streams.clone()
    }

    pub fn kept_entries(&self) -> u64 {
        self.state.lock().unwrap().kept_entries
    }

    /// Polls `predicate` on the state until it holds or `timeout` passes.
    pub async fn wait_for(&self, timeout: Duration, what: &str, predicate: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate(&self.state.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                let state = self.state.lock().unwrap();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; {} requests, {} entries kept",
                    state.requests.len(),
                    state.kept_entries
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let content_type = header(&req, "content-type");
    let content_encoding = header(&req, "content-encoding");
    let tenant = header(&req, "x-scope-orgid");
    let authorization = header(&req, "authorization");
    let path_ok = req.method() == hyper::Method::POST && req.uri().path() == "/loki/api/v1/push";
    let body = req.into_body().collect().await?.to_bytes();
    let decoded = if path_ok {
        decode(content_type.as_deref(), content_encoding.as_deref(), &body)
    } else {
        Err("not POST /loki/api/v1/push".to_owned())
    };
    let mut state = state.lock().unwrap();
    let mut status = state.script.pop_front().unwrap_or(204);
    if decoded.is_err() {
        status = 400;
    }
    let (streams, raw_bytes, decode_error) = match decoded {
        Ok((streams, raw)) => (streams, raw, None),
        Err(e) => (Vec::new(), 0, Some(e)),
    };
    let entries = streams.iter().map(|(_, e)| e.len()).sum();
    if (200..300).contains(&status) && status != 260 {
        state.kept_entries += entries as u64;
        state.kept_bytes += body.len() as u64;
        for (selector, got) in streams {
            let latencies: Vec<u64> = got.iter().map(|g| g.received_nanos.saturating_sub(g.time_nanos)).collect();
            state.latencies_nanos.extend(latencies);
            if state.store {
                state.streams.entry(selector).or_default().extend(got);
            }
        }
    }
    state.requests.push(RequestInfo {
        status,
        content_type,
        content_encoding,
        tenant,
        authorization,
        body_bytes: body.len(),
        raw_bytes,
        entries,
        decode_error: decode_error.clone(),
    });
    let text = decode_error.unwrap_or_else(|| if status == 400 { "scripted 400".to_owned() } else { String::new() });
    Ok(Response::builder().status(status).body(Full::new(Bytes::from(text))).unwrap())
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

type Streams = Vec<(String, Vec<Got>)>;

/// Decodes a push body; returns the streams and the uncompressed size.
pub fn decode(content_type: Option<&str>, encoding: Option<&str>, body: &[u8]) -> Result<(Streams, usize), String> {
    let now = now_nanos();
    match (content_type, encoding) {
        (Some("application/x-protobuf"), None) => {
            let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
            let push = wire::decode_push(&raw).map_err(|e| format!("protobuf: {e}"))?;
            let mut streams = Vec::with_capacity(push.streams.len());
            for s in push.streams {
                let mut got = Vec::with_capacity(s.entries.len());
                for e in s.entries {
                    let ts =
                        e.timestamp.ok_or_else(|| format!("protobuf: an entry of {} has no timestamp", s.labels))?;
                    let time_nanos = ts
                        .unix_nanos()
                        .ok_or_else(|| format!("protobuf: timestamp {ts:?} is before 1970 or too late"))?;
                    got.push(Got { time_nanos, line: e.line, metadata: e.metadata, received_nanos: now });
                }
                streams.push((s.labels, got));
            }
            Ok((streams, raw.len()))
        }
        (Some("application/json"), encoding) => {
            let raw = match encoding {
                None => body.to_vec(),
                Some("gzip") => {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(body).read_to_end(&mut out).map_err(|e| format!("gzip: {e}"))?;
                    out
                }
                Some(other) => return Err(format!("unexpected Content-Encoding {other}")),
            };
            let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| format!("json: {e}"))?;
            let mut streams = Vec::new();
            for s in value["streams"].as_array().ok_or("no streams")? {
                let labels = s["stream"].as_object().ok_or("no stream labels")?;
                let selector = format!(
                    "{{{}}}",
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v.as_str().unwrap_or("")).unwrap()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut got = Vec::new();
                for v in s["values"].as_array().ok_or("no values")? {
                    let time = v[0].as_str().ok_or("timestamp not a string")?.parse().map_err(|_| "bad timestamp")?;
                    let line = v[1].as_str().ok_or("line not a string")?.to_owned();
                    let metadata = v
                        .get(2)
                        .and_then(|m| m.as_object())
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
                        .unwrap_or_default();
                    got.push(Got { time_nanos: time, line, metadata, received_nanos: now });
                }
                streams.push((selector, got));
            }
            Ok((streams, raw.len()))
        }
        (ct, enc) => Err(format!("unexpected Content-Type {ct:?} / Content-Encoding {enc:?}")),
    }
}
