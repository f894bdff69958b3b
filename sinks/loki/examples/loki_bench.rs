//! Benchmark of the Loki sink against an in-process receiver on loopback that
//! decodes every body (raw snappy + prost, or JSON), as Loki would.
//!
//! ```text
//! cargo run --release -p gomon-sink-loki --example loki_bench [-- --entries 500000 --rate 50000 --seconds 10]
//! ```
//!
//! Three runs, each with a fresh spool (the receiver counts, it does not keep entries):
//! 1. **outage** — receiver down, `--rate` entries/s for `--seconds`: RSS of this
//!    process (VmRSS, sampled every 10 ms, and VmHWM, from /proc/self/status:
//!    the bench's own reading) and the spool's size; then the receiver comes
//!    back and the spool drains: drain time, received + dropped = pushed. First,
//!    so the other runs do not inflate the RSS.
//! 2. **throughput** — `--entries` entries pushed as fast as possible (pushes of
//!    100, 12 streams, ~110-byte lines, 3 metadata pairs) until the receiver has
//!    them all: entries/s, body bytes/s, uncompressed bytes/s.
//! 3. **latency** — `--rate` entries/s for `--seconds`, each stamped at push:
//!    event-to-push latency (receiver decode time − entry time), p50/p99/max.

#[path = "../tests/common/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use gomon_sink_loki::{Entry, Format, Labels, LokiConfig, LokiSink, SinkHandle};
use receiver::Receiver;

#[derive(Debug, Parser)]
struct Args {
    /// Entries of the throughput run.
    #[arg(long, default_value_t = 500_000)]
    entries: u64,
    /// Entries per second of the latency and outage runs.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Length of the latency and outage runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// protobuf, json or json-gzip.
    #[arg(long, default_value = "protobuf")]
    format: String,
}

const PUSH: usize = 100;

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn streams() -> Vec<Labels> {
    let events = ["exec", "exit", "fork", "write", "create", "log"];
    let sources = ["process", "file"];
    sources
        .iter()
        .flat_map(|s| events.iter().map(move |e| Labels::new([("host", "bench-host"), ("source", *s), ("event", *e)])))
        .collect::<Result<_, _>>()
        .expect("valid labels")
}

fn entry(i: u64, time: u64) -> Entry {
    Entry::new(
        time,
        format!(
            "[{i}] /usr/bin/some-daemon --config /etc/some-daemon/config.toml --verbose pid={} ppid=1 uid=0 status=ok",
            i % 32768
        ),
    )
    .with_metadata("pid", (i % 32768).to_string())
    .with_metadata("comm", "some-daemon")
    .with_metadata("uid", "0")
}

fn config(url: &str, format: Format) -> (LokiConfig, tempfile::TempDir) {
    let spool = tempfile::tempdir().expect("temp dir");
    let config = LokiConfig {
        url: Some(url.to_owned()),
        format,
        spool_dir: Some(spool.path().to_owned()),
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..LokiConfig::default()
    };
    (config, spool)
}

fn start(config: LokiConfig) -> SinkHandle {
    let (sink, sender) = LokiSink::start(config).expect("sink starts");
    tokio::spawn(sender);
    sink
}

/// Pushes `rate` entries/s for `seconds` (in pushes of PUSH, paced every 10 ms); returns the count.
async fn paced(sink: &SinkHandle, streams: &[Labels], rate: u64, seconds: u64, mut sample: impl FnMut()) -> u64 {
    let start = Instant::now();
    let total = rate * seconds;
    let mut pushed = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while pushed < total {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while pushed < due.min(total) {
            let n = PUSH.min((due.min(total) - pushed) as usize);
            let time = now_nanos();
            let batch = (0..n as u64).map(|k| entry(pushed + k, time)).collect();
            sink.push(&streams[(pushed / PUSH as u64) as usize % streams.len()], batch).expect("push");
            pushed += n as u64;
        }
        sample();
    }
    pushed
}

/// (VmRSS, VmHWM) of this process in KiB, from /proc/self/status.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let format = Format::from_name(&args.format).expect("--format protobuf|json|json-gzip");
    let streams = streams();
    println!("loki_bench: format {}, {} streams, pushes of {PUSH}", format.as_str(), streams.len());

    // 1. An outage (first: RSS is not inflated by the other runs) at the target rate.
    {
        let mut rx = Receiver::start().await;
        rx.state.lock().unwrap().store = false;
        let (cfg, _spool) = config(&rx.url(), format);
        let sink = start(cfg);
        rx.down().await;
        let (rss_before, _) = rss_kib();
        let mut peak_rss = 0;
        let mut peak_spool = 0;
        let stats = sink.stats_source();
        let pushed = paced(&sink, &streams, args.rate, args.seconds, || {
            peak_rss = peak_rss.max(rss_kib().0);
            peak_spool = peak_spool.max(stats.snapshot().spool_bytes);
        })
        .await;
        let snap = sink.stats();
        println!(
            "outage of {} s at {} entries/s: {pushed} pushed, RSS {} MiB before, peak {} MiB during (VmHWM {} MiB); \
             spool peak {:.1} MiB on disk, {} entries dropped (spool_full)",
            args.seconds,
            args.rate,
            rss_before / 1024,
            peak_rss / 1024,
            rss_kib().1 / 1024,
            peak_spool as f64 / (1 << 20) as f64,
            snap.dropped(gomon_sink_loki::DropReason::SpoolFull)
        );
        let t0 = Instant::now();
        rx.up().await;
        sink.flush().await.expect("flush");
        let snap = sink.stats();
        let dropped = snap.dropped_total();
        println!(
            "recovery: spool drained in {:.2} s; received {} + dropped {dropped} = {} of {pushed} pushed",
            t0.elapsed().as_secs_f64(),
            rx.kept_entries(),
            rx.kept_entries() + dropped
        );
        sink.close(Duration::ZERO).await;
    }
    // 2. Throughput.
    {
        let rx = Receiver::start().await;
        rx.state.lock().unwrap().store = false;
        let (cfg, _spool) = config(&rx.url(), format);
        let sink = start(cfg);
        let t0 = Instant::now();
        let mut pushed = 0u64;
        while pushed < args.entries {
            let n = PUSH.min((args.entries - pushed) as usize) as u64;
            let time = now_nanos();
            sink.push(
                &streams[(pushed / PUSH as u64) as usize % streams.len()],
                (0..n).map(|k| entry(pushed + k, time)).collect(),
            )
            .expect("push");
            pushed += n;
        }
        let push_time = t0.elapsed();
        sink.flush().await.expect("flush");
        rx.wait_for(Duration::from_secs(60), "all entries", |s| s.kept_entries >= args.entries).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let (body, raw) = {
            let s = rx.state.lock().unwrap();
            (s.kept_bytes, s.requests.iter().map(|r| r.raw_bytes as u64).sum::<u64>())
        };
        let requests = rx.requests().len();
        println!(
            "throughput: {} entries in {elapsed:.2} s = {:.0} entries/s; body {:.1} MB/s, uncompressed {:.1} MB/s; \
             {requests} requests; push() calls took {:.2} s",
            args.entries,
            args.entries as f64 / elapsed,
            body as f64 / elapsed / 1e6,
            raw as f64 / elapsed / 1e6,
            push_time.as_secs_f64()
        );
        sink.close(Duration::ZERO).await;
    }

    // 3. Latency at the target rate.
    {
        let rx = Receiver::start().await;
        rx.state.lock().unwrap().store = false;
        let (cfg, _spool) = config(&rx.url(), format);
        let sink = start(cfg);
        let pushed = paced(&sink, &streams, args.rate, args.seconds, || {}).await;
        rx.wait_for(Duration::from_secs(60), "all entries", |s| s.kept_entries >= pushed).await;
        let mut latencies = rx.state.lock().unwrap().latencies_nanos.clone();
        latencies.sort_unstable();
        let ms = |n: u64| n as f64 / 1e6;
        println!(
            "latency at {} entries/s for {} s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (batch_max_wait 1 s, batch_max_bytes 1 MiB)",
            args.rate,
            args.seconds,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap_or(&0))
        );
        sink.close(Duration::ZERO).await;
    }
}
