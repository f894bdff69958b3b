//! Tailing log files: globs, rotation, truncation, positions kept across
//! restarts.
//!
//! Every [`POLL_EVERY`] the tailer reads what was appended to each file (at
//! most [`MAX_READ`] per file per poll, so one busy file cannot starve the
//! rest), and every [`RESCAN_EVERY`] it matches the globs again:
//!
//! - **First sight.** A file present when gomon starts, of which nothing is
//!   remembered, is read from its end (its history is not news). A file
//!   that appears later, or whose path was known under another inode (it
//!   was rotated while gomon was down), is read from its start.
//! - **Restart.** The offset after the last line queued is kept per
//!   (device, inode) in `<state_dir>/observe/offsets.json` (at most every
//!   [`SAVE_EVERY`], and on stop), so a restart resumes there: nothing
//!   written meanwhile is lost.
//! - **Rotation** (rename and create). When the path names a new inode,
//!   the old file is read to its end (and for [`DRAIN_FOR`] more, while the
//!   writer may still hold it), and the new one is read from its start. A
//!   path that disappears is handled the same way.
//! - **Truncation** (copytruncate, `> file`). When a file is shorter than
//!   the offset, it is read again from its start.
//! - **Partial lines.** A last line without its newline is held until the
//!   newline arrives (or the file is rotated away); the saved offset is
//!   that of its start.
//! - **Long lines.** A line longer than `max_line_bytes` (64 KiB unless
//!   configured) becomes one event of its first `max_line_bytes` (cut at a
//!   character boundary) marked `truncated`; the rest of it, up to its
//!   newline, is read and skipped (across polls and restarts), never held.
//! - **What is opened.** Only regular files owned by root or gomon's user,
//!   reached without a link out of the globs' directories, are tailed:
//!   see [`super::open`]. A path refused is named once in a warning with
//!   the reason, and looked at again at each rescan.
//!
//! Lines are split on `\n`, a trailing `\r` is removed, invalid UTF-8 is
//! replaced, empty lines are skipped, and each line is parsed by
//! [`super::parse`].

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::open::OpenPolicy;
use super::parse::{Clock, parse_line};
use crate::observe::config::LogsConfig;
use crate::observe::model::{Event, LogEvent, TimedEvent};
use crate::observe::state::StateFile;

/// How often appended data is read.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often the globs are matched again.
pub const RESCAN_EVERY: Duration = Duration::from_secs(5);
/// How often positions are saved (when they changed).
pub const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How long a rotated-away file is still read after its last growth.
pub const DRAIN_FOR: Duration = Duration::from_secs(10);
/// Most bytes read from one file in one poll.
pub const MAX_READ: usize = 1 << 20;

/// How the tailer opens files and bounds lines (`[observe.logs]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailOptions {
    /// `follow_symlinks`.
    pub follow_symlinks: bool,
    /// `allow_other_owners`.
    pub allow_other_owners: bool,
    /// `max_line_bytes`.
    pub max_line_bytes: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions::from(&LogsConfig::default())
    }
}

impl From<&LogsConfig> for TailOptions {
    fn from(c: &LogsConfig) -> TailOptions {
        TailOptions {
            follow_symlinks: c.follow_symlinks,
            allow_other_owners: c.allow_other_owners,
            max_line_bytes: (c.max_line_bytes as usize).max(1),
        }
    }
}

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// st_dev.
    pub device: u64,
    /// st_ino.
    pub inode: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId { device: meta.dev(), inode: meta.ino() }
    }
}

/// One remembered position (`offsets.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedOffset {
    /// The path the file was followed under.
    pub path: PathBuf,
    /// Its st_dev.
    pub device: u64,
    /// Its st_ino.
    pub inode: u64,
    /// Where reading resumes, in bytes from the start: after the last line
    /// queued (inside a cut line when `skipping`).
    pub offset: u64,
    /// The offset is inside a line that was cut: skip to its newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipping: bool,
}

/// `offsets.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedOffsets {
    /// One per file followed (rotated-away ones included).
    pub files: Vec<SavedOffset>,
}

/// An open file being followed.
struct Tailed {
    path: PathBuf,
    origin: String,
    file: File,
    id: FileId,
    /// Where the next read starts.
    read_pos: u64,
    /// Bytes read but not yet a whole line (they start at `read_pos - partial.len()`).
    partial: Vec<u8>,
    /// Drained files: when the file last grew.
    grew: Instant,
    /// Inside a line that was cut: what is read up to its newline is skipped.
    skipping: bool,
}

impl Tailed {
    /// The offset after the last line queued.
    fn consumed(&self) -> u64 {
        self.read_pos - self.partial.len() as u64
    }
}

/// Follows the files that match some globs.
pub struct Tailer {
    patterns: Vec<String>,
    policy: OpenPolicy,
    max_line: usize,
    files: HashMap<PathBuf, Tailed>,
    /// Rotated-away files still being read.
    draining: Vec<Tailed>,
    saved: HashMap<FileId, SavedOffset>,
    state: StateFile,
    clock: Clock,
    started: bool,
    rescan_soon: bool,
    dirty: bool,
    last_save: Instant,
    /// Paths not tailed and why (a [`super::open::Refusal::key`]), so that
    /// each is logged once.
    failed: HashMap<PathBuf, String>,
    buf: Vec<u8>,
    /// Errors since the last call of [`Tailer::take_errors`].
    errors: u64,
}

/// `false` from the sink: stop.
pub type Sink<'a> = dyn FnMut(TimedEvent) -> bool + 'a;

impl Tailer {
    /// A tailer of `patterns` (absolute paths or globs) that keeps its
    /// positions in `state`.
    pub fn new(patterns: Vec<String>, options: TailOptions, state: StateFile, clock: Clock) -> Tailer {
        let saved: SavedOffsets = state.load().unwrap_or_default();
        let saved = saved.files.into_iter().map(|s| (FileId { device: s.device, inode: s.inode }, s)).collect();
        Tailer {
            policy: OpenPolicy::new(&patterns, options.follow_symlinks, options.allow_other_owners),
            max_line: options.max_line_bytes.max(1),
            patterns,
            files: HashMap::new(),
            draining: Vec::new(),
            saved,
            state,
            clock,
            started: false,
            rescan_soon: false,
            dirty: false,
            last_save: Instant::now(),
            failed: HashMap::new(),
            buf: Vec::new(),
            errors: 0,
        }
    }

    /// Files followed now (rotated-away ones included).
    pub fn file_count(&self) -> usize {
        self.files.len() + self.draining.len()
    }

    /// Errors (each logged) since the last call.
    pub fn take_errors(&mut self) -> u64 {
        std::mem::take(&mut self.errors)
    }

    /// One round: match the globs again when `rescan` (always on the
    /// first call), read what was appended, hand each line to `sink`.
    /// `false` when the sink asked to stop.
    pub fn poll(&mut self, rescan: bool, sink: &mut Sink<'_>) -> bool {
        if rescan || !self.started || self.rescan_soon {
            self.rescan_soon = false;
            self.rescan();
        }
        let now = Timestamp::now();
        // Rotated-away files first: their lines are older.
        let mut index = 0;
        while index < self.draining.len() {
            let t = &mut self.draining[index];
            let (ok, grew) = read_new(t, self.max_line, &mut self.buf, &self.clock, now, sink, &mut self.errors);
            if !ok {
                return false;
            }
            if grew {
                t.grew = Instant::now();
            }
            if t.grew.elapsed() >= DRAIN_FOR {
                let mut t = self.draining.swap_remove(index);
                if !flush_partial(&mut t, self.max_line, &self.clock, now, sink) {
                    return false;
                }
                self.dirty = true;
                continue;
            }
            index += 1;
        }
        let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        for path in paths {
            if !self.follow(&path, now, sink) {
                return false;
            }
        }
        if self.dirty && self.last_save.elapsed() >= SAVE_EVERY {
            self.save();
        }
        true
    }

    /// Checks `path` for rotation and truncation, then reads it.
    fn follow(&mut self, path: &Path, now: Timestamp, sink: &mut Sink<'_>) -> bool {
        let current = std::fs::metadata(path);
        let Some(t) = self.files.get_mut(path) else { return true };
        let same = matches!(&current, Ok(meta) if FileId::of(meta) == t.id);
        if !same {
            // Rotated or removed: finish the old file from its handle.
            let Some(mut old) = self.files.remove(path) else { return true };
            let (ok, _) = read_new(&mut old, self.max_line, &mut self.buf, &self.clock, now, sink, &mut self.errors);
            if !ok {
                return false;
            }
            old.grew = Instant::now();
            self.draining.push(old);
            self.dirty = true;
            // Look for where it went (it may match the globs under its new name).
            self.rescan_soon = true;
            if let Ok(meta) = current
                && meta.is_file()
            {
                // The new file: from its start.
                self.open(path, Some(0), false);
                return self.follow(path, now, sink);
            }
            return true;
        }
        if let Ok(meta) = &current
            && meta.len() < t.read_pos
        {
            tracing::info!("logs: {} was truncated; reading it again from its start", path.display());
            if !flush_partial(t, self.max_line, &self.clock, now, sink) {
                return false;
            }
            t.read_pos = 0;
            t.skipping = false;
            self.dirty = true;
        }
        let (ok, grew) = read_new(t, self.max_line, &mut self.buf, &self.clock, now, sink, &mut self.errors);
        if grew {
            self.dirty = true;
        }
        ok
    }

    /// Matches the globs; opens files not yet followed.
    fn rescan(&mut self) {
        let first = !self.started;
        self.started = true;
        let mut matched = Vec::new();
        for pattern in &self.patterns {
            match glob::glob(pattern) {
                Ok(paths) => matched.extend(paths.flatten()),
                Err(e) => {
                    tracing::warn!("logs: {pattern:?} is not a valid glob: {e}");
                    self.errors += 1;
                }
            }
        }
        matched.sort();
        matched.dedup();
        for path in matched {
            if self.files.contains_key(&path) {
                continue;
            }
            // A rotated-away file renamed to a name that matches too: go on following it there.
            if let Ok(meta) = std::fs::metadata(&path)
                && let Some(i) = self.draining.iter().position(|t| t.id == FileId::of(&meta))
            {
                let mut t = self.draining.swap_remove(i);
                t.origin = path.to_string_lossy().into_owned();
                t.path = path.clone();
                self.files.insert(path, t);
                continue;
            }
            self.open(&path, None, first);
        }
    }

    /// Starts following `path`: at `start`, or (when `None`) where it was
    /// left, or at its end if found when gomon `started` and never seen
    /// before, or else at its start.
    fn open(&mut self, path: &Path, start: Option<u64>, started: bool) {
        let (file, meta) = match self.policy.open(path) {
            Ok(opened) => opened,
            Err(refusal) => {
                let key = refusal.key();
                if self.failed.get(path) != Some(&key) {
                    tracing::warn!("logs: not tailing {}: {refusal}", path.display());
                    if refusal.is_io() {
                        self.errors += 1;
                    }
                    self.failed.insert(path.to_owned(), key);
                }
                return;
            }
        };
        self.failed.remove(path);
        let id = FileId::of(&meta);
        // The same file under two names (a hard link, a symlink) is followed once.
        if self.files.values().chain(&self.draining).any(|t| t.id == id) {
            return;
        }
        let size = meta.len();
        let (read_pos, skipping) = match (start, self.saved.get(&id)) {
            (Some(start), _) => (start, false),
            (None, Some(saved)) if saved.offset <= size => (saved.offset, saved.skipping),
            (None, Some(_)) => (0, false),
            (None, None) if started && !self.saved.values().any(|s| s.path == path) => (size, false),
            (None, None) => (0, false),
        };
        let origin = path.to_string_lossy().into_owned();
        let t = Tailed {
            path: path.to_owned(),
            origin,
            file,
            id,
            read_pos,
            partial: Vec::new(),
            grew: Instant::now(),
            skipping,
        };
        self.files.insert(path.to_owned(), t);
        self.dirty = true;
    }

    /// Writes the positions of the files followed now.
    pub fn save(&mut self) {
        let files: Vec<SavedOffset> = self
            .files
            .values()
            .chain(&self.draining)
            .map(|t| SavedOffset {
                path: t.path.clone(),
                device: t.id.device,
                inode: t.id.inode,
                offset: t.consumed(),
                skipping: t.skipping && t.partial.is_empty(),
            })
            .collect();
        self.saved = files.iter().map(|s| (FileId { device: s.device, inode: s.inode }, s.clone())).collect();
        if let Err(e) = self.state.save(&SavedOffsets { files }) {
            let where_ = self.state.path().map(|p| p.display().to_string()).unwrap_or_default();
            tracing::warn!("logs: cannot save the tail positions to {where_}: {e}");
            self.errors += 1;
        }
        self.dirty = false;
        self.last_save = Instant::now();
    }
}

/// Reads what was appended to `t` (up to [`MAX_READ`]) and queues its whole
/// lines, each cut to `max_line` bytes: (`false` if the sink asked to stop,
/// whether anything was read).
fn read_new(
    t: &mut Tailed,
    max_line: usize,
    buf: &mut Vec<u8>,
    clock: &Clock,
    now: Timestamp,
    sink: &mut Sink<'_>,
    errors: &mut u64,
) -> (bool, bool) {
    buf.resize(64 * 1024, 0);
    let mut total = 0;
    let mut grew = false;
    while total < MAX_READ {
        let n = match t.file.read_at(buf, t.read_pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("logs: cannot read {}: {e}", t.path.display());
                *errors += 1;
                break;
            }
        };
        grew = true;
        total += n;
        // File offset of buf[0].
        let base = t.read_pos;
        t.read_pos = t.read_pos.saturating_add(n as u64);
        let mut pos = 0;
        while let Some(newline) = buf[pos..n].iter().position(|&b| b == b'\n') {
            if t.skipping {
                // The end of a line that was cut: dropped with its newline.
                t.skipping = false;
                pos += newline + 1;
                continue;
            }
            let line_start = (base + pos as u64).saturating_sub(t.partial.len() as u64);
            let ok = if t.partial.is_empty() {
                emit_line(&t.origin, &buf[pos..pos + newline], max_line, clock, now, sink)
            } else {
                let room = (max_line + 1).saturating_sub(t.partial.len());
                t.partial.extend_from_slice(&buf[pos..pos + newline.min(room)]);
                let line = std::mem::take(&mut t.partial);
                emit_line(&t.origin, &line, max_line, clock, now, sink)
            };
            if !ok {
                // Not queued: keep it (and what follows) out of the saved offset.
                t.partial.clear();
                t.read_pos = line_start;
                return (false, grew);
            }
            pos += newline + 1;
        }
        if t.skipping {
            continue; // the middle of a cut line
        }
        t.partial.extend_from_slice(&buf[pos..n]);
        if t.partial.len() > max_line {
            // Too long, and no newline yet: one event of its start; the
            // rest is skipped up to the newline.
            let line_start = t.read_pos.saturating_sub(t.partial.len() as u64);
            let line = std::mem::take(&mut t.partial);
            if !emit_line(&t.origin, &line, max_line, clock, now, sink) {
                t.read_pos = line_start;
                return (false, grew);
            }
            t.skipping = true;
        }
    }
    (true, grew)
}

/// Queues a held partial line as it is (its file was rotated or truncated).
fn flush_partial(t: &mut Tailed, max_line: usize, clock: &Clock, now: Timestamp, sink: &mut Sink<'_>) -> bool {
    if t.partial.is_empty() {
        return true;
    }
    let line = std::mem::take(&mut t.partial);
    emit_line(&t.origin, &line, max_line, clock, now, sink)
}

/// The length of the longest prefix of `line` of at most `max` bytes that
/// does not split a UTF-8 sequence.
fn cut_point(line: &[u8], max: usize) -> usize {
    if line.len() <= max {
        return line.len();
    }
    let mut end = max;
    // Back over continuation bytes (10xxxxxx) to the start of the character.
    while end > 0 && end > max.saturating_sub(3) && line[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    if line[end] & 0xc0 == 0x80 { max } else { end }
}

fn emit_line(origin: &str, line: &[u8], max_line: usize, clock: &Clock, now: Timestamp, sink: &mut Sink<'_>) -> bool {
    let truncated = line.len() > max_line;
    let line = String::from_utf8_lossy(&line[..cut_point(line, max_line)]);
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return true;
    }
    let p = parse_line(line, now, clock);
    sink(TimedEvent {
        time_nanos: p.time_nanos,
        event: Event::Log(LogEvent {
            origin: origin.to_owned(),
            level: p.level,
            process: p.process,
            pid: p.pid,
            message: p.message,
            truncated,
        }),
    })
}

#[cfg(test)]
mod tests;
