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
//! The outlet follows `[loki] url`: an explicit URL is always Loki; `"off"` is always
//! the file; unset, it is a local Loki (`http://localhost:3100`) while its `/ready`
//! answers and the file while it does not, checked at start and every
//! `ready_interval`. Each batch goes to exactly one of them, so switching loses
//! nothing and duplicates nothing.
//!
//! Stream labels are `host`, `source` and `event` (plus the configured
//! static labels); per-entry detail goes as structured metadata.

pub mod convert;
pub mod lag;
pub mod metrics;
pub mod ready;
pub mod recent;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use gomon_sink_loki::{Entry, Labels, LokiConfig, LokiSink, LokiTarget, NdjsonFile, SinkHandle};
use tokio::sync::{mpsc, watch};

use crate::collect::FamilySource;
use crate::observe::model::{ObservationSource, TimedEvent};
use crate::observe::{ObserveConfig, Observer, ObserverStop};
use crate::runtime::ProbeSet;
use crate::runtime::bindings::types as wit;
use recent::{ObservationRing, ObservationRow};

pub use convert::to_observations;

/// Where delivered observations go: Loki, the local file, or (without a Loki URL)
/// whichever of the two the local Loki's readiness says.
pub struct Outlet {
    /// Loki, through the sink's batching, spool and retries.
    loki: Option<SinkHandle>,
    /// The size-rotated local file.
    file: Option<Mutex<NdjsonFile>>,
    /// Static labels, which the Loki sink adds itself but the file does not.
    statics: Vec<(String, String)>,
    /// Whether batches go to `loki` now (else to `file`).
    to_loki: AtomicBool,
}

/// What the outlet is doing, for the health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutletState {
    /// Where observations go now.
    pub message: String,
    /// Whether an explicitly configured Loki fails to answer.
    pub failing: bool,
}

impl Outlet {
    /// Always Loki.
    pub fn loki(sink: SinkHandle) -> Self {
        Outlet { loki: Some(sink), file: None, statics: Vec::new(), to_loki: AtomicBool::new(true) }
    }

    /// Always the local file, with the static labels the Loki sink would add.
    pub fn file(file: NdjsonFile, statics: Vec<(String, String)>) -> Self {
        Outlet { loki: None, file: Some(Mutex::new(file)), statics, to_loki: AtomicBool::new(false) }
    }

    /// Whether batches go to Loki now.
    pub fn to_loki(&self) -> bool {
        self.to_loki.load(Ordering::Relaxed) && self.loki.is_some()
    }

    fn write_file(&self, labels: Labels, entries: &[Entry]) -> Result<(), String> {
        let Some(file) = &self.file else { return Err("no local observations file is open".to_owned()) };
        let labels = labels.with_defaults(&self.statics).map_err(|e| format!("static labels: {e}"))?;
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        file.write(&labels, entries).map_err(|e| format!("{}: {e}", file.path().display()))
    }
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
    pub outlet: Arc<Outlet>,
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
        if let Some(sink) = &this.outlet.loki {
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
            let result = match (labels, &self.outlet.loki) {
                (Err(e), _) => Err(format!("stream labels: {e}")),
                (Ok(labels), Some(sink)) if self.outlet.to_loki() => {
                    sink.push(&labels, entries).map_err(|e| e.to_string())
                }
                (Ok(labels), _) => self.outlet.write_file(labels, &entries),
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

/// The running observation path: its outlet's state, and the handle for shutdown.
pub struct Running {
    stop: ObserverStop,
    pipeline: tokio::task::JoinHandle<()>,
    state: Arc<Mutex<OutletState>>,
}

impl Running {
    /// Where observations go now.
    pub fn outlet_state(&self) -> OutletState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A handle on the outlet's state that outlives `self` (for the health check).
    pub fn state_handle(&self) -> Arc<Mutex<OutletState>> {
        self.state.clone()
    }

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

/// Starts the observers, the outlet (Loki, the local file, or the local Loki while it
/// answers), the pipeline and the lag canaries; returns the handle to stop them and
/// the families they publish each cycle. Fails only on a broken outlet (an unusable
/// Loki configuration, an unwritable state directory): sources that cannot start are
/// logged and skipped.
pub fn start(
    observe_config: &ObserveConfig,
    loki_config: &LokiConfig,
    state_dir: &Path,
    probes: Arc<Mutex<ProbeSet>>,
    ring: Arc<ObservationRing>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Running, Vec<FamilySource>)> {
    probes.lock().unwrap_or_else(|e| e.into_inner()).set_observe_chain(observe_config.chain.clone());
    let mut observe = observe_config.clone();
    let lag = if observe_config.lag_interval.is_zero() {
        None
    } else {
        let paths = lag::CanaryPaths::under(state_dir)
            .create()
            .with_context(|| format!("cannot create the lag canaries under {}", state_dir.display()))?;
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
    let (outlet, state) = open_outlet(loki_config, state_dir, &mut families)?;
    let outlet = Arc::new(outlet);
    let state = Arc::new(Mutex::new(state));
    if let LokiTarget::Auto(url) = loki_config.target() {
        tokio::spawn(follow_local_loki(
            outlet.clone(),
            state.clone(),
            loki_config.clone(),
            url.to_owned(),
            shutdown.clone(),
        ));
    }

    let handle = Observer::start(&observe, state_dir);
    let observer_stats = handle.stats.clone();
    families.push(Box::new(move || metrics::observer_families(&observer_stats)));
    let stats = Arc::new(PipelineStats::default());
    let pipeline_stats = stats.clone();
    families.push(Box::new(move || metrics::pipeline_families(&pipeline_stats)));
    if let Some(lag) = &lag {
        let lag_for_metrics = lag.clone();
        families.push(Box::new(move || lag_for_metrics.families()));
        tokio::spawn(canary_rounds(lag.clone(), observe_config.lag_interval, shutdown));
    }
    let pipeline = Pipeline { probes, outlet, host: hostname(), ring, lag, stats };
    let task = tokio::spawn(pipeline.run(handle.events));
    Ok((Running { stop: handle.stop, pipeline: task, state }, families))
}

/// Opens what `[loki] url` asks for: the Loki sink (explicit URL, or the local Loki
/// without one), the local file (`"off"`, or without a URL), or both.
fn open_outlet(
    config: &LokiConfig,
    state_dir: &Path,
    families: &mut Vec<FamilySource>,
) -> anyhow::Result<(Outlet, OutletState)> {
    let target = config.target();
    let loki = match target {
        LokiTarget::Off => None,
        LokiTarget::Explicit(url) | LokiTarget::Auto(url) => {
            let mut loki = config.clone();
            loki.url = Some(url.to_owned());
            loki.spool_dir = Some(loki.spool_dir_in(state_dir));
            let (sink, sender) = LokiSink::start(loki).context("cannot start the Loki sink")?;
            tokio::spawn(sender);
            let stats = sink.stats_source();
            families.push(Box::new(move || metrics::loki_families(&stats)));
            Some(sink)
        }
    };
    let file = match target {
        LokiTarget::Explicit(_) => None,
        LokiTarget::Off | LokiTarget::Auto(_) => {
            let dir = state_dir.join("observations");
            let file = NdjsonFile::open(&dir, config.file_max_bytes, config.file_keep)
                .with_context(|| format!("cannot open the observations file in {}", dir.display()))?;
            Some(file)
        }
    };
    let file_path = file.as_ref().map(|f| f.path().display().to_string()).unwrap_or_default();
    let (to_loki, message) = match target {
        LokiTarget::Explicit(url) => {
            tracing::info!(url = %url, "Pushing observations to Loki.");
            (true, format!("pushing to Loki at {url}"))
        }
        LokiTarget::Off => {
            tracing::info!(file = %file_path, "Loki is off: observations go to a local file.");
            (false, format!("writing to {file_path} (Loki is off)"))
        }
        LokiTarget::Auto(url) => {
            tracing::info!(
                file = %file_path,
                "No Loki URL: observations go to a local file until a Loki answers at {url}."
            );
            (false, format!("writing to {file_path} until a Loki answers at {url}"))
        }
    };
    let statics = config.static_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let outlet = Outlet { loki, file: file.map(Mutex::new), statics, to_loki: AtomicBool::new(to_loki) };
    Ok((outlet, OutletState { message, failing: false }))
}

/// Without a Loki URL: sends batches to the local Loki while its `/ready` answers and
/// to the file while it does not, checking at once and every `ready_interval`.
async fn follow_local_loki(
    outlet: Arc<Outlet>,
    state: Arc<Mutex<OutletState>>,
    config: LokiConfig,
    url: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(config.ready_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let file = outlet.file.as_ref().map(|f| f.lock().unwrap_or_else(|e| e.into_inner()).path().display().to_string());
    let file = file.unwrap_or_default();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let answer = ready::ready(&config, &url).await;
        let was = outlet.to_loki.swap(answer.is_ok(), Ordering::Relaxed);
        let message = match (&answer, was) {
            (Ok(how), false) => {
                tracing::info!(url = %url, "A Loki answers ({how}): observations now go to Loki.");
                format!("pushing to the local Loki at {url}")
            }
            (Ok(_), true) => format!("pushing to the local Loki at {url}"),
            (Err(why), true) => {
                tracing::info!(file = %file, "The local Loki stopped answering ({why}): observations now go to the local file.");
                format!("writing to {file}: no Loki answers at {url} ({why})")
            }
            (Err(why), false) => format!("writing to {file}: no Loki answers at {url} ({why})"),
        };
        *state.lock().unwrap_or_else(|e| e.into_inner()) = OutletState { message, failing: false };
    }
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
