//! The sink: a handle that queues entries, a spool writer that cuts batches,
//! and a sender that pushes the spool to Loki, oldest batch first.
//!
//! ```text
//! push() ──► queue (memory, ≤ queue_max_bytes) ──► spool writer thread ──► spool (disk) ──► sender task ──► Loki
//!   │            full: the caller writes                cuts a batch at       ≤ spool_max_bytes     retries 429/5xx/network
//!   └──────────────── the queue and its own ──────────► 1 MiB or after 1 s                          forever, backoff 500 ms → 5 m
//!                     entries itself, in order
//! ```
//!
//! Every batch is on disk before it is sent (write-ahead) and leaves the disk
//! only when Loki accepted it, dropped it for good (a 4xx other than 429, a 260),
//! or the spool overflowed. So a Loki outage costs disk, not memory, and a
//! restart replays what was left. Order per stream: entries are batched in
//! arrival order, sorted by time within each stream of a batch, and batches
//! are sent one at a time in the order they were cut.
//!
//! **Why retries never stop.** Alloy's `loki.write` gives up on a batch after
//! 10 retries (about 8.5 minutes with the same backoff), which loses data in
//! any longer outage. Here a batch is retried until it is accepted, at most
//! every `max_backoff`; the spool is what bounds the cost, and what it cannot
//! hold is dropped oldest-first and counted (`spool_full`). A batch Loki will
//! never accept is not retried: its status is not retryable.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::client::{Answer, Client};
use crate::config::{ConfigError, LokiConfig};
use crate::encode::Format;
use crate::entry::Entry;
use crate::labels::{LabelError, Labels};
use crate::spool::{SegmentHeader, Spool, SpoolError};
use crate::stats::{DropReason, Outcome, Stats, StatsSnapshot, unix_nanos_now};

/// The sink could not start. The message names the key or path at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LokiError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The spool directory cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The spool writer thread could not be started.
    #[error("cannot start the Loki spool writer thread: {0}")]
    Thread(std::io::Error),
}

/// A push that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The stream's labels (with the static labels) break Loki's rules; the
    /// entries are counted as dropped (`invalid_labels`).
    #[error("Loki stream refused: {0}")]
    Labels(#[from] LabelError),
    /// The sink was shut down.
    #[error("the Loki sink is shut down")]
    Closed,
}

/// Starts Loki sinks.
#[derive(Debug)]
pub struct LokiSink;

impl LokiSink {
    /// Validates `config`, opens the spool (`config.spool_dir`, which must be
    /// set; see [`LokiConfig::spool_dir_in`]) and starts the spool writer thread.
    /// Returns the handle and the sender task, which the caller spawns on a
    /// tokio runtime; segments left in the spool by a previous run are sent
    /// first. Needs a rustls `CryptoProvider` installed for `https` URLs.
    pub fn start(config: LokiConfig) -> Result<(SinkHandle, SenderTask), LokiError> {
        config.validate()?;
        let statics = config.static_label_pairs();
        if !statics.is_empty() {
            Labels::new(statics.clone()).map_err(ConfigError::StaticLabel)?;
        }
        let spool_dir = config.spool_dir.clone().ok_or(ConfigError::Invalid {
            key: "spool_dir",
            problem: "is not set (gomon uses <state_dir>/loki-spool)".to_owned(),
        })?;
        let client = Client::new(&config)?;
        let stats = Arc::new(Stats::default());
        let spool = Arc::new(Spool::open(&spool_dir, config.spool_max_bytes, stats.clone())?);
        let left = stats.snapshot();
        if left.spool_segments > 0 {
            tracing::info!(
                "Replaying {} batches ({} entries) left in the Loki spool {} before new ones.",
                left.spool_segments,
                left.spool_entries,
                spool_dir.display()
            );
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (flushed_tx, _) = watch::channel(0u64);
        let (writer_done_tx, _) = watch::channel(false);
        let (sender_done_tx, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            format: config.format,
            batch_max_bytes: usize::try_from(config.batch_max_bytes).unwrap_or(usize::MAX),
            batch_max_wait: config.batch_max_wait,
            queue_max_bytes: usize::try_from(config.queue_max_bytes).unwrap_or(usize::MAX),
            max_line_bytes: usize::try_from(config.max_line_bytes).unwrap_or(usize::MAX),
            statics,
            queue: Mutex::new(Queue::default()),
            wake_writer: Condvar::new(),
            writer: Mutex::new(Writer::default()),
            spool: spool.clone(),
            stats: stats.clone(),
            wake_sender: Arc::new(Notify::new()),
            flushed: flushed_tx,
            writer_done: writer_done_tx,
            sender_done: Arc::new(sender_done_tx),
            shutdown: shutdown_tx,
            epoch: Instant::now(),
            deadline: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("gomon-loki-spool".to_owned())
            .spawn(move || thread_shared.run_writer())
            .map_err(LokiError::Thread)?;
        let sender = Sender {
            spool,
            client,
            stats,
            wake: shared.wake_sender.clone(),
            shutdown: shutdown_rx,
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
        };
        let task = SenderTask { future: Some(Box::pin(sender.run())), done: shared.sender_done.clone() };
        let handle = SinkHandle { _guard: Arc::new(CloseOnDrop(shared.clone())), shared };
        Ok((handle, task))
    }
}

/// The sender task: spawn it on a tokio runtime. It ends when the sink is
/// closed (or its last handle dropped).
pub struct SenderTask {
    future: Option<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>,
    done: Arc<watch::Sender<bool>>,
}

impl SenderTask {
    /// Drops the sender (and its hold on the spool), then tells `close`.
    fn finish(&mut self) {
        self.future = None;
        self.done.send_replace(true);
    }
}

impl Future for SenderTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(future) = self.future.as_mut() else { return Poll::Ready(()) };
        let poll = future.as_mut().poll(cx);
        if poll.is_ready() {
            self.finish();
        }
        poll
    }
}

impl Drop for SenderTask {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for SenderTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SenderTask")
    }
}

/// Pushes entries to the sink. Cheap to clone; when the last clone is dropped
/// the sink stops as by [`SinkHandle::close`].
#[derive(Debug, Clone)]
pub struct SinkHandle {
    shared: Arc<Shared>,
    _guard: Arc<CloseOnDrop>,
}

impl SinkHandle {
    /// Queues `entries` for the stream `labels` (plus the static labels).
    /// Lines longer than `max_line_bytes` are cut and counted. Does not wait
    /// for the network; when the in-memory queue is full, the caller writes the
    /// queue and its entries to the spool itself (milliseconds of disk I/O)
    /// rather than drop anything.
    pub fn push(&self, labels: &Labels, entries: Vec<Entry>) -> Result<(), PushError> {
        self.shared.push(labels, entries)
    }

    /// Cuts the batch being filled, and waits until the spool is empty (all
    /// sent or dropped). With pushes going on, or Loki down, this may wait for
    /// ever: wrap it in a timeout.
    pub async fn flush(&self) -> Result<(), PushError> {
        let generation = {
            let mut queue = self.shared.lock_queue();
            if queue.closed {
                return Err(PushError::Closed);
            }
            queue.flush_requested += 1;
            queue.flush_requested
        };
        self.shared.wake_writer.notify_one();
        let mut flushed = self.shared.flushed.subscribe();
        flushed.wait_for(|done| *done >= generation).await.map_err(|_| PushError::Closed)?;
        let mut level = self.shared.spool.watch();
        level.wait_for(|segments| *segments == 0).await.map_err(|_| PushError::Closed)?;
        Ok(())
    }

    /// Stops taking entries, writes the batch being filled to the spool, gives
    /// the sender up to `drain` to empty the spool, then stops it and releases
    /// the spool directory (a new sink may open it at once). What is left stays
    /// in the spool for the next start. Returns the final counters.
    pub async fn close(&self, drain: Duration) -> StatsSnapshot {
        self.shared.close_queue();
        let mut writer_done = self.shared.writer_done.subscribe();
        let _ = writer_done.wait_for(|done| *done).await;
        let mut level = self.shared.spool.watch();
        let _ = tokio::time::timeout(drain, level.wait_for(|segments| *segments == 0)).await;
        self.shared.shutdown.send_replace(true);
        // The sender stops at its next await point; a task never spawned would
        // never say so, hence the bound.
        let mut sender_done = self.shared.sender_done.subscribe();
        if tokio::time::timeout(Duration::from_secs(5), sender_done.wait_for(|done| *done)).await.is_err() {
            tracing::warn!("The Loki sender task did not stop within 5 s (was it spawned?).");
        }
        self.shared.spool.unlock();
        self.shared.stats.snapshot()
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The live counters, for a metrics collector to read at scrape time.
    pub fn stats_source(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> &std::path::Path {
        self.shared.spool.dir()
    }
}

/// Closes the sink when the last handle goes.
#[derive(Debug)]
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close_queue();
        self.0.shutdown.send_replace(true);
    }
}

/// What the handle, the writer thread and the sender share.
#[derive(Debug)]
struct Shared {
    format: Format,
    batch_max_bytes: usize,
    batch_max_wait: Duration,
    queue_max_bytes: usize,
    max_line_bytes: usize,
    statics: Vec<(String, String)>,
    /// Pushes not yet in a batch. Lock order: `writer`, then `queue`.
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    /// The batch being filled. Whoever holds it takes the whole queue, so
    /// batches are cut in push order.
    writer: Mutex<Writer>,
    spool: Arc<Spool>,
    stats: Arc<Stats>,
    wake_sender: Arc<Notify>,
    /// The last flush request the writer has carried out.
    flushed: watch::Sender<u64>,
    /// Set when the writer thread has written its last batch and ended.
    writer_done: watch::Sender<bool>,
    /// Set when the sender task has ended (or was dropped unspawned).
    sender_done: Arc<watch::Sender<bool>>,
    shutdown: watch::Sender<bool>,
    epoch: Instant,
    /// When the batch being filled must be cut: nanoseconds since `epoch`, 0 = no batch.
    deadline: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Pending>,
    bytes: usize,
    closed: bool,
    flush_requested: u64,
}

#[derive(Debug)]
struct Pending {
    labels: Labels,
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Writer {
    batch: Batch,
    started: Option<Instant>,
}

impl Shared {
    fn push(&self, labels: &Labels, mut entries: Vec<Entry>) -> Result<(), PushError> {
        if entries.is_empty() {
            return Ok(());
        }
        let labels = match labels.with_defaults(&self.statics) {
            Ok(labels) => labels,
            Err(e) => {
                self.stats.dropped(DropReason::InvalidLabels, entries.len() as u64);
                return Err(PushError::Labels(e));
            }
        };
        let truncated = entries.iter_mut().filter_map(|e| e.fit(self.max_line_bytes).then_some(())).count();
        if truncated > 0 {
            self.stats.truncated(truncated as u64);
        }
        let bytes: usize = entries.iter().map(Entry::size).sum();
        let pending = Pending { labels, entries };
        {
            let mut queue = self.lock_queue();
            if queue.closed {
                return Err(PushError::Closed);
            }
            if queue.bytes + bytes <= self.queue_max_bytes {
                queue.items.push_back(pending);
                queue.bytes += bytes;
                drop(queue);
                self.wake_writer.notify_one();
                return Ok(());
            }
        }
        // The writer cannot keep up (slow disk): write here, behind the queue.
        tracing::debug!("The Loki queue is full; the caller writes its entries to the spool.");
        let mut writer = self.lock_writer();
        let queued = self.take_queue();
        for item in queued.into_iter().chain(std::iter::once(pending)) {
            self.add(&mut writer, item);
        }
        drop(writer);
        // The writer thread re-reads the deadline of the batch being filled.
        self.wake_writer.notify_one();
        Ok(())
    }

    /// The writer thread: waits for pushes, a batch deadline, a flush or the
    /// close; cuts batches into the spool.
    fn run_writer(&self) {
        /// Tells `close` the writer is gone, even if it panicked.
        struct Done<'a>(&'a watch::Sender<bool>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.send_replace(true);
            }
        }
        let _done = Done(&self.writer_done);
        let mut flushed = 0u64;
        loop {
            {
                let mut queue = self.lock_queue();
                loop {
                    if !queue.items.is_empty() || queue.closed || queue.flush_requested > flushed {
                        break;
                    }
                    let deadline = self.deadline.load(Ordering::Acquire);
                    if deadline == 0 {
                        queue = self.wake_writer.wait(queue).unwrap_or_else(|p| p.into_inner());
                        continue;
                    }
                    let now = self.epoch.elapsed().as_nanos() as u64;
                    if now >= deadline {
                        break;
                    }
                    let wait = Duration::from_nanos(deadline - now);
                    queue = self.wake_writer.wait_timeout(queue, wait).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
            let mut writer = self.lock_writer();
            let (items, closed, flush_requested) = {
                let mut queue = self.lock_queue();
                let items = std::mem::take(&mut queue.items);
                queue.bytes = 0;
                (items, queue.closed, queue.flush_requested)
            };
            for item in items {
                self.add(&mut writer, item);
            }
            let expired = writer.started.is_some_and(|s| s.elapsed() >= self.batch_max_wait);
            if expired || closed || flush_requested > flushed {
                self.cut(&mut writer);
            }
            drop(writer);
            if flush_requested > flushed {
                flushed = flush_requested;
                self.flushed.send_replace(flushed);
            }
            if closed {
                return;
            }
        }
    }

    /// Adds a push to the batch being filled, cutting it at `batch_max_bytes`.
    fn add(&self, writer: &mut Writer, pending: Pending) {
        let Pending { labels, entries } = pending;
        for entry in entries {
            let mut size = entry.size();
            if !writer.batch.has_stream(&labels) {
                size += Batch::stream_cost(&labels);
            }
            if !writer.batch.is_empty() && writer.batch.size() + size > self.batch_max_bytes {
                self.cut(writer);
            }
            if writer.batch.is_empty() {
                writer.started = Some(Instant::now());
                let deadline = (self.epoch.elapsed() + self.batch_max_wait).as_nanos() as u64;
                self.deadline.store(deadline.max(1), Ordering::Release);
            }
            writer.batch.add(&labels, entry);
        }
        if writer.batch.size() >= self.batch_max_bytes {
            self.cut(writer);
        }
    }

    /// Sorts, encodes and spools the batch being filled.
    fn cut(&self, writer: &mut Writer) {
        let mut batch = std::mem::take(&mut writer.batch);
        writer.started = None;
        self.deadline.store(0, Ordering::Release);
        if batch.is_empty() {
            return;
        }
        batch.sort();
        let body = self.format.encode(&batch);
        let entries = batch.len() as u64;
        let header = SegmentHeader {
            format: self.format,
            entries,
            body_bytes: body.len() as u64,
            created_unix_nanos: unix_nanos_now(),
            oldest_nanos: batch.oldest_nanos().unwrap_or(0),
            body_crc32: None, // set by the spool
        };
        match self.spool.append(&header, &body) {
            Ok(_) => {
                self.stats.spooled(entries);
                self.wake_sender.notify_one();
            }
            Err(e) => {
                self.stats.dropped(DropReason::SpoolError, entries);
                let message = format!("Cannot write to the Loki spool, {entries} entries lost: {e}");
                tracing::error!("{message}");
                self.stats.error(message);
            }
        }
    }

    fn take_queue(&self) -> VecDeque<Pending> {
        let mut queue = self.lock_queue();
        queue.bytes = 0;
        std::mem::take(&mut queue.items)
    }

    fn close_queue(&self) {
        self.lock_queue().closed = true;
        self.wake_writer.notify_all();
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue usable (plain collections).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sender task: sends the spool oldest-first, one batch at a time.
struct Sender {
    spool: Arc<Spool>,
    client: Client,
    stats: Arc<Stats>,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    min_backoff: Duration,
    max_backoff: Duration,
}

impl Sender {
    async fn run(mut self) {
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let Some(seq) = self.spool.next() else {
                tokio::select! {
                    _ = self.wake.notified() => continue,
                    _ = self.shutdown.changed() => break,
                }
            };
            let spool = self.spool.clone();
            let read = tokio::task::spawn_blocking(move || spool.read(seq)).await;
            let segment = match read {
                Ok(Ok(segment)) => segment,
                Ok(Err(e)) => {
                    let entries = self.spool.remove(seq).unwrap_or(0);
                    self.stats.dropped(DropReason::Corrupt, entries);
                    let message = format!("Dropped a Loki spool segment that cannot be read ({entries} entries): {e}");
                    tracing::error!("{message}");
                    self.stats.error(message);
                    continue;
                }
                Err(_) => break, // the runtime is shutting down
            };
            if !self.send(seq, segment.header, Bytes::from(segment.body)).await {
                break;
            }
        }
        self.spool.release();
    }

    /// Sends one segment until it is accepted or dropped; false on shutdown.
    async fn send(&mut self, seq: u64, header: SegmentHeader, body: Bytes) -> bool {
        let mut backoff = Backoff::new(self.min_backoff, self.max_backoff);
        let entries = header.entries;
        loop {
            let answer = tokio::select! {
                answer = self.client.push(header.format, body.clone()) => answer,
                _ = self.shutdown.changed() => return false,
            };
            match answer {
                Answer::Accepted => {
                    self.stats.request(Outcome::Success);
                    self.stats.sent(entries, body.len() as u64);
                    self.spool.remove(seq);
                    if backoff.attempts() > 0 {
                        tracing::info!("Loki accepts pushes again after {} retries.", backoff.attempts());
                    }
                    return true;
                }
                Answer::Blocked => {
                    self.stats.request(Outcome::Blocked);
                    self.stats.dropped(DropReason::Blocked, entries);
                    let message = format!("Loki blocks ingestion (260): a batch of {entries} entries is dropped.");
                    tracing::error!("{message}");
                    self.stats.error(message);
                    self.spool.remove(seq);
                    return true;
                }
                Answer::Rejected { status, body: answer } => {
                    self.stats.request(Outcome::Rejected);
                    self.stats.dropped(DropReason::Rejected, entries);
                    let message = format!(
                        "Loki at {} refused a batch of {entries} entries with {status}; dropped, not retried: {answer}",
                        self.client.url()
                    );
                    tracing::error!("{message}");
                    self.stats.error(message);
                    self.spool.remove(seq);
                    return true;
                }
                Answer::Retry { reason } => {
                    self.stats.request(Outcome::Retryable);
                    self.stats.retry();
                    let delay = backoff.next_delay();
                    let attempt = backoff.attempts();
                    if attempt == 1 || attempt.is_multiple_of(10) {
                        tracing::warn!(
                            "Push to Loki failed ({reason}); retry {attempt} in {delay:.1?}, spooled meanwhile."
                        );
                    } else {
                        tracing::debug!("Push to Loki failed ({reason}); retry {attempt} in {delay:.1?}.");
                    }
                    self.stats.error(reason);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.changed() => return false,
                    }
                }
            }
        }
    }
}
