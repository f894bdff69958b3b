//! Where a data source's answers come from: the collector in this process
//! ([`Local`]), or a gomon agent elsewhere ([`Agent`](super::agent::Agent)) that serves
//! the same answers as JSON. Both give the same types, so the query code is one path:
//!
//! | question | [`Local`] | agent endpoint |
//! |---|---|---|
//! | connection graph | the graph probe on the latest snapshot | `/api/nodegraph?pid=N` |
//! | recent series | the [`History`] | `/api/series?metric=&filter=&from=&to=&max_points=` |
//! | processes | the latest snapshot | `/api/processes` |
//! | probes | the latest exposition | `/api/probes` |
//! | observations | the [`ObservationRing`](super::events::ObservationRing) | `/api/events?filter=&from=&to=&limit=` |
//! | health | [`Local::health`] | `/api/health` |
//!
//! A closed set of two, so an enum ([`DataSource`]) rather than a trait object: no
//! boxed futures, and `match` shows both paths side by side.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gomon_sink_grafana::{NodeGraph, Series};
use serde::{Deserialize, Serialize};

use super::agent::Agent;
use super::events::{EventsQuery, RecentObservations, RecentRows};
use super::history::{History, HistoryError, SeriesQuery};
use crate::collect::Schedule;
use crate::runtime::{ProbeSet, ProbeSummary};

/// One row of the `processes` resource (the query editor's pid picker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRow {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// The kernel's short name.
    pub comm: String,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident memory.
    pub resident_bytes: u64,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `sampler`, `probes`, `privileges`, `agent`, `loki`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub message: String,
}

impl Check {
    /// A passed check.
    pub fn pass(name: &str, message: impl Into<String>) -> Self {
        Check { name: name.to_owned(), ok: true, message: message.into() }
    }

    /// A failed check.
    pub fn fail(name: &str, message: impl Into<String>) -> Self {
        Check { name: name.to_owned(), ok: false, message: message.into() }
    }
}

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The collector has not sampled yet.
    #[error("no sample yet: the collector is still starting")]
    NotReady,
    /// No graph could be drawn.
    #[error("no graph: {0}")]
    Graph(String),
    /// A history query failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The agent failed or was unreachable.
    #[error("agent {url}: {message}")]
    Agent {
        /// The agent's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl SourceError {
    /// Whether the caller asked something wrong (rather than the source failing).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, SourceError::History(_))
    }
}

/// The collector running in this process.
pub struct Local {
    /// Latest samples.
    pub schedule: Schedule,
    /// The probes (the graph probe draws on demand).
    pub probes: Arc<Mutex<ProbeSet>>,
    /// Recent samples.
    pub history: Arc<History>,
    /// Recent observations.
    pub observations: Arc<dyn RecentObservations>,
    /// The sampling interval.
    pub interval: Duration,
    /// Where procfs is mounted (for the privilege check).
    pub proc_root: PathBuf,
    /// The Loki this gomon pushes observations to, if any; [`Local::health`] checks
    /// that its `/ready` answers (with the sink's CA).
    pub loki: Option<gomon_sink_loki::LokiConfig>,
}

impl Local {
    /// The connection graph, focused on `pid` or the overview.
    pub async fn nodegraph(&self, pid: Option<u32>) -> Result<NodeGraph, SourceError> {
        let exposition = self.schedule.current().await;
        let snapshot = exposition.snapshot.clone().ok_or(SourceError::NotReady)?;
        let probes = self.probes.clone();
        let graph =
            tokio::task::spawn_blocking(move || probes.lock().unwrap_or_else(|e| e.into_inner()).draw(&snapshot, pid))
                .await
                .map_err(|e| SourceError::Graph(format!("graph task failed: {e}")))?
                .map_err(|e| SourceError::Graph(e.to_string()))?;
        Ok(crate::serve::graph::convert(graph))
    }

    /// The processes of the latest snapshot (kernel threads left out), by name then pid.
    pub async fn processes(&self) -> Result<Vec<ProcessRow>, SourceError> {
        let exposition = self.schedule.current().await;
        let snapshot = exposition.snapshot.clone().ok_or(SourceError::NotReady)?;
        let mut rows: Vec<ProcessRow> = snapshot
            .processes
            .iter()
            .filter(|p| !p.kernel_thread)
            .map(|p| ProcessRow {
                pid: p.pid,
                ppid: p.ppid,
                comm: p.comm.clone(),
                cpu_seconds: p.user_seconds + p.system_seconds,
                resident_bytes: p.resident_bytes,
            })
            .collect();
        rows.sort_by(|a, b| a.comm.cmp(&b.comm).then(a.pid.cmp(&b.pid)));
        Ok(rows)
    }

    /// The probes as of the latest cycle (what `/api/probes` serves), waiting for the
    /// first cycle.
    pub async fn probes(&self) -> Vec<ProbeSummary> {
        self.schedule.current().await.probes.clone()
    }

    /// Recent series.
    pub fn series(&self, query: &SeriesQuery) -> Result<Vec<Series>, SourceError> {
        Ok(self.history.query(query)?)
    }

    /// Recent observations.
    pub fn events(&self, query: &EventsQuery) -> RecentRows {
        self.observations.recent(query)
    }

    /// The sampler is alive, the probes are loaded (and the graph probe works), Loki
    /// answers when configured; plus what the missing privileges cost.
    pub async fn health(&self) -> Vec<Check> {
        let exposition = self.schedule.latest();
        let stale_after = self.interval * 2 + Duration::from_secs(5);
        let sampler = match exposition.taken {
            None => Check::fail("sampler", "no sample yet: the collector is still starting"),
            Some(taken) if taken.elapsed() > stale_after => Check::fail(
                "sampler",
                format!(
                    "the last sample is {:.0} s old, though sampling runs every {} s: the sampler is stuck",
                    taken.elapsed().as_secs_f64(),
                    self.interval.as_secs_f64()
                ),
            ),
            Some(taken) => Check::pass(
                "sampler",
                format!(
                    "sampling every {} s, last sample {:.1} s ago ({} families)",
                    self.interval.as_secs_f64(),
                    taken.elapsed().as_secs_f64(),
                    exposition.families.len()
                ),
            ),
        };
        let mut checks = vec![sampler, probes_check(&exposition.probes)];
        if let Some(loki) = &self.loki {
            checks.push(loki_check(loki).await);
        }
        checks.push(match super::privileges::summary(&self.proc_root) {
            None => Check::pass("privileges", "the collector can see every process"),
            Some(degraded) => Check::pass("privileges", degraded),
        });
        checks
    }
}

/// Probes loaded; the failing ones named. Fails without any probe or without a working
/// graph probe (the node graph needs it).
fn probes_check(probes: &[ProbeSummary]) -> Check {
    if probes.is_empty() {
        return Check::fail("probes", "no probe is loaded");
    }
    let failing: Vec<String> = probes
        .iter()
        .filter(|p| p.state != "ok")
        .map(|p| match &p.last_error {
            Some(error) => format!("{} ({}: {error})", p.name, p.state),
            None => format!("{} ({})", p.name, p.state),
        })
        .collect();
    let names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    let graph_ok = probes.iter().any(|p| p.name == "graph" && p.state == "ok")
        || probes.iter().any(|p| p.needs.iter().any(|n| n == "connections") && p.state == "ok");
    let loaded = format!("{} probes loaded ({})", probes.len(), names.join(", "));
    match (failing.is_empty(), graph_ok) {
        (true, true) => Check::pass("probes", loaded),
        (true, false) => Check::fail("probes", format!("{loaded}, but no graph probe: the node graph cannot be drawn")),
        (false, _) => Check::fail("probes", format!("{loaded}; failing: {}", failing.join("; "))),
    }
}

/// Loki's base URL (`http://loki:3100/`) from its push URL
/// (`http://loki:3100/loki/api/v1/push`); `None` when unset or unparsable.
pub fn loki_base(push_url: Option<&str>) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(push_url?.trim()).ok()?;
    let path = url.path().trim_end_matches('/');
    let base = path.strip_suffix("/loki/api/v1/push").unwrap_or(path);
    let base = format!("{base}/");
    url.set_path(&base);
    url.set_query(None);
    Some(url)
}

/// `GET <loki base>/ready` answers: 2xx, or 401/403 from an authenticating proxy
/// (reachable; `/ready` wants credentials). The client trusts the sink's CA file.
pub async fn loki_check(loki: &gomon_sink_loki::LokiConfig) -> Check {
    let push = loki.url.as_deref().unwrap_or_default();
    let Some(ready) = loki_base(Some(push)).and_then(|base| base.join("ready").ok()) else {
        return Check::fail("loki", format!("{push:?} is not a Loki URL"));
    };
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(ca) = &loki.tls_ca_file {
        let pem = match std::fs::read(ca) {
            Ok(pem) => pem,
            Err(e) => return Check::fail("loki", format!("cannot read tls_ca_file {}: {e}", ca.display())),
        };
        match reqwest::Certificate::from_pem(&pem) {
            Ok(cert) => builder = builder.tls_certs_only([cert]),
            Err(e) => return Check::fail("loki", format!("tls_ca_file {} is not PEM: {e}", ca.display())),
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => return Check::fail("loki", format!("cannot build an HTTP client: {e}")),
    };
    match client.get(ready.clone()).send().await {
        Ok(r) if r.status().is_success() => Check::pass("loki", format!("{ready} answers {}", r.status())),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            Check::pass("loki", format!("{ready} answers {} (reachable; it wants credentials)", r.status()))
        }
        Ok(r) => Check::fail("loki", format!("{ready} answers {}", r.status())),
        Err(e) => Check::fail("loki", format!("{ready} is unreachable: {}", super::agent::chain(&e))),
    }
}

/// A data source's answers: local or from an agent.
#[derive(Clone)]
pub enum DataSource {
    /// This process's collector.
    Local(Arc<Local>),
    /// A gomon agent.
    Agent(Arc<Agent>),
}

impl DataSource {
    /// The connection graph.
    pub async fn nodegraph(&self, pid: Option<u32>) -> Result<NodeGraph, SourceError> {
        match self {
            DataSource::Local(local) => local.nodegraph(pid).await,
            DataSource::Agent(agent) => agent.nodegraph(pid).await,
        }
    }

    /// Recent series.
    pub async fn series(&self, query: &SeriesQuery) -> Result<Vec<Series>, SourceError> {
        match self {
            DataSource::Local(local) => local.series(query),
            DataSource::Agent(agent) => agent.series(query).await,
        }
    }

    /// The process list.
    pub async fn processes(&self) -> Result<Vec<ProcessRow>, SourceError> {
        match self {
            DataSource::Local(local) => local.processes().await,
            DataSource::Agent(agent) => agent.processes().await,
        }
    }

    /// The probes, as `/api/probes` JSON.
    pub async fn probes(&self) -> Result<serde_json::Value, SourceError> {
        match self {
            DataSource::Local(local) => Ok(serde_json::to_value(local.probes().await).unwrap_or_default()),
            DataSource::Agent(agent) => agent.probes().await,
        }
    }

    /// Recent observations.
    pub async fn events(&self, query: &EventsQuery) -> Result<RecentRows, SourceError> {
        match self {
            DataSource::Local(local) => Ok(local.events(query)),
            DataSource::Agent(agent) => agent.events(query).await,
        }
    }

    /// Health checks.
    pub async fn health(&self) -> Vec<Check> {
        match self {
            DataSource::Local(local) => local.health().await,
            DataSource::Agent(agent) => agent.health().await,
        }
    }

    /// Where the answers come from, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Local(_) => "the collector in the plugin process".to_owned(),
            DataSource::Agent(agent) => format!("the gomon agent at {}", agent.url()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &str, state: &str, needs: &[&str]) -> ProbeSummary {
        ProbeSummary {
            name: name.into(),
            version: "0.1.0".into(),
            description: String::new(),
            source: "built-in".into(),
            state: state.into(),
            needs: needs.iter().map(|n| (*n).to_owned()).collect(),
            grants: Vec::new(),
            calls: 1,
            errors: Default::default(),
            last_error: (state != "ok").then(|| "trap: unreachable".to_owned()),
            mean_call_seconds: 0.0,
            memory_bytes: 0,
            series: 0,
            load_seconds: 0.0,
            cached: false,
        }
    }

    #[test]
    fn loki_base_comes_from_the_push_url() {
        let base = |u: &str| loki_base(Some(u)).map(|u| u.to_string());
        assert_eq!(base("http://loki:3100/loki/api/v1/push").as_deref(), Some("http://loki:3100/"));
        assert_eq!(base("https://h/prefix/loki/api/v1/push/").as_deref(), Some("https://h/prefix/"));
        assert_eq!(base("http://loki:3100").as_deref(), Some("http://loki:3100/"));
        assert_eq!(loki_base(None), None);
        assert_eq!(base("not a url"), None);
    }

    #[test]
    fn the_probes_check_names_failing_probes_and_a_missing_graph() {
        assert!(!probes_check(&[]).ok);
        let good = probes_check(&[probe("system", "ok", &[]), probe("graph", "ok", &["connections"])]);
        assert!(good.ok, "{good:?}");
        assert!(good.message.contains("2 probes loaded (system, graph)"));
        let bad = probes_check(&[probe("system", "failing", &[]), probe("graph", "ok", &["connections"])]);
        assert!(!bad.ok && bad.message.contains("system (failing: trap: unreachable)"), "{bad:?}");
        let no_graph = probes_check(&[probe("system", "ok", &[])]);
        assert!(!no_graph.ok && no_graph.message.contains("no graph probe"), "{no_graph:?}");
    }
}
