//! Where answers come from: the agent in this process ([`Local`]), or a gomon agent
//! elsewhere ([`Remote`]) that serves the same answers as JSON (its agent API). Both give
//! the same types, so the adapters (the HTTPS agent API, the Grafana plugin) have one
//! path:
//!
//! | question | [`Local`] | agent endpoint |
//! |---|---|---|
//! | connection graph | the graph probe on the latest snapshot | `/api/nodegraph?pid=N` |
//! | recent series | the [`History`](super::history::History) | `/api/series?metric=&filter=&from=&to=&max_points=` |
//! | processes | the latest snapshot | `/api/processes` |
//! | probes | the latest cycle | `/api/probes` |
//! | observations | the [`ObservationRing`](crate::observations::recent::ObservationRing) | `/api/events?filter=&from=&to=&limit=` |
//! | health | [`Local::health`] | `/api/health` |
//!
//! A closed set of two, so an enum ([`DataSource`]) rather than a trait object: no
//! boxed futures, and `match` shows both paths side by side.

use std::sync::Arc;

use gomon_sink_grafana::{NodeGraph, Series};
use serde::{Deserialize, Serialize};

use super::history::{HistoryError, SeriesQuery};
use super::local::Local;
use super::remote::Remote;
use crate::observations::recent::{EventsQuery, RecentRows};

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
    /// `sampler`, `probes`, `observations`, `loki`, `capabilities`, `agent`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub message: String,
    /// Not passed yet because the agent is still starting (not a failure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starting: bool,
}

impl Check {
    /// A passed check.
    pub fn pass(name: &str, message: impl Into<String>) -> Self {
        Check { name: name.to_owned(), ok: true, message: message.into(), starting: false }
    }

    /// A failed check.
    pub fn fail(name: &str, message: impl Into<String>) -> Self {
        Check { name: name.to_owned(), ok: false, message: message.into(), starting: false }
    }

    /// A check that cannot pass yet because the agent is starting.
    pub fn starting(name: &str, message: impl Into<String>) -> Self {
        Check { name: name.to_owned(), ok: false, message: message.into(), starting: true }
    }

    /// Whether it failed (rather than passed or still starting).
    pub fn failed(&self) -> bool {
        !self.ok && !self.starting
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
    /// The fleet's Prometheus failed or was unreachable.
    #[error("Prometheus at {url}: {message}")]
    Prometheus {
        /// Its URL.
        url: String,
        /// What went wrong.
        message: String,
    },
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

/// A data source's answers: local or from an agent.
#[derive(Clone)]
pub enum DataSource {
    /// This process's collector.
    Local(Arc<Local>),
    /// A gomon agent.
    Remote(Arc<Remote>),
}

impl DataSource {
    /// The connection graph.
    pub async fn nodegraph(&self, pid: Option<u32>) -> Result<NodeGraph, SourceError> {
        match self {
            DataSource::Local(local) => local.nodegraph(pid).await,
            DataSource::Remote(agent) => agent.nodegraph(pid).await,
        }
    }

    /// Recent series.
    pub async fn series(&self, query: &SeriesQuery) -> Result<Vec<Series>, SourceError> {
        match self {
            DataSource::Local(local) => local.series(query),
            DataSource::Remote(agent) => agent.series(query).await,
        }
    }

    /// The process list.
    pub async fn processes(&self) -> Result<Vec<ProcessRow>, SourceError> {
        match self {
            DataSource::Local(local) => local.processes().await,
            DataSource::Remote(agent) => agent.processes().await,
        }
    }

    /// The probes, as `/api/probes` JSON.
    pub async fn probes(&self) -> Result<serde_json::Value, SourceError> {
        match self {
            DataSource::Local(local) => Ok(serde_json::to_value(local.probes().await).unwrap_or_default()),
            DataSource::Remote(agent) => agent.probes().await,
        }
    }

    /// Recent observations.
    pub async fn events(&self, query: &EventsQuery) -> Result<RecentRows, SourceError> {
        match self {
            DataSource::Local(local) => Ok(local.events(query)),
            DataSource::Remote(agent) => agent.events(query).await,
        }
    }

    /// Health checks.
    pub async fn health(&self) -> Vec<Check> {
        match self {
            DataSource::Local(local) => local.health().await,
            DataSource::Remote(agent) => agent.health().await,
        }
    }

    /// Where the answers come from, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Local(_) => "the collector in the plugin process".to_owned(),
            DataSource::Remote(agent) => format!("the gomon agent at {}", agent.url()),
        }
    }
}
