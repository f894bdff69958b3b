//! Holding process events briefly until taskstats names them.
//!
//! A process that exec's and exits at once is often gone before its
//! /proc/<pid>/stat can be read at the EXEC event, so nothing from /proc
//! names its exec or its exit. Its taskstats exit record does (the command
//! name at exit, `ac_comm`), and carries its CPU time and peak memory; the
//! kernel sends it just before the proc connector's EXIT event. So, while
//! taskstats is available:
//!
//! - an `exec` whose name could not be read, and every `exit`, wait for the
//!   exit record of their process, at most [`HOLD_FOR`];
//! - the events behind a waiting one wait with it, so each source's order
//!   is kept;
//! - the record names the waiting exec (when its name is empty) and the
//!   exit (its `ac_comm`, the name the process had when it ended), and
//!   gives the exit its [`ExitUsage`];
//! - an event whose record did not come within [`HOLD_FOR`] goes on as it
//!   is (counted in [`Hold::expired`]).
//!
//! Records are kept by thread group id until an exit takes them, at most
//! [`RECORD_TTL`] and [`MAX_RECORDS`] of them (records of threads that end
//! while their process lives are summed into it, then forgotten with it).
//!
//! CPU time is the kernel's thread-group total when the record of the
//! group's last thread carries one (`TASKSTATS_TYPE_AGGR_TGID`), else the
//! sum of the records of its threads seen so far; memory is the peak RSS of
//! the process (`hiwater_rss`, shared by its threads).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::taskstats::ExitRecord;
use crate::observe::model::{Event, ExitUsage, ProcessEvent, ProcessEventKind, TimedEvent};

/// Longest an event waits for its exit record.
pub const HOLD_FOR: Duration = Duration::from_secs(1);
/// Longest an exit record waits for its event.
pub const RECORD_TTL: Duration = Duration::from_secs(10);
/// Most exit records kept (the oldest go first).
pub const MAX_RECORDS: usize = 65_536;

/// What is known of an exited process from its records.
#[derive(Debug, Clone)]
struct Exited {
    /// `ac_comm` of its main thread.
    comm: Option<String>,
    /// The main thread's record arrived: the process has ended.
    ended: bool,
    /// Sums of the thread records.
    user_us: u64,
    system_us: u64,
    /// The kernel's group totals (user, system), µs.
    group: Option<(u64, u64)>,
    hiwater_rss_kib: u64,
    updated: Instant,
}

impl Exited {
    fn usage(&self) -> ExitUsage {
        let (user, system) = match self.group {
            Some((u, s)) => (u.max(self.user_us), s.max(self.system_us)),
            None => (self.user_us, self.system_us),
        };
        ExitUsage {
            cpu_user_seconds: user as f64 / 1e6,
            cpu_system_seconds: system as f64 / 1e6,
            max_rss_bytes: self.hiwater_rss_kib.saturating_mul(1024),
        }
    }
}

/// An event in line.
#[derive(Debug)]
struct Waiting {
    time_nanos: u64,
    event: ProcessEvent,
    /// The process whose record it waits for, if it does.
    waits_for: Option<u32>,
    deadline: Instant,
}

/// Process events in line for their exit records.
#[derive(Debug)]
pub struct Hold {
    /// Whether records can come at all (else nothing waits).
    active: bool,
    records: HashMap<u32, Exited>,
    /// (when, tgid) in arrival order, for eviction.
    ages: VecDeque<(Instant, u32)>,
    line: VecDeque<Waiting>,
    expired: u64,
}

impl Hold {
    /// A hold; `active`: taskstats records will come.
    pub fn new(active: bool) -> Hold {
        Hold { active, records: HashMap::new(), ages: VecDeque::new(), line: VecDeque::new(), expired: 0 }
    }

    /// Stops waiting for records (taskstats failed): what waits goes on
    /// at the next release.
    pub fn deactivate(&mut self) {
        self.active = false;
        for w in &mut self.line {
            w.waits_for = None;
        }
    }

    /// Events that went on without their record, since start.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Events waiting now.
    pub fn waiting(&self) -> usize {
        self.line.len()
    }

    /// Exit records kept now.
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// Takes an exit record.
    pub fn record(&mut self, r: &ExitRecord, now: Instant) {
        let tgid = r.tgid();
        let e = self.records.entry(tgid).or_insert_with(|| Exited {
            comm: None,
            ended: false,
            user_us: 0,
            system_us: 0,
            group: None,
            hiwater_rss_kib: 0,
            updated: now,
        });
        if r.pid == tgid {
            e.ended = true;
            e.comm = r.stats.comm.clone().filter(|c| !c.is_empty());
        }
        e.user_us = e.user_us.saturating_add(r.stats.user_us.unwrap_or(0));
        e.system_us = e.system_us.saturating_add(r.stats.system_us.unwrap_or(0));
        e.hiwater_rss_kib = e.hiwater_rss_kib.max(r.stats.hiwater_rss_kib.unwrap_or(0));
        if let Some((_, group)) = &r.group {
            e.group = Some((group.user_us.unwrap_or(0), group.system_us.unwrap_or(0)));
        }
        e.updated = now;
        self.ages.push_back((now, tgid));
        self.evict(now);
    }

    fn evict(&mut self, now: Instant) {
        while let Some(&(at, tgid)) = self.ages.front() {
            let old = now.saturating_duration_since(at) >= RECORD_TTL;
            if !old && self.records.len() <= MAX_RECORDS && self.ages.len() <= MAX_RECORDS.saturating_mul(2) {
                break;
            }
            self.ages.pop_front();
            // Only the entry's latest arrival evicts it.
            if self.records.get(&tgid).is_some_and(|e| e.updated == at || self.records.len() > MAX_RECORDS) {
                self.records.remove(&tgid);
            }
        }
    }

    /// Puts an event in line (it waits if it needs a record and records
    /// can come).
    pub fn push(&mut self, time_nanos: u64, event: ProcessEvent, now: Instant) {
        let needs = match event.kind {
            ProcessEventKind::Exit => true,
            ProcessEventKind::Exec => event.name.is_empty(),
            _ => false,
        };
        let waits_for = (self.active && needs).then_some(event.pid);
        self.line.push_back(Waiting { time_nanos, event, waits_for, deadline: now + HOLD_FOR });
    }

    /// When the first waiting event's wait ends, if one waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.line.iter().find(|w| w.waits_for.is_some()).map(|w| w.deadline)
    }

    /// Hands on the events at the front of the line that are ready: named
    /// by their record, not waiting, or waited [`HOLD_FOR`] (all of them
    /// when `all`). `false` when the sink asked to stop.
    pub fn release(&mut self, now: Instant, all: bool, sink: &mut dyn FnMut(TimedEvent) -> bool) -> bool {
        while let Some(front) = self.line.front_mut() {
            if let Some(pid) = front.waits_for {
                match self.records.get(&pid).filter(|e| e.ended) {
                    Some(exited) => {
                        let exited = exited.clone();
                        fill(&mut front.event, &exited);
                        if front.event.kind == ProcessEventKind::Exit {
                            self.records.remove(&pid);
                        }
                    }
                    None if all || now >= front.deadline => self.expired += 1,
                    None => return true,
                }
            }
            let Some(w) = self.line.pop_front() else { break };
            if !sink(TimedEvent { time_nanos: w.time_nanos, event: Event::Process(w.event) }) {
                return false;
            }
        }
        true
    }
}

/// Names an event (and gives an exit its usage) from its process's records.
fn fill(event: &mut ProcessEvent, exited: &Exited) {
    match event.kind {
        ProcessEventKind::Exit => {
            if let Some(comm) = &exited.comm {
                event.name.clone_from(comm);
            }
            event.usage = Some(exited.usage());
        }
        _ => {
            if event.name.is_empty()
                && let Some(comm) = &exited.comm
            {
                event.name.clone_from(comm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::process::taskstats::Stats;

    fn event(kind: ProcessEventKind, pid: u32, name: &str) -> ProcessEvent {
        ProcessEvent {
            kind,
            pid,
            ppid: 1,
            name: name.into(),
            start_time_seconds: 0.0,
            exit_code: None,
            exit_signal: None,
            id: None,
            usage: None,
        }
    }

    fn record(pid: u32, tgid: u32, comm: &str, user_us: u64) -> ExitRecord {
        ExitRecord {
            pid,
            stats: Stats {
                version: 16,
                comm: Some(comm.into()),
                user_us: Some(user_us),
                system_us: Some(1),
                hiwater_rss_kib: Some(100),
                tgid: Some(tgid),
                ..Stats::default()
            },
            group: None,
        }
    }

    fn drain(hold: &mut Hold, now: Instant, all: bool) -> Vec<(ProcessEventKind, u32, String, Option<ExitUsage>)> {
        let mut out = Vec::new();
        assert!(hold.release(now, all, &mut |e| {
            let Event::Process(p) = e.event else { panic!() };
            out.push((p.kind, p.pid, p.name, p.usage));
            true
        }));
        out
    }

    #[test]
    fn a_nameless_exec_and_its_exit_wait_for_the_record_in_order() {
        let t0 = Instant::now();
        let mut hold = Hold::new(true);
        hold.push(1, event(ProcessEventKind::Fork, 10, "sh"), t0);
        hold.push(2, event(ProcessEventKind::Exec, 10, ""), t0);
        hold.push(3, event(ProcessEventKind::Exec, 11, "named"), t0);
        hold.push(4, event(ProcessEventKind::Exit, 10, ""), t0);
        // The fork goes; the exec waits, and the named exec behind it too.
        let out = drain(&mut hold, t0, false);
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [ProcessEventKind::Fork]);
        assert_eq!(hold.next_deadline(), Some(t0 + HOLD_FOR));
        hold.record(&record(10, 10, "gmn-0001", 2_500_000), t0);
        let out = drain(&mut hold, t0, false);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].0, out[0].2.as_str()), (ProcessEventKind::Exec, "gmn-0001"));
        assert_eq!((out[1].0, out[1].2.as_str()), (ProcessEventKind::Exec, "named"));
        assert_eq!((out[2].0, out[2].2.as_str()), (ProcessEventKind::Exit, "gmn-0001"));
        let usage = out[2].3.unwrap();
        assert_eq!((usage.cpu_user_seconds, usage.cpu_system_seconds, usage.max_rss_bytes), (2.5, 1e-6, 102_400));
        assert_eq!(hold.records(), 0, "the exit took its record");
        assert_eq!(hold.expired(), 0);
    }

    #[test]
    fn an_event_without_its_record_goes_on_after_the_hold() {
        let t0 = Instant::now();
        let mut hold = Hold::new(true);
        hold.push(1, event(ProcessEventKind::Exit, 20, "known"), t0);
        assert!(drain(&mut hold, t0 + HOLD_FOR / 2, false).is_empty());
        let out = drain(&mut hold, t0 + HOLD_FOR, false);
        assert_eq!((out[0].2.as_str(), out[0].3), ("known", None));
        assert_eq!(hold.expired(), 1);
        // Inactive (no taskstats): nothing waits.
        let mut hold = Hold::new(false);
        hold.push(1, event(ProcessEventKind::Exit, 20, ""), t0);
        assert_eq!(drain(&mut hold, t0, false).len(), 1);
        // Deactivated with events in line: they go.
        let mut hold = Hold::new(true);
        hold.push(1, event(ProcessEventKind::Exit, 20, ""), t0);
        hold.deactivate();
        assert_eq!(drain(&mut hold, t0, false).len(), 1);
    }

    #[test]
    fn threads_add_up_and_the_group_total_wins_when_larger() {
        let t0 = Instant::now();
        let mut hold = Hold::new(true);
        hold.record(&record(31, 30, "worker", 1_000_000), t0);
        hold.push(1, event(ProcessEventKind::Exit, 30, "app"), t0);
        assert!(drain(&mut hold, t0, false).is_empty(), "a thread's record does not end the process");
        let mut last = record(30, 30, "app", 500_000);
        last.group = Some((30, Stats { user_us: Some(1_600_000), system_us: Some(0), ..Stats::default() }));
        hold.record(&last, t0);
        let out = drain(&mut hold, t0, false);
        assert_eq!(out[0].3.unwrap().cpu_user_seconds, 1.6);
    }

    #[test]
    fn records_are_bounded() {
        let t0 = Instant::now();
        let mut hold = Hold::new(true);
        for pid in 0..(MAX_RECORDS as u32 + 10) {
            hold.record(&record(pid, pid, "x", 0), t0);
        }
        assert!(hold.records() <= MAX_RECORDS);
        hold.record(&record(1, 1, "x", 0), t0 + RECORD_TTL);
        assert!(hold.records() <= 1, "old records are forgotten: {}", hold.records());
    }
}
