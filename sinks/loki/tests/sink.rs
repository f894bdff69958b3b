//! The sink against an in-process receiver (tests/common/receiver.rs): bodies,
//! headers, batching, retries and drops by status, outages, restarts, the
//! spool's bound, the caller-side spill, TLS with a CA file.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::receiver::{Got, Receiver};
use gomon_sink_loki::{
    BasicAuth, DropReason, Entry, Format, LokiConfig, LokiSink, Outcome, PushError, SinkHandle, StatsSnapshot,
    TRUNCATION_MARKER,
};
use gomon_sink_loki::{LabelError, Labels};

const WAIT: Duration = Duration::from_secs(20);

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Short timings so retries and batch deadlines happen within a test.
fn config(url: &str, spool: &Path) -> LokiConfig {
    LokiConfig {
        url: Some(url.to_owned()),
        spool_dir: Some(spool.to_owned()),
        batch_max_wait: Duration::from_millis(50),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        ..LokiConfig::default()
    }
}

fn start(config: LokiConfig) -> SinkHandle {
    crypto();
    let (handle, sender) = LokiSink::start(config).expect("sink starts");
    tokio::spawn(sender);
    handle
}

fn stream(source: &str) -> Labels {
    Labels::new([("host", "h1"), ("source", source), ("event", "test")]).unwrap()
}

async fn wait_stats(sink: &SinkHandle, what: &str, predicate: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = sink.stats();
        if predicate(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {stats:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn flush(sink: &SinkHandle) {
    tokio::time::timeout(WAIT, sink.flush()).await.expect("flush in time").expect("flush");
}

/// Lines of every stream whose selector contains `source="<source>"`.
fn lines_of(streams: &BTreeMap<String, Vec<Got>>, source: &str) -> Vec<String> {
    let needle = format!("source=\"{source}\"");
    streams.iter().filter(|(s, _)| s.contains(&needle)).flat_map(|(_, e)| e.iter().map(|g| g.line.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_push_carries_labels_metadata_headers_and_time_order() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig {
        tenant: Some("team-a".into()),
        bearer_token: Some("tok3n".into()),
        static_labels: [("job".to_owned(), "gomon".to_owned()), ("host".to_owned(), "ignored".to_owned())].into(),
        ..config(&receiver.url(), spool.path())
    });
    // One push, out of time order, with metadata; a second stream.
    sink.push(
        &stream("process"),
        vec![
            Entry::new(3_000, "third").with_metadata("pid", "3"),
            Entry::new(1_000, "first").with_metadata("pid", "1").with_metadata("comm", "sh"),
            Entry::new(2_000, "second"),
        ],
    )
    .unwrap();
    sink.push(&stream("file"), vec![Entry::new(5, "a file event")]).unwrap();
    flush(&sink).await;

    let streams = receiver.streams();
    let process = &streams[r#"{event="test", host="h1", job="gomon", source="process"}"#];
    assert_eq!(process.iter().map(|g| g.line.as_str()).collect::<Vec<_>>(), ["first", "second", "third"]);
    assert_eq!(process.iter().map(|g| g.time_nanos).collect::<Vec<_>>(), [1_000, 2_000, 3_000]);
    assert_eq!(process[0].metadata, [("pid".to_owned(), "1".to_owned()), ("comm".to_owned(), "sh".to_owned())]);
    assert!(process[1].metadata.is_empty());
    assert_eq!(lines_of(&streams, "file"), ["a file event"]);

    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.content_type.as_deref(), Some("application/x-protobuf"));
        assert_eq!(r.content_encoding, None);
        assert_eq!(r.tenant.as_deref(), Some("team-a"));
        assert_eq!(r.authorization.as_deref(), Some("Bearer tok3n"));
        assert_eq!(r.decode_error, None);
    }
    let stats = sink.stats();
    assert_eq!(stats.sent_entries, 4);
    assert_eq!(stats.sent_bytes, requests.iter().map(|r| r.body_bytes as u64).sum::<u64>());
    assert_eq!(stats.spooled_entries, 4);
    assert_eq!((stats.spool_segments, stats.spool_bytes, stats.spool_entries), (0, 0, 0));
    assert!(stats.last_success_unix_nanos > 0);
    assert_eq!(stats.dropped_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_gzip_push_with_basic_auth() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig {
        format: Format::JsonGzip,
        basic_auth: Some(BasicAuth { user: "u".into(), password: Some("p".into()), password_file: None }),
        ..config(&receiver.url(), spool.path())
    });
    sink.push(
        &stream("logs"),
        vec![Entry::new(2, "b \"quoted\"\n"), Entry::new(1, "a").with_metadata("level", "info")],
    )
    .unwrap();
    flush(&sink).await;
    let streams = receiver.streams();
    let logs = &streams[r#"{event="test", host="h1", source="logs"}"#];
    assert_eq!(logs.iter().map(|g| g.line.as_str()).collect::<Vec<_>>(), ["a", "b \"quoted\"\n"]);
    assert_eq!(logs[0].metadata, [("level".to_owned(), "info".to_owned())]);
    for r in receiver.requests() {
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(r.tenant, None);
        // base64("u:p")
        assert_eq!(r.authorization.as_deref(), Some("Basic dTpw"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_cut_by_size() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let max = 4096;
    let sink = start(LokiConfig {
        format: Format::Json,
        batch_max_bytes: max,
        batch_max_wait: Duration::from_secs(60),
        ..config(&receiver.url(), spool.path())
    });
    let entries: Vec<Entry> = (0..200).map(|i| Entry::new(i, format!("line {i:04} {}", "x".repeat(80)))).collect();
    let entry_size = entries[0].size() as u64;
    sink.push(&stream("size"), entries).unwrap();
    // The size cut sends full batches without waiting for the (60 s) deadline.
    let per_batch = (max / entry_size) as usize;
    receiver
        .wait_for(WAIT, "full batches", |s| s.kept_entries >= (200 / per_batch * per_batch) as u64 - per_batch as u64)
        .await;
    flush(&sink).await;
    let requests = receiver.requests();
    assert!(requests.len() >= 200 / per_batch, "{} requests for 200 entries of {entry_size} bytes", requests.len());
    for r in &requests {
        assert!(r.entries <= per_batch, "a batch of {} entries exceeds {max} bytes", r.entries);
    }
    let lines = lines_of(&receiver.streams(), "size");
    assert_eq!(lines.len(), 200);
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "order kept across batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_cut_by_time_without_a_flush() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink =
        start(LokiConfig { batch_max_wait: Duration::from_millis(100), ..config(&receiver.url(), spool.path()) });
    sink.push(&stream("time"), vec![Entry::new(1, "lonely")]).unwrap();
    receiver.wait_for(WAIT, "the entry, sent by the batch deadline", |s| s.kept_entries == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_dropped_not_retried() {
    let receiver = Receiver::start().await;
    receiver.script(&[400]);
    let spool = tempfile::tempdir().unwrap();
    let sink = start(config(&receiver.url(), spool.path()));
    sink.push(&stream("bad"), vec![Entry::new(1, "a"), Entry::new(2, "b")]).unwrap();
    let stats = wait_stats(&sink, "the rejected batch", |s| s.dropped(DropReason::Rejected) == 2).await;
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.requests(Outcome::Rejected), 1);
    assert!(stats.last_error.as_deref().unwrap_or("").contains("400"), "{:?}", stats.last_error);
    assert!(stats.last_error.as_deref().unwrap_or("").contains("scripted 400"), "body logged: {:?}", stats.last_error);
    // The next batch goes through: exactly two requests in all.
    sink.push(&stream("good"), vec![Entry::new(3, "c")]).unwrap();
    flush(&sink).await;
    assert_eq!(receiver.requests().len(), 2);
    assert_eq!(receiver.kept_entries(), 1);
    assert_eq!(sink.stats().spool_segments, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_and_5xx_are_retried_until_accepted() {
    let receiver = Receiver::start().await;
    receiver.script(&[429, 500, 503]);
    let spool = tempfile::tempdir().unwrap();
    let sink = start(config(&receiver.url(), spool.path()));
    sink.push(&stream("retry"), vec![Entry::new(1, "a"), Entry::new(2, "b")]).unwrap();
    flush(&sink).await;
    let statuses: Vec<u16> = receiver.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 503, 204]);
    assert_eq!(lines_of(&receiver.streams(), "retry"), ["a", "b"]);
    let stats = sink.stats();
    assert_eq!(stats.retries, 3);
    assert_eq!(stats.requests(Outcome::Retryable), 3);
    assert_eq!(stats.sent_entries, 2);
    assert_eq!(stats.dropped_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_260_is_dropped_and_counted() {
    let receiver = Receiver::start().await;
    receiver.script(&[260]);
    let spool = tempfile::tempdir().unwrap();
    let sink = start(config(&receiver.url(), spool.path()));
    sink.push(&stream("blocked"), vec![Entry::new(1, "a")]).unwrap();
    let stats = wait_stats(&sink, "the blocked batch", |s| s.dropped(DropReason::Blocked) == 1).await;
    assert_eq!((stats.retries, stats.sent_entries), (0, 0));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_and_keeps_order() {
    let mut receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig { batch_max_bytes: 2048, ..config(&receiver.url(), spool.path()) });
    receiver.down().await;
    for i in 0..300u64 {
        sink.push(&stream(if i % 2 == 0 { "even" } else { "odd" }), vec![Entry::new(i, format!("{i:05}"))]).unwrap();
    }
    let stats = wait_stats(&sink, "retries while Loki is down", |s| s.retries >= 3 && s.spooled_entries == 300).await;
    assert!(stats.spool_segments > 1, "several batches spooled: {stats:?}");
    assert_eq!(stats.sent_entries, 0);
    receiver.up().await;
    flush(&sink).await;
    let streams = receiver.streams();
    let even = lines_of(&streams, "even");
    let odd = lines_of(&streams, "odd");
    assert_eq!(even, (0..300).step_by(2).map(|i| format!("{i:05}")).collect::<Vec<_>>());
    assert_eq!(odd, (1..300).step_by(2).map(|i| format!("{i:05}")).collect::<Vec<_>>());
    assert_eq!(sink.stats().dropped_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_the_spool_before_new_entries() {
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = LokiConfig { batch_max_bytes: 1024, ..config(&receiver.url(), spool.path()) };
    {
        let sink = start(cfg.clone());
        sink.push(&stream("restart"), (0..100).map(|i| Entry::new(i, format!("{i:03}"))).collect()).unwrap();
        let stats = sink.close(Duration::ZERO).await;
        assert_eq!(stats.spooled_entries, 100);
        assert!(stats.spool_segments > 1);
    }
    let sink = start(cfg);
    assert_eq!(sink.stats().spool_entries, 100, "the spool is indexed at start");
    sink.push(&stream("restart"), (100..110).map(|i| Entry::new(i, format!("{i:03}"))).collect()).unwrap();
    receiver.up().await;
    flush(&sink).await;
    let lines = lines_of(&receiver.streams(), "restart");
    assert_eq!(lines, (0..110).map(|i| format!("{i:03}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_counts_them() {
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig {
        format: Format::Json,
        batch_max_bytes: 2000,
        spool_max_bytes: 10_000,
        ..config(&receiver.url(), spool.path())
    });
    let total = 1000u64;
    for i in 0..total {
        sink.push(&stream("overflow"), vec![Entry::new(i, format!("entry {i:05} {}", "y".repeat(40)))]).unwrap();
    }
    let stats = wait_stats(&sink, "all entries spooled", |s| s.spooled_entries == total).await;
    let dropped = stats.dropped(DropReason::SpoolFull);
    assert!(dropped > 0, "a 10 kB spool cannot hold {total} entries: {stats:?}");
    let on_disk: u64 = std::fs::read_dir(spool.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(on_disk <= 10_000 + 2_500, "spool holds {on_disk} bytes, bound 10 000 plus the batch in flight");
    receiver.up().await;
    flush(&sink).await;
    let lines = lines_of(&receiver.streams(), "overflow");
    assert_eq!(lines.len() as u64 + dropped, total, "received + dropped = pushed");
    assert!(lines.windows(2).all(|w| w[0] < w[1]));
    assert!(lines.last().unwrap().starts_with(&format!("entry {:05}", total - 1)), "the newest survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_spills_in_order_from_the_callers() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink =
        start(LokiConfig { queue_max_bytes: 200, batch_max_bytes: 4096, ..config(&receiver.url(), spool.path()) });
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                for i in 0..500u64 {
                    sink.push(&stream(&format!("t{t}")), vec![Entry::new(i, format!("{i:04}"))]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    flush(&sink).await;
    let streams = receiver.streams();
    for t in 0..4 {
        let lines = lines_of(&streams, &format!("t{t}"));
        assert_eq!(lines, (0..500).map(|i| format!("{i:04}")).collect::<Vec<_>>(), "stream t{t}");
    }
    assert_eq!(sink.stats().dropped_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_labels_are_refused_by_name_and_long_lines_cut() {
    let receiver = Receiver::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig {
        max_line_bytes: 100,
        static_labels: (0..14).map(|i| (format!("s{i:02}"), "v".to_owned())).collect(),
        ..config(&receiver.url(), spool.path())
    });
    // 3 own labels + 14 static ones = 17 > 15.
    let err = sink.push(&stream("x"), vec![Entry::new(1, "a"), Entry::new(2, "b")]).unwrap_err();
    assert!(matches!(err, PushError::Labels(LabelError::TooMany { count: 17, .. })), "{err}");
    assert!(err.to_string().contains("s13"), "{err}");
    assert_eq!(sink.stats().dropped(DropReason::InvalidLabels), 2);
    drop(sink);

    let spool = tempfile::tempdir().unwrap();
    let sink = start(LokiConfig { max_line_bytes: 100, ..config(&receiver.url(), spool.path()) });
    sink.push(&stream("long"), vec![Entry::new(1, "z".repeat(1000))]).unwrap();
    flush(&sink).await;
    let lines = lines_of(&receiver.streams(), "long");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].len() <= 100 && lines[0].ends_with(TRUNCATION_MARKER), "{}", lines[0]);
    assert_eq!(sink.stats().truncated_entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_errors_name_what_is_wrong() {
    crypto();
    let spool = tempfile::tempdir().unwrap();
    let cfg = config("http://127.0.0.1:9/loki/api/v1/push", spool.path());
    let (_first, _task) = LokiSink::start(cfg.clone()).unwrap();
    let err = LokiSink::start(cfg.clone()).unwrap_err().to_string();
    assert!(err.contains("in use") && err.contains(&spool.path().display().to_string()), "{err}");

    let other = tempfile::tempdir().unwrap();
    let missing = other.path().join("ca.pem");
    let err = LokiSink::start(LokiConfig { tls_ca_file: Some(missing.clone()), ..config("https://x/", other.path()) })
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls_ca_file") && err.contains(&missing.display().to_string()), "{err}");

    let err = LokiSink::start(LokiConfig { spool_dir: None, ..cfg }).unwrap_err().to_string();
    assert!(err.contains("spool_dir"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_ca_file() {
    crypto();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let receiver = Receiver::start_on(0, Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))).await;
    let sink = start(LokiConfig { tls_ca_file: Some(ca), ..config(&receiver.url(), &dir.path().join("spool")) });
    sink.push(&stream("tls"), vec![Entry::new(1, "secret line")]).unwrap();
    flush(&sink).await;
    assert_eq!(lines_of(&receiver.streams(), "tls"), ["secret line"]);

    // Without the CA the system store does not trust the certificate: retried, never sent.
    let spool = tempfile::tempdir().unwrap();
    let untrusted = start(config(&receiver.url(), spool.path()));
    untrusted.push(&stream("tls2"), vec![Entry::new(1, "x")]).unwrap();
    let stats = wait_stats(&untrusted, "a TLS failure", |s| s.retries >= 1).await;
    assert_eq!(stats.sent_entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_spools_what_is_pending() {
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = LokiConfig { batch_max_wait: Duration::from_secs(3600), ..config(&receiver.url(), spool.path()) };
    let sink = start(cfg.clone());
    let clone = sink.clone();
    sink.push(&stream("dropped"), vec![Entry::new(1, "pending")]).unwrap();
    drop(sink);
    drop(clone);
    // The writer thread cuts the pending batch into the spool as it stops.
    let deadline = Instant::now() + WAIT;
    while std::fs::read_dir(spool.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count()
        == 0
    {
        assert!(Instant::now() < deadline, "the pending entry never reached the spool");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The spool lock is released once the writer and sender are gone; then a new sink replays it.
    receiver.up().await;
    let deadline = Instant::now() + WAIT;
    let sink = loop {
        crypto();
        match LokiSink::start(cfg.clone()) {
            Ok((sink, sender)) => {
                tokio::spawn(sender);
                break sink;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "spool still locked: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    flush(&sink).await;
    assert_eq!(lines_of(&receiver.streams(), "dropped"), ["pending"]);
}
