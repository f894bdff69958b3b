//! The on-disk spool: every batch is written here (and fsync'd) before it is
//! sent, and deleted once Loki accepted it.
//!
//! One file per batch, named by a sequence number that only grows, so sending
//! oldest-first keeps the order of every stream, across restarts too:
//!
//! ```text
//! <spool_dir>/lock                        flock'd while a sink uses the directory
//! <spool_dir>/00000000000000000041.seg    one batch, complete
//! <spool_dir>/00000000000000000042.seg.tmp   being written (deleted at start)
//! ```
//!
//! A segment file is a magic line, a JSON header line, and the push body exactly
//! as it will be sent (so a replay needs no re-encoding, and a segment keeps its
//! format if the configuration changes):
//!
//! ```text
//! GOMONLOKI1\n
//! {"format":"protobuf","entries":312,"body_bytes":20417,"created_unix_nanos":…,"oldest_nanos":…,"body_crc32":…}\n
//! <body_bytes bytes of body>
//! ```
//!
//! A segment is written to `.tmp`, fsync'd, renamed, and the directory fsync'd:
//! after a crash a segment is either complete or absent. When a new segment
//! would take the spool past its size, the oldest segments (never the one being
//! sent) are deleted and their entries counted as dropped (`spool_full`).
//!
//! **Damage** (a disk error, a hand edit; the disk is not trusted blindly): a
//! segment whose magic or header does not parse, whose length disagrees with its
//! header, or whose body fails its CRC-32 (`body_crc32`; segments of older
//! versions have none) is deleted, logged, and its entries counted as dropped
//! (`corrupt`): the header's `entries` when it can still be read (leniently, if
//! the JSON around it is damaged), else an estimate from the file's length and
//! the spool's bytes per entry — never 0 for a segment that held a batch.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::stats::{DropReason, Stats};

const MAGIC: &[u8] = b"GOMONLOKI1\n";
/// Bytes per entry assumed for a damaged segment when the spool has no
/// healthy segment to measure (a small protobuf entry with metadata).
const DEFAULT_BYTES_PER_ENTRY: u64 = 100;
const SUFFIX: &str = ".seg";
const TMP_SUFFIX: &str = ".seg.tmp";
/// Longest header line read back (it is ~150 bytes).
const MAX_HEADER: usize = 4096;

/// A spool that cannot be used. Messages name the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Another process (another gomon) has the spool directory.
    #[error("the Loki spool {} is in use by another process", .0.display())]
    Locked(PathBuf),
    /// A file operation failed.
    #[error("Loki spool {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A segment file is damaged.
    #[error("Loki spool segment {} is damaged: {problem}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// What a segment holds, besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// Body format.
    #[serde(with = "format_name")]
    pub format: Format,
    /// Entries in the body.
    pub entries: u64,
    /// Body length, checked on read.
    pub body_bytes: u64,
    /// When the batch was cut, Unix nanoseconds.
    pub created_unix_nanos: u64,
    /// Time of its oldest entry, Unix nanoseconds.
    pub oldest_nanos: u64,
    /// CRC-32 (IEEE) of the body, checked on read; [`Spool::append`] sets
    /// it. `None` in segments written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_crc32: Option<u32>,
}

/// A segment read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its sequence number.
    pub seq: u64,
    /// Its header.
    pub header: SegmentHeader,
    /// The push body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Info {
    file_bytes: u64,
    entries: u64,
}

#[derive(Debug, Default)]
struct State {
    segments: BTreeMap<u64, Info>,
    bytes: u64,
    entries: u64,
    next_seq: u64,
    in_flight: Option<u64>,
}

/// The spool directory of one sink.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    stats: Arc<Stats>,
    level: tokio::sync::watch::Sender<u64>,
    /// The flock'd lock file; `None` once released.
    lock: Mutex<Option<File>>,
}

impl Spool {
    /// Opens (creating) the spool in `dir`: takes its lock, deletes unfinished
    /// `.tmp` files, and indexes the segments left by a previous run (a damaged
    /// one is deleted, logged and counted as `corrupt`).
    pub fn open(dir: &Path, max_bytes: u64, stats: Arc<Stats>) -> Result<Spool, SpoolError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(source)) => return Err(SpoolError::Io { path: lock_path, source }),
        }
        let mut state = State::default();
        let mut damaged = Vec::new();
        for item in fs::read_dir(dir).map_err(io_err(dir))? {
            let item = item.map_err(io_err(dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = item.path();
            if name.ends_with(TMP_SUFFIX) {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(seq) = name.strip_suffix(SUFFIX).and_then(|s| s.parse::<u64>().ok()) else { continue };
            state.next_seq = state.next_seq.max(seq.saturating_add(1));
            match read_header(&path) {
                Ok((header, file_bytes)) => {
                    state.segments.insert(seq, Info { file_bytes, entries: header.entries });
                    state.bytes = state.bytes.saturating_add(file_bytes);
                    state.entries = state.entries.saturating_add(header.entries);
                }
                Err(damage) => damaged.push((path, damage)),
            }
        }
        let bytes_per_entry = state.bytes.checked_div(state.entries).map_or(DEFAULT_BYTES_PER_ENTRY, |b| b.max(1));
        for (path, damage) in damaged {
            let lost = damage.lost_entries(bytes_per_entry);
            let how = if damage.entries.is_some() { "" } else { " (estimated from its size)" };
            tracing::error!(
                "Deleting a damaged Loki spool segment; its {lost} entries{how} are lost: {}",
                damage.error
            );
            stats.dropped(DropReason::Corrupt, lost);
            let _ = fs::remove_file(&path);
        }
        let (level, _) = tokio::sync::watch::channel(state.segments.len() as u64);
        let spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            state: Mutex::new(state),
            stats,
            level,
            lock: Mutex::new(Some(lock)),
        };
        spool.publish(&spool.lock());
        Ok(spool)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a segment (fsync'd, then renamed into place) after making room
    /// for it; returns its sequence number. Only one caller appends at a time
    /// (the sink's writer lock), so sequence numbers appear in order.
    pub fn append(&self, header: &SegmentHeader, body: &[u8]) -> Result<u64, SpoolError> {
        let header = SegmentHeader { body_crc32: Some(crc32fast::hash(body)), ..*header };
        let mut head = serde_json::to_vec(&header).unwrap_or_default();
        head.push(b'\n');
        let file_bytes = (MAGIC.len() + head.len() + body.len()) as u64;
        let (seq, evicted) = {
            let mut state = self.lock();
            let seq = state.next_seq;
            state.next_seq += 1;
            let mut evicted = Vec::new();
            while state.bytes + file_bytes > self.max_bytes {
                let in_flight = state.in_flight;
                let Some(&oldest) = state.segments.keys().find(|s| Some(**s) != in_flight) else { break };
                if let Some(info) = state.segments.remove(&oldest) {
                    state.bytes -= info.file_bytes;
                    state.entries -= info.entries;
                    evicted.push((oldest, info.entries));
                }
            }
            if !evicted.is_empty() {
                self.publish(&state);
            }
            (seq, evicted)
        };
        for (old, entries) in evicted {
            let _ = fs::remove_file(self.path(old));
            self.stats.dropped(DropReason::SpoolFull, entries);
            tracing::error!(
                "The Loki spool {} is full ({} bytes): deleted its oldest batch, {entries} entries lost.",
                self.dir.display(),
                self.max_bytes
            );
        }
        let tmp = self.dir.join(format!("{seq:020}{TMP_SUFFIX}"));
        let write = || -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&head)?;
            file.write_all(body)?;
            file.sync_all()?;
            fs::rename(&tmp, self.path(seq))?;
            File::open(&self.dir)?.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(SpoolError::Io { path: tmp, source });
        }
        let mut state = self.lock();
        state.segments.insert(seq, Info { file_bytes, entries: header.entries });
        state.bytes += file_bytes;
        state.entries += header.entries;
        self.publish(&state);
        Ok(seq)
    }

    /// The oldest segment's number, which becomes the one in flight (safe from
    /// eviction until [`Spool::remove`] or [`Spool::release`]).
    pub fn next(&self) -> Option<u64> {
        let mut state = self.lock();
        let seq = state.segments.keys().next().copied();
        state.in_flight = seq;
        seq
    }

    /// Reads segment `seq`.
    pub fn read(&self, seq: u64) -> Result<Segment, SpoolError> {
        let path = self.path(seq);
        let data = fs::read(&path).map_err(|source| SpoolError::Io { path: path.clone(), source })?;
        let corrupt = |problem| SpoolError::Corrupt { path: path.clone(), problem };
        let (header, body_start) = parse_header(&data).map_err(corrupt)?;
        let body = data.get(body_start..).unwrap_or_default();
        let body_bytes = body.len() as u64;
        if body_bytes != header.body_bytes {
            return Err(corrupt(format!("body is {body_bytes} bytes, its header says {}", header.body_bytes)));
        }
        if let Some(expected) = header.body_crc32 {
            let actual = crc32fast::hash(body);
            if actual != expected {
                return Err(corrupt(format!("body CRC-32 is {actual:08x}, its header says {expected:08x}")));
            }
        }
        Ok(Segment { seq, header, body: body.to_vec() })
    }

    /// Deletes segment `seq` (sent, or dropped); returns its entry count if it
    /// was still in the spool.
    pub fn remove(&self, seq: u64) -> Option<u64> {
        let removed = {
            let mut state = self.lock();
            if state.in_flight == Some(seq) {
                state.in_flight = None;
            }
            let info = state.segments.remove(&seq);
            if let Some(info) = info {
                state.bytes -= info.file_bytes;
                state.entries -= info.entries;
                self.publish(&state);
            }
            info
        };
        let _ = fs::remove_file(self.path(seq));
        removed.map(|i| i.entries)
    }

    /// Releases the directory's lock, so another sink may open it; for when
    /// this one has stopped writing and sending.
    pub fn unlock(&self) {
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// No segment is in flight any more.
    pub fn release(&self) {
        self.lock().in_flight = None;
    }

    /// Segments now.
    pub fn segments(&self) -> u64 {
        self.lock().segments.len() as u64
    }

    /// Bytes now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// A receiver of the segment count, updated on every change.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.level.subscribe()
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{SUFFIX}"))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is
        // a few integer operations.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, state: &State) {
        self.stats.set_spool(state.bytes, state.segments.len() as u64, state.entries);
        self.level.send_replace(state.segments.len() as u64);
    }
}

/// A segment that cannot be used, and what is known of what it held.
#[derive(Debug)]
pub struct Damage {
    /// What is wrong.
    pub error: SpoolError,
    /// `entries` from its header, when that could be read.
    pub entries: Option<u64>,
    /// `body_bytes` from its header, when that could be read.
    pub body_bytes: Option<u64>,
    /// The file's length.
    pub file_bytes: u64,
}

impl Damage {
    /// Entries lost with the segment: its header's count (at most one per
    /// byte of its body, as the header or the file measure it: a damaged
    /// count cannot claim more), else the file's length over
    /// `bytes_per_entry`; at least 1.
    pub fn lost_entries(&self, bytes_per_entry: u64) -> u64 {
        let estimate = self.file_bytes.saturating_sub(MAGIC.len() as u64) / bytes_per_entry.max(1);
        let most = self.file_bytes.max(self.body_bytes.unwrap_or(0));
        self.entries.map_or(estimate, |n| n.min(most)).max(1)
    }
}

/// The header of the segment at `path`, and the file's size.
pub fn read_header(path: &Path) -> Result<(SegmentHeader, u64), Damage> {
    let io_err = |source| SpoolError::Io { path: path.to_owned(), source };
    let io_damage = |e, file_bytes| Damage { error: io_err(e), entries: None, body_bytes: None, file_bytes };
    let mut file = File::open(path).map_err(|e| io_damage(e, 0))?;
    let file_bytes = file.metadata().map_err(|e| io_damage(e, 0))?.len();
    let mut start = Vec::with_capacity(MAX_HEADER);
    (&mut file).take(MAX_HEADER as u64).read_to_end(&mut start).map_err(|e| io_damage(e, file_bytes))?;
    check_header(&start, file_bytes).map_err(|(problem, entries, body_bytes)| Damage {
        error: SpoolError::Corrupt { path: path.to_owned(), problem },
        entries,
        body_bytes,
        file_bytes,
    })
}

/// What is wrong with a segment, and its header's `entries` and
/// `body_bytes` if they can still be read.
pub type HeaderProblem = (String, Option<u64>, Option<u64>);

/// Checks the start of a segment file of `file_bytes` bytes: its header, or
/// what is wrong with it.
pub fn check_header(start: &[u8], file_bytes: u64) -> Result<(SegmentHeader, u64), HeaderProblem> {
    let (header, body_start) = parse_header(start)
        .map_err(|problem| (problem, lenient_number(start, "entries"), lenient_number(start, "body_bytes")))?;
    let expected = (body_start as u64).checked_add(header.body_bytes);
    if expected != Some(file_bytes) {
        return Err((
            format!("{file_bytes} bytes, expected {} (header) + {} (body)", body_start, header.body_bytes),
            Some(header.entries),
            Some(header.body_bytes),
        ));
    }
    Ok((header, file_bytes))
}

/// `"<key>":N` in a header line that does not parse as a whole.
fn lenient_number(start: &[u8], key: &str) -> Option<u64> {
    let key = format!("\"{key}\":");
    let key = key.as_bytes();
    let line = start.get(MAGIC.len().min(start.len())..)?;
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let at = line.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> =
        line[at..].iter().copied().skip_while(|b| *b == b' ').take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Parses magic and header from the start of a segment; returns the header and
/// where the body starts.
fn parse_header(data: &[u8]) -> Result<(SegmentHeader, usize), String> {
    let rest = data.strip_prefix(MAGIC).ok_or("not a gomon Loki segment (bad magic)")?;
    let end = rest.iter().position(|b| *b == b'\n').ok_or("no header line")?;
    let header: SegmentHeader = serde_json::from_slice(&rest[..end]).map_err(|e| format!("unreadable header: {e}"))?;
    Ok((header, MAGIC.len() + end + 1))
}

mod format_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::encode::Format;

    pub fn serialize<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(format.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let name = String::deserialize(d)?;
        Format::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown format `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn open(dir: &Path, max: u64) -> (Spool, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        (Spool::open(dir, max, stats.clone()).unwrap(), stats)
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, stats) = open(dir.path(), 1 << 20);
        let a = spool.append(&header(3, b"first"), b"first").unwrap();
        let b = spool.append(&header(4, b"second body"), b"second body").unwrap();
        assert!(b > a);
        assert_eq!(spool.segments(), 2);
        let snap = stats.snapshot();
        assert_eq!((snap.spool_segments, snap.spool_entries), (2, 7));
        assert_eq!(snap.spool_bytes, spool.bytes());

        assert_eq!(spool.next(), Some(a));
        let seg = spool.read(a).unwrap();
        assert_eq!(seg.body, b"first");
        assert_eq!(seg.header, SegmentHeader { body_crc32: Some(crc32fast::hash(b"first")), ..header(3, b"first") });
        assert_eq!(spool.remove(a), Some(3));
        assert_eq!(spool.next(), Some(b));
        assert_eq!(spool.remove(b), Some(4));
        assert_eq!(spool.next(), None);
        assert_eq!(stats.snapshot().spool_bytes, 0);
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, vec![std::ffi::OsString::from("lock")]);
    }

    #[test]
    fn replay_after_reopen_oldest_first_and_numbers_keep_growing() {
        let dir = tempfile::tempdir().unwrap();
        let first;
        {
            let (spool, _) = open(dir.path(), 1 << 20);
            first = spool.append(&header(1, b"a"), b"a").unwrap();
            spool.append(&header(1, b"b"), b"b").unwrap();
        }
        // A half-written segment from a crash is removed, not replayed.
        fs::write(dir.path().join("00000000000000000099.seg.tmp"), b"junk").unwrap();
        let (spool, stats) = open(dir.path(), 1 << 20);
        assert_eq!(stats.snapshot().spool_entries, 2);
        let c = spool.append(&header(1, b"c"), b"c").unwrap();
        let mut bodies = Vec::new();
        while let Some(seq) = spool.next() {
            bodies.push(spool.read(seq).unwrap().body);
            spool.remove(seq);
        }
        assert_eq!(bodies, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(c > first + 1);
        assert!(!dir.path().join("00000000000000000099.seg.tmp").exists());
    }

    #[test]
    fn overflow_drops_oldest_but_not_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let body = vec![7u8; 1000];
        // Room for about three segments.
        let (spool, stats) = open(dir.path(), 3500);
        let s0 = spool.append(&header(10, &body), &body).unwrap();
        let s1 = spool.append(&header(11, &body), &body).unwrap();
        let s2 = spool.append(&header(12, &body), &body).unwrap();
        assert_eq!(spool.next(), Some(s0)); // in flight: protected
        let s3 = spool.append(&header(13, &body), &body).unwrap();
        assert_eq!(stats.snapshot().dropped(DropReason::SpoolFull), 11);
        assert!(spool.bytes() <= 3500);
        assert_eq!(spool.remove(s1), None, "s1 was evicted");
        spool.remove(s0);
        let mut left = Vec::new();
        while let Some(seq) = spool.next() {
            left.push(seq);
            spool.remove(seq);
        }
        assert_eq!(left, vec![s2, s3]);
    }

    #[test]
    fn damaged_segments_are_deleted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, _) = open(dir.path(), 1 << 20);
            spool.append(&header(5, b"good"), b"good").unwrap();
        }
        fs::write(dir.path().join("00000000000000000007.seg"), b"GOMONLOKI1\n{not json\nbody").unwrap();
        let mut short = MAGIC.to_vec();
        short.extend_from_slice(
            br#"{"format":"json","entries":2,"body_bytes":100,"created_unix_nanos":0,"oldest_nanos":0}"#,
        );
        short.extend_from_slice(b"\nshort");
        fs::write(dir.path().join("00000000000000000008.seg"), short).unwrap();
        let (spool, stats) = open(dir.path(), 1 << 20);
        assert_eq!(spool.segments(), 1);
        assert_eq!(stats.snapshot().spool_entries, 5);
        // Their entries count as lost: 2 from the readable header, at least 1
        // for the one whose header is gone.
        assert_eq!(stats.snapshot().dropped(DropReason::Corrupt), 3);
        assert!(!dir.path().join("00000000000000000007.seg").exists());
        assert!(!dir.path().join("00000000000000000008.seg").exists());
        // Numbering continues past the damaged files.
        assert!(spool.append(&header(1, b"x"), b"x").unwrap() >= 9);
    }

    #[test]
    fn a_damaged_body_is_caught_by_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = open(dir.path(), 1 << 20);
        let seq = spool.append(&header(4, b"a body"), b"a body").unwrap();
        let path = dir.path().join(format!("{seq:020}.seg"));
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x01;
        fs::write(&path, &data).unwrap();
        let e = spool.read(seq).unwrap_err();
        assert!(e.to_string().contains("CRC-32"), "{e}");
        // What the sink then counts.
        assert_eq!(spool.remove(seq), Some(4));
    }

    #[test]
    fn lost_entries_are_read_leniently_or_estimated() {
        let head = br#"GOMONLOKI1
{"format":"protobug","entries": 312,"body_bytes":20417}
"#;
        assert_eq!(lenient_number(head, "entries"), Some(312));
        assert_eq!(lenient_number(head, "body_bytes"), Some(20417));
        assert_eq!(lenient_number(b"GOMONLOKI1\n{\"entries\":", "entries"), None);
        assert_eq!(lenient_number(b"", "entries"), None);
        let damage = |entries, file_bytes| Damage {
            error: SpoolError::Corrupt { path: PathBuf::new(), problem: String::new() },
            entries,
            body_bytes: None,
            file_bytes,
        };
        assert_eq!(damage(Some(312), 20_000).lost_entries(100), 312);
        assert_eq!(damage(Some(u64::MAX), 20_000).lost_entries(100), 20_000, "a damaged count is bounded");
        assert_eq!(damage(None, 10_011).lost_entries(100), 100);
        assert_eq!(damage(None, 0).lost_entries(100), 1, "a segment held at least one entry");
        assert_eq!(damage(None, 500).lost_entries(0), 489);
    }

    #[test]
    fn a_second_sink_cannot_share_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (_spool, _) = open(dir.path(), 1 << 20);
        let err = Spool::open(dir.path(), 1 << 20, Arc::new(Stats::default())).unwrap_err();
        assert!(matches!(err, SpoolError::Locked(_)), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }
}
