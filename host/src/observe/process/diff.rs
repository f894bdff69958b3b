//! The fallback without the proc connector: the process table, compared
//! every interval with the last one.
//!
//! | change | event | time |
//! |---|---|---|
//! | a pid not there before (or there with another start time: reused) | `exec`, with the process's name, parent and start time | its start time |
//! | a pid gone (or reused) | `exit`, without status or signal, with what was known | when it was noticed |
//! | the same process with another name | `exec` (it ran a new program) | when it was noticed |
//!
//! A new process is reported as `exec`, not `fork`: by the time a diff sees
//! it, it usually runs its own program, and what an operator wants to know
//! is that this program started. Processes that start and end between two
//! scans are not seen at all; kernel threads are skipped; uid and gid
//! changes are not reported.

use std::collections::HashMap;
use std::time::Duration;

use super::{Known, ProcReader, now_nanos};
use crate::observe::model::{Event, ProcessEventKind, TimedEvent};
use crate::observe::queue::Emitter;

/// The previous table and the differ.
pub struct Differ {
    reader: ProcReader,
    previous: HashMap<u32, Known>,
}

impl Differ {
    /// A differ whose baseline is the table now (reported as nothing).
    pub fn new(mut reader: ProcReader) -> Differ {
        let previous = user_processes(reader.all().unwrap_or_default());
        Differ { reader, previous }
    }

    /// Scans /proc and returns what changed since the last scan.
    pub fn diff(&mut self) -> Vec<TimedEvent> {
        let Ok(now) = self.reader.all() else { return Vec::new() };
        let now = user_processes(now);
        let seen = now_nanos();
        let mut events = Vec::new();
        let event = |kind, pid: u32, k: &Known| k.event(kind, pid);
        for (&pid, old) in &self.previous {
            match now.get(&pid) {
                Some(new) if new.start_ticks == old.start_ticks => {
                    if new.name != old.name {
                        events.push(TimedEvent {
                            time_nanos: seen,
                            event: Event::Process(event(ProcessEventKind::Exec, pid, new)),
                        });
                    }
                }
                _ => events.push(TimedEvent {
                    time_nanos: seen,
                    event: Event::Process(event(ProcessEventKind::Exit, pid, old)),
                }),
            }
        }
        for (&pid, new) in &now {
            let started = match self.previous.get(&pid) {
                Some(old) => old.start_ticks != new.start_ticks,
                None => true,
            };
            if started {
                let time_nanos = (new.start_time_seconds * 1e9) as u64;
                events.push(TimedEvent { time_nanos, event: Event::Process(event(ProcessEventKind::Exec, pid, new)) });
            }
        }
        events.sort_by_key(|e| e.time_nanos);
        self.previous = now;
        events
    }
}

fn user_processes(mut table: HashMap<u32, Known>) -> HashMap<u32, Known> {
    table.retain(|_, k| !k.kernel);
    table
}

/// The fallback's thread: a diff every `interval` until stop.
pub fn run(reader: ProcReader, interval: Duration, emitter: &Emitter) {
    let mut differ = Differ::new(reader);
    while !emitter.stop().wait(interval) {
        for event in differ.diff() {
            if !emitter.emit(event) {
                return;
            }
        }
    }
}
