//! A gomon agent: another gomon (`gomon run`, as root) whose JSON endpoints answer the
//! plugin's questions over HTTPS, so Grafana can show any host and never needs root.
//!
//! ```text
//! GET <agentUrl>/api/nodegraph?pid=812                   → NodeGraph
//! GET <agentUrl>/api/series?metric=…&filter=…&from=…&to=…&max_points=…  → [Series]
//! GET <agentUrl>/api/processes                           → [ProcessRow]
//! GET <agentUrl>/api/probes                              → [ProbeSummary]
//! GET <agentUrl>/api/events?filter=…&from=…&to=…&limit=… → RecentRows
//! GET <agentUrl>/api/health                              → [Check]
//! ```
//!
//! TLS: the data source's `agentCaCert` is the only root trusted when set (the agent's
//! self-signed certificate), else the system's roots; `tlsSkipVerify` turns checking
//! off. `agentToken` is sent as `Authorization: Bearer`.

use std::time::Duration;

use gomon_sink_grafana::{NodeGraph, Series};
use serde::de::DeserializeOwned;

use super::events::{EventsQuery, RecentRows};
use super::history::SeriesQuery;
use super::settings::Instance;
use super::source::{Check, ProcessRow, SourceError};

/// Time one agent request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer accepted.
const MAX_BODY_BYTES: usize = 64 << 20;

/// A client of one agent.
pub struct Agent {
    base: reqwest::Url,
    client: reqwest::Client,
    token: Option<String>,
}

impl Agent {
    /// A client for the instance's agent.
    pub fn new(mut base: reqwest::Url, instance: &Instance) -> Result<Agent, SourceError> {
        // `join` replaces the last path segment unless the path ends in `/`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let error = |message: String| SourceError::Agent { url: base.to_string(), message };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).connect_timeout(Duration::from_secs(5));
        if let Some(pem) = &instance.agent_ca_cert {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| error(format!("agentCaCert is not a PEM certificate: {e}")))?;
            builder = builder.tls_certs_only([cert]);
        }
        if instance.json.tls_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| error(format!("cannot build an HTTPS client: {e}")))?;
        Ok(Agent { base, client, token: instance.agent_token.clone() })
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
        let mut url = self.base.join(path).map_err(|e| self.error(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self.client.get(url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.error(format!("unreachable: {}", chain(&e))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.error(format!("{path}: reading the answer: {e}")))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(self.error(format!("{path}: answer of {} bytes is too large", body.len())));
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            return Err(self.error(format!("{path} answered {status}: {text}")));
        }
        serde_json::from_slice(&body).map_err(|e| self.error(format!("{path}: unexpected answer: {e}")))
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

/// An error with its causes (reqwest's own message hides the TLS or connect reason).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
