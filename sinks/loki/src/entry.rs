//! One log entry, and how it is fitted into Loki's per-entry limits.
//!
//! Loki refuses (400, the whole request) an entry whose line is longer than
//! `max_line_size` (256 KB in Loki 3.x, which Loki reads as 256 000 bytes) or
//! whose structured metadata exceeds `max_structured_metadata_size` (64 KB) or
//! `max_structured_metadata_entries_count` (128). Rather than lose a batch, such an
//! entry is repaired before it is queued ([`Entry::fit`]): the line is cut at a
//! character boundary and ends with [`TRUNCATION_MARKER`]; metadata pairs past the
//! limits are left out; metadata names are made valid label names
//! (`exe.path` → `exe_path`). Each repaired entry is counted once
//! (`gomon_loki_truncated_entries_total`).

use crate::labels::{is_valid_name, sanitize_name};

/// Appended to a line that was cut to fit.
pub const TRUNCATION_MARKER: &str = " …[truncated by gomon]";
/// Loki 3.x `max_line_size` default (`256KB`, decimal).
pub const DEFAULT_MAX_LINE_BYTES: usize = 256_000;
/// Loki 3.x `max_structured_metadata_entries_count` default.
pub const MAX_METADATA_ENTRIES: usize = 128;
/// Loki 3.x `max_structured_metadata_size` default (`64KB`, decimal): names plus values.
pub const MAX_METADATA_BYTES: usize = 64_000;

/// One log entry of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_nanos: u64,
    /// The log line.
    pub line: String,
    /// Per-entry detail sent as Loki structured metadata (pid, name, …), in order.
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    /// An entry without metadata.
    pub fn new(time_nanos: u64, line: impl Into<String>) -> Entry {
        Entry { time_nanos, line: line.into(), metadata: Vec::new() }
    }

    /// This entry with one more metadata pair.
    pub fn with_metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Entry {
        self.metadata.push((name.into(), value.into()));
        self
    }

    /// Bytes this entry adds to a batch: the line plus metadata names and values
    /// (what Alloy's `batch_size` counts), plus 16 for the timestamp and framing.
    pub fn size(&self) -> usize {
        16 + self.line.len() + self.metadata.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
    }

    /// Repairs the entry so Loki accepts it (see the module docs); true when
    /// something was changed.
    pub fn fit(&mut self, max_line_bytes: usize) -> bool {
        let mut changed = false;
        if self.line.len() > max_line_bytes {
            let keep = floor_char_boundary(&self.line, max_line_bytes.saturating_sub(TRUNCATION_MARKER.len()));
            self.line.truncate(keep);
            if TRUNCATION_MARKER.len() <= max_line_bytes {
                self.line.push_str(TRUNCATION_MARKER);
            }
            changed = true;
        }
        let mut total = 0;
        let mut kept = 0;
        for (name, value) in &self.metadata {
            let size = name.len() + value.len();
            if kept == MAX_METADATA_ENTRIES || total + size > MAX_METADATA_BYTES {
                break;
            }
            total += size;
            kept += 1;
        }
        if kept < self.metadata.len() {
            self.metadata.truncate(kept);
            changed = true;
        }
        for (name, _) in &mut self.metadata {
            if !is_valid_name(name) {
                *name = sanitize_name(name);
                changed = true;
            }
        }
        changed
    }
}

/// The largest index `<= at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_untouched() {
        let mut e = Entry::new(1, "hello").with_metadata("pid", "42");
        assert!(!e.fit(DEFAULT_MAX_LINE_BYTES));
        assert_eq!(e, Entry::new(1, "hello").with_metadata("pid", "42"));
    }

    #[test]
    fn long_lines_are_cut_with_a_marker() {
        let mut e = Entry::new(1, "x".repeat(1000));
        assert!(e.fit(100));
        assert_eq!(e.line.len(), 100);
        assert!(e.line.ends_with(TRUNCATION_MARKER));
        assert!(e.line.starts_with("xxxx"));
    }

    #[test]
    fn cut_respects_char_boundaries() {
        // 'é' is two bytes: the cut must not split one.
        let mut e = Entry::new(1, "é".repeat(100));
        assert!(e.fit(51 + TRUNCATION_MARKER.len()));
        assert!(e.line.len() <= 51 + TRUNCATION_MARKER.len());
        assert_eq!(e.line.trim_end_matches(TRUNCATION_MARKER).chars().count(), 25);
    }

    #[test]
    fn metadata_is_repaired() {
        let mut e = Entry::new(1, "l").with_metadata("exe.path", "/bin/sh").with_metadata("ok", "1");
        assert!(e.fit(DEFAULT_MAX_LINE_BYTES));
        assert_eq!(e.metadata, vec![("exe_path".into(), "/bin/sh".into()), ("ok".into(), "1".into())]);

        let mut e = Entry::new(1, "l");
        e.metadata = (0..200).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(e.fit(DEFAULT_MAX_LINE_BYTES));
        assert_eq!(e.metadata.len(), MAX_METADATA_ENTRIES);

        let mut e = Entry::new(1, "l").with_metadata("a", "x".repeat(40_000)).with_metadata("b", "y".repeat(40_000));
        assert!(e.fit(DEFAULT_MAX_LINE_BYTES));
        assert_eq!(e.metadata.len(), 1);
    }
}
