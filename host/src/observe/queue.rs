//! From the source threads to the consumer: a bounded queue of events, a
//! batcher thread, and a bounded tokio channel of batches.
//!
//! ```text
//! source threads ──Emitter::emit──► crossbeam bounded(4 × batch_max_events) ──► batcher thread
//!     ──Vec<TimedEvent> (≤ batch_max_events, ≤ batch_max_wait after its first event)──►
//!     tokio::sync::mpsc bounded(BATCH_CHANNEL_CAPACITY) ──► the consumer (a tokio task)
//! ```
//!
//! Nothing grows without bound. When the consumer falls behind, the batcher
//! waits for room in the tokio channel, the queue fills, and each source
//! follows its [`Overflow`] policy: sources whose data is kept elsewhere
//! (tailed files, the journal) wait, and catch up later from where they
//! stopped; sources whose data the kernel keeps only briefly (process and
//! file events, kmsg) wait [`DROP_AFTER`] and then drop the event and count
//! it, so the kernel's own queue does not overflow instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use tokio::sync::mpsc;

use super::model::{ObservationSource, TimedEvent};
use super::stats::ObserverStats;
use super::stop::Stop;

/// Batches the tokio channel holds before the batcher waits.
pub const BATCH_CHANNEL_CAPACITY: usize = 16;

/// How long a dropping source waits for room before it drops an event.
pub const DROP_AFTER: Duration = Duration::from_millis(100);

/// What a source does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room (or stop): the data stays in its file or journal.
    Wait,
    /// Wait [`DROP_AFTER`], then drop the event and count it.
    Drop,
}

/// A source's handle on the queue; counts what it sends and drops.
#[derive(Clone)]
pub struct Emitter {
    tx: Sender<TimedEvent>,
    source: ObservationSource,
    overflow: Overflow,
    stats: Arc<ObserverStats>,
    stop: Arc<Stop>,
}

impl Emitter {
    pub(super) fn new(
        tx: Sender<TimedEvent>,
        source: ObservationSource,
        overflow: Overflow,
        stats: Arc<ObserverStats>,
        stop: Arc<Stop>,
    ) -> Emitter {
        Emitter { tx, source, overflow, stats, stop }
    }

    /// Queues one event. `false` when the observer is stopping (the event
    /// was not queued, and the source should end).
    ///
    /// The event is counted before it is queued (and the count taken back
    /// if it is not), so a consumer that holds it always sees it counted.
    pub fn emit(&self, event: TimedEvent) -> bool {
        self.stats.add_events(self.source, 1);
        let event = match self.tx.try_send(event) {
            Ok(()) => return true,
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                self.stats.remove_events(self.source, 1);
                return false;
            }
            Err(crossbeam_channel::TrySendError::Full(event)) => event,
        };
        let stop = self.stop.receiver();
        let sent = match self.overflow {
            Overflow::Wait => select! {
                send(self.tx, event) -> r => r.is_ok(),
                recv(stop) -> _ => false,
            },
            Overflow::Drop => select! {
                send(self.tx, event) -> r => r.is_ok(),
                recv(stop) -> _ => false,
                default(DROP_AFTER) => {
                    self.stats.remove_events(self.source, 1);
                    self.stats.add_dropped(self.source, 1);
                    return true;
                }
            },
        };
        if !sent {
            self.stats.remove_events(self.source, 1);
        }
        sent
    }

    /// Counts `n` events this source lost before they reached it (the
    /// kernel dropped them).
    pub fn lost(&self, n: u64) {
        self.stats.add_dropped(self.source, n);
    }

    /// Counts an error of this source (log it too).
    pub fn error(&self) {
        self.stats.add_error(self.source);
    }

    /// The shared counters.
    pub fn stats(&self) -> &ObserverStats {
        &self.stats
    }

    /// The stop signal.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }
}

/// An emitter whose queue a test reads directly (no batcher).
#[cfg(test)]
pub fn test_emitter(source: ObservationSource, capacity: usize) -> (Emitter, Receiver<TimedEvent>, Arc<Stop>) {
    let stop = Arc::new(Stop::new().expect("eventfd"));
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let emitter = Emitter::new(tx, source, Overflow::Wait, Arc::new(ObserverStats::default()), stop.clone());
    (emitter, rx, stop)
}

/// Collects events into batches and hands them to the tokio channel until
/// stop is requested (or the consumer is gone); then delivers what is
/// queued if there is room, and returns.
pub fn run_batcher(
    rx: Receiver<TimedEvent>,
    out: mpsc::Sender<Vec<TimedEvent>>,
    max_events: usize,
    max_wait: Duration,
    stats: Arc<ObserverStats>,
    stop: Arc<Stop>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("observers: cannot start the batcher: {e}; no events are delivered");
            return;
        }
    };
    let max_events = max_events.max(1);
    loop {
        let mut batch = Vec::new();
        select! {
            recv(rx) -> event => match event {
                Ok(event) => batch.push(event),
                Err(_) => return,
            },
            recv(stop.receiver()) -> _ => break,
        }
        let deadline = Instant::now() + max_wait;
        let mut stopping = false;
        while batch.len() < max_events {
            select! {
                recv(rx) -> event => match event {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                },
                recv(stop.receiver()) -> _ => { stopping = true; break; }
                default(deadline.saturating_duration_since(Instant::now())) => break,
            }
        }
        if stopping {
            deliver_now(&out, batch, &stats);
            break;
        }
        // Wait for room in the tokio channel, or for stop.
        let mut stopped = stop.subscribe();
        let delivered = runtime.block_on(async {
            tokio::select! {
                permit = out.reserve() => match permit {
                    Ok(permit) => {
                        // Counted first, so that a consumer that has the batch sees it counted.
                        stats.add_batch();
                        permit.send(batch);
                        Some(true)
                    }
                    Err(_) => None,
                },
                _ = stopped.wait_for(|s| *s) => Some(false),
            }
        });
        match delivered {
            Some(true) => {}
            Some(false) => break,
            None => return, // the consumer is gone
        }
    }
    // Stopping: hand over what is already queued, without waiting.
    let rest: Vec<TimedEvent> = rx.try_iter().collect();
    for chunk in rest.chunks(max_events) {
        if !deliver_now(&out, chunk.to_vec(), &stats) {
            break;
        }
    }
}

/// Hands `batch` over if there is room; `false` if there was not.
fn deliver_now(out: &mpsc::Sender<Vec<TimedEvent>>, batch: Vec<TimedEvent>, stats: &ObserverStats) -> bool {
    if batch.is_empty() {
        return true;
    }
    match out.try_reserve() {
        Ok(permit) => {
            stats.add_batch();
            permit.send(batch);
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::model::{Event, LogEvent, LogLevel};

    fn event(n: u64) -> TimedEvent {
        TimedEvent {
            time_nanos: n,
            event: Event::Log(LogEvent {
                origin: "test".into(),
                level: LogLevel::Info,
                process: String::new(),
                pid: None,
                message: n.to_string(),
                truncated: false,
            }),
        }
    }

    struct Rig {
        emitter: Emitter,
        out: mpsc::Receiver<Vec<TimedEvent>>,
        stop: Arc<Stop>,
        stats: Arc<ObserverStats>,
        batcher: std::thread::JoinHandle<()>,
    }

    fn rig(queue: usize, max_events: usize, max_wait: Duration, overflow: Overflow) -> Rig {
        let stop = Arc::new(Stop::new().unwrap());
        let stats = Arc::new(ObserverStats::default());
        let (tx, rx) = crossbeam_channel::bounded(queue);
        let (out_tx, out) = mpsc::channel(1);
        let emitter = Emitter::new(tx, ObservationSource::Logs, overflow, stats.clone(), stop.clone());
        let batcher = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || run_batcher(rx, out_tx, max_events, max_wait, stats, stop))
        };
        Rig { emitter, out, stop, stats, batcher }
    }

    #[test]
    fn batches_by_count_then_by_time() {
        let mut rig = rig(100, 3, Duration::from_millis(50), Overflow::Wait);
        for n in 0..4 {
            assert!(rig.emitter.emit(event(n)));
        }
        // The first three fill a batch; the fourth goes alone when its wait is over.
        let first = rig.out.blocking_recv().unwrap();
        assert_eq!(first.iter().map(|e| e.time_nanos).collect::<Vec<_>>(), [0, 1, 2]);
        let second = rig.out.blocking_recv().unwrap();
        assert_eq!(second.iter().map(|e| e.time_nanos).collect::<Vec<_>>(), [3]);
        assert_eq!(rig.stats.snapshot().logs.events_total, 4);
        assert_eq!(rig.stats.snapshot().batches_total, 2);
        rig.stop.request();
        rig.batcher.join().unwrap();
    }

    #[test]
    fn a_dropping_source_counts_what_it_could_not_queue() {
        // Nobody reads `out`: one batch fits in the channel, one waits in
        // the batcher, two events in the queue; the rest are dropped.
        let mut rig = rig(2, 1, Duration::from_millis(1), Overflow::Drop);
        let mut sent = 0;
        while rig.stats.snapshot().logs.dropped_total < 3 {
            assert!(rig.emitter.emit(event(sent)));
            sent += 1;
            assert!(sent < 1000, "never dropped: {:?}", rig.stats.snapshot());
        }
        let s = rig.stats.snapshot();
        assert_eq!(s.logs.events_total + s.logs.dropped_total, sent);
        assert!(s.logs.events_total <= 5, "{s:?}");
        // Stop wakes everything; what was delivered is still there.
        rig.stop.request();
        rig.batcher.join().unwrap();
        // The batcher is gone, so the queue is closed.
        assert!(!rig.emitter.emit(event(9999)));
        let mut got = 0;
        while let Ok(batch) = rig.out.try_recv() {
            got += batch.len();
        }
        assert!(got >= 1);
    }

    #[test]
    fn a_waiting_source_is_released_by_stop() {
        let rig = rig(1, 1, Duration::from_millis(1), Overflow::Wait);
        let emitter = rig.emitter.clone();
        let filler = std::thread::spawn(move || {
            let mut n = 0;
            while emitter.emit(event(n)) {
                n += 1;
            }
            n
        });
        // Wait (with a deadline) until the pipeline is full (one batch in the
        // channel, one in the batcher, one event in the queue) and the filler
        // blocks on a fourth (counted as it is offered).
        let deadline = Instant::now() + Duration::from_secs(10);
        while rig.stats.snapshot().logs.events_total < 4 {
            assert!(Instant::now() < deadline, "pipeline never filled");
            std::thread::yield_now();
        }
        rig.stop.request();
        let queued = filler.join().unwrap();
        assert!(queued >= 3);
        assert_eq!(rig.stats.snapshot().logs.dropped_total, 0);
        rig.batcher.join().unwrap();
        drop(rig.out);
    }
}
