//! Observing: process, file and log events, delivered in batches.
//!
//! [`Observer::start`] starts each source on its own thread; each fails on
//! its own, with one log line naming the source and what to do:
//!
//! | source | thread | events | needs |
//! |---|---|---|---|
//! | [`process`] | `observe-process` | fork, exec, exit (status or signal; exit CPU and memory from taskstats), uid/gid changes | CAP_NET_ADMIN (else a diff of /proc every `process_diff_interval`; without it taskstats is off too) |
//! | [`files`] | `observe-files` | create, update, delete, rename under `files.roots` | read access to the roots; one inotify watch per directory |
//! | [`logs::tail`] | `observe-tail` | lines of `logs.files` | read access |
//! | [`logs::kmsg`] | `observe-kmsg` | kernel messages | CAP_SYSLOG (or root) while `kernel.dmesg_restrict` = 1 |
//! | [`logs::journal`] | `observe-journal` | journal entries | `journalctl`, and membership of `systemd-journal` or `adm` (or root) |
//!
//! Events ([`TimedEvent`]) go through a bounded queue to a batcher thread
//! (`observe-batch`), which hands `Vec<TimedEvent>` batches — at most
//! `batch_max_events`, at most `batch_max_wait` after their first event —
//! to a bounded **tokio** `mpsc` channel: [`ObserverHandle::events`], for
//! a tokio task to `recv().await`. Nothing grows without bound: see
//! [`queue`] for who waits and who drops when the consumer falls behind.
//!
//! [`ObserverStop::stop`] (or dropping it) ends every thread, each woken at
//! once through an eventfd, within a second or two; the batcher hands over
//! what is already queued if the channel has room, and log positions are
//! saved (`<state_dir>/observe/`, see [`state`]) so that a restart resumes
//! where this run stopped.

pub mod config;
pub mod files;
pub mod logs;
pub mod model;
pub mod process;
pub mod queue;
pub mod state;
pub mod stats;
pub mod stop;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use config::{ConfigError, FilesConfig, JournalMode, LogsConfig, ObserveConfig};
pub use model::{
    Event, FileEvent, FileEventKind, LogEvent, LogLevel, Observation, ObservationSource, ProcessEvent,
    ProcessEventKind, TimedEvent,
};
pub use stats::{ObserverStats, ObserverStatsSnapshot, SourceSnapshot};

use logs::LogSources;
use queue::{Emitter, Overflow};
use state::StateFile;
use stop::Stop;

impl Event {
    /// Where the event came from (Loki's `source` label).
    pub fn source(&self) -> ObservationSource {
        match self {
            Event::Process(_) => ObservationSource::Process,
            Event::File(_) => ObservationSource::File,
            Event::Log(_) => ObservationSource::Logs,
        }
    }

    /// The `event` label: the process or file event's kind, or the log level.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Process(p) => p.kind.as_str(),
            Event::File(f) => f.kind.as_str(),
            Event::Log(l) => l.level.as_str(),
        }
    }
}

/// Starts the observers.
pub struct Observer;

/// What [`Observer::start`] returns. Destructure it: the receiver goes to
/// the consumer task, the stats to the self-metrics, the stop to shutdown.
pub struct ObserverHandle {
    /// Batches of events, oldest first within each source.
    pub events: mpsc::Receiver<Vec<TimedEvent>>,
    /// The observers' counters.
    pub stats: Arc<ObserverStats>,
    /// Ends every observer thread.
    pub stop: ObserverStop,
}

/// Ends the observer threads (on [`ObserverStop::stop`] or drop).
pub struct ObserverStop {
    stop: Option<Arc<Stop>>,
    threads: Vec<(String, JoinHandle<()>)>,
}

/// How long [`ObserverStop::stop`] waits for the threads.
pub const STOP_WITHIN: Duration = Duration::from_secs(2);

impl ObserverStop {
    /// Asks every thread to stop and waits for them (at most
    /// [`STOP_WITHIN`]; a thread still running then is named in a warning
    /// and left to finish on its own). `true` if all ended in time.
    pub fn stop(mut self) -> bool {
        self.stop_now()
    }

    fn stop_now(&mut self) -> bool {
        if let Some(stop) = &self.stop {
            stop.request();
        }
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline && self.threads.iter().any(|(_, t)| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut all = true;
        for (name, thread) in self.threads.drain(..) {
            if thread.is_finished() {
                if thread.join().is_err() {
                    tracing::error!("observers: thread {name} panicked");
                }
            } else {
                tracing::warn!("observers: thread {name} did not stop within {STOP_WITHIN:?}; leaving it");
                all = false;
            }
        }
        all
    }
}

impl Drop for ObserverStop {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_now();
        }
    }
}

/// Test and embedding knobs that are not configuration.
#[derive(Debug, Clone, Default)]
pub struct ObserveOptions {
    /// Skip the proc connector and diff the process table.
    pub force_process_diff: bool,
    /// Look taskstats up under this family name (tests: one that does not
    /// exist); `None`: `TASKSTATS`.
    pub taskstats_family: Option<String>,
    /// Where /proc is (default `/proc`).
    pub proc_root: Option<PathBuf>,
    /// Where kmsg and the journal are read.
    pub logs: LogSources,
}

impl Observer {
    /// Starts every enabled source (see the module docs). Never fails as
    /// a whole: a source that cannot start says why in the log.
    pub fn start(config: &ObserveConfig, state_dir: &Path) -> ObserverHandle {
        Observer::start_with(config, state_dir, ObserveOptions::default())
    }

    /// [`Observer::start`] with [`ObserveOptions`].
    pub fn start_with(config: &ObserveConfig, state_dir: &Path, options: ObserveOptions) -> ObserverHandle {
        let stats = Arc::new(ObserverStats::default());
        let max_events = config.batch_max_events.max(1) as usize;
        let (out_tx, out_rx) = mpsc::channel(queue::BATCH_CHANNEL_CAPACITY);
        let stop = match Stop::new() {
            Ok(stop) => Arc::new(stop),
            Err(e) => {
                tracing::error!("observers: cannot create an eventfd ({e}); nothing is observed");
                return ObserverHandle {
                    events: out_rx,
                    stats,
                    stop: ObserverStop { stop: None, threads: Vec::new() },
                };
            }
        };
        let (tx, rx) = crossbeam_channel::bounded(max_events.saturating_mul(4).max(64));
        let mut threads = Vec::new();
        let mut spawn = |name: &str, body: Box<dyn FnOnce() + Send>| match std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(body)
        {
            Ok(thread) => threads.push((name.to_owned(), thread)),
            Err(e) => tracing::error!("observers: cannot start thread {name}: {e}"),
        };
        let emitter = |source, overflow| Emitter::new(tx.clone(), source, overflow, stats.clone(), stop.clone());
        let observe_dir =
            if config.logs.files.is_empty() && !config.logs.kmsg && config.logs.journal == JournalMode::Off {
                None
            } else {
                state::state_dir(state_dir)
            };

        if config.process {
            let emitter = emitter(ObservationSource::Process, Overflow::Drop);
            let options = process::ProcessOptions {
                proc_root: options.proc_root.clone().unwrap_or_else(|| PathBuf::from("/proc")),
                diff_interval: config.process_diff_interval,
                force_diff: options.force_process_diff,
                taskstats: config.taskstats,
                taskstats_family: options
                    .taskstats_family
                    .clone()
                    .unwrap_or_else(|| process::taskstats::FAMILY.to_owned()),
            };
            spawn("observe-process", Box::new(move || process::run(options, emitter)));
        }
        if config.files.enabled && !config.files.roots.is_empty() {
            let emitter = emitter(ObservationSource::File, Overflow::Drop);
            let files = config.files.clone();
            spawn("observe-files", Box::new(move || files::run(files, emitter)));
        }
        if !config.logs.files.is_empty() {
            let emitter = emitter(ObservationSource::Logs, Overflow::Wait);
            let patterns = config.logs.files.clone();
            let tail_options = logs::tail::TailOptions::from(&config.logs);
            let state = StateFile::new(observe_dir.as_deref(), "offsets.json");
            spawn("observe-tail", Box::new(move || logs::run_tail(patterns, tail_options, state, emitter)));
        }
        if config.logs.kmsg {
            let emitter = emitter(ObservationSource::Logs, Overflow::Drop);
            let path = options.logs.kmsg_path.clone();
            let state = StateFile::new(observe_dir.as_deref(), "kmsg.json");
            spawn("observe-kmsg", Box::new(move || logs::kmsg::run(path, state, emitter)));
        }
        let journal = match config.logs.journal {
            JournalMode::Off => false,
            JournalMode::On => true,
            JournalMode::Auto => {
                let present = options.logs.journald_present.unwrap_or_else(logs::journal::journald_present);
                if !present {
                    tracing::info!("logs: no systemd journal here (no journald socket, no journal files); not read");
                }
                present
            }
        };
        if journal {
            let emitter = emitter(ObservationSource::Logs, Overflow::Wait);
            let mut journal_options = options.logs.journal.clone();
            journal_options.max_message_bytes = config.logs.max_line_bytes as usize;
            let required = config.logs.journal == JournalMode::On;
            let state = StateFile::new(observe_dir.as_deref(), "journal-cursor");
            spawn("observe-journal", Box::new(move || logs::journal::run(journal_options, state, required, emitter)));
        }
        drop(tx);
        {
            let (stats, stop) = (stats.clone(), stop.clone());
            let max_wait = config.batch_max_wait;
            spawn("observe-batch", Box::new(move || queue::run_batcher(rx, out_tx, max_events, max_wait, stats, stop)));
        }
        ObserverHandle { events: out_rx, stats, stop: ObserverStop { stop: Some(stop), threads } }
    }
}

#[cfg(test)]
mod tests;
