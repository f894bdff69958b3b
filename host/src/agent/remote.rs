//! A remote gomon agent: another gomon (`gomon run`, as root) whose JSON endpoints (its
//! agent API) answer the same questions as [`Local`](super::local::Local) over HTTPS, so
//! Grafana can show any host and never needs root.
//!
//! ```text
//! GET <agentUrl>/api/nodegraph?pid=812                   → NodeGraph
//! GET <agentUrl>/api/series?metric=…&filter=…&from=…&to=…&max_points=…  → [Series]
//! GET <agentUrl>/api/processes                           → [ProcessRow]
//! GET <agentUrl>/api/probes                              → [ProbeSummary]
//! GET <agentUrl>/api/events?filter=…&from=…&to=…&limit=… → RecentRows
//! GET <agentUrl>/api/health                              → [Check]
//! GET <agentUrl>/api/endpoints                           → EndpointTable (the fleet view)
//! ```
//!
//! TLS: [`RemoteOptions::ca_pem`] (a data source's `agentCaCert`) is the only root
//! trusted when set (the agent's self-signed certificate), else the system's roots;
//! `tls_skip_verify` turns checking off. The token is sent as `Authorization: Bearer`.
//! An answer is read up to [`MAX_BODY_BYTES`] and no further.

use std::time::Duration;

use gomon_sink_grafana::{NodeGraph, Series};
use serde::de::DeserializeOwned;

use super::history::SeriesQuery;
use super::source::{Check, ProcessRow, SourceError};
use crate::observations::recent::{EventsQuery, RecentRows};

/// Time one agent request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer accepted.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// How to reach a remote agent: whom to trust and what to show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// The only root certificate trusted (PEM), e.g. the agent's self-signed one;
    /// `None`: the system's roots.
    pub ca_pem: Option<String>,
    /// Do not check the agent's certificate at all.
    pub tls_skip_verify: bool,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

/// A client of one remote agent.
pub struct Remote {
    base: reqwest::Url,
    client: reqwest::Client,
    token: Option<String>,
}

impl Remote {
    /// A client for the agent at `base`.
    pub fn new(mut base: reqwest::Url, options: &RemoteOptions) -> Result<Remote, SourceError> {
        // `join` replaces the last path segment unless the path ends in `/`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let error = |message: String| SourceError::Agent { url: base.to_string(), message };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).connect_timeout(Duration::from_secs(5));
        if let Some(pem) = &options.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| error(format!("agentCaCert is not a PEM certificate: {e}")))?;
            builder = builder.tls_certs_only([cert]);
        }
        if options.tls_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| error(format!("cannot build an HTTPS client: {e}")))?;
        Ok(Remote { base, client, token: options.token.clone() })
    }

    /// The agent's base URL.
    pub fn url(&self) -> &reqwest::Url {
        &self.base
    }

    fn error(&self, message: impl Into<String>) -> SourceError {
        SourceError::Agent { url: self.base.to_string(), message: message.into() }
    }

    /// `GET <base>/<path>?<query>`, the body as JSON.
    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, SourceError> {
        let body = self.get_bytes(path, query).await?;
        serde_json::from_slice(&body).map_err(|e| self.error(format!("{path}: unexpected answer: {e}")))
    }

    /// `GET <base>/<path>?<query>`, the body (a success, up to [`MAX_BODY_BYTES`]).
    async fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, SourceError> {
        let mut url = self.base.join(path).map_err(|e| self.error(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self.client.get(url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response =
            request.send().await.map_err(|e| self.error(format!("unreachable: {}", crate::error_chain(&e))))?;
        let status = response.status();
        let too_large = || self.error(format!("{path}: the answer is larger than {MAX_BODY_BYTES} bytes"));
        if response.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| self.error(format!("{path}: reading the answer: {e}")))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            return Err(self.error(format!("{path} answered {status}: {text}")));
        }
        Ok(body)
    }

    /// The agent's endpoint table (`/api/endpoints`, for the fleet view) and the bytes
    /// it took.
    pub async fn endpoints(&self) -> Result<(crate::agent::fleet::EndpointTable, u64), SourceError> {
        let body = self.get_bytes("api/endpoints", &[]).await?;
        let table =
            serde_json::from_slice(&body).map_err(|e| self.error(format!("api/endpoints: unexpected answer: {e}")))?;
        Ok((table, body.len() as u64))
    }

    /// The connection graph.
    pub async fn nodegraph(&self, pid: Option<u32>) -> Result<NodeGraph, SourceError> {
        let query: Vec<(&str, String)> = pid.map(|p| ("pid", p.to_string())).into_iter().collect();
        self.get("api/nodegraph", &query).await
    }

    /// Recent series.
    pub async fn series(&self, query: &SeriesQuery) -> Result<Vec<Series>, SourceError> {
        let mut pairs = vec![
            ("from", query.from_ms.to_string()),
            ("to", query.to_ms.to_string()),
            ("max_points", query.max_points.to_string()),
        ];
        if let Some(metric) = &query.metric {
            pairs.push(("metric", metric.clone()));
        }
        if let Some(filter) = &query.filter {
            pairs.push(("filter", filter.clone()));
        }
        self.get("api/series", &pairs).await
    }

    /// The process list.
    pub async fn processes(&self) -> Result<Vec<ProcessRow>, SourceError> {
        self.get("api/processes", &[]).await
    }

    /// The agent's probes.
    pub async fn probes(&self) -> Result<serde_json::Value, SourceError> {
        self.get("api/probes", &[]).await
    }

    /// Recent observations.
    pub async fn events(&self, query: &EventsQuery) -> Result<RecentRows, SourceError> {
        let mut pairs = vec![
            ("from", query.from_nanos.to_string()),
            ("to", query.to_nanos.to_string()),
            ("limit", query.limit.to_string()),
        ];
        if let Some(filter) = &query.filter {
            pairs.push(("filter", filter.clone()));
        }
        self.get("api/events", &pairs).await
    }

    /// `agent` (reachable, and which gomon) followed by the agent's own checks.
    pub async fn health(&self) -> Vec<Check> {
        match self.get::<Vec<Check>>("api/health", &[]).await {
            Ok(checks) => {
                let mut all = vec![Check::pass("agent", format!("{} answers", self.base))];
                all.extend(checks.into_iter().map(|c| Check { name: format!("agent {}", c.name), ..c }));
                all
            }
            Err(e) => vec![Check::fail("agent", e.to_string())],
        }
    }
}
