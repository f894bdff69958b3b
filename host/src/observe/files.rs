//! File events under the configured roots, from inotify.
//!
//! Every directory under each root gets a watch (inotify is not recursive),
//! walked once at start without reporting anything; directories that appear
//! later are watched as they appear, and what was created in them before
//! their watch was in place is reported as created. What is reported:
//!
//! | inotify | event |
//! |---|---|
//! | IN_CREATE | `create` (a new directory: `create` for it and everything already in it) |
//! | IN_CLOSE_WRITE | `update` at once |
//! | IN_MODIFY (file kept open) | `update`, at most one per file per [`UPDATE_DEBOUNCE`] |
//! | IN_DELETE | `delete` (`rm -r` of a watched tree: one per file and directory) |
//! | IN_MOVED_FROM + IN_MOVED_TO, same cookie | one `rename`, old and new path |
//! | IN_MOVED_FROM alone (moved out of the roots) | `delete` after [`PAIR_WAIT`] |
//! | IN_MOVED_TO alone (moved in) | `create` (as for a new directory) |
//! | IN_DELETE_SELF of a root | `delete` of the root, which is no longer watched |
//! | IN_Q_OVERFLOW | logged and counted; the tree is walked again for new directories |
//!
//! Never watched: `/proc`, `/sys`, `/dev` and what they hold, mounts of
//! kernel pseudo filesystems met on the way (procfs, sysfs, cgroup, …),
//! excluded paths, hidden names unless `hidden = true`, and what symbolic
//! links point to. Running out of watches (ENOSPC) is logged once, naming
//! `fs.inotify.max_user_watches` and its value.
//!
//! **The cap.** At most `max_watches` watches are held (8192 unless
//! configured), whatever the kernel would allow, so that a user who can
//! create directories under a root cannot take every inotify watch of
//! gomon's user (which other programs of that user need too). A directory
//! found when the cap is reached is not watched and not walked; each is
//! counted ([`Watcher::unwatched`]), and the first is logged once with the
//! cap. Directories deleted free their watches for new ones.
//!
//! (The original gomon looked its watches up by the wrong key, so it
//! reported almost nothing and removed its watches as events came; and
//! with its default root `/` it watched /proc and /sys.)

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::config::{ALWAYS_EXCLUDED, FilesConfig, is_glob};
use super::model::{Event, FileEvent, FileEventKind, TimedEvent};
use super::process::now_nanos;
use super::queue::Emitter;
use super::stop::Wake;

/// How long an IN_MOVED_FROM waits for its IN_MOVED_TO.
pub const PAIR_WAIT: Duration = Duration::from_millis(50);
/// A file kept open and written reports at most one `update` per this long.
pub const UPDATE_DEBOUNCE: Duration = Duration::from_secs(1);
/// Files reported by a directory scan are not reported again by their own
/// (late) IN_CREATE for this long.
const SCANNED_FOR: Duration = Duration::from_secs(2);

/// What each directory watch asks for.
fn watch_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
        | WatchMask::EXCL_UNLINK
}

/// Paths not watched.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    prefixes: Vec<PathBuf>,
    /// Patterns with a `/`, matched against the whole path.
    path_globs: Vec<glob::Pattern>,
    /// Patterns without one, matched against the name.
    name_globs: Vec<glob::Pattern>,
    hidden: bool,
}

impl Exclusions {
    /// From `[observe.files]`; /proc, /sys and /dev are always in.
    /// Invalid globs were refused by `ObserveConfig::validate`; any left are skipped.
    pub fn new(exclude: &[String], hidden: bool) -> Exclusions {
        let mut e = Exclusions { hidden, ..Exclusions::default() };
        e.prefixes.extend(ALWAYS_EXCLUDED.iter().map(PathBuf::from));
        for pattern in exclude {
            if !is_glob(pattern) {
                e.prefixes.push(PathBuf::from(pattern));
            } else if let Ok(glob) = glob::Pattern::new(pattern) {
                if pattern.contains('/') { e.path_globs.push(glob) } else { e.name_globs.push(glob) }
            }
        }
        e
    }

    /// Whether `path` (absolute) is excluded.
    pub fn excluded(&self, path: &Path) -> bool {
        if self.prefixes.iter().any(|p| path.starts_with(p)) {
            return true;
        }
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if !self.hidden && name.starts_with('.') {
            return true;
        }
        let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        self.name_globs.iter().any(|g| g.matches(&name))
            || self.path_globs.iter().any(|g| g.matches_path_with(path, options))
    }
}

/// statfs magic numbers (linux/magic.h) of kernel pseudo filesystems: a
/// mount of one is never descended into.
const PSEUDO_FILESYSTEMS: &[i64] = &[
    0x9fa0,      // PROC_SUPER_MAGIC
    0x6265_6572, // SYSFS_MAGIC
    0x1cd1,      // DEVPTS_SUPER_MAGIC
    0x0027_e0eb, // CGROUP_SUPER_MAGIC
    0x6367_7270, // CGROUP2_SUPER_MAGIC
    0x6462_6720, // DEBUGFS_MAGIC
    0x7472_6163, // TRACEFS_MAGIC
    0x7363_6673, // SECURITYFS_MAGIC
    0xcafe_4a11, // BPF_FS_MAGIC
    0x6265_6570, // CONFIGFS_MAGIC
    0x6165_676c, // PSTOREFS_MAGIC
    0x1980_0202, // MQUEUE_MAGIC
    0x9584_58f6, // HUGETLBFS_MAGIC
    0x0187,      // AUTOFS_SUPER_MAGIC
    0x4249_4e4d, // BINFMTFS_MAGIC
    0xde5e_81e4, // EFIVARFS_MAGIC
    0xf97c_ff8c, // SELINUX_MAGIC
    0x4341_5d53, // SMACK_MAGIC
    0x6e73_6673, // NSFS_MAGIC
    0x6573_5543, // FUSECTL_SUPER_MAGIC
    0x6759_6969, // RPCAUTH_GSSMAGIC (rpc_pipefs)
];

/// Whether `path` is on a kernel pseudo filesystem.
fn is_pseudo_filesystem(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else { return false };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c_path` is NUL-terminated and `st` is writable.
    if unsafe { libc::statfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, other widths elsewhere
    let magic = st.f_type as i64 & 0xffff_ffff;
    PSEUDO_FILESYSTEMS.contains(&magic)
}

/// An IN_MOVED_FROM waiting for its IN_MOVED_TO.
struct PendingMove {
    cookie: u32,
    path: PathBuf,
    directory: bool,
    at: Instant,
}

/// One event read from inotify, owned.
struct Raw {
    wd: WatchDescriptor,
    mask: EventMask,
    cookie: u32,
    name: Option<OsString>,
}

/// Watches the roots and turns inotify events into file events.
pub struct Watcher {
    inotify: Inotify,
    roots: Vec<PathBuf>,
    exclusions: Exclusions,
    dirs: HashMap<WatchDescriptor, PathBuf>,
    by_path: BTreeMap<PathBuf, WatchDescriptor>,
    pending: Vec<PendingMove>,
    modified: HashMap<PathBuf, Instant>,
    scanned: HashMap<PathBuf, Instant>,
    out_of_watches: bool,
    /// `max_watches`.
    max_watches: usize,
    /// Directories not watched because of the cap, since start.
    unwatched: u64,
    /// The cap was logged.
    cap_logged: bool,
    buffer: Vec<u8>,
    /// Events lost (IN_Q_OVERFLOW) and errors since the last `take_counts`.
    overflows: u64,
    errors: u64,
}

/// `false` from the sink: stop.
pub type Sink<'a> = dyn FnMut(FileEvent) -> bool + 'a;

impl Watcher {
    /// An inotify instance watching every directory under the roots.
    pub fn new(config: &FilesConfig) -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        let exclusions = Exclusions::new(&config.exclude, config.hidden);
        let mut watcher = Watcher {
            inotify,
            roots: Vec::new(),
            exclusions,
            dirs: HashMap::new(),
            by_path: BTreeMap::new(),
            pending: Vec::new(),
            modified: HashMap::new(),
            scanned: HashMap::new(),
            out_of_watches: false,
            max_watches: usize::try_from(config.max_watches).unwrap_or(usize::MAX).max(1),
            unwatched: 0,
            cap_logged: false,
            buffer: vec![0; 64 * 1024],
            overflows: 0,
            errors: 0,
        };
        for root in &config.roots {
            let root = match std::fs::canonicalize(root) {
                Ok(root) => root,
                Err(e) => {
                    tracing::warn!("file events: root {} cannot be watched: {e}", root.display());
                    watcher.errors += 1;
                    continue;
                }
            };
            if ALWAYS_EXCLUDED.iter().any(|p| root.starts_with(p)) {
                tracing::warn!("file events: {} is never watched (/proc, /sys and /dev are excluded)", root.display());
                continue;
            }
            if !root.is_dir() {
                tracing::warn!("file events: root {} is not a directory; not watched", root.display());
                continue;
            }
            watcher.roots.push(root.clone());
            watcher.add_tree(&root, None, &mut |_| true);
        }
        Ok(watcher)
    }

    /// Directories watched now.
    pub fn watches(&self) -> usize {
        self.dirs.len()
    }

    /// Directories left unwatched because `max_watches` was reached, since start.
    pub fn unwatched(&self) -> u64 {
        self.unwatched
    }

    /// The cap (`max_watches`).
    pub fn max_watches(&self) -> usize {
        self.max_watches
    }

    /// (queue overflows, errors) since the last call.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.overflows), std::mem::take(&mut self.errors))
    }

    /// The inotify descriptor, to poll.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.inotify.as_fd()
    }

    /// How long until a pending move or a debounced update is due.
    pub fn next_due(&self) -> Option<Duration> {
        let now = Instant::now();
        let moves = self.pending.iter().map(|p| (p.at + PAIR_WAIT).saturating_duration_since(now));
        let updates = self.modified.values().map(|&t| (t + UPDATE_DEBOUNCE).saturating_duration_since(now));
        moves.chain(updates).min()
    }

    /// Reads what inotify has queued (without blocking) and reports it,
    /// then what is due. `false` when the sink asked to stop.
    pub fn process(&mut self, sink: &mut Sink<'_>) -> bool {
        loop {
            let raws: Vec<Raw> = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events
                    .map(|e| Raw { wd: e.wd, mask: e.mask, cookie: e.cookie, name: e.name.map(|n| n.to_owned()) })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("file events: reading inotify failed: {e}");
                    self.errors += 1;
                    break;
                }
            };
            for raw in raws {
                if !self.handle(raw, sink) {
                    return false;
                }
            }
        }
        self.flush_due(sink, false)
    }

    /// Reports pending moves and debounced updates that are due (all of
    /// them when `all`).
    pub fn flush_due(&mut self, sink: &mut Sink<'_>, all: bool) -> bool {
        let now = Instant::now();
        let (due, waiting): (Vec<PendingMove>, Vec<PendingMove>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| all || now >= p.at + PAIR_WAIT);
        self.pending = waiting;
        for moved in due {
            // Moved out of the roots: gone, as far as they are concerned.
            if moved.directory {
                self.forget_tree(&moved.path, true);
            }
            if !sink(file_event(FileEventKind::Delete, &moved.path, None, moved.directory)) {
                return false;
            }
        }
        let due: Vec<PathBuf> =
            self.modified.iter().filter(|&(_, &t)| all || now >= t + UPDATE_DEBOUNCE).map(|(p, _)| p.clone()).collect();
        for path in due {
            self.modified.remove(&path);
            if !sink(file_event(FileEventKind::Update, &path, None, false)) {
                return false;
            }
        }
        self.scanned.retain(|_, t| now < *t + SCANNED_FOR);
        true
    }

    fn handle(&mut self, raw: Raw, sink: &mut Sink<'_>) -> bool {
        let mask = raw.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            self.overflows += 1;
            // New directories may have been missed: walk again (existing
            // watches are kept; nothing is reported).
            for root in self.roots.clone() {
                self.add_tree(&root, None, &mut |_| true);
            }
            return true;
        }
        let Some(dir) = self.dirs.get(&raw.wd).cloned() else { return true };
        if mask.contains(EventMask::IGNORED) {
            // The watch is gone (its directory was deleted or unmounted).
            self.dirs.remove(&raw.wd);
            if self.by_path.get(&dir) == Some(&raw.wd) {
                self.by_path.remove(&dir);
            }
            return true;
        }
        let Some(name) = raw.name else {
            if mask.contains(EventMask::DELETE_SELF) && self.roots.contains(&dir) {
                tracing::warn!("file events: root {} was deleted; it is no longer watched", dir.display());
                self.roots.retain(|r| r != &dir);
                return sink(file_event(FileEventKind::Delete, &dir, None, true));
            }
            return true;
        };
        let path = dir.join(name);
        let directory = mask.contains(EventMask::ISDIR);
        if self.exclusions.excluded(&path) {
            return true;
        }
        if mask.contains(EventMask::CREATE) {
            if self.scanned.remove(&path).is_some() {
                return true; // already reported by the scan of its new directory
            }
            if !sink(file_event(FileEventKind::Create, &path, None, directory)) {
                return false;
            }
            if directory {
                return self.add_tree(&path, Some(&dir), sink);
            }
        } else if mask.contains(EventMask::MOVED_FROM) {
            self.modified.remove(&path);
            self.pending.push(PendingMove { cookie: raw.cookie, path, directory, at: Instant::now() });
        } else if mask.contains(EventMask::MOVED_TO) {
            match self.pending.iter().position(|p| p.cookie == raw.cookie) {
                Some(i) => {
                    let from = self.pending.remove(i);
                    if from.directory {
                        self.move_tree(&from.path, &path);
                    }
                    return sink(file_event(FileEventKind::Rename, &path, Some(&from.path), directory));
                }
                None => {
                    if !sink(file_event(FileEventKind::Create, &path, None, directory)) {
                        return false;
                    }
                    if directory {
                        return self.add_tree(&path, Some(&dir), sink);
                    }
                }
            }
        } else if mask.contains(EventMask::CLOSE_WRITE) {
            self.modified.remove(&path);
            return sink(file_event(FileEventKind::Update, &path, None, false));
        } else if mask.contains(EventMask::MODIFY) {
            self.modified.entry(path).or_insert_with(Instant::now);
        } else if mask.contains(EventMask::DELETE) {
            self.modified.remove(&path);
            if directory {
                self.forget_tree(&path, false);
            }
            return sink(file_event(FileEventKind::Delete, &path, None, directory));
        }
        true
    }

    /// Watches `top` and every directory under it. With a `parent` (a
    /// directory that appeared while watching), everything found in it is
    /// reported as created; without one (start, overflow), nothing is.
    fn add_tree(&mut self, top: &Path, parent: Option<&Path>, sink: &mut Sink<'_>) -> bool {
        let report = parent.is_some();
        let parent_device = parent.and_then(|p| std::fs::symlink_metadata(p).ok()).map(|m| m.dev());
        let mut stack = vec![(top.to_path_buf(), parent_device)];
        while let Some((dir, parent_device)) = stack.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
            if !meta.is_dir() {
                continue;
            }
            // Another mount: never a kernel pseudo filesystem.
            if parent_device.is_some_and(|d| d != meta.dev()) && is_pseudo_filesystem(&dir) {
                continue;
            }
            if !self.watch(&dir) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if self.exclusions.excluded(&path) {
                    continue;
                }
                // The entry's own type: symbolic links are not followed.
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if report {
                    self.scanned.insert(path.clone(), Instant::now());
                    if !sink(file_event(FileEventKind::Create, &path, None, is_dir)) {
                        return false;
                    }
                }
                if is_dir {
                    stack.push((path, Some(meta.dev())));
                }
            }
        }
        true
    }

    /// Adds one directory's watch; `false` if it could not be added.
    fn watch(&mut self, dir: &Path) -> bool {
        if self.out_of_watches {
            return false;
        }
        if self.dirs.len() >= self.max_watches && !self.by_path.contains_key(dir) {
            self.unwatched += 1;
            if !self.cap_logged {
                self.cap_logged = true;
                tracing::warn!(
                    "file events: observe.files.max_watches ({}) reached: {} and directories found after it \
                     are not watched (nor what is beneath them); counted in \
                     gomon_observer_file_unwatched_directories_total. Raise max_watches or narrow \
                     observe.files.roots",
                    self.max_watches,
                    dir.display()
                );
            }
            return false;
        }
        match self.inotify.watches().add(dir, watch_mask()) {
            Ok(wd) => {
                if let Some(old) = self.dirs.insert(wd.clone(), dir.to_path_buf())
                    && old != dir
                    && self.by_path.get(&old) == Some(&wd)
                {
                    self.by_path.remove(&old);
                }
                self.by_path.insert(dir.to_path_buf(), wd);
                true
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                self.out_of_watches = true;
                self.errors += 1;
                let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_else(|_| "?".into());
                tracing::error!(
                    "file events: out of inotify watches after {} directories (fs.inotify.max_user_watches = {limit}): \
                     {} and the directories after it are not watched; raise the limit (sysctl -w \
                     fs.inotify.max_user_watches=524288, and in /etc/sysctl.d/) or narrow observe.files.roots",
                    self.dirs.len(),
                    dir.display()
                );
                false
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => false, // gone already
            Err(e) => {
                tracing::debug!("file events: cannot watch {}: {e}", dir.display());
                false
            }
        }
    }

    /// A directory moved within the roots: its watches keep working, under new paths.
    fn move_tree(&mut self, from: &Path, to: &Path) {
        let moved: Vec<(PathBuf, WatchDescriptor)> = self
            .by_path
            .range(from.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(from))
            .map(|(p, wd)| (p.clone(), wd.clone()))
            .collect();
        for (old, wd) in moved {
            self.by_path.remove(&old);
            let Ok(rest) = old.strip_prefix(from) else { continue };
            let new = if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) };
            if self.exclusions.excluded(&new) {
                let _ = self.inotify.watches().remove(wd.clone());
                self.dirs.remove(&wd);
                continue;
            }
            self.dirs.insert(wd.clone(), new.clone());
            self.by_path.insert(new, wd);
        }
    }

    /// Drops the watches of `top` and below (`remove`: ask the kernel too,
    /// for a tree moved out of the roots; a deleted tree loses them anyway).
    fn forget_tree(&mut self, top: &Path, remove: bool) {
        let gone: Vec<(PathBuf, WatchDescriptor)> = self
            .by_path
            .range(top.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(top))
            .map(|(p, wd)| (p.clone(), wd.clone()))
            .collect();
        for (path, wd) in gone {
            self.by_path.remove(&path);
            if remove {
                let _ = self.inotify.watches().remove(wd.clone());
                self.dirs.remove(&wd);
            }
        }
    }
}

fn file_event(kind: FileEventKind, path: &Path, old: Option<&Path>, directory: bool) -> FileEvent {
    FileEvent {
        kind,
        path: path.to_string_lossy().into_owned(),
        old_path: old.map(|p| p.to_string_lossy().into_owned()),
        directory,
    }
}

/// The file source's thread.
pub fn run(config: FilesConfig, emitter: Emitter) {
    let mut watcher = match Watcher::new(&config) {
        Ok(w) => w,
        Err(e) => {
            let hint = if e.raw_os_error() == Some(libc::EMFILE) {
                " (too many inotify instances: raise fs.inotify.max_user_instances)"
            } else {
                ""
            };
            tracing::error!("file events: cannot create an inotify instance: {e}{hint}; file events are off");
            emitter.error();
            return;
        }
    };
    let roots: Vec<String> = watcher.roots.iter().map(|r| r.display().to_string()).collect();
    tracing::info!("file events: watching {} directories under {}", watcher.watches(), roots.join(", "));
    let mut last_overflow_log: Option<Instant> = None;
    let mut sink = |event: FileEvent| emitter.emit(TimedEvent { time_nanos: now_nanos(), event: Event::File(event) });
    loop {
        let (overflows, errors) = watcher.take_counts();
        for _ in 0..errors {
            emitter.error();
        }
        if overflows > 0 {
            emitter.lost(overflows);
            for _ in 0..overflows {
                emitter.stats().add_file_overflow();
            }
            if last_overflow_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(
                    "file events: the inotify queue overflowed and events were lost (raise fs.inotify.max_queued_events, or narrow observe.files.roots)"
                );
                last_overflow_log = Some(Instant::now());
            }
        }
        emitter.stats().set_file_watches(watcher.watches() as u64, watcher.max_watches() as u64, watcher.unwatched());
        let timeout = watcher.next_due().unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(1));
        match emitter.stop().poll(watcher.fd(), timeout) {
            Ok(Wake::Stop) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("file events: poll failed: {e}; file events are off");
                emitter.error();
                break;
            }
        }
        if !watcher.process(&mut sink) {
            return;
        }
    }
    // Report what was waiting.
    watcher.flush_due(&mut sink, true);
}

#[cfg(test)]
mod tests;
