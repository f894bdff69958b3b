//! Recent observations (process, file and log events) for the plugin's `events` query
//! and an agent's `/api/events`.
//!
//! The observe pipeline pushes each delivered batch into an [`ObservationRing`],
//! bounded by rows and by bytes (a row's line, names and labels): the oldest rows fall
//! out first. Queries read the newest rows first. Until
//! something pushes, the ring reports itself as not fed and the `events` query says so
//! in the logs frame's notice.
//!
//! ```json
//! {"rows":[{"timeNanos":1700000000123456789,"source":"process","event":"exec",
//!           "line":"exec sshd[4242] …","labels":[["pid","4242"],["name","sshd"]]}],
//!  "fed":true}
//! ```

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Rows a ring keeps by default.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Bytes a ring keeps by default.
pub const DEFAULT_CAPACITY_BYTES: usize = 16 << 20;

/// One observation as the `events` query shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationRow {
    /// Unix nanoseconds: when it happened.
    pub time_nanos: u64,
    /// `process`, `file` or `logs` (Loki's `source` label).
    pub source: String,
    /// `fork`, `exec`, …, `create`, …, or a log level (Loki's `event` label).
    pub event: String,
    /// The line.
    pub line: String,
    /// Per-row detail (`pid`, `name`, `path`, …).
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

/// What an `events` query reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentRows {
    /// Newest first.
    pub rows: Vec<ObservationRow>,
    /// Whether anything has ever been pushed (the observe pipeline is connected).
    pub fed: bool,
}

/// A question for [`RecentObservations::recent`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Start of the range, Unix nanoseconds (inclusive).
    pub from_nanos: u64,
    /// End of the range, Unix nanoseconds (inclusive).
    pub to_nanos: u64,
    /// Keep rows whose line, source, event or a label value contains it (case-insensitive).
    pub filter: Option<String>,
    /// Most rows.
    pub limit: usize,
}

/// A source of recent observations.
pub trait RecentObservations: Send + Sync {
    /// The newest rows matching `query`, newest first.
    fn recent(&self, query: &EventsQuery) -> RecentRows;
}

impl ObservationRow {
    /// The bytes the row holds (what the ring's byte bound counts).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.source.len()
            + self.event.len()
            + self.line.len()
            + self
                .labels
                .iter()
                .map(|(k, v)| k.len() + v.len() + std::mem::size_of::<(String, String)>())
                .sum::<usize>()
    }
}

/// A bounded ring of recent observations.
pub struct ObservationRing {
    rows: Mutex<Rows>,
    capacity: usize,
    capacity_bytes: usize,
    fed: AtomicBool,
}

#[derive(Default)]
struct Rows {
    rows: VecDeque<ObservationRow>,
    bytes: usize,
}

impl ObservationRing {
    /// An empty ring holding at most `capacity` rows and [`DEFAULT_CAPACITY_BYTES`].
    pub fn new(capacity: usize) -> Self {
        ObservationRing::with_bytes(capacity, DEFAULT_CAPACITY_BYTES)
    }

    /// An empty ring holding at most `capacity` rows and `capacity_bytes` bytes of rows.
    pub fn with_bytes(capacity: usize, capacity_bytes: usize) -> Self {
        ObservationRing {
            rows: Mutex::new(Rows::default()),
            capacity: capacity.max(1),
            capacity_bytes,
            fed: AtomicBool::new(false),
        }
    }

    /// Appends a batch (in time order); the oldest rows fall out beyond the capacity.
    /// An empty batch still marks the ring as fed.
    pub fn push(&self, batch: impl IntoIterator<Item = ObservationRow>) {
        self.fed.store(true, Ordering::Relaxed);
        let mut held = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        for row in batch {
            let size = row.bytes();
            if size > self.capacity_bytes {
                continue;
            }
            while held.rows.len() >= self.capacity || held.bytes + size > self.capacity_bytes {
                let Some(old) = held.rows.pop_front() else { break };
                held.bytes -= old.bytes();
            }
            held.bytes += size;
            held.rows.push_back(row);
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).rows.len()
    }

    /// Bytes of the rows held.
    pub fn bytes(&self) -> usize {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ObservationRing {
    fn default() -> Self {
        ObservationRing::new(DEFAULT_CAPACITY)
    }
}

impl RecentObservations for ObservationRing {
    fn recent(&self, query: &EventsQuery) -> RecentRows {
        let needle = query.filter.as_deref().filter(|f| !f.is_empty()).map(str::to_lowercase);
        let matches = |row: &ObservationRow| match &needle {
            None => true,
            Some(needle) => {
                let has = |text: &str| text.to_lowercase().contains(needle.as_str());
                has(&row.line) || has(&row.source) || has(&row.event) || row.labels.iter().any(|(_, v)| has(v))
            }
        };
        let held = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let rows = held
            .rows
            .iter()
            .rev()
            .filter(|r| r.time_nanos >= query.from_nanos && r.time_nanos <= query.to_nanos)
            .filter(|r| matches(r))
            .take(query.limit)
            .cloned()
            .collect();
        RecentRows { rows, fed: self.fed.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: u64, event: &str, line: &str, pid: &str) -> ObservationRow {
        ObservationRow {
            time_nanos: t,
            source: "process".into(),
            event: event.into(),
            line: line.into(),
            labels: vec![("pid".into(), pid.into())],
        }
    }

    fn query(filter: Option<&str>, limit: usize) -> EventsQuery {
        EventsQuery { from_nanos: 0, to_nanos: u64::MAX, filter: filter.map(str::to_owned), limit }
    }

    #[test]
    fn newest_first_bounded_and_filtered() {
        let ring = ObservationRing::new(3);
        assert!(!ring.recent(&query(None, 10)).fed);
        ring.push([row(1, "fork", "a", "1"), row(2, "exec", "SSHD started", "2")]);
        ring.push([row(3, "exit", "c", "3"), row(4, "exec", "d", "42")]);
        let all = ring.recent(&query(None, 10));
        assert!(all.fed);
        assert_eq!(all.rows.iter().map(|r| r.time_nanos).collect::<Vec<_>>(), [4, 3, 2], "oldest fell out");
        assert_eq!(ring.recent(&query(None, 1)).rows[0].time_nanos, 4);
        assert_eq!(ring.recent(&query(Some("sshd"), 10)).rows[0].time_nanos, 2, "case-insensitive line match");
        assert_eq!(ring.recent(&query(Some("42"), 10)).rows[0].time_nanos, 4, "label values match");
        let window = EventsQuery { from_nanos: 3, to_nanos: 3, filter: None, limit: 10 };
        assert_eq!(ring.recent(&window).rows.len(), 1);
    }

    #[test]
    fn bounded_in_bytes_too() {
        let one = row(0, "exec", &"x".repeat(1000), "1").bytes();
        let ring = ObservationRing::with_bytes(1000, one * 3);
        ring.push((0..10).map(|t| row(t, "exec", &"x".repeat(1000), "1")));
        assert_eq!(ring.len(), 3);
        assert!(ring.bytes() <= one * 3);
        assert_eq!(ring.recent(&query(None, 10)).rows[2].time_nanos, 7, "the oldest fell out");
        // A row larger than the whole ring is not kept (and evicts nothing).
        ring.push([row(11, "exec", &"y".repeat(one * 4), "1")]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.recent(&query(None, 10)).rows[0].time_nanos, 9);
    }
}
