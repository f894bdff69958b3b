//! Observations: event batches from the observers (`observe`), through the
//! observe probes, to Loki or the local observations file.
//!
//! ```text
//! observers ──Vec<TimedEvent>──► lag canaries out ──► to_observations ──► ProbeSet::observe_chain
//!   (process, file, logs)           (lag.rs)           (time, source,      (built-in `observe`: level,
//!                                                       event name)         de-dup, line; then operators')
//!   ──► Outlet: Loki (sinks/loki: batches, spool, retries) | NDJSON file (<state>/observations/)
//!   ──► recent ring (Grafana `events` query, /api/events)
//! ```
//!
//! Stream labels are `host`, `source` and `event` (plus the configured
//! static labels); per-entry detail goes as structured metadata.

pub mod convert;
pub mod lag;
pub mod metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use gomon_sink_loki::{Entry, Labels, LokiSink, NdjsonFile, SinkHandle};
use tokio::sync::{mpsc, watch};

use crate::collect::FamilySource;

use crate::config::Config;
use crate::observe::model::{ObservationSource, TimedEvent};
use crate::observe::{Observer, ObserverStop};
use crate::plugin::events::{ObservationRing, ObservationRow};
use crate::runtime::ProbeSet;
use crate::runtime::bindings::types as wit;

pub use convert::to_observations;

/// Where delivered observations go.
pub enum Outlet {
    /// Loki, through the sink's batching, spool and retries.
    Loki(SinkHandle),
    /// The size-rotated local file (no Loki URL configured).
    File {
        /// The file.
        file: Mutex<NdjsonFile>,
        /// Static labels, which the Loki sink would add itself.
        statics: Vec<(String, String)>,
    },
}

/// Counters of the pipeline itself.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Events that entered (canaries excluded), by source.
    pub events: [AtomicU64; 3],
    /// Observations handed to the outlet, by source.
    pub delivered: [AtomicU64; 3],
    /// Observations the outlet refused (invalid labels, file errors).
    pub failed: AtomicU64,
}

/// The pipeline's parts.
pub struct Pipeline {
    /// The probe set (its observe probes form the chain).
    pub probes: Arc<Mutex<ProbeSet>>,
    /// Where observations go.
    pub outlet: Outlet,
    /// The `host` stream label.
    pub host: String,
    /// Recent observations for Grafana and `/api/events`.
    pub ring: Arc<ObservationRing>,
    /// The observation-lag canaries, when on.
    pub lag: Option<Arc<lag::Lag>>,
    /// Counters.
    pub stats: Arc<PipelineStats>,
}

fn source_index(source: wit::ObservationSource) -> usize {
    match source {
        wit::ObservationSource::Process => 0,
        wit::ObservationSource::File => 1,
        wit::ObservationSource::Logs => 2,
    }
}

impl Pipeline {
    /// Consumes batches until the observers stop, then closes the outlet
    /// (Loki: what is not sent stays in the spool for the next start).
    pub async fn run(self, mut batches: mpsc::Receiver<Vec<TimedEvent>>) {
        let this = Arc::new(self);
        while let Some(mut batch) = batches.recv().await {
            if let Some(lag) = &this.lag {
                lag.take_canaries(&mut batch);
            }
            if batch.is_empty() {
                continue;
            }
            let pipeline = this.clone();
            // Probe calls and file writes block: off the async workers.
            let done = tokio::task::spawn_blocking(move || pipeline.process(batch)).await;
            if let Err(e) = done {
                tracing::error!("Observation batch lost: its processing panicked: {e}");
            }
        }
        if let Outlet::Loki(sink) = &this.outlet {
            let stats = sink.close(Duration::from_secs(2)).await;
            if stats.spool_entries > 0 {
                tracing::info!(entries = stats.spool_entries, "Observations not yet in Loki stay in the spool.");
            }
        }
    }

    /// One batch: probes, then the outlet and the ring.
    pub fn process(&self, batch: Vec<TimedEvent>) {
        let observations = to_observations(batch);
        for o in &observations {
            self.stats.events[source_index(o.source)].fetch_add(1, Ordering::Relaxed);
        }
        let observations = self.probes.lock().unwrap_or_else(|e| e.into_inner()).observe_chain(observations);
        self.deliver(&observations);
        self.ring.push(observations.iter().map(row));
    }

    /// Groups observations by stream and hands them to the outlet.
    fn deliver(&self, observations: &[wit::Observation]) {
        let mut streams: Vec<((wit::ObservationSource, &str), Vec<Entry>)> = Vec::new();
        for o in observations {
            let key = (o.source, o.event_name.as_str());
            let entry = Entry { time_nanos: o.time_nanos, line: o.line.clone(), metadata: o.metadata.clone() };
            match streams.iter_mut().find(|(k, _)| *k == key) {
                Some((_, entries)) => entries.push(entry),
                None => streams.push((key, vec![entry])),
            }
        }
        for ((source, event), entries) in streams {
            let n = entries.len() as u64;
            let source_label = convert::source_name(source);
            let labels = Labels::new([("host", self.host.as_str()), ("source", source_label), ("event", event)]);
            let result = match (&self.outlet, labels) {
                (_, Err(e)) => Err(format!("stream labels: {e}")),
                (Outlet::Loki(sink), Ok(labels)) => sink.push(&labels, entries).map_err(|e| e.to_string()),
                (Outlet::File { file, statics }, Ok(labels)) => {
                    labels.with_defaults(statics).map_err(|e| format!("static labels: {e}")).and_then(|labels| {
                        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                        file.write(&labels, &entries).map_err(|e| format!("{}: {e}", file.path().display()))
                    })
                }
            };
            match result {
                Ok(()) => {
                    self.stats.delivered[source_index(source)].fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.stats.failed.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(source = source_label, event, "{n} observations not delivered: {e}");
                }
            }
        }
    }
}

/// An observation as the `events` query shows it.
fn row(o: &wit::Observation) -> ObservationRow {
    ObservationRow {
        time_nanos: o.time_nanos,
        source: convert::source_name(o.source).to_owned(),
        event: o.event_name.clone(),
        line: o.line.clone(),
        labels: o.metadata.clone(),
    }
}

/// The running observation path, for shutdown.
pub struct Running {
    stop: ObserverStop,
    pipeline: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the observers, lets the pipeline finish the batches in flight
    /// and close the outlet (Loki: what is unsent stays in the spool).
    pub async fn stop(self) {
        let stop = self.stop;
        let _ = tokio::task::spawn_blocking(move || stop.stop()).await;
        if tokio::time::timeout(Duration::from_secs(4), self.pipeline).await.is_err() {
            tracing::warn!("Observation pipeline did not finish within 4s of shutdown.");
        }
    }
}

/// Starts the observers, the outlet (Loki or the local file), the pipeline
/// and the lag canaries; returns the handle to stop them and the families
/// they publish each cycle. Fails only on a broken outlet (an unusable Loki
/// configuration, an unwritable state directory): sources that cannot start
/// are logged and skipped.
pub fn start(
    config: &Config,
    probes: Arc<Mutex<ProbeSet>>,
    ring: Arc<ObservationRing>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Running, Vec<FamilySource>)> {
    probes.lock().unwrap_or_else(|e| e.into_inner()).set_observe_chain(config.observe.chain.clone());
    let mut observe = config.observe.clone();
    let lag = if config.observe.lag_interval.is_zero() {
        None
    } else {
        let paths = lag::CanaryPaths::under(&config.state_dir)
            .create()
            .with_context(|| format!("cannot create the lag canaries under {}", config.state_dir.display()))?;
        let mut sources = Vec::new();
        if observe.process {
            sources.push(ObservationSource::Process);
        }
        if observe.files.enabled {
            observe.files.roots.push(paths.files.clone());
            sources.push(ObservationSource::File);
        }
        observe.logs.files.push(paths.log.to_string_lossy().into_owned());
        sources.push(ObservationSource::Logs);
        Some(Arc::new(lag::Lag::new(paths, sources)))
    };

    let mut families: Vec<FamilySource> = Vec::new();
    let outlet = match &config.loki.url {
        Some(url) => {
            let mut loki = config.loki.clone();
            loki.spool_dir = Some(loki.spool_dir_in(&config.state_dir));
            let (sink, sender) = LokiSink::start(loki).context("cannot start the Loki sink")?;
            tokio::spawn(sender);
            tracing::info!(url = %url, "Pushing observations to Loki.");
            let stats = sink.stats_source();
            families.push(Box::new(move || metrics::loki_families(&stats)));
            Outlet::Loki(sink)
        }
        None => {
            let dir = config.state_dir.join("observations");
            let file = NdjsonFile::open(&dir, config.loki.file_max_bytes, config.loki.file_keep)
                .with_context(|| format!("cannot open the observations file in {}", dir.display()))?;
            tracing::info!(file = %file.path().display(), "No Loki URL: observations go to a local file.");
            let statics = config.loki.static_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Outlet::File { file: Mutex::new(file), statics }
        }
    };

    let handle = Observer::start(&observe, &config.state_dir);
    let observer_stats = handle.stats.clone();
    families.push(Box::new(move || metrics::observer_families(&observer_stats)));
    let stats = Arc::new(PipelineStats::default());
    let pipeline_stats = stats.clone();
    families.push(Box::new(move || metrics::pipeline_families(&pipeline_stats)));
    if let Some(lag) = &lag {
        let lag_for_metrics = lag.clone();
        families.push(Box::new(move || lag_for_metrics.families()));
        tokio::spawn(canary_rounds(lag.clone(), config.observe.lag_interval, shutdown));
    }
    let pipeline = Pipeline { probes, outlet, host: hostname(), ring, lag, stats };
    let task = tokio::spawn(pipeline.run(handle.events));
    Ok((Running { stop: handle.stop, pipeline: task }, families))
}

/// Sends a round of canaries every `interval` until shutdown.
async fn canary_rounds(lag: Arc<lag::Lag>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    // Let the observers set up their watches before the first round.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(2), interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let lag = lag.clone();
                let _ = tokio::task::spawn_blocking(move || lag.send_round()).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// The `host` stream label: the UTS node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
