//! Loki push client for gomon's observations, and the local NDJSON file used
//! when no Loki is configured.
//!
//! - [`Labels`] and [`Entry`]: a stream's validated label set (host, source,
//!   event plus static labels) and its entries, with per-entry detail as
//!   structured metadata.
//! - [`encode`]: push bodies, protobuf + raw snappy (default) or JSON (gzip).
//! - [`LokiSink::start`] → [`SinkHandle`] and a sender task: batching (1 MiB /
//!   1 s), a write-ahead on-disk [`spool`], retries with backoff, [`Stats`].
//! - [`NdjsonFile`]: a size-rotated NDJSON file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gomon_sink_loki::{Entry, Labels, LokiConfig, LokiSink};
//!
//! let config = LokiConfig {
//!     url: Some("http://127.0.0.1:3100/loki/api/v1/push".into()),
//!     spool_dir: Some("/var/lib/gomon/loki-spool".into()),
//!     ..LokiConfig::default()
//! };
//! let (sink, sender) = LokiSink::start(config)?;
//! tokio::spawn(sender);
//! let stream = Labels::new([("host", "h1"), ("source", "process"), ("event", "exec")])?;
//! sink.push(&stream, vec![Entry::new(1_700_000_000_000_000_000, "exec sshd").with_metadata("pid", "42")])?;
//! sink.close(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! # Delivery semantics: at-least-once
//!
//! An entry accepted by [`SinkHandle::push`] reaches Loki at least once, unless
//! it is counted in `gomon_loki_dropped_entries_total`, with these exceptions:
//!
//! - **Not yet spooled.** Entries wait in memory until their batch is cut (at
//!   most `batch_max_wait`, 1 s, or until 1 MiB). A clean stop
//!   ([`SinkHandle::close`], or dropping the last handle) writes them to the
//!   spool; a SIGKILL, a crash or a power loss loses them.
//! - **Dropped and counted:** a 4xx other than 429 (`rejected`), a 260
//!   (`blocked`), spool overflow (`spool_full`, oldest first), a spool write
//!   error (`spool_error`), a damaged segment (`corrupt`), invalid labels
//!   (`invalid_labels`, also returned to the caller).
//!
//! Duplicates: a batch is deleted from the spool only after Loki's 2xx. If the
//! process dies, or the request times out, after Loki stored the batch but
//! before the answer was handled, the batch is sent again. Loki drops an entry
//! identical (same stream, timestamp and line) to one it already has, so
//! queries show it once. Order: per stream, entries reach Loki in push order,
//! sorted by time within each batch; batches are sent one at a time, oldest
//! first, including those replayed after a restart.

#![deny(missing_docs)]

pub mod backoff;
mod batch;
pub mod client;
mod config;
pub mod encode;
mod entry;
mod labels;
pub mod ndjson;
pub mod proto;
mod sink;
pub mod spool;
mod stats;

pub use batch::Batch;
pub use config::{BasicAuth, ConfigError, DEFAULT_URL, LokiConfig, LokiTarget};
pub use encode::Format;
pub use entry::{DEFAULT_MAX_LINE_BYTES, Entry, TRUNCATION_MARKER};
pub use labels::{LabelError, Labels, MAX_LABELS, MAX_NAME_BYTES, MAX_VALUE_BYTES};
pub use ndjson::NdjsonFile;
pub use sink::{LokiError, LokiSink, PushError, SenderTask, SinkHandle};
pub use stats::{DropReason, Outcome, Stats, StatsSnapshot};
