//! Process events: fork, exec, exit (with its exit status or signal), uid
//! and gid changes, of processes (thread-group leaders), never of threads
//! and never of kernel threads.
//!
//! From the netlink proc connector ([`connector`]) when it can be opened:
//! the kernel's events are filtered (FORK where the child's pid is its
//! tgid, EXEC/EXIT/UID/GID where pid == tgid), and each is given the
//! process's name, parent and start time from /proc/<pid>/stat, read when
//! the event arrives (at a fork, the name is still the parent's; an exec
//! reads the new program's). A table of known processes, filled from /proc
//! at start, answers for a process that is gone by then (its exit, say):
//! what was known is kept, and what never was is left empty (name `""`,
//! start time 0). The event's time is the kernel's stamp.
//!
//! With the connector, exit records also come from [`taskstats`] (generic
//! netlink; CAP_NET_ADMIN): [`hold`] keeps an exec whose process was gone
//! before its stat could be read, and every exit, until the process's exit
//! record names it (at most a second), and gives each exit its CPU time
//! and peak memory. Without taskstats (no privilege, another network
//! namespace) it says so once, and such events keep an empty name.
//!
//! Without the connector (no privilege on kernels before 6.6, another
//! network namespace, no CONFIG_PROC_EVENTS) it says so once and falls back
//! to [`diff`]: the process table is compared every
//! `process_diff_interval`, which reports new processes as `exec`,
//! vanished ones as `exit` (without a status), and no uid or gid changes.

pub mod connector;
pub mod diff;
pub mod hold;
pub mod taskstats;

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use connector::{Connector, ProcEvent, RawEvent, decode_exit};
use hold::Hold;
use taskstats::Taskstats;

use super::model::{ProcessEvent, ProcessEventKind};
use super::queue::Emitter;
use crate::sample::process::stat::parse_pid_stat;

/// What is known of a process.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// stat field 2, comm.
    pub name: String,
    /// stat field 4, ppid.
    pub ppid: u32,
    /// btime + stat field 22, starttime / USER_HZ.
    pub start_time_seconds: f64,
    /// stat field 22, starttime: with the pid, the process's identity.
    pub start_ticks: u64,
    /// stat field 9, flags & PF_KTHREAD.
    pub kernel: bool,
}

impl Known {
    /// An event of `kind` about this process (no exit status, no id).
    pub fn event(&self, kind: ProcessEventKind, pid: u32) -> ProcessEvent {
        ProcessEvent {
            kind,
            pid,
            ppid: self.ppid,
            name: self.name.clone(),
            start_time_seconds: self.start_time_seconds,
            exit_code: None,
            exit_signal: None,
            id: None,
            usage: None,
        }
    }
}

/// Reads /proc/<pid>/stat into [`Known`].
pub struct ProcReader {
    proc_root: PathBuf,
    boot_time_seconds: f64,
    ticks_per_second: f64,
    buf: Vec<u8>,
}

impl ProcReader {
    /// Reads the boot time (/proc/stat btime) once.
    pub fn new(proc_root: PathBuf) -> io::Result<ProcReader> {
        let ticks_per_second = crate::ticks_per_second();
        let text = std::fs::read_to_string(proc_root.join("stat"))?;
        let stat = crate::sample::stat::parse_stat(&text, ticks_per_second)
            .map_err(|e| io::Error::other(format!("{}/stat: {e}", proc_root.display())))?;
        Ok(ProcReader { proc_root, boot_time_seconds: stat.boot_time_seconds, ticks_per_second, buf: Vec::new() })
    }

    /// The process `pid`, `None` when it is gone (or unreadable).
    pub fn read(&mut self, pid: u32) -> Option<Known> {
        let mut path = self.proc_root.clone();
        path.push(pid.to_string());
        path.push("stat");
        self.buf.clear();
        std::fs::File::open(&path).ok()?.read_to_end(&mut self.buf).ok()?;
        let stat = parse_pid_stat(&self.buf).ok()?;
        Some(Known {
            name: String::from_utf8_lossy(stat.comm).into_owned(),
            ppid: stat.ppid,
            start_time_seconds: self.boot_time_seconds + stat.start_ticks as f64 / self.ticks_per_second,
            start_ticks: stat.start_ticks,
            kernel: stat.kernel_thread(),
        })
    }

    /// Every process in /proc now.
    pub fn all(&mut self) -> io::Result<HashMap<u32, Known>> {
        let mut table = HashMap::new();
        for entry in std::fs::read_dir(&self.proc_root)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(known) = self.read(pid) {
                table.insert(pid, known);
            }
        }
        Ok(table)
    }
}

/// Turns connector events into process events, keeping the table of known
/// processes.
pub struct Tracker {
    reader: ProcReader,
    known: HashMap<u32, Known>,
}

impl Tracker {
    /// A tracker that knows every process in /proc now.
    pub fn new(mut reader: ProcReader) -> Tracker {
        let known = reader.all().unwrap_or_default();
        Tracker { reader, known }
    }

    /// Processes known now.
    pub fn known(&self) -> usize {
        self.known.len()
    }

    /// Forgets processes that are gone (after events were lost).
    pub fn refresh(&mut self) {
        if let Ok(all) = self.reader.all() {
            self.known = all;
        }
    }

    /// The event to report for `raw`, if any.
    pub fn handle(&mut self, raw: &ProcEvent) -> Option<ProcessEvent> {
        let event = |kind, pid, k: &Known| k.event(kind, pid);
        match *raw {
            ProcEvent::Fork { parent_tgid, child_pid, child_tgid, .. } => {
                if child_pid != child_tgid {
                    return None; // a new thread
                }
                // Gone already: the parent's name (a fork does not change it).
                let known = self.reader.read(child_pid).unwrap_or_else(|| {
                    let parent = self.known.get(&parent_tgid);
                    Known {
                        name: parent.map(|p| p.name.clone()).unwrap_or_default(),
                        ppid: parent_tgid,
                        start_time_seconds: 0.0,
                        start_ticks: 0,
                        kernel: parent.is_some_and(|p| p.kernel),
                    }
                });
                let out = (!known.kernel).then(|| event(ProcessEventKind::Fork, child_pid, &known));
                self.known.insert(child_pid, known);
                out
            }
            ProcEvent::Exec { pid, tgid } => {
                if pid != tgid {
                    return None;
                }
                match self.reader.read(pid) {
                    Some(known) => {
                        self.known.insert(pid, known);
                    }
                    // Gone already: the new program's name is unknown; the
                    // name from before the exec would be wrong.
                    None => {
                        if let Some(known) = self.known.get_mut(&pid) {
                            known.name.clear();
                        }
                    }
                }
                let known = self.known.get(&pid).cloned().unwrap_or_else(|| unknown(0));
                (!known.kernel).then(|| event(ProcessEventKind::Exec, pid, &known))
            }
            ProcEvent::Exit { pid, tgid, exit_code, parent_tgid, .. } => {
                if pid != tgid {
                    return None; // a thread ended
                }
                let known = self
                    .known
                    .remove(&pid)
                    .or_else(|| self.reader.read(pid))
                    .unwrap_or_else(|| unknown(parent_tgid.unwrap_or(0)));
                if known.kernel {
                    return None;
                }
                let (exit_code, exit_signal) = decode_exit(exit_code);
                Some(ProcessEvent { exit_code, exit_signal, ..event(ProcessEventKind::Exit, pid, &known) })
            }
            ProcEvent::Uid { pid, tgid, euid, .. } => self.id_change(pid, tgid, euid, ProcessEventKind::UidChange),
            ProcEvent::Gid { pid, tgid, egid, .. } => self.id_change(pid, tgid, egid, ProcessEventKind::GidChange),
            ProcEvent::Ack { .. } | ProcEvent::Other { .. } => None,
        }
    }

    fn id_change(&mut self, pid: u32, tgid: u32, id: u32, kind: ProcessEventKind) -> Option<ProcessEvent> {
        if pid != tgid {
            return None; // glibc changes every thread's ids; the leader's event stands for them
        }
        if !self.known.contains_key(&pid)
            && let Some(known) = self.reader.read(pid)
        {
            self.known.insert(pid, known);
        }
        let known = self.known.get(&pid).cloned().unwrap_or_else(|| unknown(0));
        if known.kernel {
            return None;
        }
        Some(ProcessEvent {
            kind,
            pid,
            ppid: known.ppid,
            name: known.name,
            start_time_seconds: known.start_time_seconds,
            exit_code: None,
            exit_signal: None,
            id: Some(id),
            usage: None,
        })
    }
}

fn unknown(ppid: u32) -> Known {
    Known { name: String::new(), ppid, start_time_seconds: 0.0, start_ticks: 0, kernel: false }
}

/// Realtime minus monotonic, in nanoseconds: added to a kernel stamp.
pub fn monotonic_to_unix_offset() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC)
}

/// Unix nanoseconds now.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// How the process source runs (tests force the fallback).
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// Where /proc is (normally `/proc`).
    pub proc_root: PathBuf,
    /// How often the fallback diffs the process table (`observe.process_diff_interval`).
    pub diff_interval: Duration,
    /// Skip the connector.
    pub force_diff: bool,
    /// Read taskstats exit records (`observe.taskstats`).
    pub taskstats: bool,
    /// The taskstats family ([`taskstats::FAMILY`]; tests name one that
    /// does not exist).
    pub taskstats_family: String,
}

/// The process source's thread: the connector, or the fallback.
pub fn run(options: ProcessOptions, emitter: Emitter) {
    let reader = match ProcReader::new(options.proc_root.clone()) {
        Ok(reader) => reader,
        Err(e) => {
            tracing::error!(
                "process events: cannot read {}/stat ({e}); process events are off",
                options.proc_root.display()
            );
            emitter.error();
            return;
        }
    };
    let every = humantime::format_duration(options.diff_interval);
    if !options.force_diff {
        let mut early = Vec::new();
        match Connector::open(&mut early) {
            Ok(connector) => {
                // Registered before the mode is published: from then on every exit has its record.
                let taskstats = if options.taskstats {
                    open_taskstats(&options.taskstats_family, &emitter)
                } else {
                    tracing::info!("process events: taskstats exit records are off (observe.taskstats = false)");
                    None
                };
                emitter.stats().set_process_mode(true, false);
                tracing::info!("process events: listening on the netlink proc connector");
                match run_connector(connector, early, reader, taskstats, &emitter) {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::error!(
                            "process events: the netlink proc connector failed ({e}): falling back to diffing the process table every {every}"
                        );
                        emitter.error();
                    }
                }
            }
            Err(e) => {
                let why = if e.is_permission() { " (needs CAP_NET_ADMIN / root)" } else { "" };
                tracing::warn!(
                    "process events: cannot open the netlink proc connector{why}: {e}: falling back to diffing the process table every {every}"
                );
            }
        }
    }
    emitter.stats().set_process_mode(false, true);
    let reader = match ProcReader::new(options.proc_root.clone()) {
        Ok(reader) => reader,
        Err(_) => return,
    };
    diff::run(reader, options.diff_interval, &emitter);
}

/// How often the table of known processes is checked against /proc, so
/// that exits the kernel dropped do not pile up.
const REFRESH_EVERY: Duration = Duration::from_secs(300);

/// Opens taskstats for exit records; `None` (said once) when it cannot.
fn open_taskstats(family: &str, emitter: &Emitter) -> Option<Taskstats> {
    match Taskstats::open(family) {
        Ok(t) => {
            tracing::info!("process events: exit records from taskstats name short-lived processes");
            emitter.stats().set_process_taskstats(true);
            Some(t)
        }
        Err(e) => {
            let why = if e.is_permission() { " (needs CAP_NET_ADMIN / root)" } else { "" };
            tracing::warn!(
                "process events: cannot register for taskstats exit records{why}: {e}: a process gone before \
                 /proc/<pid>/stat is read has no name, and exits carry no CPU or memory figures"
            );
            None
        }
    }
}

/// Reads the connector until stop (`Ok`) or a socket error (`Err`).
fn run_connector(
    mut connector: Connector,
    early: Vec<RawEvent>,
    reader: ProcReader,
    mut taskstats: Option<Taskstats>,
    emitter: &Emitter,
) -> io::Result<()> {
    let mut tracker = Tracker::new(reader);
    let mut hold = Hold::new(taskstats.is_some());
    let mut raw = early;
    let mut records = Vec::new();
    let mut last_refresh = Instant::now();
    let mut last_overflow_log: Option<Instant> = None;
    let mut last_record_loss_log: Option<Instant> = None;
    let mut lost_since_log = 0u64;
    loop {
        // Exit records first: the kernel sent each before its EXIT event.
        if let Some(t) = &mut taskstats {
            match t.drain(&mut records) {
                Ok(0) => {}
                Ok(malformed) => {
                    tracing::warn!("process events: skipped {malformed} malformed taskstats datagrams");
                    emitter.error();
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Records lost: their events go on unnamed after the hold.
                    if last_record_loss_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        tracing::warn!(
                            "process events: the kernel dropped taskstats exit records (socket buffer full); \
                             some short-lived processes go unnamed"
                        );
                        last_record_loss_log = Some(Instant::now());
                    }
                }
                Err(e) => {
                    tracing::error!("process events: reading taskstats failed ({e}); exit records are off");
                    emitter.error();
                    emitter.stats().set_process_taskstats(false);
                    taskstats = None;
                    hold.deactivate();
                }
            }
            let now = Instant::now();
            for r in records.drain(..) {
                hold.record(&r, now);
            }
        }
        let offset = monotonic_to_unix_offset();
        let now = Instant::now();
        for r in raw.drain(..) {
            if let Some(event) = tracker.handle(&r.event) {
                let time_nanos = u64::try_from(i128::from(r.timestamp_ns) + offset).unwrap_or(0);
                hold.push(time_nanos, event, now);
            }
        }
        if !hold.release(Instant::now(), false, &mut |e| emitter.emit(e)) {
            return Ok(());
        }
        if last_refresh.elapsed() >= REFRESH_EVERY {
            tracker.refresh();
            last_refresh = Instant::now();
        }
        let timeout = hold
            .next_deadline()
            .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(Instant::now()))
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        let fds: Vec<BorrowedFd<'_>> =
            std::iter::once(connector.fd()).chain(taskstats.as_ref().map(Taskstats::fd)).collect();
        let (ready, stopped) = emitter.stop().poll_many(&fds, timeout)?;
        if stopped {
            // What waits goes on as it is.
            hold.release(Instant::now(), true, &mut |e| emitter.emit(e));
            return Ok(());
        }
        if !ready.first().copied().unwrap_or(false) {
            continue;
        }
        match connector.recv(&mut raw) {
            Ok(None) => {}
            Ok(Some(malformed)) => {
                tracing::warn!("process events: {malformed}");
                emitter.error();
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // The kernel dropped events: the receive buffer overflowed.
                emitter.lost(1);
                lost_since_log += 1;
                if last_overflow_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        "process events: the kernel dropped process events ({lost_since_log} overflows of the socket buffer); events are being missed"
                    );
                    last_overflow_log = Some(Instant::now());
                    lost_since_log = 0;
                }
                tracker.refresh();
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
