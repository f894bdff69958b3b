//! Processes: every thread-group leader in /proc, read into [`Process`]
//! records.
//!
//! Each numeric directory of /proc is a process (threads live under
//! /proc/<pid>/task and are not listed). Its record comes from:
//!
//! | file | what | when it cannot be read |
//! |---|---|---|
//! | `stat` | state, ids, faults, CPU ticks, priority, threads, start time, vsize, rss ([`stat`]) | the process is skipped |
//! | `status` | effective uid/gid, VmHWM, RssFile + RssShmem, context switches ([`status`]) | those are `None` |
//! | `io` | rchar, wchar, syscr, syscw, read_bytes, write_bytes ([`io`]) | those are `None` (another user's process without privilege, no task I/O accounting) |
//! | `fd` | open descriptors: `st_size` of the directory on procfs (Linux 6.2+), else its entries | `None` |
//! | `exe`, `cwd`, `cmdline` | [`ProcessDetails`], only when asked for, once per (pid, start time) ([`cache`]) | empty |
//!
//! The pid is the directory's name (a `stat` that names another pid is a
//! warning). `environ` is never read. A process that exits between the
//! listing and its reads (ENOENT or ESRCH, confirmed by `stat` failing too)
//! is skipped and counted in [`ProcessSample::vanished`]: that is normal,
//! not a warning. Any other failure is a warning naming the file, and the
//! process is skipped ([`ProcessSample::failed`], `stat` only) or the values
//! of that file are `None`, as in the table.
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
//! Boot time (/proc/stat btime, else the clock minus /proc/uptime), USER_HZ
//! and the page size are read once.

pub mod cache;
pub mod cmdline;
pub mod io;
mod num;
pub mod stat;
pub mod status;

use std::collections::HashMap;
use std::io as stdio;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{ParseError, SampleError};
use super::model::{Process, ProcessDetails};
use crate::os::{self, PidPath};
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
    os::is_gone(e)
}

/// Why a pid was not read.
enum Skip {
    /// It exited before it could be read.
    Vanished,
    /// Anything else; becomes a warning.
    Failed(SampleError),
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
            page_size: os::page_size(),
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

    /// The problems of the last scans, oldest first (every one: the
    /// sampler counts them).
    pub(super) fn take_warnings(&mut self) -> Vec<SampleError> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, e: SampleError) {
        self.warnings.push(e);
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
            self.procfs = Some(os::is_procfs(&self.proc_root));
        }
        let budget = *self
            .descriptor_budget
            .get_or_insert_with(|| usize::try_from(os::raise_open_files_limit() / 2).unwrap_or(usize::MAX));
        let root_error = |source| SampleError::Read { file: self.proc_root.clone(), source };
        let root = os::open_dir(&self.proc_root).map_err(root_error)?;
        let mut pids = std::mem::take(&mut self.pids);
        pids.clear();
        os::for_each_entry(root.as_fd(), &mut self.dirents, |name| {
            if let Some(pid) = os::parse_pid(name.to_bytes()) {
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

    /// btime from /proc/stat; else, if that file or line is missing or
    /// malformed (a warning), the clock minus /proc/uptime.
    fn read_boot_time(&mut self) -> Result<f64, SampleError> {
        let path = self.proc_root.join("stat");
        let from_stat = std::fs::read_to_string(&path)
            .map_err(|source| SampleError::Read { file: path.clone(), source })
            .and_then(|text| {
                let lines = super::stat::parse_stat_lines(&text, self.ticks_per_second)
                    .map_err(|e| SampleError::parse(&path, e))?;
                lines.boot_time_seconds.ok_or_else(|| SampleError::parse(&path, ParseError::whole("no \"btime\" line")))
            });
        let stat_error = match from_stat {
            Ok(btime) => return Ok(btime),
            Err(e) => e,
        };
        let path = self.proc_root.join("uptime");
        let uptime = std::fs::read_to_string(&path)
            .map_err(|source| SampleError::Read { file: path.clone(), source })
            .and_then(|text| super::uptime::parse_uptime(&text).map_err(|e| SampleError::parse(&path, e)));
        match uptime {
            Ok(uptime) => {
                self.warn(stat_error);
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
                // Whole seconds, as btime is: every scan then agrees on start times.
                Ok((now - uptime).round())
            }
            Err(uptime_error) => {
                self.warn(uptime_error);
                Err(stat_error)
            }
        }
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
        let stat_pid = stat.pid;

        // A full read. Problems with the other files are kept until the
        // process is known to be still there: if it exited meanwhile, they
        // are not problems.
        let mut process = self.stat_part(pid, &stat, scan.boot_time_seconds).map_err(Skip::Failed)?;
        let mut problems = Vec::new();
        if stat_pid != pid {
            problems.push(SampleError::Mismatch {
                file: self.path(pid, "stat"),
                reason: format!("names pid {stat_pid}; the directory's pid {pid} is used"),
            });
        }
        self.read_status(scan.root, &mut path, pid, &mut process, &mut problems);
        self.read_io(scan.root, &mut path, pid, &mut process, &mut problems);
        process.open_fds =
            if process.kernel_thread { Some(0) } else { self.open_fds(scan.root, &mut path, pid, &mut problems) };
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
        for problem in problems {
            self.warn(problem);
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
        let opened = os::open_at(scan.root, path.file("stat"), false)
            .and_then(|fd| os::read_whole(fd.as_fd(), &mut self.buf).map(|()| fd));
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
            Some(fd) => os::read_whole(fd.as_fd(), &mut self.buf),
            None => os::read_at(root, path.file("stat"), &mut self.buf),
        }
    }

    /// The record's stat part, converted to seconds and bytes; the pid is
    /// the directory's.
    fn stat_part(&self, pid: u32, s: &stat::PidStat<'_>, boot_time_seconds: f64) -> Result<Process, SampleError> {
        let tps = self.ticks_per_second;
        let resident_bytes = s.resident_pages.checked_mul(self.page_size).ok_or_else(|| {
            let reason = format!("field 24 rss: {} pages overflow 64 bits as bytes", s.resident_pages);
            SampleError::parse(self.path(pid, "stat"), ParseError::at(1, reason))
        })?;
        Ok(Process {
            pid,
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
            resident_bytes,
            minor_faults: s.minor_faults,
            major_faults: s.major_faults,
            ..Process::default()
        })
    }

    /// Reads `/proc/<pid>/<file>` into the buffer and parses it; `None`, with the
    /// read or parse error pushed to `problems` (naming the file), when either fails.
    fn read_parsed<T>(
        &mut self,
        root: BorrowedFd<'_>,
        path: &mut PidPath,
        pid: u32,
        file: &str,
        parse: fn(&[u8]) -> Result<T, ParseError>,
        problems: &mut Vec<SampleError>,
    ) -> Option<T> {
        if let Err(source) = os::read_at(root, path.file(file), &mut self.buf) {
            problems.push(SampleError::Read { file: self.path(pid, file), source });
            return None;
        }
        parse(&self.buf).map_err(|e| problems.push(SampleError::parse(self.path(pid, file), e))).ok()
    }

    /// /proc/<pid>/status into the record; its fields stay `None` when it
    /// cannot be read or parsed.
    fn read_status(
        &mut self,
        root: BorrowedFd<'_>,
        path: &mut PidPath,
        pid: u32,
        p: &mut Process,
        problems: &mut Vec<SampleError>,
    ) {
        let Some(s) = self.read_parsed(root, path, pid, "status", status::parse_pid_status, problems) else {
            return;
        };
        p.uid = Some(s.uid);
        p.gid = Some(s.gid);
        p.peak_resident_bytes = Some(s.peak_resident_bytes);
        p.shared_bytes = Some(s.shared_bytes);
        p.voluntary_context_switches = Some(s.voluntary_context_switches);
        p.involuntary_context_switches = Some(s.involuntary_context_switches);
    }

    /// /proc/<pid>/io into the record; its fields stay `None` when it
    /// cannot be read (another user's process without privilege: a
    /// `denied` warning) or parsed.
    fn read_io(
        &mut self,
        root: BorrowedFd<'_>,
        path: &mut PidPath,
        pid: u32,
        p: &mut Process,
        problems: &mut Vec<SampleError>,
    ) {
        let Some(io) = self.read_parsed(root, path, pid, "io", io::parse_pid_io, problems) else {
            return;
        };
        p.read_chars = Some(io.read_chars);
        p.written_chars = Some(io.written_chars);
        p.read_syscalls = Some(io.read_syscalls);
        p.write_syscalls = Some(io.write_syscalls);
        p.read_bytes = Some(io.read_bytes);
        p.written_bytes = Some(io.written_bytes);
    }

    /// Open descriptors: procfs reports their number as the size of the fd
    /// directory since Linux 6.2 (without listing it); before, and on a
    /// fixture tree, the entries are counted. `None` when unreadable.
    fn open_fds(
        &mut self,
        root: BorrowedFd<'_>,
        path: &mut PidPath,
        pid: u32,
        problems: &mut Vec<SampleError>,
    ) -> Option<u32> {
        let counted = self.count_fds(root, path);
        counted.map_err(|source| problems.push(SampleError::Read { file: self.path(pid, "fd"), source })).ok()
    }

    fn count_fds(&mut self, root: BorrowedFd<'_>, path: &mut PidPath) -> stdio::Result<u32> {
        if self.procfs == Some(true) {
            let n = os::size_at(root, path.file("fd"))?;
            if n > 0 {
                return Ok(u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        let dir = os::open_at(root, path.file("fd"), true)?;
        let mut n = 0u32;
        os::for_each_entry(dir.as_fd(), &mut self.dirents, |name| {
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                n = n.saturating_add(1);
            }
        })?;
        Ok(n)
    }

    /// Executable, working directory and command line; empty where unreadable.
    fn read_details(&mut self, root: BorrowedFd<'_>, path: &mut PidPath) -> ProcessDetails {
        let mut link = |name: &str, buf: &mut Vec<u8>| match os::readlink_at(root, path.file(name), buf) {
            Ok(()) => String::from_utf8_lossy(buf).into_owned(),
            Err(_) => String::new(),
        };
        // /proc/<pid>/exe: the executable's path.
        let executable = link("exe", &mut self.buf);
        // /proc/<pid>/cwd: the working directory.
        let working_directory = link("cwd", &mut self.buf);
        // /proc/<pid>/cmdline: argv, NUL-separated.
        let command_line = match os::read_at(root, path.file("cmdline"), &mut self.buf) {
            Ok(()) => cmdline::split_cmdline(&self.buf),
            Err(_) => Vec::new(),
        };
        ProcessDetails { executable, working_directory, command_line, user: String::new() }
    }

    /// The cached details of a process just read, with its user's name.
    fn details_of(&mut self, p: &Process) -> Option<ProcessDetails> {
        let start_ticks = self.table.get(&p.pid)?.start_ticks;
        let mut details = self.cache.get(p.pid, start_ticks, &p.comm)?.clone();
        details.user = match p.uid {
            Some(uid) => {
                self.users.entry(uid).or_insert_with(|| os::user_name(uid).unwrap_or_else(|| uid.to_string())).clone()
            }
            None => String::new(),
        };
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
