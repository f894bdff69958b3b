//! Processes: every thread-group leader in /proc, read into [`Process`]
//! records.
//!
//! Each numeric directory of /proc is a process (threads live under
//! /proc/<pid>/task and are not listed). Its record comes from:
//!
//! | file | what | when it cannot be read |
//! |---|---|---|
//! | `stat` | state, ids, faults, CPU ticks, priority, threads, start time, vsize, rss ([`stat`]) | the process is skipped |
//! | `status` | effective uid/gid, VmHWM, RssFile + RssShmem, context switches ([`status`]) | the process is skipped |
//! | `io` | rchar, wchar, syscr, syscw, read_bytes, write_bytes ([`io`]) | all 0 (another user's process without privilege, no task I/O accounting) |
//! | `fd` | open descriptors: `st_size` of the directory on procfs (Linux 6.2+), else its entries | 0 |
//! | `exe`, `cwd`, `cmdline` | [`ProcessDetails`], only when asked for, once per (pid, start time) ([`cache`]) | empty |
//!
//! `environ` is never read. A process that exits between the listing and
//! its reads (ENOENT or ESRCH) is skipped and counted in
//! [`ProcessSample::vanished`]: that is normal, not a warning. Any other
//! failure is a warning naming the file, and the process is skipped
//! ([`ProcessSample::failed`]) or the value left 0, as in the table.
//!
//! # Cost
//!
//! Building these files is kernel work that dominates the cost: on a
//! 2-vCPU VM, opening, reading and closing `stat` costs ~13 µs, `status`
//! ~17 µs, `io` ~7 µs; reading an already open `stat` again costs ~4 µs.
//! So the reader:
//!
//! - keeps each process's `stat` open between scans (one descriptor per
//!   process, up to half the RLIMIT_NOFILE soft limit, which it raises to
//!   the hard limit the first time, as Go programs do) and reads it with
//!   `pread`; a held descriptor also pins the process: once it exits, reads
//!   fail with ESRCH even if its pid is reused;
//! - reads `status`, `io` and `fd` (a *full read*) only when the `stat`
//!   line changed since the last scan (the process ran, faulted, changed
//!   state, memory or threads: CPU time is accounted precisely and shows up
//!   in `stat` every 10 ms of it), and otherwise at least every
//!   [`DEFAULT_FULL_READ_EVERY`] scans (spread over scans by pid). An idle
//!   process's context switches, I/O counters and descriptor count may thus
//!   be that many scans old; everything from `stat` is always current.
//!   [`Sampler::set_process_full_read_every`](super::Sampler::set_process_full_read_every)`(1)`
//!   reads everything every scan;
//! - after a full read, reads `stat` once more: if the process is still
//!   there (same start time), `status` and `io` were its own, not those of
//!   a process that took its pid in between;
//! - parses bytes in two reused buffers; the only allocations per process
//!   are the strings its record owns.
//!
//! Boot time (/proc/stat btime), USER_HZ and the page size are read once.

pub mod cache;
pub mod cmdline;
pub mod io;
mod num;
pub mod stat;
pub mod status;
mod sys;

use std::collections::HashMap;
use std::ffi::CStr;
use std::io as stdio;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::error::SampleError;
use super::model::{Process, ProcessDetails};
use cache::DetailsCache;

/// A process whose `stat` did not change is read in full at least once
/// every this many scans.
pub const DEFAULT_FULL_READ_EVERY: u32 = 4;

/// One scan of /proc.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessSample {
    /// Every process read, in pid order.
    pub processes: Vec<Process>,
    /// Pids listed in /proc that exited before they could be read.
    pub vanished: u32,
    /// Pids skipped for another reason (each left a warning).
    pub failed: u32,
    /// Processes read in full (`status`, `io`, `fd`) in this scan; the
    /// others were idle and kept their last values for those.
    pub full_reads: u32,
    /// Processes whose details were read in this scan (new processes,
    /// reused pids, execs).
    pub details_read: u32,
    /// Processes whose details are cached after this scan.
    pub details_cached: u32,
    /// `stat` descriptors held open after this scan.
    pub held_descriptors: u32,
}

/// At most this many warnings are kept per scan; the Sampler bounds them
/// again.
const MAX_WARNINGS: usize = 64;

/// What the reader remembers of a process between scans.
struct Tracked {
    /// stat field 22: the identity, with the pid.
    start_ticks: u64,
    /// /proc/<pid>/stat, held open; `None` past the descriptor budget.
    stat: Option<OwnedFd>,
    /// FNV-1a of the `stat` line at the last full read.
    stat_fingerprint: u64,
    /// The record of the last full read (without details).
    record: Process,
    /// The scan that last saw the process.
    seen: u64,
}

/// Reads processes; owned by the [`Sampler`](super::Sampler).
pub(super) struct ProcessReader {
    proc_root: PathBuf,
    ticks_per_second: f64,
    page_size: u64,
    /// /proc/stat btime, read on the first scan.
    boot_time_seconds: Option<f64>,
    /// Whether `proc_root` is a procfs (a fixture tree is not); decides how
    /// descriptors are counted. Found on the first scan.
    procfs: Option<bool>,
    /// How many `stat` descriptors may be held; found on the first scan.
    descriptor_budget: Option<usize>,
    full_read_every: u32,
    /// Scans so far.
    scan: u64,
    /// Files are read into this.
    buf: Vec<u8>,
    /// getdents64 records are read into this.
    dirents: Vec<u8>,
    pids: Vec<u32>,
    table: HashMap<u32, Tracked>,
    cache: DetailsCache,
    /// uid → user name (or the uid in decimal when it has none).
    users: HashMap<u32, String>,
    warnings: Vec<SampleError>,
}

/// Whether an error means the process is gone (exited and reaped).
fn gone(e: &stdio::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

/// Whether an error means we may not read the file (another user's process).
fn denied(e: &stdio::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM))
}

/// Why a pid was not read.
enum Skip {
    /// It exited before it could be read.
    Vanished,
    /// Anything else; becomes a warning.
    Failed(SampleError),
}

/// `<pid>/<file>` as a NUL-terminated path relative to /proc, built on the
/// stack.
struct PidPath {
    bytes: [u8; 32],
    /// Length of `<pid>/`.
    prefix: usize,
}

impl PidPath {
    fn new(pid: u32) -> Self {
        let mut bytes = [0u8; 32];
        let mut digits = [0u8; 10];
        let (mut n, mut len) = (pid, 0);
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            bytes[i] = digits[len - 1 - i];
        }
        bytes[len] = b'/';
        PidPath { bytes, prefix: len + 1 }
    }

    /// `<pid>/<file>`; `file` is one of the short names this module reads.
    fn file(&mut self, file: &str) -> &CStr {
        let end = self.prefix + file.len();
        self.bytes[self.prefix..end].copy_from_slice(file.as_bytes());
        self.bytes[end] = 0;
        // Digits, '/', a name without NUL, and one NUL.
        CStr::from_bytes_with_nul(&self.bytes[..=end]).unwrap_or_default()
    }
}

/// FNV-1a, 64 bits: a fingerprint of a `stat` line.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl ProcessReader {
    pub(super) fn new(proc_root: &Path, ticks_per_second: f64) -> Self {
        ProcessReader {
            proc_root: proc_root.to_owned(),
            ticks_per_second,
            page_size: sys::page_size(),
            boot_time_seconds: None,
            procfs: None,
            descriptor_budget: None,
            full_read_every: DEFAULT_FULL_READ_EVERY,
            scan: 0,
            buf: Vec::with_capacity(8 * 1024),
            dirents: Vec::new(),
            pids: Vec::new(),
            table: HashMap::new(),
            cache: DetailsCache::default(),
            users: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// See [`Sampler::set_process_full_read_every`](super::Sampler::set_process_full_read_every).
    pub(super) fn set_full_read_every(&mut self, scans: u32) {
        self.full_read_every = scans.max(1);
    }

    /// The problems of the last scans, oldest first.
    pub(super) fn take_warnings(&mut self) -> Vec<SampleError> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, e: SampleError) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(e);
        }
    }

    fn path(&self, pid: u32, file: &str) -> PathBuf {
        self.proc_root.join(pid.to_string()).join(file)
    }

    /// Scans /proc. Fails only if /proc itself (the directory, or btime in
    /// /proc/stat on the first call) cannot be read.
    pub(super) fn sample(&mut self, details: bool) -> Result<ProcessSample, SampleError> {
        let boot_time_seconds = match self.boot_time_seconds {
            Some(b) => b,
            None => {
                let b = self.read_boot_time()?;
                self.boot_time_seconds = Some(b);
                b
            }
        };
        if self.procfs.is_none() {
            self.procfs = Some(sys::is_procfs(&self.proc_root));
        }
        let budget = *self.descriptor_budget.get_or_insert_with(|| {
            sys::raise_open_files_limit().map_or(0, |soft| usize::try_from(soft / 2).unwrap_or(0))
        });
        let root_error = |source| SampleError::Read { file: self.proc_root.clone(), source };
        let root = sys::open_dir(&self.proc_root).map_err(root_error)?;
        let mut pids = std::mem::take(&mut self.pids);
        pids.clear();
        sys::for_each_entry(&root, &mut self.dirents, |name| {
            if let Some(pid) = num::parse_u64(name).and_then(|p| u32::try_from(p).ok()) {
                pids.push(pid);
            }
        })
        .map_err(|source| SampleError::Read { file: self.proc_root.clone(), source })?;
        pids.sort_unstable();

        self.scan += 1;
        if details {
            self.cache.begin();
        } else {
            self.cache.clear();
        }
        let mut held = self.table.values().filter(|t| t.stat.is_some()).count();
        let mut sample = ProcessSample { processes: Vec::with_capacity(pids.len()), ..ProcessSample::default() };
        let scan = Scan { root: root.as_fd(), boot_time_seconds, details, budget };
        for &pid in &pids {
            match self.process(&scan, pid, &mut held, &mut sample) {
                Ok(mut process) => {
                    if details {
                        process.details = self.details_of(&process);
                    }
                    sample.processes.push(process);
                }
                Err(Skip::Vanished) => sample.vanished += 1,
                Err(Skip::Failed(e)) => {
                    sample.failed += 1;
                    self.warn(e);
                }
            }
        }
        self.pids = pids;
        let scan = self.scan;
        self.table.retain(|_, t| t.seen == scan);
        if details {
            self.cache.prune();
        }
        sample.details_cached = u32::try_from(self.cache.len()).unwrap_or(u32::MAX);
        sample.held_descriptors =
            u32::try_from(self.table.values().filter(|t| t.stat.is_some()).count()).unwrap_or(u32::MAX);
        Ok(sample)
    }

    /// btime from /proc/stat.
    fn read_boot_time(&mut self) -> Result<f64, SampleError> {
        let path = self.proc_root.join("stat");
        let text = std::fs::read_to_string(&path).map_err(|source| SampleError::Read { file: path.clone(), source })?;
        let stat = super::stat::parse_stat(&text, self.ticks_per_second).map_err(|e| SampleError::parse(&path, e))?;
        Ok(stat.boot_time_seconds)
    }

    /// Reads one process: its `stat`, and a full read when it changed or
    /// one is due.
    fn process(
        &mut self,
        scan: &Scan<'_>,
        pid: u32,
        held: &mut usize,
        sample: &mut ProcessSample,
    ) -> Result<Process, Skip> {
        let mut path = PidPath::new(pid);
        // The stat line now, through the held descriptor when there is one.
        let (descriptor, known) = match self.table.remove(&pid) {
            Some(mut known) => match self.read_stat(scan.root, &mut path, known.stat.as_ref()) {
                Ok(()) => (known.stat.take(), Some(known)),
                // Exited; the pid may have a new process already.
                Err(e) if gone(&e) => (self.open_stat(scan, &mut path, pid, held)?, None),
                Err(source) => return Err(Skip::Failed(SampleError::Read { file: self.path(pid, "stat"), source })),
            },
            None => (self.open_stat(scan, &mut path, pid, held)?, None),
        };
        let stat_fingerprint = fingerprint(&self.buf);

        // The same stat line as at the last full read (so the same process:
        // the start time is in it), and no full read due: idle, keep its
        // other values.
        if let Some(mut known) = known.filter(|k| k.stat_fingerprint == stat_fingerprint) {
            let due = (self.scan + u64::from(pid)).is_multiple_of(u64::from(self.full_read_every));
            let details_known = !scan.details || self.cache.contains(pid, known.start_ticks, &known.record.comm);
            if !due && details_known {
                known.stat = descriptor;
                known.seen = self.scan;
                let record = known.record.clone();
                self.table.insert(pid, known);
                return Ok(record);
            }
        }
        let stat =
            stat::parse_pid_stat(&self.buf).map_err(|e| Skip::Failed(SampleError::parse(self.path(pid, "stat"), e)))?;
        let start_ticks = stat.start_ticks;

        // A full read.
        let mut process = self.stat_part(&stat, scan.boot_time_seconds);
        self.read_status(scan.root, &mut path, pid, &mut process)?;
        self.read_io(scan.root, &mut path, pid, &mut process);
        process.open_fds = if process.kernel_thread { 0 } else { self.open_fds(scan.root, &mut path) };
        let details = (scan.details && !self.cache.contains(pid, start_ticks, &process.comm))
            .then(|| self.read_details(scan.root, &mut path));
        // Still the same process? Then status, io and fd were its own.
        match self.read_stat(scan.root, &mut path, descriptor.as_ref()) {
            Ok(()) => {}
            Err(e) if gone(&e) => return Err(Skip::Vanished),
            Err(source) => return Err(Skip::Failed(SampleError::Read { file: self.path(pid, "stat"), source })),
        }
        if !stat::parse_pid_stat(&self.buf).is_ok_and(|s| s.start_ticks == start_ticks) {
            return Err(Skip::Vanished);
        }
        if let Some(d) = details {
            self.cache.insert(pid, start_ticks, &process.comm, d);
            sample.details_read += 1;
        }
        sample.full_reads += 1;
        let tracked =
            Tracked { start_ticks, stat: descriptor, stat_fingerprint, record: process.clone(), seen: self.scan };
        self.table.insert(pid, tracked);
        Ok(process)
    }

    /// Opens a process's `stat` and reads it into the buffer; returns the
    /// descriptor to hold, if the budget allows.
    fn open_stat(
        &mut self,
        scan: &Scan<'_>,
        path: &mut PidPath,
        pid: u32,
        held: &mut usize,
    ) -> Result<Option<OwnedFd>, Skip> {
        let opened = sys::open_at(scan.root, path.file("stat"), false)
            .and_then(|fd| sys::read_whole(fd.as_fd(), &mut self.buf).map(|()| fd));
        match opened {
            Ok(fd) if *held < scan.budget => {
                *held += 1;
                Ok(Some(fd))
            }
            Ok(_) => Ok(None),
            Err(e) if gone(&e) => Err(Skip::Vanished),
            Err(source) => Err(Skip::Failed(SampleError::Read { file: self.path(pid, "stat"), source })),
        }
    }

    /// Reads `stat` into the buffer: through `held`, else by path.
    fn read_stat(&mut self, root: BorrowedFd<'_>, path: &mut PidPath, held: Option<&OwnedFd>) -> stdio::Result<()> {
        match held {
            Some(fd) => sys::read_whole(fd.as_fd(), &mut self.buf),
            None => sys::read_at(root, path.file("stat"), &mut self.buf),
        }
    }

    /// The record's stat part, converted to seconds and bytes.
    fn stat_part(&self, s: &stat::PidStat<'_>, boot_time_seconds: f64) -> Process {
        let tps = self.ticks_per_second;
        Process {
            pid: s.pid,
            ppid: s.ppid,
            process_group: s.process_group,
            session: s.session,
            comm: String::from_utf8_lossy(s.comm).into_owned(),
            state: s.state,
            kernel_thread: s.kernel_thread(),
            start_time_seconds: boot_time_seconds + s.start_ticks as f64 / tps,
            nice: s.nice,
            priority: s.priority,
            threads: s.threads,
            user_seconds: s.user_ticks as f64 / tps,
            system_seconds: s.system_ticks as f64 / tps,
            virtual_bytes: s.virtual_bytes,
            resident_bytes: s.resident_pages.saturating_mul(self.page_size),
            minor_faults: s.minor_faults,
            major_faults: s.major_faults,
            ..Process::default()
        }
    }

    /// /proc/<pid>/status into the record.
    fn read_status(&mut self, root: BorrowedFd<'_>, path: &mut PidPath, pid: u32, p: &mut Process) -> Result<(), Skip> {
        match sys::read_at(root, path.file("status"), &mut self.buf) {
            Ok(()) => {}
            Err(e) if gone(&e) => return Err(Skip::Vanished),
            Err(source) => return Err(Skip::Failed(SampleError::Read { file: self.path(pid, "status"), source })),
        }
        let s = status::parse_pid_status(&self.buf)
            .map_err(|e| Skip::Failed(SampleError::parse(self.path(pid, "status"), e)))?;
        p.uid = s.uid;
        p.gid = s.gid;
        p.peak_resident_bytes = s.peak_resident_bytes;
        p.shared_bytes = s.shared_bytes;
        p.voluntary_context_switches = s.voluntary_context_switches;
        p.involuntary_context_switches = s.involuntary_context_switches;
        Ok(())
    }

    /// /proc/<pid>/io into the record; zeros when it cannot be read.
    fn read_io(&mut self, root: BorrowedFd<'_>, path: &mut PidPath, pid: u32, p: &mut Process) {
        let io = match sys::read_at(root, path.file("io"), &mut self.buf) {
            Ok(()) => match io::parse_pid_io(&self.buf) {
                Ok(io) => io,
                Err(e) => {
                    let e = SampleError::parse(self.path(pid, "io"), e);
                    self.warn(e);
                    io::PidIo::default()
                }
            },
            Err(e) if gone(&e) || denied(&e) => io::PidIo::default(),
            Err(source) => {
                let e = SampleError::Read { file: self.path(pid, "io"), source };
                self.warn(e);
                io::PidIo::default()
            }
        };
        p.read_chars = io.read_chars;
        p.written_chars = io.written_chars;
        p.read_syscalls = io.read_syscalls;
        p.write_syscalls = io.write_syscalls;
        p.read_bytes = io.read_bytes;
        p.written_bytes = io.written_bytes;
    }

    /// Open descriptors: procfs reports their number as the size of the fd
    /// directory since Linux 6.2 (without listing it); before, and on a
    /// fixture tree, the entries are counted. 0 when unreadable.
    fn open_fds(&mut self, root: BorrowedFd<'_>, path: &mut PidPath) -> u32 {
        if self.procfs == Some(true) {
            match sys::size_at(root, path.file("fd")) {
                Ok(n) if n > 0 => return u32::try_from(n).unwrap_or(u32::MAX),
                Ok(_) => {}
                Err(_) => return 0,
            }
        }
        let Ok(dir) = sys::open_at(root, path.file("fd"), true) else { return 0 };
        let mut n = 0u32;
        let listed = sys::for_each_entry(&dir, &mut self.dirents, |name| {
            if name != b"." && name != b".." {
                n += 1;
            }
        });
        if listed.is_ok() { n } else { 0 }
    }

    /// Executable, working directory and command line; empty where unreadable.
    fn read_details(&mut self, root: BorrowedFd<'_>, path: &mut PidPath) -> ProcessDetails {
        let mut link = |name: &str, buf: &mut Vec<u8>| match sys::readlink_at(root, path.file(name), buf) {
            Ok(()) => String::from_utf8_lossy(buf).into_owned(),
            Err(_) => String::new(),
        };
        // /proc/<pid>/exe: the executable's path.
        let executable = link("exe", &mut self.buf);
        // /proc/<pid>/cwd: the working directory.
        let working_directory = link("cwd", &mut self.buf);
        // /proc/<pid>/cmdline: argv, NUL-separated.
        let command_line = match sys::read_at(root, path.file("cmdline"), &mut self.buf) {
            Ok(()) => cmdline::split_cmdline(&self.buf),
            Err(_) => Vec::new(),
        };
        ProcessDetails { executable, working_directory, command_line, user: String::new() }
    }

    /// The cached details of a process just read, with its user's name.
    fn details_of(&mut self, p: &Process) -> Option<ProcessDetails> {
        let start_ticks = self.table.get(&p.pid)?.start_ticks;
        let mut details = self.cache.get(p.pid, start_ticks, &p.comm)?.clone();
        details.user = self
            .users
            .entry(p.uid)
            .or_insert_with(|| sys::user_name(p.uid).unwrap_or_else(|| p.uid.to_string()))
            .clone();
        Some(details)
    }
}

/// What every process of one scan shares.
struct Scan<'a> {
    /// The open /proc.
    root: BorrowedFd<'a>,
    boot_time_seconds: f64,
    details: bool,
    /// How many `stat` descriptors may be held.
    budget: usize,
}

#[cfg(test)]
mod tests;
