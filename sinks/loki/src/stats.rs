//! Counters and gauges of the sink, lock-free, for the host to expose.
//!
//! Proposed Prometheus names (the host renders them from a [`StatsSnapshot`]):
//!
//! | name | type | from |
//! |---|---|---|
//! | `gomon_loki_sent_entries_total` | counter | [`StatsSnapshot::sent_entries`]: entries in batches Loki accepted (2xx other than 260) |
//! | `gomon_loki_sent_bytes_total` | counter | [`StatsSnapshot::sent_bytes`]: request body bytes of those batches (compressed) |
//! | `gomon_loki_requests_total{outcome}` | counter | [`StatsSnapshot::requests`]: push requests by outcome `success`, `retryable`, `rejected`, `blocked` |
//! | `gomon_loki_retries_total` | counter | [`StatsSnapshot::retries`]: pushes repeated after a 429, a 5xx or a network error |
//! | `gomon_loki_dropped_entries_total{reason}` | counter | [`StatsSnapshot::dropped`]: entries lost, by [`DropReason`] |
//! | `gomon_loki_truncated_entries_total` | counter | [`StatsSnapshot::truncated_entries`]: entries cut to fit Loki's limits (still sent) |
//! | `gomon_loki_spooled_entries_total` | counter | [`StatsSnapshot::spooled_entries`]: entries written to the spool |
//! | `gomon_loki_spool_bytes` | gauge | [`StatsSnapshot::spool_bytes`]: bytes in the spool now |
//! | `gomon_loki_spool_segments` | gauge | [`StatsSnapshot::spool_segments`]: batches in the spool now |
//! | `gomon_loki_spool_entries` | gauge | [`StatsSnapshot::spool_entries`]: entries in the spool now |
//! | `gomon_loki_last_success_timestamp_seconds` | gauge | [`StatsSnapshot::last_success_unix_nanos`] / 1e9 (0: never) |
//!
//! The last error text ([`StatsSnapshot::last_error`]) is for logs and the
//! status API, not a metric.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Why entries were lost; the `reason` label of `gomon_loki_dropped_entries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Loki answered a 4xx other than 429 (the body is logged). Loki may have kept
    /// the valid part of the batch; the whole batch is counted.
    Rejected,
    /// Loki answered 260: ingestion is blocked for the tenant.
    Blocked,
    /// The spool was full: its oldest batches were deleted.
    SpoolFull,
    /// The spool could not be written (disk full, permissions).
    SpoolError,
    /// A spool segment could not be read back (damaged file).
    Corrupt,
    /// The push was refused before queueing: its labels break Loki's rules.
    InvalidLabels,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 6] = [
        DropReason::Rejected,
        DropReason::Blocked,
        DropReason::SpoolFull,
        DropReason::SpoolError,
        DropReason::Corrupt,
        DropReason::InvalidLabels,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Rejected => "rejected",
            DropReason::Blocked => "blocked",
            DropReason::SpoolFull => "spool_full",
            DropReason::SpoolError => "spool_error",
            DropReason::Corrupt => "corrupt",
            DropReason::InvalidLabels => "invalid_labels",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// How one push request ended; the `outcome` label of `gomon_loki_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx other than 260.
    Success,
    /// 429, 5xx, or no answer (network error, timeout): retried.
    Retryable,
    /// Another 4xx (or an unexpected status): dropped.
    Rejected,
    /// 260: dropped.
    Blocked,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 4] = [Outcome::Success, Outcome::Retryable, Outcome::Rejected, Outcome::Blocked];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retryable => "retryable",
            Outcome::Rejected => "rejected",
            Outcome::Blocked => "blocked",
        }
    }

    fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// The live counters, shared by the handle, the spool writer and the sender.
#[derive(Debug, Default)]
pub struct Stats {
    sent_entries: AtomicU64,
    sent_bytes: AtomicU64,
    requests: [AtomicU64; 4],
    retries: AtomicU64,
    dropped: [AtomicU64; 6],
    truncated_entries: AtomicU64,
    spooled_entries: AtomicU64,
    spool_bytes: AtomicU64,
    spool_segments: AtomicU64,
    spool_entries: AtomicU64,
    last_success_unix_nanos: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Entries in batches Loki accepted.
    pub sent_entries: u64,
    /// Request body bytes of those batches.
    pub sent_bytes: u64,
    /// Push requests by outcome, in [`Outcome::ALL`] order.
    pub requests: Vec<(Outcome, u64)>,
    /// Requests repeated after a retryable failure.
    pub retries: u64,
    /// Entries lost, by reason, in [`DropReason::ALL`] order.
    pub dropped: Vec<(DropReason, u64)>,
    /// Entries cut to fit Loki's limits.
    pub truncated_entries: u64,
    /// Entries written to the spool (each entry once).
    pub spooled_entries: u64,
    /// Bytes in the spool now.
    pub spool_bytes: u64,
    /// Segments (batches) in the spool now.
    pub spool_segments: u64,
    /// Entries in the spool now.
    pub spool_entries: u64,
    /// When Loki last accepted a batch, in Unix nanoseconds; 0 if never.
    pub last_success_unix_nanos: u64,
    /// The last failure, as a sentence.
    pub last_error: Option<String>,
}

impl StatsSnapshot {
    /// Entries dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
    }

    /// Entries dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Requests that ended with `outcome`.
    pub fn requests(&self, outcome: Outcome) -> u64 {
        self.requests.iter().find(|(o, _)| *o == outcome).map_or(0, |(_, n)| *n)
    }
}

impl Stats {
    /// A copy of every value.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sent_entries: self.sent_entries.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            requests: Outcome::ALL.iter().map(|o| (*o, self.requests[o.index()].load(Relaxed))).collect(),
            retries: self.retries.load(Relaxed),
            dropped: DropReason::ALL.iter().map(|r| (*r, self.dropped[r.index()].load(Relaxed))).collect(),
            truncated_entries: self.truncated_entries.load(Relaxed),
            spooled_entries: self.spooled_entries.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spool_segments: self.spool_segments.load(Relaxed),
            spool_entries: self.spool_entries.load(Relaxed),
            last_success_unix_nanos: self.last_success_unix_nanos.load(Relaxed),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or(None),
        }
    }

    pub(crate) fn sent(&self, entries: u64, bytes: u64) {
        self.sent_entries.fetch_add(entries, Relaxed);
        self.sent_bytes.fetch_add(bytes, Relaxed);
        self.last_success_unix_nanos.store(unix_nanos_now(), Relaxed);
    }

    pub(crate) fn request(&self, outcome: Outcome) {
        self.requests[outcome.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason, entries: u64) {
        self.dropped[reason.index()].fetch_add(entries, Relaxed);
    }

    pub(crate) fn truncated(&self, entries: u64) {
        self.truncated_entries.fetch_add(entries, Relaxed);
    }

    pub(crate) fn spooled(&self, entries: u64) {
        self.spooled_entries.fetch_add(entries, Relaxed);
    }

    pub(crate) fn set_spool(&self, bytes: u64, segments: u64, entries: u64) {
        self.spool_bytes.store(bytes, Relaxed);
        self.spool_segments.store(segments, Relaxed);
        self.spool_entries.store(entries, Relaxed);
    }

    pub(crate) fn error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
