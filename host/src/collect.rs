//! The sampling cycle and its schedule.
//!
//! One cycle: sample every resource (each collector timed, its success
//! recorded), build the snapshot, call the probes, and publish the result as
//! an [`Exposition`]. Cycles run on an aligned interval and on demand when a
//! scrape finds the last one stale; a single scheduler task runs them, so
//! two never overlap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gomon_sink_prometheus::MetricFamily;
use tokio::sync::{Notify, watch};

use crate::runtime::bindings::types::Capability;
use crate::runtime::bindings::types::Snapshot;
use crate::runtime::contract::World;
use crate::runtime::{ProbeSet, ProbeSummary};
use crate::sample::Sampler;
use crate::sample::sockets::{SocketConfig, SocketDiscovery, SocketSnapshot};
use crate::snapshot;

/// The result of one cycle, shared with every scrape until the next.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Families from probes, collectors and the probe runtime.
    pub families: Vec<MetricFamily>,
    /// When the sample was taken (for age checks).
    pub taken: Option<Instant>,
    /// Sequence number, 0 before the first cycle.
    pub generation: u64,
    /// The probes as of this cycle, for `/api/probes`.
    pub probes: Vec<ProbeSummary>,
    /// The snapshot the probes saw, for on-demand calls (the graph).
    pub snapshot: Option<Arc<Snapshot>>,
}

/// Why a cycle ran; the `trigger` label of `gomon_samples_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The aligned interval.
    Interval,
    /// A scrape found the last sample stale.
    Scrape,
    /// The probe set changed (hot reload).
    Reload,
}

/// One collector's last run.
#[derive(Debug, Clone)]
struct CollectorRun {
    name: &'static str,
    duration: Duration,
    success: bool,
}

/// Samplers and probes, owned by the scheduler.
pub struct Collector {
    sampler: Sampler,
    connections: Connections,
    probes: Arc<Mutex<ProbeSet>>,
    samples: [u64; 3],
    generation: u64,
    /// The schedule's interval, once [`start`] runs it (the age connections may have).
    interval: Option<Duration>,
    /// Families of other parts of the host (observations, Loki), read once per cycle.
    sources: Vec<FamilySource>,
    /// Families derived from the cycle's snapshot (the fleet export), and whether they
    /// need processes and connections in it.
    snapshot_sources: Vec<SnapshotSource>,
    sources_need_connections: bool,
}

/// Self-metrics of a part of the host outside the collector.
pub type FamilySource = Box<dyn Fn() -> Vec<MetricFamily> + Send>;

/// Families a part of the host derives from each cycle's snapshot.
pub type SnapshotSource = Box<dyn Fn(&Snapshot) -> Vec<MetricFamily> + Send>;

impl Collector {
    /// A collector over a sampler, socket discovery and a probe set.
    pub fn new(sampler: Sampler, connections: Connections, probes: Arc<Mutex<ProbeSet>>) -> Self {
        Collector {
            sampler,
            connections,
            probes,
            samples: [0; 3],
            generation: 0,
            interval: None,
            sources: Vec::new(),
            snapshot_sources: Vec::new(),
            sources_need_connections: false,
        }
    }

    /// A collector as the sampling configuration asks for: the sampler, and socket
    /// discovery on request (logged and left out if it cannot start; the same
    /// [`Connections`] handle serves graph requests).
    pub fn from_config(config: &crate::sample::SampleConfig, probes: Arc<Mutex<ProbeSet>>) -> (Self, Connections) {
        let connections = Connections::start(config);
        let collector = Collector::new(Sampler::new(config.clone()), connections.clone(), probes);
        (collector, connections)
    }

    /// Adds families that every cycle publishes beside the probes' own.
    pub fn add_source(&mut self, source: FamilySource) {
        self.sources.push(source);
    }

    /// Adds families derived from every cycle's snapshot, after the probes'. The
    /// snapshot then holds the processes and, when `connections` is true, the
    /// connections: a socket discovery every cycle (at most one per interval).
    pub fn add_snapshot_source(&mut self, source: SnapshotSource, connections: bool) {
        self.snapshot_sources.push(source);
        self.sources_need_connections |= connections;
    }

    /// Runs one cycle. Blocking: call from a blocking thread.
    pub fn cycle(&mut self, trigger: Trigger) -> Exposition {
        let started = Instant::now();
        let taken_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let mut runs = Vec::with_capacity(4);

        let system = timed(&mut runs, "system", || self.sampler.system());
        let filesystems =
            timed(&mut runs, "filesystem", || Ok::<_, std::convert::Infallible>(self.sampler.filesystems()));
        let disks = timed(&mut runs, "disk", || self.sampler.disks());
        let interfaces = timed(&mut runs, "network", || self.sampler.interfaces());
        let mut snapshot = snapshot::build(taken_at, system, filesystems.unwrap_or_default(), disks, interfaces);

        // Processes when a probe will read them (the graph probe draws on them); the
        // connections (socket dumps and the fd walk, most of a cycle's cost) only when
        // a measure probe is granted them: graph requests discover their own.
        let (wants_processes, wants_details, wants_connections) = {
            let probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
            let measure_needs =
                |c: Capability| probes.probes().iter().any(|p| p.world == World::Measure && p.needs.contains(&c));
            (
                probes.needs(Capability::Processes) || !self.snapshot_sources.is_empty(),
                probes.needs(Capability::ProcessDetails),
                measure_needs(Capability::Connections) || self.sources_need_connections,
            )
        };
        if wants_processes {
            let sample = timed(&mut runs, "process", || self.sampler.processes(wants_details));
            snapshot::add_processes(&mut snapshot, sample.map(|s| s.processes).unwrap_or_default());
        }
        if wants_connections && let Some(discovery) = self.connections.get(self.interval.unwrap_or_default()) {
            runs.push(CollectorRun {
                name: "sockets",
                duration: discovery.duration,
                success: discovery.error.is_none(),
            });
            snapshot::set_connections(&mut snapshot, &discovery.connections);
        }

        let (mut families, summaries) = {
            let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
            let mut families = probes.measure_all(&snapshot);
            families.extend(probes.self_metrics());
            (families, probes.summaries())
        };
        self.samples[trigger as usize] += 1;
        self.generation += 1;
        families.extend(self.sources.iter().flat_map(|source| source()));
        families.extend(self.snapshot_sources.iter().flat_map(|source| source(&snapshot)));
        families.extend(self.own_families(&runs, started.elapsed()));
        Exposition {
            families,
            taken: Some(started),
            generation: self.generation,
            probes: summaries,
            snapshot: Some(Arc::new(snapshot)),
        }
    }

    fn own_families(&self, runs: &[CollectorRun], cycle: Duration) -> Vec<MetricFamily> {
        let mut duration =
            MetricFamily::gauge("gomon_collector_duration_seconds", "Time the collector took in the last cycle.")
                .unit("seconds")
                .labels(["collector"]);
        let mut success =
            MetricFamily::gauge("gomon_collector_success", "Whether the collector succeeded in the last cycle.")
                .labels(["collector"]);
        for run in runs {
            duration.push(&[run.name], run.duration.as_secs_f64());
            success.push(&[run.name], if run.success { 1.0 } else { 0.0 });
        }
        let mut cycle_seconds = MetricFamily::gauge(
            "gomon_sample_duration_seconds",
            "Time the last whole cycle took: sampling, snapshot and probe calls.",
        )
        .unit("seconds");
        cycle_seconds.push(&[], cycle.as_secs_f64());
        let mut samples =
            MetricFamily::counter("gomon_samples", "Sampling cycles run, by what triggered them.").labels(["trigger"]);
        samples.push(&["interval"], self.samples[Trigger::Interval as usize] as f64);
        samples.push(&["scrape"], self.samples[Trigger::Scrape as usize] as f64);
        samples.push(&["reload"], self.samples[Trigger::Reload as usize] as f64);
        // What sampling lost, by file (the sampler logs each key at WARN once).
        let mut errors = MetricFamily::counter(
            "gomon_sample_errors",
            "Files the samplers could not read or parse, by collector, file and kind; the values they feed are left out.",
        )
        .labels(["collector", "file", "kind"]);
        for c in self.sampler.error_counts() {
            errors.push(&[c.collector, c.file.as_str(), c.kind.as_str()], c.count as f64);
        }
        vec![duration, success, cycle_seconds, samples, errors]
    }
}

/// Runs a collector, records its duration and success, logs a failure.
fn timed<T, E: std::fmt::Display>(
    runs: &mut Vec<CollectorRun>,
    name: &'static str,
    f: impl FnOnce() -> Result<T, E>,
) -> Option<T> {
    let started = Instant::now();
    let result = f();
    let success = result.is_ok();
    runs.push(CollectorRun { name, duration: started.elapsed(), success });
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(collector = name, "Collector failed: {e}");
            None
        }
    }
}

/// Socket discovery on request: one discovery per interval at most, whoever asks
/// (a measure probe granted `connections`, a graph request). Cheap to clone.
#[derive(Clone, Default)]
pub struct Connections {
    discovery: Option<Arc<SocketDiscovery>>,
}

impl Connections {
    /// Discovery as the sampling configuration asks for (no thread of its own: it
    /// runs in the caller's thread when asked).
    pub fn start(config: &crate::sample::SampleConfig) -> Self {
        let socket_config = SocketConfig {
            proc_root: config.proc_root.clone(),
            resolve_hosts: config.resolve_hosts,
            ..Default::default()
        };
        Connections { discovery: Some(Arc::new(SocketDiscovery::manual(socket_config))) }
    }

    /// The latest discovery when it is younger than `max_age`, else a new one (waiting
    /// for one in flight rather than starting a second). Blocking.
    pub fn get(&self, max_age: Duration) -> Option<Arc<SocketSnapshot>> {
        Some(self.discovery.as_ref()?.get(max_age))
    }

    /// `snapshot` with connections at most `max_age` old (a copy; the sample that
    /// the probes measured stays as it was). Blocking.
    pub fn attach(&self, snapshot: &Arc<Snapshot>, max_age: Duration) -> Arc<Snapshot> {
        match self.get(max_age) {
            Some(discovery) if snapshot.connections.is_empty() => {
                let mut with = Snapshot::clone(snapshot);
                snapshot::set_connections(&mut with, &discovery.connections);
                Arc::new(with)
            }
            _ => snapshot.clone(),
        }
    }
}

/// Hands out the latest exposition and asks for a fresh one when stale. The one place
/// the sampling interval lives.
#[derive(Clone)]
pub struct Schedule {
    latest: watch::Receiver<Arc<Exposition>>,
    request: Arc<Notify>,
    reload: Arc<Notify>,
    interval: Duration,
    started: Instant,
}

/// How long a scrape waits for an on-demand sample before it takes the
/// stale one.
const ON_DEMAND_WAIT: Duration = Duration::from_secs(10);

impl Schedule {
    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the schedule started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The latest exposition, waiting up to `wait` for the first one.
    pub async fn first(&self, wait: Duration) -> Arc<Exposition> {
        let mut latest = self.latest.clone();
        let _ = tokio::time::timeout(wait, latest.wait_for(|e| e.taken.is_some())).await;
        latest.borrow().clone()
    }

    /// The latest exposition, however old.
    pub fn latest(&self) -> Arc<Exposition> {
        self.latest.borrow().clone()
    }

    /// A receiver that sees each new exposition (the plugin's history records them).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Exposition>> {
        self.latest.clone()
    }

    /// Asks for a cycle now because the probe set changed (`trigger="reload"`).
    pub fn request_reload_cycle(&self) {
        self.reload.notify_one();
    }

    /// The latest exposition; when it is older than 1.5 intervals (or there
    /// is none yet), asks for a cycle and waits for it, within a bound.
    pub async fn current(&self) -> Arc<Exposition> {
        let mut latest = self.latest.clone();
        let current = latest.borrow_and_update().clone();
        let stale = current.taken.is_none_or(|t| t.elapsed() > self.interval.mul_f32(1.5));
        if !stale {
            return current;
        }
        self.request.notify_one();
        match tokio::time::timeout(ON_DEMAND_WAIT, latest.changed()).await {
            Ok(Ok(())) => latest.borrow().clone(),
            _ => current,
        }
    }
}

/// Starts the scheduler task; it runs until `shutdown` turns true.
pub fn start(mut collector: Collector, interval: Duration, mut shutdown: watch::Receiver<bool>) -> Schedule {
    let (tx, rx) = watch::channel(Arc::new(Exposition::default()));
    let request = Arc::new(Notify::new());
    let reload = Arc::new(Notify::new());
    let schedule =
        Schedule { latest: rx, request: request.clone(), reload: reload.clone(), interval, started: Instant::now() };
    collector.interval = Some(interval);
    let collector = Arc::new(Mutex::new(collector));
    tokio::spawn(async move {
        let mut trigger = Trigger::Interval;
        let mut last: Option<Instant> = None;
        loop {
            if let Some(last) = last {
                let wait = until_next_tick(SystemTime::now(), interval, last.elapsed());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => trigger = Trigger::Interval,
                    _ = request.notified() => trigger = Trigger::Scrape,
                    _ = reload.notified() => trigger = Trigger::Reload,
                    _ = shutdown.changed() => break,
                }
            }
            if *shutdown.borrow() {
                break;
            }
            let collector = collector.clone();
            let cycle =
                tokio::task::spawn_blocking(move || collector.lock().unwrap_or_else(|e| e.into_inner()).cycle(trigger));
            let finished = cycle.await;
            // Scrapes that found the old sample stale while this cycle ran asked for
            // one: this cycle's sample answers them, so their request is spent.
            consume_stored_permit(&request).await;
            match finished {
                Ok(exposition) => {
                    last = exposition.taken;
                    tx.send_replace(Arc::new(exposition));
                }
                Err(e) => {
                    tracing::error!("Sampling cycle panicked: {e}");
                    last = Some(Instant::now());
                }
            }
        }
    });
    schedule
}

/// Takes the permit a `notify_one` without a waiter left behind, if any.
async fn consume_stored_permit(notify: &Notify) {
    tokio::select! {
        biased;
        _ = notify.notified() => {}
        _ = std::future::ready(()) => {}
    }
}

/// Time until the next multiple of `interval` in wall-clock time, skipping
/// one that would come less than a quarter interval after the last sample.
fn until_next_tick(now: SystemTime, interval: Duration, since_last: Duration) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let period = interval.as_nanos().max(1);
    let into = now.as_nanos() % period;
    let mut wait = Duration::from_nanos((period - into) as u64);
    if since_last + wait < interval / 4 {
        wait += interval;
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_interval() {
        let i = Duration::from_secs(15);
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(until_next_tick(at(1_500_005, 0), i, Duration::from_secs(10)), Duration::from_secs(10));
        assert_eq!(until_next_tick(at(1_500_014, 500), i, Duration::from_secs(10)), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_request_made_during_a_cycle_is_spent_by_it() {
        let notify = Notify::new();
        notify.notify_one();
        consume_stored_permit(&notify).await;
        let waited = tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
        assert!(waited.is_err(), "the stored permit was consumed");
        consume_stored_permit(&notify).await; // none stored: returns at once
    }

    #[test]
    fn a_tick_right_after_an_on_demand_sample_is_skipped() {
        let i = Duration::from_secs(15);
        let now = UNIX_EPOCH + Duration::from_millis(1_500_014_000);
        // A scrape sampled 1 s ago; the tick 1 s from now would be 2 s after it.
        assert_eq!(until_next_tick(now, i, Duration::from_secs(1)), Duration::from_secs(16));
    }
}
