//! `gomon` / `gomon run`: the collector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::watch;

use gomon::collect;
use gomon::config::{Config, LogFormat};
use gomon::plugin::events::ObservationRing;
use gomon::plugin::history::{self, History, Limits as HistoryLimits};
use gomon::plugin::source::Local;
use gomon::runtime::reload::Reloader;
use gomon::runtime::{ProbeSet, RuntimeOptions, probe::Limits};
use gomon::serve::{self, AppState, tls};

pub fn init_logging(config: &Config) {
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

pub fn run(config: Config) -> anyhow::Result<()> {
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
    let api_token = match &config.api_token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read api_token_file {}", path.display()))?;
            let token = token.trim();
            anyhow::ensure!(!token.is_empty(), "api_token_file {} is empty", path.display());
            Some(serve::token_digest(token))
        }
        None => None,
    };

    let probes = load_probes(&config)?;
    let probes_for_http = probes.clone();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut collector = collect::Collector::from_config(&config, probes.clone());

    // Observations: process, file and log events through the observe probes
    // to Loki or the local file; the ring keeps recent ones for the agent API.
    let observations = Arc::new(ObservationRing::default());
    let (observing, observation_families) =
        gomon::observations::start(&config, probes.clone(), observations.clone(), shutdown_rx.clone())?;
    for source in observation_families {
        collector.add_source(source);
    }
    let schedule = collect::start(collector, config.interval, shutdown_rx.clone());

    // Hot reload: a changed probe set is sampled at once, not at the next tick.
    let stopping = Arc::new(AtomicBool::new(false));
    let dir = config.probe_dir();
    tracing::info!(dir = %dir.display(), "Watching the probe directory.");
    let (stop, on_change) = (stopping.clone(), schedule.clone());
    Reloader::new(dir, probes).spawn(move || stop.load(Ordering::Relaxed), move || on_change.request_cycle());

    // The agent API (a Grafana plugin elsewhere queries it): recent samples and observations.
    let history = Arc::new(History::new(HistoryLimits::default()));
    tokio::spawn(history::feed(history.clone(), schedule.subscribe()));
    let api = Arc::new(Local {
        schedule: schedule.clone(),
        probes: probes_for_http.clone(),
        history,
        observations,
        interval: config.interval,
        proc_root: config.sample.proc_root.clone(),
        loki: config.loki.url.is_some().then(|| config.loki.clone()),
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = Arc::new(AppState {
        schedule,
        probes: probes_for_http,
        http: Default::default(),
        scheme,
        interval: config.interval,
        local: api,
        api_token,
    });
    let local = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(url = %format!("{scheme}://{local}/metrics"), interval = ?config.interval, "Serving metrics.");
    if let Some((paths, _)) = &tls {
        tracing::info!(
            ca_file = %paths.cert.display(),
            "TLS certificate (give it to Prometheus as tls_config.ca_file)."
        );
    } else {
        tracing::warn!(
            "Serving plain HTTP (--plain-http): anyone who can connect can read and tamper with the metrics."
        );
    }
    let server = tokio::spawn(serve::serve(listener, tls.map(|(_, acceptor)| acceptor), state, shutdown_rx));

    wait_for_signal().await?;
    tracing::info!("Shutting down.");
    stopping.store(true, Ordering::Relaxed);
    let _ = shutdown_tx.send(true);
    observing.stop().await;
    let _ = server.await;
    Ok(())
}

/// The runtime options the configuration asks for.
pub fn runtime_options(config: &Config) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(config.state_dir.join("cache").join("probes")),
        limits: Limits {
            memory_bytes: config.probes.memory_limit_bytes,
            call_timeout: config.probes.call_timeout,
            max_series: config.probes.max_series,
        },
        interval: config.interval,
        probe_config: config.probe.clone(),
    }
}

/// The built-in probes; the probe directory's files are loaded by the
/// reloader, off the start-up path.
pub fn load_probes(config: &Config) -> anyhow::Result<Arc<Mutex<ProbeSet>>> {
    let mut probes = ProbeSet::new(runtime_options(config))?;
    for error in probes.load_builtins() {
        tracing::error!("Built-in probe not loaded: {error}");
    }
    Ok(Arc::new(Mutex::new(probes)))
}

pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
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
