//! The answers of the agent in this process: the connection graph (with connections
//! discovered when asked), processes, probes, recent series and observations, and
//! health. The HTTPS agent API and the Grafana plugin both ask these; neither owns them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use gomon_sink_grafana::{NodeGraph, Series};

use super::graph::{Rendered, Renderer, convert};
use super::health;
use super::history::{History, SeriesQuery};
use super::source::{Check, ProcessRow, SourceError};
use crate::collect::{Connections, Exposition, Schedule};
use crate::observations::OutletState;
use crate::observations::recent::{EventsQuery, ObservationRing, RecentObservations, RecentRows};
use crate::runtime::{ProbeSet, ProbeSummary};

/// A graph drawn on a sample, with where and when that sample was taken.
#[derive(Debug, Clone)]
pub struct DrawnGraph {
    /// The graph.
    pub graph: NodeGraph,
    /// The host's name, from the sample.
    pub host: String,
    /// When the sample was taken.
    pub taken_at: Option<SystemTime>,
}

/// What the health check reads besides the samples.
pub struct HealthInputs {
    /// What the enabled features need and this process lacks (the `capabilities` check).
    pub capabilities: super::privileges::Assessment,
    /// The configured Loki (`[loki]`), for its check.
    pub loki: gomon_sink_loki::LokiConfig,
    /// Where observations go, or why they do not.
    pub observations: Result<Arc<Mutex<OutletState>>, String>,
}

/// Graphs drawn on recent samples, by sample generation and focus: concurrent
/// requests for the same picture share one graph-probe call.
#[derive(Default)]
struct DrawnGraphs {
    cells: Mutex<Vec<(DrawnKey, DrawnCell)>>,
}

/// A picture: the sample's generation and the focus (a pid; `None`: the overview).
type DrawnKey = (u64, Option<u32>);

/// One picture's graph, drawn once by whoever asks first.
type DrawnCell = Arc<tokio::sync::OnceCell<DrawnGraph>>;

/// Drawn graphs kept (the overview and a few focuses of the latest samples).
const DRAWN_GRAPHS: usize = 16;

impl DrawnGraphs {
    /// The cell for one sample and focus; cells of older samples are dropped first.
    fn cell(&self, generation: u64, pid: Option<u32>) -> DrawnCell {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, cell)) = cells.iter().find(|(key, _)| *key == (generation, pid)) {
            return cell.clone();
        }
        cells.retain(|((g, _), _)| *g + 1 >= generation);
        if cells.len() >= DRAWN_GRAPHS {
            cells.remove(0);
        }
        let cell = Arc::new(tokio::sync::OnceCell::new());
        cells.push(((generation, pid), cell.clone()));
        cell
    }
}

/// The agent running in this process, as the adapters see it.
pub struct Local {
    schedule: Schedule,
    probes: Arc<Mutex<ProbeSet>>,
    connections: Connections,
    history: Arc<History>,
    observations: Arc<ObservationRing>,
    renderer: Renderer,
    health: HealthInputs,
    graphs: DrawnGraphs,
    fleet: Option<Arc<super::fleet::Fleet>>,
}

impl Local {
    /// The answers over the agent's running parts.
    pub fn new(
        schedule: Schedule,
        probes: Arc<Mutex<ProbeSet>>,
        connections: Connections,
        history: Arc<History>,
        observations: Arc<ObservationRing>,
        renderer: Renderer,
        health: HealthInputs,
    ) -> Self {
        Local {
            schedule,
            probes,
            connections,
            history,
            observations,
            renderer,
            health,
            graphs: DrawnGraphs::default(),
            fleet: None,
        }
    }

    /// These answers with the fleet view `[fleet]` configures (peers or Prometheus).
    pub fn with_fleet(mut self, fleet: Option<Arc<super::fleet::Fleet>>) -> Self {
        self.fleet = fleet;
        self
    }

    /// The fleet view, when `[fleet]` configures one.
    pub fn fleet(&self) -> Option<&Arc<super::fleet::Fleet>> {
        self.fleet.as_ref()
    }

    /// This host's endpoint table (`/api/endpoints`): its addresses, listeners and
    /// outbound connections, from the latest sample with connections discovered for it
    /// (at most one interval old, shared with graph requests).
    pub async fn endpoints(&self) -> Result<super::fleet::EndpointTable, SourceError> {
        let exposition = self.schedule.current().await;
        let snapshot = exposition.snapshot.clone().ok_or(SourceError::NotReady)?;
        let connections = self.connections.clone();
        let max_age = self.schedule.interval();
        tokio::task::spawn_blocking(move || super::fleet::table_of(&connections.attach(&snapshot, max_age)))
            .await
            .map_err(|e| SourceError::Graph(format!("endpoint task failed: {e}")))
    }

    /// The sampling schedule (the interval and the latest samples).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The latest exposition, sampling first when it is stale (what a scrape gets).
    pub async fn current(&self) -> Arc<Exposition> {
        self.schedule.current().await
    }

    /// The latest exposition however old, without waiting.
    pub fn latest(&self) -> Arc<Exposition> {
        self.schedule.latest()
    }

    /// The history of recent samples (its `subscribe` tells of new ones).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The one SVG renderer of this process.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The connection graph, focused on `pid` or the overview, drawn by the graph probe
    /// on the latest sample with connections discovered for it (at most one interval
    /// old, shared by concurrent requests).
    pub async fn graph(&self, pid: Option<u32>) -> Result<DrawnGraph, SourceError> {
        let exposition = self.schedule.current().await;
        let snapshot = exposition.snapshot.clone().ok_or(SourceError::NotReady)?;
        // One drawing per sample and focus, however many ask at once.
        let cell = self.graphs.cell(exposition.generation, pid);
        let drawn = cell
            .get_or_try_init(|| async {
                let host = snapshot.system.as_ref().and_then(|s| s.hostname.clone()).unwrap_or_default();
                let taken_at =
                    std::time::UNIX_EPOCH.checked_add(Duration::from_secs_f64(snapshot.taken_at_seconds.max(0.0)));
                let probes = self.probes.clone();
                let connections = self.connections.clone();
                let max_age = self.schedule.interval();
                let graph = tokio::task::spawn_blocking(move || {
                    let snapshot = connections.attach(&snapshot, max_age);
                    probes.lock().unwrap_or_else(|e| e.into_inner()).draw(&snapshot, pid)
                })
                .await
                .map_err(|e| SourceError::Graph(format!("graph task failed: {e}")))?
                .map_err(|e| SourceError::Graph(e.to_string()))?;
                Ok::<_, SourceError>(DrawnGraph { graph: convert(graph), host, taken_at })
            })
            .await?;
        Ok(drawn.clone())
    }

    /// The connection graph alone.
    pub async fn nodegraph(&self, pid: Option<u32>) -> Result<NodeGraph, SourceError> {
        Ok(self.graph(pid).await?.graph)
    }

    /// `graph` as SVG through the shared renderer (off the async workers).
    pub async fn render(
        &self,
        graph: NodeGraph,
        options: gomon_sink_graphviz::DotOptions,
    ) -> Result<Rendered, SourceError> {
        render(&self.renderer, graph, options).await
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

    /// Recent observations up to about `max_bytes` of rows, and whether rows were left
    /// out for that.
    pub fn events_within(&self, query: &EventsQuery, max_bytes: usize) -> (RecentRows, bool) {
        self.observations.recent_within(query, max_bytes)
    }

    /// What the missing capabilities cost, when some are missing.
    pub fn degraded(&self) -> Option<String> {
        self.health.capabilities.summary()
    }

    /// The checks: the sampler (waiting a few seconds for the first sample, so a check
    /// right after start says "starting" only if it really is), the probes, where
    /// observations go, Loki when configured, and what the missing capabilities cost.
    pub async fn health(&self) -> Vec<Check> {
        let exposition = self.schedule.first(health::FIRST_SAMPLE_WAIT).await;
        let mut checks = vec![
            health::sampler(&exposition, self.schedule.interval(), self.schedule.started().elapsed()),
            health::probes(&exposition),
            health::observations(&self.health.observations),
        ];
        if let Some(loki) = health::loki(&self.health.loki).await {
            checks.push(loki);
        }
        checks.push(health::capabilities(self.degraded()));
        checks
    }
}

/// Renders `graph` through `renderer` on a blocking thread.
pub async fn render(
    renderer: &Renderer,
    graph: NodeGraph,
    options: gomon_sink_graphviz::DotOptions,
) -> Result<Rendered, SourceError> {
    let renderer = renderer.clone();
    tokio::task::spawn_blocking(move || renderer.svg(graph, options))
        .await
        .map_err(|e| SourceError::Graph(format!("rendering failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cell_per_sample_and_focus_and_old_samples_drop_out() {
        let graphs = DrawnGraphs::default();
        let a = graphs.cell(7, None);
        assert!(Arc::ptr_eq(&a, &graphs.cell(7, None)), "the same sample and focus share a cell");
        assert!(!Arc::ptr_eq(&a, &graphs.cell(7, Some(1))), "another focus has its own");
        graphs.cell(8, None);
        graphs.cell(9, None);
        let held = |g: &DrawnGraphs| g.cells.lock().unwrap().iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(held(&graphs), [(8, None), (9, None)], "cells of older samples are dropped");
        for pid in 0..40 {
            graphs.cell(9, Some(pid));
        }
        assert!(held(&graphs).len() <= DRAWN_GRAPHS);
    }
}
