//! Grafana plugin mode: the same binary, started by Grafana as a backend data-source
//! plugin (it finds `grafana_plugin_type=datasource` in its environment).
//!
//! ```text
//! Grafana ──spawn (cookie, PLUGIN_PROTOCOL_VERSIONS)──► gomon
//!         ◄── stdout: 1|2|unix|/tmp/gomon-plugin-…/plugin.sock|grpc| ──  (handshake, the only stdout line)
//!         ──gRPC on that socket (0700 directory, ─────►  grpc.health.v1.Health ("plugin"),
//!           peer uid checked; TLS with AutoMTLS)
//!                                                      pluginv2.Data / Diagnostics / Resource / Stream,
//!                                                      plugin.GRPCController (Shutdown)
//!         ◄── stderr: hclog JSON lines ──────────────
//! ```
//!
//! The handshake is printed as soon as the server listens; the whole agent
//! ([`crate::agent`]: probes, collector, observations to Loki or the local file,
//! history) starts behind it, as in `gomon run`, with its HTTPS server on the configured
//! address (`/metrics`, `/gomon`), and queries wait for it (bounded). A data source whose
//! settings name an `agentUrl` is answered by that gomon agent over HTTPS instead
//! ([`crate::agent::remote`]), so Grafana never needs root; with
//! `[plugin] local_agent = false` the plugin starts no agent and serves nothing of its
//! own. Without root or file capabilities the local agent degrades and says what is
//! missing. SIGTERM or `GRPCController.Shutdown` stop it within 5 s; SIGINT is ignored,
//! as go-plugin plugins do (Grafana stops its plugins itself).
//!
//! Configuration (Grafana passes no arguments): the file named by `GOMON_CONFIG`, else
//! `/etc/gomon/gomon.toml` when it exists, else the defaults. The state directory must
//! be private: the configured one, else `$XDG_STATE_HOME/gomon` or
//! `~/.local/state/gomon` of the user Grafana runs as, else a `gomon` directory beside
//! Grafana's plugin directory (its data directory) — never a shared temporary path.

pub mod channel;
pub mod fleet;
pub mod handshake;
pub mod hclog;
pub mod proto;
pub mod query;
pub mod services;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::agent::{self, Agent, Local, Renderer};
use crate::config::Config;
use crate::serve;

use services::Plugin;

/// Largest gRPC message gomon accepts from Grafana (queries and resource calls are small).
const MAX_DECODING_BYTES: usize = 4 << 20;
/// Largest gRPC message gomon sends (a node graph of many processes, an SVG).
const MAX_ENCODING_BYTES: usize = 64 << 20;

/// Time the plugin takes at most to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// The system-wide configuration file plugin mode reads when `GOMON_CONFIG` is unset.
pub const SYSTEM_CONFIG: &str = "/etc/gomon/gomon.toml";

/// Whether Grafana started this process: the cookie is set to `datasource`.
pub fn requested() -> Result<bool, handshake::HandshakeError> {
    handshake::requested(|key| std::env::var(key).ok())
}

/// The configuration plugin mode runs with: `GOMON_CONFIG`'s file, else
/// [`SYSTEM_CONFIG`] when it exists, else the defaults.
pub fn config_from_env() -> anyhow::Result<Config> {
    let path = match std::env::var_os("GOMON_CONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ if Path::new(SYSTEM_CONFIG).exists() => PathBuf::from(SYSTEM_CONFIG),
        _ => return Ok(Config::default()),
    };
    let config = Config::from_file(&path)?;
    config.validate()?;
    Ok(config)
}

/// Runs plugin mode until SIGTERM or `GRPCController.Shutdown`.
pub fn run(config: Config) -> anyhow::Result<()> {
    hclog::init(&config.log.level);
    let environment = handshake::Environment::read(|key| std::env::var(key).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .thread_name("gomon-plugin")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, environment));
    // A sampling cycle still running must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn serve(config: Config, environment: handshake::Environment) -> anyhow::Result<()> {
    use proto::controller::grpc_controller_server::GrpcControllerServer;
    use proto::pluginv2::data_server::DataServer;
    use proto::pluginv2::diagnostics_server::DiagnosticsServer;
    use proto::pluginv2::resource_server::ResourceServer;
    use proto::pluginv2::stream_server::StreamServer;

    let (listener, socket) = handshake::bind(environment.socket_dir.as_deref())?;
    let mtls = match &environment.client_cert {
        Some(pem) => Some(channel::auto_mtls(pem)?),
        None => None,
    };
    let (local_tx, local_rx) = watch::channel(None);
    let renderer = Renderer::default();
    let plugin = Arc::new(Plugin::new(local_rx, renderer.clone()));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    let mut stopping = plugin.stopping();
    macro_rules! bounded {
        ($server:expr) => {
            $server.max_decoding_message_size(MAX_DECODING_BYTES).max_encoding_message_size(MAX_ENCODING_BYTES)
        };
    }
    let incoming = channel::accept(listener, mtls.as_ref().map(|m| m.acceptor.clone()));
    let server = tonic::transport::Server::builder()
        .add_service(bounded!(health_service))
        .add_service(bounded!(DataServer::new(services::data::DataService::new(plugin.clone()))))
        .add_service(bounded!(DiagnosticsServer::new(services::diagnostics::DiagnosticsService::new(plugin.clone()))))
        .add_service(bounded!(ResourceServer::new(services::resource::ResourceService::new(plugin.clone()))))
        .add_service(bounded!(StreamServer::new(services::stream::StreamService::new(plugin.clone()))))
        .add_service(bounded!(GrpcControllerServer::new(services::controller::ControllerService::new(plugin.clone()))))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    let server = tokio::spawn(server);
    let server_cert = mtls.as_ref().map(|m| m.server_cert.as_slice());
    handshake::announce(environment.version, &socket.path, server_cert)
        .context("cannot write the handshake to stdout")?;
    tracing::info!(
        socket = %socket.path.display(),
        version = environment.version,
        auto_mtls = mtls.is_some(),
        "Serving the Grafana plugin protocol."
    );

    let agent = if config.plugin.local_agent {
        Some(tokio::spawn(start_agent(config, renderer, local_tx)))
    } else {
        tracing::info!("[plugin] local_agent = false: no local agent; data sources must name an agent URL.");
        None
    };

    wait_for_stop(&plugin).await?;
    tracing::info!("Shutting down.");
    plugin.stop();
    // An agent still starting is dropped; a running one stops and flushes its
    // observations (bounded: the server below gets what is left of the stop timeout).
    let stop_started = std::time::Instant::now();
    match agent {
        Some(task) if task.is_finished() => {
            if let Ok(Some((agent, http))) = task.await {
                let _ = tokio::time::timeout(STOP_TIMEOUT / 2, agent.stop()).await;
                if let Some(http) = http {
                    let _ = tokio::time::timeout(STOP_TIMEOUT / 4, http).await;
                }
            }
        }
        Some(task) => task.abort(),
        None => {}
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

/// Starts the agent behind the handshake, as `gomon run` does (its HTTPS server too,
/// when the address is free), and hands it to the services.
async fn start_agent(
    mut config: Config,
    renderer: Renderer,
    local: watch::Sender<Option<Arc<Local>>>,
) -> Option<(Agent, Option<tokio::task::JoinHandle<()>>)> {
    config.state_dir = match private_state_dir(&config.state_dir) {
        Ok(dir) => dir,
        Err(e) => {
            tracing::error!("The local agent cannot start: {e:#}");
            return None;
        }
    };
    let server = match serve::Server::bind(&serve::Settings::from_config(&config)).await {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!("The plugin serves no /metrics of its own: {e:#}");
            None
        }
    };
    let agent = match Agent::start(&config, renderer).await {
        Ok(agent) => agent,
        Err(e) => {
            tracing::error!("The local agent cannot start: {e:#}");
            return None;
        }
    };
    let http = server.map(|server| tokio::spawn(server.run(agent.local(), agent.stopping())));
    local.send_replace(Some(agent.local()));
    tracing::info!("Agent running in the plugin process.");
    Some((agent, http))
}

/// The first private state directory that can be had: the configured one, else a
/// `gomon` directory in Grafana's data directory (beside `plugins/`). Each is created
/// 0700 if missing and refused if another user owns it or others may write to it.
fn private_state_dir(configured: &Path) -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    let mut candidates = vec![configured.to_owned()];
    if let Some(data) = grafana_data_dir() {
        candidates.push(data.join("gomon"));
    }
    for dir in candidates {
        match agent::prepare_state_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => {
                tracing::warn!("Cannot use {} as the state directory: {e:#}", dir.display());
                tried.push(format!("{}: {e:#}", dir.display()));
            }
        }
    }
    anyhow::bail!(
        "no private state directory (tried {}); set state_dir in the file GOMON_CONFIG names",
        tried.join("; ")
    )
}

/// Grafana's data directory: `GF_PATHS_DATA`, else the parent of the `plugins`
/// directory this executable was installed in (`<data>/plugins/<id>/gpx_…`).
fn grafana_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GF_PATHS_DATA").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    let plugins = exe.parent()?.parent()?;
    (plugins.file_name()? == "plugins").then(|| plugins.parent().map(Path::to_path_buf)).flatten()
}
