//! Grafana plugin mode: the same binary, started by Grafana as a backend data-source
//! plugin (it finds `grafana_plugin_type=datasource` in its environment).
//!
//! ```text
//! Grafana ──spawn (cookie, PLUGIN_PROTOCOL_VERSIONS)──► gomon
//!         ◄── stdout: 1|2|tcp|127.0.0.1:PORT|grpc ────  (handshake, the only stdout line)
//!         ──gRPC on 127.0.0.1:PORT──────────────────►  grpc.health.v1.Health ("plugin"),
//!                                                      pluginv2.Data / Diagnostics / Resource / Stream,
//!                                                      plugin.GRPCController (Shutdown)
//!         ◄── stderr: hclog JSON lines ──────────────
//! ```
//!
//! The handshake is printed as soon as the server listens; the collector (probes,
//! sampler, socket discovery, the in-memory [`history`]) starts behind it, and queries
//! wait for it (bounded). A data source whose settings name an `agentUrl` is answered by
//! that gomon agent over HTTPS instead ([`agent`]), so Grafana never needs root. Without
//! root or file capabilities the local collector degrades and says what is missing
//! ([`privileges`]). SIGTERM or `GRPCController.Shutdown` stop it within 5 s; SIGINT is
//! ignored, as go-plugin plugins do (Grafana stops its plugins itself).
//!
//! Configuration: the file named by `GOMON_CONFIG`, else the defaults (Grafana passes
//! no arguments).

pub mod agent;
pub mod events;
pub mod handshake;
pub mod hclog;
pub mod history;
pub mod privileges;
pub mod proto;
pub mod query;
pub mod services;
pub mod settings;
pub mod source;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::collect;
use crate::config::Config;
use crate::runtime::ProbeSet;
use crate::runtime::reload::Reloader;

use events::ObservationRing;
use history::{History, Limits};
use services::Plugin;
use source::Local;

/// Time the plugin takes at most to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// Loads the probe set the collector calls (the binary's `load_probes`).
pub type ProbeLoader = fn(&Config) -> anyhow::Result<Arc<Mutex<ProbeSet>>>;

/// Whether Grafana started this process: the cookie is set to `datasource`.
pub fn requested() -> Result<bool, handshake::HandshakeError> {
    handshake::requested(|key| std::env::var(key).ok())
}

/// The configuration plugin mode runs with: `GOMON_CONFIG`'s file, else the defaults.
pub fn config_from_env() -> anyhow::Result<Config> {
    match std::env::var_os("GOMON_CONFIG") {
        Some(path) if !path.is_empty() => {
            let config = Config::from_file(Path::new(&path))?;
            config.validate()?;
            Ok(config)
        }
        _ => Ok(Config::default()),
    }
}

/// Runs plugin mode until SIGTERM or `GRPCController.Shutdown`.
pub fn run(config: Config, load_probes: ProbeLoader) -> anyhow::Result<()> {
    hclog::init(&config.log.level);
    let environment = handshake::Environment::read(|key| std::env::var(key).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .thread_name("gomon-plugin")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, environment, load_probes));
    // A sampling cycle still running must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn serve(config: Config, environment: handshake::Environment, load_probes: ProbeLoader) -> anyhow::Result<()> {
    use proto::controller::grpc_controller_server::GrpcControllerServer;
    use proto::pluginv2::data_server::DataServer;
    use proto::pluginv2::diagnostics_server::DiagnosticsServer;
    use proto::pluginv2::resource_server::ResourceServer;
    use proto::pluginv2::stream_server::StreamServer;

    let listener = handshake::bind(environment.ports).await?;
    let addr = listener.local_addr().context("the listener has no address")?;
    let (local_tx, local_rx) = watch::channel(None);
    let plugin = Arc::new(Plugin::new(local_rx));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    let mut stopping = plugin.stopping();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(DataServer::new(services::data::DataService::new(plugin.clone())))
        .add_service(DiagnosticsServer::new(services::diagnostics::DiagnosticsService::new(plugin.clone())))
        .add_service(ResourceServer::new(services::resource::ResourceService::new(plugin.clone())))
        .add_service(StreamServer::new(services::stream::StreamService::new(plugin.clone())))
        .add_service(GrpcControllerServer::new(services::controller::ControllerService::new(plugin.clone())))
        // Without TCP_NODELAY a response's last frames wait for the client's delayed ACK (40 ms).
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    let server = tokio::spawn(server);
    handshake::announce(environment.version, addr).context("cannot write the handshake to stdout")?;
    tracing::info!(%addr, version = environment.version, "Serving the Grafana plugin protocol.");

    let (collector_stop_tx, collector_stop) = watch::channel(false);
    let collector = tokio::spawn(start_collector(config, load_probes, local_tx, collector_stop));

    wait_for_stop(&plugin).await?;
    tracing::info!("Shutting down.");
    plugin.stop();
    let _ = collector_stop_tx.send(true);
    // A collector still starting is dropped; a running one's observers stop and flush
    // (bounded: the server below gets what is left of the stop timeout).
    let stop_started = std::time::Instant::now();
    if collector.is_finished() {
        if let Ok(Some(observing)) = collector.await {
            let _ = tokio::time::timeout(STOP_TIMEOUT / 2, observing.stop()).await;
        }
    } else {
        collector.abort();
    }
    match tokio::time::timeout(STOP_TIMEOUT.saturating_sub(stop_started.elapsed()), server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e).context("the gRPC server failed"),
        Ok(Err(e)) => Err(e).context("the gRPC server task failed"),
        Err(_) => {
            tracing::info!("Requests still running after {STOP_TIMEOUT:?}; exiting anyway.");
            Ok(())
        }
    }
}

/// SIGTERM or a `Shutdown` call; SIGINT is logged and ignored.
async fn wait_for_stop(plugin: &Plugin) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut stopping = plugin.stopping();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = stopping.wait_for(|stop| *stop) => return Ok(()),
            _ = int.recv() => tracing::debug!("SIGINT ignored: Grafana stops its plugins itself."),
        }
    }
}

/// Starts the collector behind the handshake and hands it to the services.
async fn start_collector(
    mut config: Config,
    load_probes: ProbeLoader,
    local: watch::Sender<Option<Arc<Local>>>,
    shutdown: watch::Receiver<bool>,
) -> Option<crate::observations::Running> {
    if let Some(degraded) = privileges::summary(&config.sample.proc_root) {
        tracing::warn!("{degraded}");
    }
    config.state_dir = usable_state_dir(&config.state_dir);
    let loading = config.clone();
    let probes = match tokio::task::spawn_blocking(move || load_probes(&loading)).await {
        Ok(Ok(probes)) => probes,
        Ok(Err(e)) => {
            tracing::error!("The collector cannot start: {e:#}");
            return None;
        }
        Err(e) => {
            tracing::error!("The collector cannot start: {e}");
            return None;
        }
    };
    let mut collector = collect::Collector::from_config(&config, probes.clone());

    // Observations (process, file and log events) as in `gomon run`: through the observe
    // probes to Loki or the local file, the recent ones kept for the `events` query.
    let observations = Arc::new(ObservationRing::default());
    let observing = match crate::observations::start(&config, probes.clone(), observations.clone(), shutdown.clone()) {
        Ok((running, families)) => {
            for source in families {
                collector.add_source(source);
            }
            Some(running)
        }
        Err(e) => {
            tracing::error!("Observations are off: {e:#}");
            None
        }
    };
    let schedule = collect::start(collector, config.interval, shutdown.clone());

    let history = Arc::new(History::new(Limits::default()));
    tokio::spawn(history::feed(history.clone(), schedule.subscribe()));

    let stopping = Arc::new(AtomicBool::new(false));
    let (stop, on_change) = (stopping.clone(), schedule.clone());
    Reloader::new(config.probe_dir(), probes.clone())
        .spawn(move || stop.load(Ordering::Relaxed), move || on_change.request_cycle());
    let mut watch_stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = watch_stop.wait_for(|stop| *stop).await;
        stopping.store(true, Ordering::Relaxed);
    });

    local.send_replace(Some(Arc::new(Local {
        schedule,
        probes,
        history,
        observations,
        interval: config.interval,
        proc_root: config.sample.proc_root.clone(),
        loki: config.loki.url.is_some().then(|| config.loki.clone()),
    })));
    tracing::info!(interval = ?config.interval, "Collector running in the plugin process.");
    observing
}

/// The configured state directory when it can be created, else a private one under
/// the temporary directory (Grafana's user often has no writable home).
fn usable_state_dir(dir: &Path) -> PathBuf {
    match create_private_dir(dir) {
        Ok(()) => dir.to_owned(),
        Err(e) => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            let fallback = std::env::temp_dir().join(format!("gomon-plugin-{uid}"));
            tracing::warn!(
                fallback = %fallback.display(),
                "Cannot use the state directory {} ({e}); using a temporary one.",
                dir.display()
            );
            match create_private_dir(&fallback) {
                Ok(()) => fallback,
                Err(e) => {
                    tracing::warn!(
                        "Cannot create {} either ({e}); compiled probes are not cached.",
                        fallback.display()
                    );
                    fallback
                }
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
