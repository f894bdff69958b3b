//! Property tests of the spool against damaged segments: random files,
//! truncated and bit-flipped segments never panic the spool, and every
//! damaged segment counts the entries it loses.
//!
//! 256 cases per property (proptest's default); `PROPTEST_CASES=100000 cargo
//! test --release -p gomon-sink-loki --test spool_damage` for a longer run.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use gomon_sink_loki::spool::{SegmentHeader, Spool, check_header};
use gomon_sink_loki::{DropReason, Format, Stats};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // cases: 256, or PROPTEST_CASES.
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

fn header(entries: u64, body: &[u8]) -> SegmentHeader {
    SegmentHeader {
        format: Format::Protobuf,
        entries,
        body_bytes: body.len() as u64,
        created_unix_nanos: 1,
        oldest_nanos: 2,
        body_crc32: None,
    }
}

/// A spool with one good segment of `entries` entries; returns its file's bytes.
fn one_segment(dir: &Path, entries: u64, body: &[u8]) -> Vec<u8> {
    let spool = Spool::open(dir, 1 << 30, Arc::new(Stats::default())).unwrap();
    let seq = spool.append(&header(entries, body), body).unwrap();
    drop(spool);
    fs::read(dir.join(format!("{seq:020}.seg"))).unwrap()
}

/// Opens the spool and reads every segment as the sink does (a segment that
/// cannot be read is removed and its entries counted): (entries delivered,
/// entries counted as lost).
fn replay(dir: &Path) -> (u64, u64) {
    let stats = Arc::new(Stats::default());
    let spool = Spool::open(dir, 1 << 30, stats.clone()).unwrap();
    // Counted at open.
    let mut lost = stats.snapshot().dropped(DropReason::Corrupt);
    let mut delivered = 0;
    while let Some(seq) = spool.next() {
        match spool.read(seq) {
            Ok(segment) => {
                delivered += segment.header.entries;
                spool.remove(seq);
            }
            // Counted by the sink as `corrupt`.
            Err(_) => lost += spool.remove(seq).unwrap_or(0),
        }
    }
    (delivered, lost)
}

/// An entry count and a body of at least one byte per entry (an encoded
/// entry takes more).
fn batch() -> impl Strategy<Value = (u64, Vec<u8>)> {
    (1usize..300).prop_flat_map(|n| (Just(n as u64), proptest::collection::vec(any::<u8>(), n..n + 256)))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_files_never_panic_and_count_at_least_one_entry(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000001.seg"), &data).unwrap();
        let (delivered, lost) = replay(dir.path());
        prop_assert!(delivered + lost >= 1, "a segment file counts as at least one entry");
        let _ = check_header(&data, data.len() as u64);
    }

    #[test]
    fn truncated_segments_count_their_entries(
        (entries, body) in batch(),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = one_segment(dir.path(), entries, &body);
        let keep = cut.index(file.len());
        fs::write(dir.path().join("00000000000000000000.seg"), &file[..keep]).unwrap();
        let (delivered, lost) = replay(dir.path());
        prop_assert_eq!(delivered, 0);
        // The header line is whole once the file goes past it: its count is exact.
        let header_end = file.iter().skip(11).position(|b| *b == b'\n').unwrap() + 12;
        if keep >= header_end {
            prop_assert_eq!(lost, entries);
        } else {
            prop_assert!(lost >= 1);
        }
    }

    #[test]
    fn bit_flips_are_caught_or_harmless(
        (entries, body) in batch(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut file = one_segment(dir.path(), entries, &body);
        let i = at.index(file.len());
        file[i] ^= 1 << bit;
        fs::write(dir.path().join("00000000000000000000.seg"), &file).unwrap();
        let (delivered, lost) = replay(dir.path());
        // Either the flip is caught and the batch counted lost, or it is in a
        // header field that changes nothing checked (a time stamp) and the
        // batch is delivered: never both, never neither.
        prop_assert!(delivered + lost >= 1);
        prop_assert!(delivered == 0 || lost == 0);
        let header_end = file.iter().skip(11).position(|b| *b == b'\n').map(|p| p + 12);
        if header_end.is_some_and(|end| i >= end) {
            prop_assert_eq!((delivered, lost), (0, entries), "a flip in the body fails its CRC");
        }
    }
}
