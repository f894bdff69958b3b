//! Pushes NDJSON entries from stdin through `LokiSink`, then flushes and exits.
//! The e2e suite (host/tests/e2e/test_loki_sink.py) drives it against the
//! Python Loki receiver; it may be killed at any moment.
//!
//! ```text
//! echo '{"labels":{"host":"h1","source":"process","event":"exec"},"time_nanos":1700000000000000000,"line":"exec sh","metadata":{"pid":"42"}}' |
//!   cargo run --release -p gomon-sink-loki --example loki_push -- \
//!     --url http://127.0.0.1:3100/loki/api/v1/push --spool-dir /tmp/spool
//! ```
//!
//! While it runs, `--stats-file` is rewritten (atomically) every 50 ms with a
//! JSON object: the sink's counters plus `pushed` (lines accepted from stdin)
//! and `eof`. At the end the same object goes to stdout. Exit status: 0 when the
//! spool is empty at the end, 3 when `--drain-timeout` passed first, 2 on bad input.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use gomon_sink_loki::{BasicAuth, Entry, Format, Labels, LokiConfig, LokiSink, SinkHandle};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(about = "Push NDJSON entries from stdin to Loki through gomon's Loki sink", args_override_self = true)]
struct Args {
    /// Push URL.
    #[arg(long)]
    url: String,
    /// Spool directory.
    #[arg(long)]
    spool_dir: PathBuf,
    /// protobuf, json or json-gzip.
    #[arg(long, default_value = "protobuf")]
    format: String,
    /// X-Scope-OrgID.
    #[arg(long)]
    tenant: Option<String>,
    /// Bearer token.
    #[arg(long)]
    bearer_token: Option<String>,
    /// Basic auth user (with --password).
    #[arg(long)]
    user: Option<String>,
    /// Basic auth password.
    #[arg(long)]
    password: Option<String>,
    /// CA certificate file for https.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// A static label, NAME=VALUE (repeatable).
    #[arg(long = "static-label")]
    static_labels: Vec<String>,
    #[arg(long, default_value_t = 1 << 20)]
    batch_max_bytes: u64,
    #[arg(long, default_value = "1s")]
    batch_max_wait: humantime::Duration,
    #[arg(long, default_value = "500ms")]
    min_backoff: humantime::Duration,
    #[arg(long, default_value = "5m")]
    max_backoff: humantime::Duration,
    #[arg(long, default_value = "10s")]
    timeout: humantime::Duration,
    #[arg(long, default_value_t = 64 << 20)]
    spool_max_bytes: u64,
    /// After stdin ends, how long to wait for the spool to empty.
    #[arg(long, default_value = "30s")]
    drain_timeout: humantime::Duration,
    /// Rewritten with the counters every 50 ms.
    #[arg(long)]
    stats_file: Option<PathBuf>,
}

/// One stdin line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    labels: BTreeMap<String, String>,
    time_nanos: u64,
    line: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("loki_push: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<u8> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let format = Format::from_name(&args.format).with_context(|| format!("--format {}: unknown", args.format))?;
    let mut static_labels = BTreeMap::new();
    for pair in &args.static_labels {
        let (k, v) = pair.split_once('=').with_context(|| format!("--static-label {pair}: expected NAME=VALUE"))?;
        static_labels.insert(k.to_owned(), v.to_owned());
    }
    let config = LokiConfig {
        url: Some(args.url.clone()),
        tenant: args.tenant.clone(),
        tls_ca_file: args.ca_file.clone(),
        basic_auth: args.user.clone().map(|user| BasicAuth {
            user,
            password: args.password.clone(),
            password_file: None,
        }),
        bearer_token: args.bearer_token.clone(),
        format,
        static_labels,
        batch_max_bytes: args.batch_max_bytes,
        batch_max_wait: args.batch_max_wait.into(),
        min_backoff: args.min_backoff.into(),
        max_backoff: args.max_backoff.into(),
        timeout: args.timeout.into(),
        spool_dir: Some(args.spool_dir.clone()),
        spool_max_bytes: args.spool_max_bytes,
        ..LokiConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (sink, sender) = LokiSink::start(config).context("cannot start the Loki sink")?;
    let sender = runtime.spawn(sender);
    let pushed = Arc::new(AtomicU64::new(0));
    let eof = Arc::new(AtomicBool::new(false));
    if let Some(path) = args.stats_file.clone() {
        let (sink, pushed, eof) = (sink.clone(), pushed.clone(), eof.clone());
        runtime.spawn(async move {
            loop {
                let _ = write_stats(&path, &sink, pushed.load(Ordering::Relaxed), eof.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    // `push` is synchronous: read stdin here while the runtime sends.
    for (index, text) in std::io::stdin().lock().lines().enumerate() {
        let number = index + 1;
        let text = text.context("reading stdin")?;
        if text.trim().is_empty() {
            continue;
        }
        let input: Input = serde_json::from_str(&text).with_context(|| format!("stdin line {number}"))?;
        let labels = Labels::new(input.labels).with_context(|| format!("stdin line {number}"))?;
        let entry =
            Entry { time_nanos: input.time_nanos, line: input.line, metadata: input.metadata.into_iter().collect() };
        sink.push(&labels, vec![entry]).with_context(|| format!("stdin line {number}"))?;
        pushed.fetch_add(1, Ordering::Relaxed);
    }
    eof.store(true, Ordering::Relaxed);
    let drain: Duration = args.drain_timeout.into();
    let (drained, stats) = runtime.block_on(async {
        let drained = tokio::time::timeout(drain, sink.flush()).await.is_ok();
        let stats = sink.close(Duration::ZERO).await;
        let _ = sender.await;
        (drained, stats)
    });
    if let Some(path) = &args.stats_file {
        write_stats(path, &sink, pushed.load(Ordering::Relaxed), true)?;
    }
    let mut out = serde_json::to_value(&stats)?;
    out["pushed"] = pushed.load(Ordering::Relaxed).into();
    println!("{out}");
    Ok(if drained && stats.spool_segments == 0 { 0 } else { 3 })
}

/// Writes the counters to `path` atomically.
fn write_stats(path: &Path, sink: &SinkHandle, pushed: u64, eof: bool) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(sink.stats())?;
    value["pushed"] = pushed.into();
    value["eof"] = eof.into();
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{value}")?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
