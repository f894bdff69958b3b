//! The fleet's connection graph: which process on which host talks to which process on
//! which other host (docs/fleet.md has the design and its costs).
//!
//! ```text
//!  agents ──[fleet] export──► gomon_endpoint_* series ──► Prometheus/Thanos/Mimir ─┐ 2 queries
//!  agents ──GET /api/endpoints (peers, concurrently, a deadline each)─────────────┤ or 1 per agent
//!                                                                                 ▼
//!                                   endpoint tables (one per host) ──► join ──► gomon_graph::Graph
//!                                                                                 ▼
//!                               /gomon?scope=fleet · /api/graph?scope=fleet · Grafana nodegraph scope "fleet"
//!  drill-down: <host>/<pid> ──► that host's agent: GET /api/nodegraph?pid=N (one request)
//! ```
//!
//! - [`table`]: one host's endpoints (`/api/endpoints`) and the export's families;
//! - [`join`]: the tables joined into one graph;
//! - [`prometheus`]: the tables from a query API (the path that scales);
//! - this module: the configuration (`[fleet]`), where the tables come from
//!   ([`Fleet`]: peers or Prometheus), who did not answer, and the drill-down.

pub mod join;
pub mod prometheus;
pub mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use join::{HostTable, Joined, join};
pub use table::{EndpointTable, HostAddress};

use super::query::{Focus, focus_text};
use super::remote::{Remote, RemoteOptions};
use super::source::SourceError;
use gomon_graph::Graph;

/// Most rows one agent's table may have (a hostile or broken peer cannot make the join
/// run away).
pub const MAX_TABLE_ROWS: usize = 200_000;

/// The fleet view's configuration (`[fleet]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// Export this host's endpoints as `gomon_endpoint_listening`,
    /// `gomon_endpoint_connections` and `gomon_host_address_info` on `/metrics`, for a
    /// fleet view from Prometheus. Costs a socket discovery every interval.
    pub export: bool,
    /// Most series of each exported family; the rest are counted in
    /// `gomon_endpoint_dropped_series`.
    pub max_series: usize,
    /// The agents of the fleet (`https://host:1234`), asked concurrently for their
    /// endpoints on every fleet view. List this agent too if it is part of the fleet.
    pub peers: Vec<String>,
    /// A Prometheus-compatible query API scraping the agents' export
    /// (`http://prometheus:9090`); with `job`, the fleet is that job's targets.
    pub prometheus_url: Option<String>,
    /// The Prometheus job whose targets are the fleet's agents.
    pub job: String,
    /// The deadline of each agent's (or each query's) answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The scheme of an agent's API for drill-down in Prometheus mode
    /// (`<scheme>://<instance>/`).
    pub agent_scheme: String,
    /// PEM file of the CA that signed the agents' (and Prometheus's) certificates; unset:
    /// the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// File holding the bearer token the agents' API asks for (their `api_token_file`).
    pub token_file: Option<PathBuf>,
    /// Do not verify certificates (tests only).
    pub tls_skip_verify: bool,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            export: false,
            max_series: 10_000,
            peers: Vec::new(),
            prometheus_url: None,
            job: "gomon".to_owned(),
            timeout: Duration::from_secs(5),
            agent_scheme: "https".to_owned(),
            tls_ca_file: None,
            token_file: None,
            tls_skip_verify: false,
        }
    }
}

/// An `http(s)://host[:port][/path]` URL without query or fragment, or why not.
pub fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{text:?}: the scheme must be https or http"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// A URL's `host:port`: the label of its host in the fleet graph.
pub fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

impl FleetConfig {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_series > 0, "fleet.max_series must be at least 1");
        anyhow::ensure!(
            self.timeout >= Duration::from_millis(100) && self.timeout <= Duration::from_secs(60),
            "fleet.timeout {:?} must be between 100ms and 60s",
            self.timeout
        );
        anyhow::ensure!(
            matches!(self.agent_scheme.as_str(), "https" | "http"),
            "fleet.agent_scheme {:?} must be https or http",
            self.agent_scheme
        );
        for peer in &self.peers {
            parse_url(peer).map_err(|e| anyhow::anyhow!("fleet.peers: {e}"))?;
        }
        if let Some(url) = &self.prometheus_url {
            parse_url(url).map_err(|e| anyhow::anyhow!("fleet.prometheus_url: {e}"))?;
            anyhow::ensure!(!self.job.trim().is_empty(), "fleet.job must name the Prometheus job of the agents");
            anyhow::ensure!(
                self.peers.is_empty(),
                "fleet.peers and fleet.prometheus_url are two ways to the same view: set one"
            );
        }
        Ok(())
    }

    /// Whether a fleet view is configured.
    pub fn has_view(&self) -> bool {
        !self.peers.is_empty() || self.prometheus_url.is_some()
    }
}

/// Where the tables come from, with the credentials to ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSettings {
    /// Agent URLs (fan-out).
    pub peers: Vec<String>,
    /// A query API (with `job`).
    pub prometheus_url: Option<String>,
    /// The job of the agents.
    pub job: String,
    /// How to reach agents (and the query API): CA, token, verification.
    pub remote: RemoteOptions,
    /// The deadline of each answer.
    pub timeout: Duration,
    /// `https` or `http`: agents' API in Prometheus mode.
    pub agent_scheme: String,
}

impl FleetSettings {
    /// The settings of `[fleet]`, its CA and token read from their files.
    pub fn from_config(config: &FleetConfig) -> anyhow::Result<FleetSettings> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read fleet.{what} {}", path.display()))
        };
        let ca_pem = config.tls_ca_file.as_ref().map(|p| read(p, "tls_ca_file")).transpose()?;
        let token = match &config.token_file {
            Some(path) => {
                let token = read(path, "token_file")?.trim().to_owned();
                anyhow::ensure!(!token.is_empty(), "fleet.token_file {} is empty", path.display());
                Some(token)
            }
            None => None,
        };
        Ok(FleetSettings {
            peers: config.peers.clone(),
            prometheus_url: config.prometheus_url.clone(),
            job: config.job.clone(),
            remote: RemoteOptions { ca_pem, tls_skip_verify: config.tls_skip_verify, token },
            timeout: config.timeout,
            agent_scheme: config.agent_scheme.clone(),
        })
    }
}

/// One agent of the fan-out.
struct Peer {
    host: String,
    agent: Arc<Remote>,
}

enum Members {
    Peers(Vec<Peer>),
    Prometheus(prometheus::Prometheus),
}

/// An agent that did not answer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// Its label.
    pub host: String,
    /// Why.
    pub reason: String,
}

/// The tables of one fleet view.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Those that answered.
    pub tables: Vec<HostTable>,
    /// Those that did not.
    pub missing: Vec<Missing>,
    /// Requests made.
    pub requests: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Series or rows ignored as malformed.
    pub malformed: usize,
}

/// A notice for the viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// A warning (something is missing) rather than information.
    pub warning: bool,
    /// The text.
    pub text: String,
}

/// What a fleet view costs, for the page, `/api/graph` and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStats {
    /// `peers` or `prometheus`.
    pub source: String,
    /// Hosts joined.
    pub hosts: usize,
    /// Requests made.
    pub requests: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Time to gather and join, seconds.
    pub seconds: f64,
    /// Connections joined to a process.
    pub matched_connections: u64,
    /// Connections left at a host node.
    pub unmatched_connections: u64,
}

/// A fleet graph with what the viewer should know about it.
#[derive(Debug, Clone, Default)]
pub struct FleetGraph {
    /// The graph (node ids `<host>/<pid>`, `<host>/name:<comm>`, `host:<addr>:<port>`).
    pub graph: Graph,
    /// The hosts joined, in column order (process node depth = index + 1).
    pub hosts: Vec<String>,
    /// The agents that did not answer.
    pub missing: Vec<Missing>,
    /// Notices: who did not answer, what was not matched.
    pub notices: Vec<Notice>,
    /// What it cost.
    pub stats: FleetStats,
}

/// One host's graph, drilled down to from the fleet view.
#[derive(Debug, Clone)]
pub struct Drilled {
    /// The host's label.
    pub host: String,
    /// Its graph as its agent drew it (ids are the agent's own).
    pub graph: Graph,
    /// The pid it is focused on.
    pub pid: Option<u32>,
    /// Notices (a name that no process has, a node that is not a process).
    pub notices: Vec<Notice>,
}

/// A fleet drill-down target: `<host>/<pid>`, `<host>/name:<comm>`, `<host>/host:…`,
/// or `<host>` alone (its overview).
pub fn split_node(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

/// Where a fleet request focuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetFocus {
    /// The whole fleet.
    Overview,
    /// One host's graph: `<host>/<local id>`.
    Node(String),
    /// A node that belongs to no host (an unmatched remote): the overview, with a notice.
    NotAHost(String),
}

/// `pid` in the fleet scope: empty or 0 the overview; `<host>/<id>` a host's graph; a
/// bare `host:…` or `data:…` id the overview; anything else a host's label.
pub fn fleet_focus(text: &str) -> FleetFocus {
    let text = text.trim();
    if text.is_empty() || text == "0" {
        FleetFocus::Overview
    } else if text.contains('/') {
        FleetFocus::Node(text.to_owned())
    } else if text.starts_with("host:") || text.starts_with("data:") {
        FleetFocus::NotAHost(text.to_owned())
    } else {
        FleetFocus::Node(format!("{text}/"))
    }
}

/// The fleet view: where its tables come from and how to ask.
pub struct Fleet {
    members: Members,
    timeout: Duration,
    remote: RemoteOptions,
    agent_scheme: String,
}

impl Fleet {
    /// The view the settings describe; `Ok(None)` when they name no peers and no
    /// Prometheus. Errors name the setting at fault.
    pub fn new(settings: &FleetSettings) -> Result<Option<Fleet>, String> {
        let members = if let Some(url) = settings.prometheus_url.as_deref().filter(|u| !u.trim().is_empty()) {
            let url = parse_url(url).map_err(|e| format!("the fleet's Prometheus URL: {e}"))?;
            if settings.job.trim().is_empty() {
                return Err("the fleet's Prometheus job is empty".into());
            }
            let client = prometheus::client(
                settings.timeout,
                settings.remote.ca_pem.as_deref(),
                settings.remote.tls_skip_verify,
            )?;
            Members::Prometheus(prometheus::Prometheus::new(url, settings.job.trim(), client))
        } else {
            let mut peers: Vec<Peer> = Vec::new();
            for text in settings.peers.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
                let url = parse_url(text).map_err(|e| format!("fleet peer: {e}"))?;
                let host = authority(&url);
                if peers.iter().any(|p| p.host == host) {
                    return Err(format!("fleet peer {host} is listed twice"));
                }
                let agent = Remote::new(url, &settings.remote).map_err(|e| e.to_string())?;
                peers.push(Peer { host, agent: Arc::new(agent) });
            }
            if peers.is_empty() {
                return Ok(None);
            }
            Members::Peers(peers)
        };
        Ok(Some(Fleet {
            members,
            timeout: settings.timeout,
            remote: settings.remote.clone(),
            agent_scheme: settings.agent_scheme.clone(),
        }))
    }

    /// `peers` or `prometheus`.
    pub fn source(&self) -> &'static str {
        match self.members {
            Members::Peers(_) => "peers",
            Members::Prometheus(_) => "prometheus",
        }
    }

    /// For logs: the peers, or the query API and job.
    pub fn describe(&self) -> String {
        match &self.members {
            Members::Peers(peers) => {
                format!(
                    "{} peers ({})",
                    peers.len(),
                    peers.iter().map(|p| p.host.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
            Members::Prometheus(p) => format!("the targets of job {:?} at {}", p.job(), p.url()),
        }
    }

    /// Every table that can be had before the deadlines.
    pub async fn gather(&self) -> Result<Gathered, SourceError> {
        match &self.members {
            Members::Prometheus(p) => {
                let url = p.url().to_string();
                match tokio::time::timeout(self.timeout, p.gather()).await {
                    Ok(Ok(gathered)) => Ok(gathered),
                    Ok(Err(message)) => Err(SourceError::Prometheus { url, message }),
                    Err(_) => {
                        Err(SourceError::Prometheus { url, message: format!("no answer within {:?}", self.timeout) })
                    }
                }
            }
            Members::Peers(peers) => {
                let tasks: Vec<_> = peers
                    .iter()
                    .map(|peer| {
                        let agent = peer.agent.clone();
                        let timeout = self.timeout;
                        tokio::spawn(async move { tokio::time::timeout(timeout, agent.endpoints()).await })
                    })
                    .collect();
                let mut gathered = Gathered { requests: peers.len(), ..Default::default() };
                for (peer, task) in peers.iter().zip(tasks) {
                    let missing = |reason: String| Missing { host: peer.host.clone(), reason };
                    match task.await {
                        Ok(Ok(Ok((table, bytes)))) => {
                            gathered.bytes += bytes;
                            if table.rows() > MAX_TABLE_ROWS {
                                gathered.missing.push(missing(format!(
                                    "its table has {} rows, more than {MAX_TABLE_ROWS}: left out",
                                    table.rows()
                                )));
                            } else {
                                gathered.tables.push(HostTable { host: peer.host.clone(), table });
                            }
                        }
                        Ok(Ok(Err(e))) => gathered.missing.push(missing(e.to_string())),
                        Ok(Err(_)) => gathered.missing.push(missing(format!("no answer within {:?}", self.timeout))),
                        Err(e) => gathered.missing.push(missing(format!("the request failed: {e}"))),
                    }
                }
                Ok(gathered)
            }
        }
    }

    /// The fleet graph: the tables gathered and joined, with notices.
    pub async fn graph(&self) -> Result<FleetGraph, SourceError> {
        let started = Instant::now();
        let gathered = self.gather().await?;
        let joined = join(&gathered.tables);
        let mut notices = Vec::new();
        if !gathered.missing.is_empty() {
            let list: Vec<String> = gathered.missing.iter().map(|m| format!("{} ({})", m.host, m.reason)).collect();
            notices.push(Notice {
                warning: true,
                text: format!(
                    "{} of {} agents did not answer and are not drawn: {}.",
                    gathered.missing.len(),
                    gathered.missing.len() + gathered.tables.len(),
                    list.join("; ")
                ),
            });
        }
        if joined.unmatched_connections > 0 {
            notices.push(Notice {
                warning: false,
                text: format!(
                    "{} connections to {} endpoints matched no agent's listener and are drawn as host nodes \
                     (hosts outside the fleet; NAT and load balancers are not guessed through).",
                    joined.unmatched_connections, joined.unmatched_endpoints
                ),
            });
        }
        for a in &joined.ambiguous {
            notices.push(Notice {
                warning: true,
                text: format!(
                    "Address {} is claimed by {}: connections to it are not joined.",
                    a.address,
                    a.hosts.join(", ")
                ),
            });
        }
        if gathered.malformed > 0 {
            notices.push(Notice {
                warning: true,
                text: format!("{} malformed endpoint series ignored.", gathered.malformed),
            });
        }
        let stats = FleetStats {
            source: self.source().to_owned(),
            hosts: gathered.tables.len(),
            requests: gathered.requests,
            bytes: gathered.bytes,
            seconds: started.elapsed().as_secs_f64(),
            matched_connections: joined.matched_connections,
            unmatched_connections: joined.unmatched_connections,
        };
        Ok(FleetGraph { graph: joined.graph, hosts: joined.hosts, missing: gathered.missing, notices, stats })
    }

    /// The agent of `host`, when it is one of the fleet's (never any other URL: the
    /// host comes from a request).
    async fn agent(&self, host: &str) -> Result<Arc<Remote>, SourceError> {
        let unknown = || SourceError::Graph(format!("{host:?} is not an agent of the fleet"));
        match &self.members {
            Members::Peers(peers) => peers.iter().find(|p| p.host == host).map(|p| p.agent.clone()).ok_or_else(unknown),
            Members::Prometheus(p) => {
                let known = tokio::time::timeout(self.timeout, p.has_instance(host))
                    .await
                    .map_err(|_| SourceError::Prometheus { url: p.url().to_string(), message: "no answer".into() })?
                    .map_err(|message| SourceError::Prometheus { url: p.url().to_string(), message })?;
                if !known || host.contains(['/', '?', '#', '@']) {
                    return Err(unknown());
                }
                let url = parse_url(&format!("{}://{host}/", self.agent_scheme)).map_err(SourceError::Graph)?;
                Ok(Arc::new(Remote::new(url, &self.remote)?))
            }
        }
    }

    /// One host's graph, from its agent: `node` is a fleet node id (`<host>/<pid>`,
    /// `<host>/name:<comm>` — the lowest pid of that name, one more request —, or a
    /// host or data node, which shows the host's overview).
    pub async fn drill(&self, node: &str) -> Result<Drilled, SourceError> {
        let (host, local) = split_node(node);
        let agent = self.agent(host).await?;
        let mut notices = Vec::new();
        let pid = if let Some(name) = local.strip_prefix("name:") {
            let processes = tokio::time::timeout(self.timeout, agent.processes())
                .await
                .map_err(|_| SourceError::Agent { url: agent.url().to_string(), message: "no answer".into() })??;
            let pid = processes.iter().filter(|p| p.comm == name).map(|p| p.pid).min();
            if pid.is_none() {
                notices
                    .push(Notice { warning: true, text: format!("No process named {name} on {host}; its overview.") });
            }
            pid
        } else {
            match focus_text(local).map_err(SourceError::Graph)? {
                Focus::Overview => None,
                Focus::Pid(pid) => Some(pid),
                Focus::NotAProcess(id) => {
                    notices.push(Notice { warning: false, text: format!("{id} is not a process; {host}'s overview.") });
                    None
                }
            }
        };
        let graph = tokio::time::timeout(self.timeout, agent.nodegraph(pid))
            .await
            .map_err(|_| SourceError::Agent { url: agent.url().to_string(), message: "no answer".into() })??;
        if let Some(pid) = pid
            && !graph.nodes.iter().any(|n| n.pid() == Some(pid))
        {
            notices
                .push(Notice { warning: true, text: format!("Process {pid} is not running on {host}; its overview.") });
        }
        Ok(Drilled { host: host.to_owned(), graph, pid, notices })
    }
}

/// `graph` with every node id prefixed by `<host>/` (and the edges' ends), so drill-down
/// links from a host's graph stay on that host.
pub fn prefix_ids(mut graph: Graph, host: &str) -> Graph {
    let prefix = |id: &mut String| *id = format!("{host}/{id}");
    for node in &mut graph.nodes {
        prefix(&mut node.id);
    }
    for edge in &mut graph.edges {
        prefix(&mut edge.source);
        prefix(&mut edge.target);
        edge.id = format!("{}->{}", edge.source, edge.target);
    }
    graph
}

/// This host's addresses (`getifaddrs`), loopback and link-local left out (neither
/// names the host to another).
pub fn host_addresses() -> std::io::Result<Vec<HostAddress>> {
    Ok(if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| !i.is_loopback() && !i.is_link_local())
        .map(|i| HostAddress { address: i.ip().to_string(), interface: i.name })
        .collect())
}

/// The endpoint table of a snapshot (with connections attached) and this host's
/// addresses.
pub fn table_of(snapshot: &crate::runtime::bindings::types::Snapshot) -> EndpointTable {
    let comms: std::collections::HashMap<u32, &str> =
        snapshot.processes.iter().map(|p| (p.pid, p.comm.as_str())).collect();
    let hostname = snapshot.system.as_ref().and_then(|s| s.hostname.as_deref()).unwrap_or_default();
    let addresses = host_addresses().unwrap_or_else(|e| {
        tracing::warn!("Cannot list this host's addresses (getifaddrs): {e}");
        Vec::new()
    });
    EndpointTable::build(hostname, addresses, &snapshot.connections, |pid| comms.get(&pid).copied())
}

/// The export's families of one cycle's snapshot.
pub fn export(
    snapshot: &crate::runtime::bindings::types::Snapshot,
    max_series: usize,
) -> Vec<gomon_sink_prometheus::MetricFamily> {
    table::families(&table_of(snapshot), max_series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_checked_and_names_the_key() {
        let ok = FleetConfig { peers: vec!["https://10.0.0.1:1234".into()], ..Default::default() };
        ok.validate().unwrap();
        for (config, key) in [
            (FleetConfig { peers: vec!["ftp://x".into()], ..Default::default() }, "fleet.peers"),
            (FleetConfig { prometheus_url: Some("p:9090".into()), ..Default::default() }, "fleet.prometheus_url"),
            (FleetConfig { timeout: Duration::from_secs(600), ..Default::default() }, "fleet.timeout"),
            (FleetConfig { max_series: 0, ..Default::default() }, "fleet.max_series"),
            (FleetConfig { agent_scheme: "ftp".into(), ..Default::default() }, "fleet.agent_scheme"),
            (
                FleetConfig {
                    prometheus_url: Some("http://p:9090".into()),
                    peers: vec!["https://a:1".into()],
                    ..Default::default()
                },
                "fleet.peers",
            ),
        ] {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn peers_are_labelled_by_host_and_port_and_listed_once() {
        let settings = |peers: &[&str]| FleetSettings {
            peers: peers.iter().map(|p| p.to_string()).collect(),
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let fleet =
            Fleet::new(&settings(&["https://10.0.0.1:1234", "https://[fd00::2]", "http://b"])).unwrap().unwrap();
        assert_eq!(fleet.describe(), "3 peers (10.0.0.1:1234, [fd00::2]:443, b:80)");
        assert!(Fleet::new(&settings(&[])).unwrap().is_none());
        let twice = Fleet::new(&settings(&["https://a:1", "https://a:1/x"])).err().unwrap();
        assert!(twice.contains("listed twice"), "{twice}");
    }

    #[test]
    fn drill_down_ids_split_at_the_first_slash() {
        assert_eq!(split_node("10.0.0.1:1234/812"), ("10.0.0.1:1234", "812"));
        assert_eq!(split_node("a/name:kworker/0:1"), ("a", "name:kworker/0:1"));
        assert_eq!(split_node("a"), ("a", ""));
        let graph = Graph {
            nodes: vec![gomon_graph::Node { id: "7".into(), ..Default::default() }],
            edges: vec![gomon_graph::Edge { source: "7".into(), target: "host:x".into(), ..Default::default() }],
        };
        let prefixed = prefix_ids(graph, "a:1");
        assert_eq!(prefixed.nodes[0].id, "a:1/7");
        assert_eq!(prefixed.edges[0].id, "a:1/7->a:1/host:x");
    }

    #[test]
    fn fleet_focus_reads_node_ids() {
        assert_eq!(fleet_focus(""), FleetFocus::Overview);
        assert_eq!(fleet_focus("0"), FleetFocus::Overview);
        assert_eq!(fleet_focus("a:1/812"), FleetFocus::Node("a:1/812".into()));
        assert_eq!(fleet_focus("a:1"), FleetFocus::Node("a:1/".into()));
        assert_eq!(fleet_focus("host:10.0.0.9:443"), FleetFocus::NotAHost("host:10.0.0.9:443".into()));
    }

    #[tokio::test]
    async fn a_host_outside_the_fleet_is_never_asked() {
        let settings = FleetSettings {
            peers: vec!["https://127.0.0.1:9".into()],
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let fleet = Fleet::new(&settings).unwrap().unwrap();
        let error = fleet.drill("evil.example:443/1").await.unwrap_err().to_string();
        assert!(error.contains("not an agent of the fleet"), "{error}");
    }
}
