//! The observers' own counters, for gomon's self-metrics.
//!
//! Shared (in an `Arc`) between the source threads that count and whoever
//! exports them; [`ObserverStats::snapshot`] reads them all at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::model::ObservationSource;

/// Counters of one source (`process`, `file` or `logs`).
#[derive(Debug, Default)]
pub struct SourceCounters {
    events: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

/// Counters of every source, plus gauges.
#[derive(Debug, Default)]
pub struct ObserverStats {
    process: SourceCounters,
    file: SourceCounters,
    logs: SourceCounters,
    batches: AtomicU64,
    file_watches: AtomicU64,
    file_max_watches: AtomicU64,
    file_unwatched: AtomicU64,
    file_overflows: AtomicU64,
    log_files: AtomicU64,
    process_connector: AtomicBool,
    process_fallback: AtomicBool,
    process_taskstats: AtomicBool,
}

/// One source's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceSnapshot {
    /// Events queued for delivery.
    pub events_total: u64,
    /// Events lost: the queue stayed full, or the kernel dropped them
    /// (netlink ENOBUFS, inotify queue overflow, kmsg records overwritten).
    pub dropped_total: u64,
    /// Errors (each was logged).
    pub errors_total: u64,
}

/// Every counter at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObserverStatsSnapshot {
    /// The process source's counters.
    pub process: SourceSnapshot,
    /// The file source's counters.
    pub file: SourceSnapshot,
    /// The log sources' counters (tailed files, kmsg and the journal together).
    pub logs: SourceSnapshot,
    /// Batches handed to the consumer.
    pub batches_total: u64,
    /// inotify watches held now (one per watched directory).
    pub file_watches: u64,
    /// The most watches the file observer may hold (`observe.files.max_watches`; 0 before it starts).
    pub file_max_watches: u64,
    /// Directories left unwatched because the cap was reached.
    pub file_unwatched_total: u64,
    /// inotify queue overflows (IN_Q_OVERFLOW): events were lost.
    pub file_overflows_total: u64,
    /// Log files being tailed now.
    pub log_files: u64,
    /// Process events come from the netlink proc connector.
    pub process_connector: bool,
    /// Process events come from diffing the process table (no privilege for the connector).
    pub process_fallback: bool,
    /// Exit records come from taskstats (names of short-lived processes, exit CPU and memory).
    pub process_taskstats: bool,
}

impl ObserverStats {
    fn source(&self, source: ObservationSource) -> &SourceCounters {
        match source {
            ObservationSource::Process => &self.process,
            ObservationSource::File => &self.file,
            ObservationSource::Logs => &self.logs,
        }
    }

    /// Counts `n` events queued from `source`.
    pub fn add_events(&self, source: ObservationSource, n: u64) {
        self.source(source).events.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back `n` events counted by [`ObserverStats::add_events`] that were not queued after all.
    pub(super) fn remove_events(&self, source: ObservationSource, n: u64) {
        self.source(source).events.fetch_sub(n, Ordering::Relaxed);
    }

    /// Counts `n` events of `source` lost.
    pub fn add_dropped(&self, source: ObservationSource, n: u64) {
        self.source(source).dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an error of `source` (already logged).
    pub fn add_error(&self, source: ObservationSource) {
        self.source(source).errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn add_batch(&self) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_file_watches(&self, n: u64, max: u64, unwatched: u64) {
        self.file_watches.store(n, Ordering::Relaxed);
        self.file_max_watches.store(max, Ordering::Relaxed);
        self.file_unwatched.store(unwatched, Ordering::Relaxed);
    }

    pub(super) fn add_file_overflow(&self) {
        self.file_overflows.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_log_files(&self, n: u64) {
        self.log_files.store(n, Ordering::Relaxed);
    }

    pub(super) fn set_process_taskstats(&self, on: bool) {
        self.process_taskstats.store(on, Ordering::Relaxed);
    }

    pub(super) fn set_process_mode(&self, connector: bool, fallback: bool) {
        self.process_connector.store(connector, Ordering::Relaxed);
        self.process_fallback.store(fallback, Ordering::Relaxed);
    }

    /// Every counter now.
    pub fn snapshot(&self) -> ObserverStatsSnapshot {
        let source = |c: &SourceCounters| SourceSnapshot {
            events_total: c.events.load(Ordering::Relaxed),
            dropped_total: c.dropped.load(Ordering::Relaxed),
            errors_total: c.errors.load(Ordering::Relaxed),
        };
        ObserverStatsSnapshot {
            process: source(&self.process),
            file: source(&self.file),
            logs: source(&self.logs),
            batches_total: self.batches.load(Ordering::Relaxed),
            file_watches: self.file_watches.load(Ordering::Relaxed),
            file_max_watches: self.file_max_watches.load(Ordering::Relaxed),
            file_unwatched_total: self.file_unwatched.load(Ordering::Relaxed),
            file_overflows_total: self.file_overflows.load(Ordering::Relaxed),
            log_files: self.log_files.load(Ordering::Relaxed),
            process_connector: self.process_connector.load(Ordering::Relaxed),
            process_fallback: self.process_fallback.load(Ordering::Relaxed),
            process_taskstats: self.process_taskstats.load(Ordering::Relaxed),
        }
    }
}
