//! Observations through the default observe probe to a Loki receiver on
//! loopback: throughput, event-to-push latency, and memory during an outage.
//!
//! ```sh
//! cargo bench -p gomon --bench observations                 # 500 000 events, 20 s outage
//! cargo bench -p gomon --bench observations -- 200000 60    # events, outage seconds
//! ```
//!
//! The receiver (in this process, on its own thread) decodes every push as
//! Loki would: raw snappy, then the protobuf `PushRequest`, and counts the
//! entries. Figures:
//!
//! 1. **Throughput**: N distinct log events in batches of 1000 through the
//!    whole pipeline (events → observations → the built-in `observe` probe
//!    (WASM) → Loki sink → HTTP → decoded), against the **baseline** of the
//!    same events pushed straight to the sink (no probe): the ratio is the
//!    probe's share.
//! 2. **Latency**: events offered at 50 000/s for 5 s, each stamped with its
//!    creation time; the receiver records decode time − stamp. With the
//!    default `batch_max_wait` (1 s) a batch waits up to a second by design;
//!    also with 100 ms.
//! 3. **Outage**: the receiver's port closed; events offered at 50 000/s for
//!    the outage seconds; peak RSS of this process (VmHWM) and the spool's
//!    size, which the on-disk spool bounds (64 MiB by default).
//!
//! Not a test: timings live in benches.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gomon::observations::recent::ObservationRing;
use gomon::observations::{Outlet, Pipeline, PipelineStats};
use gomon::observe::model::{Event, LogEvent, LogLevel, TimedEvent};
use gomon::runtime::probe::Limits;
use gomon::runtime::{ProbeSet, RuntimeOptions};
use gomon_sink_loki::{Entry, Labels, LokiConfig, LokiSink};
use http_body_util::{BodyExt, Full};
use prost::Message;

/// What the receiver saw.
#[derive(Default)]
struct Received {
    entries: AtomicU64,
    latencies_ns: Mutex<Vec<u64>>,
    record_latency: std::sync::atomic::AtomicBool,
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

/// A receiver that decodes like Loki and answers 204.
async fn receiver(received: Arc<Received>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the receiver");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let received = received.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let received = received.clone();
                    async move {
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("raw snappy");
                        let push = gomon_sink_loki::proto::PushRequest::decode(raw.as_slice()).expect("PushRequest");
                        let now = now_nanos();
                        let mut n = 0;
                        let mut latencies = Vec::new();
                        let record = received.record_latency.load(Ordering::Relaxed);
                        for stream in &push.streams {
                            n += stream.entries.len() as u64;
                            if record {
                                for e in &stream.entries {
                                    let stamp = e.timestamp.map_or(0, |t| t.to_nanos());
                                    latencies.push(now.saturating_sub(stamp));
                                }
                            }
                        }
                        received.entries.fetch_add(n, Ordering::Relaxed);
                        if record {
                            received.latencies_ns.lock().unwrap().extend(latencies);
                        }
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(204).body(Full::new(Bytes::new())).unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    addr
}

fn event(i: u64, stamp: u64) -> TimedEvent {
    TimedEvent {
        time_nanos: stamp,
        event: Event::Log(LogEvent {
            origin: "/var/log/app.log".into(),
            level: LogLevel::Info,
            process: "app".into(),
            pid: Some(4242),
            message: format!("request {i} served in {} ms", i % 97),
        }),
    }
}

fn probes() -> Arc<Mutex<ProbeSet>> {
    let options = RuntimeOptions {
        cache_dir: None,
        limits: Limits { memory_bytes: 64 << 20, call_timeout: Duration::from_secs(2), max_series: 100_000 },
        interval: Duration::from_secs(15),
        probe_config: BTreeMap::new(),
    };
    let mut set = ProbeSet::new(options).expect("probe runtime");
    if let Some(e) = set.load_builtins().into_iter().next() {
        panic!("built-in probe not loaded: {e}");
    }
    Arc::new(Mutex::new(set))
}

fn sink_config(url: String, spool: &std::path::Path, batch_max_wait: Duration) -> LokiConfig {
    LokiConfig {
        url: Some(url),
        spool_dir: Some(spool.to_owned()),
        batch_max_wait,
        min_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        ..LokiConfig::default()
    }
}

fn pipeline(probes: Arc<Mutex<ProbeSet>>, sink: gomon_sink_loki::SinkHandle) -> Arc<Pipeline> {
    Arc::new(Pipeline {
        probes,
        outlet: Arc::new(Outlet::loki(sink)),
        host: "bench".into(),
        ring: Arc::new(ObservationRing::new(10_000)),
        lag: None,
        stats: Arc::new(PipelineStats::default()),
    })
}

async fn wait_for(received: &Received, target: u64, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while received.entries.load(Ordering::Relaxed) < target {
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(start.elapsed())
}

fn vm_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map_or(0, |entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}

/// Offers events at `rate` per second for `seconds` through `pipeline`, in
/// batches of `batch`; returns how many were offered.
async fn offer_at_rate(pipeline: &Arc<Pipeline>, rate: u64, seconds: f64, batch: u64, first: u64) -> u64 {
    let start = Instant::now();
    let mut offered = 0;
    while start.elapsed().as_secs_f64() < seconds {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if offered + batch <= due {
            let stamp = now_nanos();
            let events: Vec<TimedEvent> = (0..batch).map(|k| event(first + offered + k, stamp)).collect();
            let p = pipeline.clone();
            tokio::task::spawn_blocking(move || p.process(events)).await.expect("processing");
            offered += batch;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    offered
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let outage_seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let batch = 1000u64;
    let tmp = tempfile::tempdir().expect("temp dir");

    let received = Arc::new(Received::default());
    let addr = receiver(received.clone()).await;
    let url = format!("http://{addr}/loki/api/v1/push");
    let probes = probes();

    println!("observations bench: {n} log events, batches of {batch}, receiver on {addr}\n");

    // 1a. Baseline: the same entries straight to the sink.
    let (sink, sender) =
        LokiSink::start(sink_config(url.clone(), &tmp.path().join("s0"), Duration::from_secs(1))).expect("sink");
    tokio::spawn(sender);
    let labels = Labels::new([("host", "bench"), ("source", "logs"), ("event", "info")]).unwrap();
    let start = Instant::now();
    for b in 0..n / batch {
        let stamp = now_nanos();
        let entries: Vec<Entry> = (0..batch)
            .map(|k| {
                let i = b * batch + k;
                Entry::new(stamp, format!("app[4242]: request {i} served in {} ms", i % 97))
                    .with_metadata("origin", "/var/log/app.log")
                    .with_metadata("process", "app")
                    .with_metadata("pid", "4242")
            })
            .collect();
        sink.push(&labels, entries).expect("push");
    }
    sink.flush().await.expect("flush");
    let baseline = wait_for(&received, n, Duration::from_secs(120)).await.map(|_| start.elapsed());
    sink.close(Duration::from_secs(1)).await;
    received.entries.store(0, Ordering::Relaxed);

    // 1b. Through the observe probe.
    let (sink, sender) =
        LokiSink::start(sink_config(url.clone(), &tmp.path().join("s1"), Duration::from_secs(1))).expect("sink");
    tokio::spawn(sender);
    let p = pipeline(probes.clone(), sink.clone());
    let start = Instant::now();
    let mut probe_time = Duration::ZERO;
    for b in 0..n / batch {
        let stamp = now_nanos();
        let events: Vec<TimedEvent> = (0..batch).map(|k| event(b * batch + k, stamp)).collect();
        let t = Instant::now();
        p.process(events);
        probe_time += t.elapsed();
    }
    sink.flush().await.expect("flush");
    let through = wait_for(&received, n, Duration::from_secs(120)).await.map(|_| start.elapsed());
    sink.close(Duration::from_secs(1)).await;
    let rate = |d: Option<Duration>| d.map_or(f64::NAN, |d| n as f64 / d.as_secs_f64());
    println!("{:60} {:>12} {:>10}", "throughput (events/s, all delivered and decoded)", "events/s", "ratio");
    println!("{:60} {:>12.0} {:>10}", "baseline: entries straight to the Loki sink", rate(baseline), "1.00");
    println!(
        "{:60} {:>12.0} {:>10.2}",
        "through the built-in observe probe (WASM) and the sink",
        rate(through),
        rate(through) / rate(baseline)
    );
    println!(
        "{:60} {:>12.0}",
        "  of which the pipeline's own work (convert, probe, queue)",
        n as f64 / probe_time.as_secs_f64()
    );

    // 2. Latency at 50 000/s.
    println!("\nevent-to-push latency at 50 000 events/s for 5 s (ms)      p50        p99        max");
    for wait in [Duration::from_secs(1), Duration::from_millis(100)] {
        received.entries.store(0, Ordering::Relaxed);
        received.latencies_ns.lock().unwrap().clear();
        received.record_latency.store(true, Ordering::Relaxed);
        let dir = tmp.path().join(format!("lat{}", wait.as_millis()));
        let (sink, sender) = LokiSink::start(sink_config(url.clone(), &dir, wait)).expect("sink");
        tokio::spawn(sender);
        let p = pipeline(probes.clone(), sink.clone());
        let offered = offer_at_rate(&p, 50_000, 5.0, batch, 0).await;
        let _ = wait_for(&received, offered, Duration::from_secs(30)).await;
        sink.close(Duration::from_secs(1)).await;
        received.record_latency.store(false, Ordering::Relaxed);
        let mut l = std::mem::take(&mut *received.latencies_ns.lock().unwrap());
        l.sort_unstable();
        println!(
            "{:56} {:>8.1} {:>10.1} {:>10.1}",
            format!("  batch_max_wait = {wait:?} ({} events)", l.len()),
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            percentile(&l, 1.0)
        );
    }

    // 3. Outage: nothing listens on the URL's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap();
    let dir = tmp.path().join("outage");
    let (sink, sender) =
        LokiSink::start(sink_config(format!("http://{closed}/loki/api/v1/push"), &dir, Duration::from_secs(1)))
            .expect("sink");
    tokio::spawn(sender);
    let p = pipeline(probes.clone(), sink.clone());
    let rss_before = vm_rss_bytes();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(vm_rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let offered = offer_at_rate(&p, 50_000, outage_seconds, batch, 0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sampling.abort();
    let stats = sink.stats();
    println!(
        "\noutage: {offered} events offered at 50 000/s for {outage_seconds} s; Loki unreachable\n  \
         RSS {:.1} MiB at the start, peak {:.1} MiB during; spool {:.1} MiB on disk ({} entries, {} dropped as spool_full)",
        rss_before as f64 / 1048576.0,
        peak.load(Ordering::Relaxed) as f64 / 1048576.0,
        dir_bytes(&dir) as f64 / 1048576.0,
        stats.spool_entries,
        stats.dropped(gomon_sink_loki::DropReason::SpoolFull),
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close(Duration::from_millis(100))).await;
}
