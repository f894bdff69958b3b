//! The `gomon` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;

use gomon::config::{Config, LogFormat};
use gomon::runtime::{ProbeSet, RuntimeOptions, probe::Limits};
use gomon::serve::{self, AppState, tls};
use gomon::{collect, sample::Sampler};

const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (probe contract gomon:probe@0.1.0, wasmtime 48.0.8)"
);

/// A Linux system monitor whose metrics come from sandboxed WebAssembly probes.
///
/// Without a command, gomon runs the collector: it samples the system on an
/// interval, calls its probes and serves /metrics over HTTPS.
#[derive(Parser)]
#[command(name = "gomon", version, long_version = LONG_VERSION, about, long_about)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags that override the configuration file.
#[derive(Args)]
struct Options {
    /// TOML configuration file (see `gomon config` for every key).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to serve on [default: 127.0.0.1:1234].
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// State directory: TLS certificate, compiled-probe cache, probes.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// PEM certificate to serve instead of the generated one (with --tls-key).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect).
    #[arg(long, global = true)]
    plain_http: bool,
    /// Sampling interval, e.g. 15s, 1m [default: 15s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Directory of operator probes (*.wasm) [default: <state-dir>/probes].
    #[arg(long, global = true, value_name = "DIR")]
    probe_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Log level filter (RUST_LOG syntax), e.g. info, gomon=debug.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector (the default).
    Run,
    /// Print the effective configuration (defaults, file and flags) as TOML.
    Config,
}

impl Options {
    /// The file's configuration with the flags applied.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = dir.clone();
        }
        if let Some(cert) = &self.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            config.tls.key = Some(key.clone());
        }
        config.tls.plain_http |= self.plain_http;
        if let Some(interval) = self.interval {
            config.interval = interval;
        }
        if let Some(dir) = &self.probe_dir {
            config.probes.dir = Some(dir.clone());
        }
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        if let Some(level) = &self.log_level {
            config.log.level = level.clone();
        }
        config.validate()?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = cli.options.config().and_then(|config| match cli.command {
        Some(Command::Config) => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Some(Command::Run) | None => run(config),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gomon: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .thread_name("gomon")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(collector(config))
}

async fn collector(config: Config) -> anyhow::Result<()> {
    create_private_dir(&config.state_dir)?;

    // Everything that can fail on a bad flag fails before any work starts.
    let tls = if config.tls.plain_http {
        None
    } else {
        let paths = tls::ensure_certificate(config.tls.cert.as_deref(), config.tls.key.as_deref(), &config.state_dir)?;
        let server_config = tls::server_config(&paths)?;
        if paths.generated {
            tracing::info!(cert = %paths.cert.display(), "Generated a self-signed TLS certificate.");
        }
        Some((paths, tokio_rustls::TlsAcceptor::from(server_config)))
    };
    let listener = serve::bind(config.listen).await?;

    let probes = load_probes(&config)?;
    let sampler = Sampler::new(config.sample.clone());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let schedule = collect::start(collect::Collector::new(sampler, probes), config.interval, shutdown_rx.clone());

    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = Arc::new(AppState { schedule, http: Default::default(), scheme });
    let local = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(url = %format!("{scheme}://{local}/metrics"), interval = ?config.interval, "Serving metrics.");
    if let Some((paths, _)) = &tls {
        tracing::info!(
            ca_file = %paths.cert.display(),
            "TLS certificate (give it to Prometheus as tls_config.ca_file)."
        );
    } else {
        tracing::warn!("Serving plain HTTP (--plain-http): anyone who can connect can read and tamper with the metrics.");
    }
    let server = tokio::spawn(serve::serve(listener, tls.map(|(_, acceptor)| acceptor), state, shutdown_rx));

    wait_for_signal().await?;
    tracing::info!("Shutting down.");
    let _ = shutdown_tx.send(true);
    let _ = server.await;
    Ok(())
}

fn load_probes(config: &Config) -> anyhow::Result<Arc<Mutex<ProbeSet>>> {
    let options = RuntimeOptions {
        cache_dir: Some(config.state_dir.join("cache").join("probes")),
        limits: Limits {
            memory_bytes: config.probes.memory_limit_bytes,
            call_timeout: config.probes.call_timeout,
            max_series: config.probes.max_series,
        },
        interval: config.interval,
    };
    let mut probes = ProbeSet::new(options)?;
    for error in probes.load_builtins(&config.probes.disable_builtin) {
        tracing::error!("Built-in probe not loaded: {error}");
    }
    let dir = config.probe_dir();
    for error in probes.load_dir(&dir) {
        tracing::error!("Probe not loaded: {error}");
    }
    Ok(Arc::new(Mutex::new(probes)))
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state directory {}", dir.display()))
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
