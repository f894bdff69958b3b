//! A batch: the entries of one push request, grouped by stream.
//!
//! Entries are added in arrival order; [`Batch::sort`] orders each stream's
//! entries by time (stable, so equal timestamps keep their arrival order) before
//! the batch is encoded, because Loki discards lines older than its out-of-order
//! window within a stream. Streams are kept in label order, so the same batch
//! always encodes to the same bytes.

use std::collections::BTreeMap;

use crate::entry::Entry;
use crate::labels::Labels;

/// Entries grouped by stream, with a running size in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    streams: BTreeMap<Labels, Vec<Entry>>,
    bytes: usize,
    entries: usize,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds one entry to the stream `labels`.
    pub fn add(&mut self, labels: &Labels, entry: Entry) {
        self.bytes += entry.size();
        self.entries += 1;
        match self.streams.get_mut(labels) {
            Some(stream) => stream.push(entry),
            None => {
                self.bytes += Batch::stream_cost(labels);
                self.streams.insert(labels.clone(), vec![entry]);
            }
        }
    }

    /// Bytes a new stream adds besides its entries (its selector text).
    pub fn stream_cost(labels: &Labels) -> usize {
        labels.iter().map(|(n, v)| n.len() + v.len() + 5).sum::<usize>() + 2
    }

    /// Whether `labels` already has a stream here.
    pub fn has_stream(&self, labels: &Labels) -> bool {
        self.streams.contains_key(labels)
    }

    /// Orders every stream's entries by time (stable).
    pub fn sort(&mut self) {
        for entries in self.streams.values_mut() {
            entries.sort_by_key(|e| e.time_nanos);
        }
    }

    /// The streams in label order.
    pub fn streams(&self) -> impl Iterator<Item = (&Labels, &[Entry])> {
        self.streams.iter().map(|(l, e)| (l, e.as_slice()))
    }

    /// Size in bytes: lines, metadata, selectors (see [`Entry::size`]).
    pub fn size(&self) -> usize {
        self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Number of streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The oldest entry's time, if any.
    pub fn oldest_nanos(&self) -> Option<u64> {
        self.streams.values().flatten().map(|e| e.time_nanos).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_stream_and_sorts_stably() {
        let a = Labels::new([("source", "a")]).unwrap();
        let b = Labels::new([("source", "b")]).unwrap();
        let mut batch = Batch::new();
        batch.add(&b, Entry::new(3, "b3"));
        batch.add(&a, Entry::new(2, "a2"));
        batch.add(&a, Entry::new(1, "a1"));
        batch.add(&a, Entry::new(2, "a2'"));
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.stream_count(), 2);
        batch.sort();
        let streams: Vec<(String, Vec<&str>)> =
            batch.streams().map(|(l, e)| (l.selector(), e.iter().map(|e| e.line.as_str()).collect())).collect();
        assert_eq!(
            streams,
            vec![(r#"{source="a"}"#.to_owned(), vec!["a1", "a2", "a2'"]), (r#"{source="b"}"#.to_owned(), vec!["b3"])]
        );
        assert_eq!(batch.oldest_nanos(), Some(1));
    }

    #[test]
    fn size_counts_lines_metadata_and_new_streams() {
        let a = Labels::new([("source", "a")]).unwrap();
        let mut batch = Batch::new();
        let e = Entry::new(1, "12345").with_metadata("pid", "42");
        let entry_size = e.size();
        assert_eq!(entry_size, 16 + 5 + 5);
        batch.add(&a, e.clone());
        assert_eq!(batch.size(), entry_size + Batch::stream_cost(&a));
        batch.add(&a, e);
        assert_eq!(batch.size(), 2 * entry_size + Batch::stream_cost(&a));
    }
}
