//! Self-metrics of the observation path: observers, pipeline and Loki.
//!
//! ```text
//! gomon_observer_events_total{source}            events the observers queued
//! gomon_observer_dropped_events_total{source}    events lost before the pipeline (full queue, kernel overflow)
//! gomon_observer_errors_total{source}            source errors (each logged)
//! gomon_observer_file_watches                    inotify watches held
//! gomon_observer_file_max_watches                the cap on them (observe.files.max_watches)
//! gomon_observer_file_unwatched_directories_total directories left unwatched at the cap
//! gomon_observer_log_files                       log files tailed
//! gomon_observer_process_mode{mode}              1 for the process source's mode: connector | table-diff
//! gomon_observer_process_taskstats               1 when taskstats exit records name exits (CPU, memory too)
//! gomon_observations_total{source}               events that entered the probes (canaries excluded)
//! gomon_observations_delivered_total{source}     observations handed to Loki or the file
//! gomon_observations_failed_total                observations the outlet refused
//! gomon_loki_*                                   see below (only with a Loki URL)
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gomon_sink_loki::{DropReason, Outcome, Stats};
use gomon_sink_prometheus::MetricFamily;

use super::PipelineStats;
use crate::observe::stats::ObserverStats;

const SOURCES: [&str; 3] = ["process", "file", "logs"];

/// The observers' families.
pub fn observer_families(stats: &ObserverStats) -> Vec<MetricFamily> {
    let s = stats.snapshot();
    let per_source = [s.process, s.file, s.logs];
    let mut events =
        MetricFamily::counter("gomon_observer_events", "Events the observers queued, by source.").labels(["source"]);
    let mut dropped = MetricFamily::counter(
        "gomon_observer_dropped_events",
        "Events lost before the pipeline: the queue stayed full or the kernel dropped them.",
    )
    .labels(["source"]);
    let mut errors =
        MetricFamily::counter("gomon_observer_errors", "Errors of the observers, by source (each one logged).")
            .labels(["source"]);
    for (name, c) in SOURCES.iter().zip(per_source) {
        events.push(&[name], c.events_total as f64);
        dropped.push(&[name], c.dropped_total as f64);
        errors.push(&[name], c.errors_total as f64);
    }
    let watches = MetricFamily::gauge("gomon_observer_file_watches", "inotify watches the file observer holds.")
        .with_sample(&[], s.file_watches as f64);
    let max_watches = MetricFamily::gauge(
        "gomon_observer_file_max_watches",
        "The most inotify watches the file observer may hold (observe.files.max_watches).",
    )
    .with_sample(&[], s.file_max_watches as f64);
    let unwatched = MetricFamily::counter(
        "gomon_observer_file_unwatched_directories",
        "Directories the file observer found but did not watch because max_watches was reached.",
    )
    .with_sample(&[], s.file_unwatched_total as f64);
    let files =
        MetricFamily::gauge("gomon_observer_log_files", "Log files being tailed.").with_sample(&[], s.log_files as f64);
    let mut mode = MetricFamily::gauge(
        "gomon_observer_process_mode",
        "How process events are observed: the netlink proc connector, or diffing the process table.",
    )
    .labels(["mode"]);
    mode.push(&["connector"], if s.process_connector { 1.0 } else { 0.0 });
    mode.push(&["table-diff"], if s.process_fallback { 1.0 } else { 0.0 });
    let taskstats = MetricFamily::gauge(
        "gomon_observer_process_taskstats",
        "1 when taskstats exit records name short-lived processes and give exits their CPU and memory.",
    )
    .with_sample(&[], if s.process_taskstats { 1.0 } else { 0.0 });
    vec![events, dropped, errors, watches, max_watches, unwatched, files, mode, taskstats]
}

/// The pipeline's families.
pub fn pipeline_families(stats: &PipelineStats) -> Vec<MetricFamily> {
    let mut events = MetricFamily::counter(
        "gomon_observations",
        "Events that entered the observe probes, by source (lag canaries excluded).",
    )
    .labels(["source"]);
    let mut delivered = MetricFamily::counter(
        "gomon_observations_delivered",
        "Observations the probes passed on and the outlet (Loki or the file) took, by source.",
    )
    .labels(["source"]);
    for (i, name) in SOURCES.iter().enumerate() {
        events.push(&[name], stats.events[i].load(Ordering::Relaxed) as f64);
        delivered.push(&[name], stats.delivered[i].load(Ordering::Relaxed) as f64);
    }
    let failed = MetricFamily::counter(
        "gomon_observations_failed",
        "Observations the outlet refused (invalid labels, file write errors).",
    )
    .with_sample(&[], stats.failed.load(Ordering::Relaxed) as f64);
    vec![events, delivered, failed]
}

/// The Loki sink's families (names proposed by `gomon_sink_loki::stats`).
pub fn loki_families(stats: &Arc<Stats>) -> Vec<MetricFamily> {
    let s = stats.snapshot();
    let scalar = |family: MetricFamily, value: u64| family.with_sample(&[], value as f64);
    let mut requests =
        MetricFamily::counter("gomon_loki_requests", "Push requests to Loki, by outcome.").labels(["outcome"]);
    for outcome in Outcome::ALL {
        requests.push(&[outcome.as_str()], s.requests(outcome) as f64);
    }
    let mut dropped =
        MetricFamily::counter("gomon_loki_dropped_entries", "Entries lost, by reason.").labels(["reason"]);
    for reason in DropReason::ALL {
        dropped.push(&[reason.as_str()], s.dropped(reason) as f64);
    }
    vec![
        scalar(MetricFamily::counter("gomon_loki_sent_entries", "Entries in batches Loki accepted."), s.sent_entries),
        scalar(
            MetricFamily::counter("gomon_loki_sent_bytes", "Request body bytes (compressed) of accepted batches.")
                .unit("bytes"),
            s.sent_bytes,
        ),
        requests,
        scalar(
            MetricFamily::counter("gomon_loki_retries", "Pushes repeated after a 429, a 5xx or a network error."),
            s.retries,
        ),
        dropped,
        scalar(
            MetricFamily::counter("gomon_loki_truncated_entries", "Entries cut to fit Loki's line limit (still sent)."),
            s.truncated_entries,
        ),
        scalar(MetricFamily::counter("gomon_loki_spooled_entries", "Entries written to the spool."), s.spooled_entries),
        scalar(MetricFamily::gauge("gomon_loki_spool_bytes", "Bytes in the spool now.").unit("bytes"), s.spool_bytes),
        scalar(MetricFamily::gauge("gomon_loki_spool_entries", "Entries in the spool now."), s.spool_entries),
        scalar(
            MetricFamily::gauge("gomon_loki_spool_segments", "Batches (segment files) in the spool now."),
            s.spool_segments,
        ),
        MetricFamily::gauge(
            "gomon_loki_last_success_timestamp_seconds",
            "When Loki last accepted a batch (Unix time; 0: never).",
        )
        .unit("seconds")
        .with_sample(&[], s.last_success_unix_nanos as f64 / 1e9),
    ]
}
