//! The agent: the one place that builds and owns the running gomon from its
//! configuration. `gomon run` and Grafana plugin mode both start it; the HTTPS server
//! (`serve/`) and the gRPC services (`plugin/`) are adapters that translate requests
//! into calls on its [`Local`] answers and own nothing.
//!
//! ```text
//!                 ┌───────────────────────── Agent ──────────────────────────┐
//! Config ─slices─►│ probes (runtime) ─► Collector ─► Schedule ─► History      │
//!                 │     ▲  Reloader        │ Connections (on request)         │
//!                 │     └── observations (observers ─► probes ─► Loki | file)  │
//!                 │                          └─► ObservationRing              │
//!                 │ Local: graph · processes · probes · series · events · health│
//!                 └────────────────────────────▲───────────────────────────────┘
//!                         serve/ (HTTPS) ───────┤
//!                         plugin/ (gRPC) ───────┘   (or a Remote agent's API)
//! ```
//!
//! Each part gets its own slice of the configuration, cut here once: the runtime its
//! [`RuntimeOptions`](crate::runtime::RuntimeOptions), the samplers `[sample]`, the
//! observations `[observe]`, `[loki]` and the state directory; the interval lives in
//! the [`Schedule`](crate::collect::Schedule).

pub mod fleet;
pub mod graph;
pub mod health;
pub mod history;
pub mod local;
pub mod privileges;
pub mod query;
pub mod remote;
pub mod source;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::watch;

use crate::collect::{self, Collector};
use crate::config::Config;
use crate::observations::{self, recent::ObservationRing};
use crate::runtime::reload::Reloader;
use crate::runtime::{ProbeSet, RuntimeOptions};

pub use graph::Renderer;
pub use local::Local;
pub use source::{Check, DataSource, SourceError};

/// A running agent.
pub struct Agent {
    local: Arc<Local>,
    shutdown: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    observing: Option<observations::Running>,
}

impl Agent {
    /// Builds and starts everything the configuration asks for: the built-in probes
    /// (compiled off the async workers), the collector on its schedule, the
    /// observations (a failure there is logged and reported by the health check, the
    /// rest runs on), the history of recent samples, and the probe directory's reloader.
    /// The state directory must exist (see [`prepare_state_dir`]).
    pub async fn start(config: &Config, renderer: Renderer) -> anyhow::Result<Agent> {
        check_secret_files(config)?;
        let options = config.runtime_options();
        let probes = tokio::task::spawn_blocking(move || load_probes(options))
            .await
            .context("loading the probes panicked")??;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (mut collector, connections) = Collector::from_config(&config.sample, probes.clone());
        // What the enabled features need and this process lacks: said once, then served
        // by the `capabilities` check and the `gomon_capability_missing` gauge.
        let held = privileges::Held::current(&config.sample.proc_root);
        let capabilities = privileges::Assessment::new(&privileges::Features::of(config), held.as_ref());
        capabilities.log();
        let gauge = capabilities.clone();
        collector.add_source(Box::new(move || vec![gauge.family()]));

        let ring = Arc::new(ObservationRing::default());
        let started = observations::start(
            &config.observe,
            &config.loki,
            &config.state_dir,
            probes.clone(),
            ring.clone(),
            shutdown_rx.clone(),
        );
        let (observing, outlet) = match started {
            Ok((running, families)) => {
                for source in families {
                    collector.add_source(source);
                }
                let state = running.state_handle();
                (Some(running), Ok(state))
            }
            Err(e) => {
                tracing::error!("Observations are off: {e:#}");
                (None, Err(format!("{e:#}")))
            }
        };
        if config.fleet.export {
            let max_series = config.fleet.max_series;
            collector.add_snapshot_source(Box::new(move |snapshot| fleet::export(snapshot, max_series)), true);
            tracing::info!("Exporting this host's endpoints for the fleet view (a socket discovery every interval).");
        }
        let fleet_view = if config.fleet.has_view() {
            let settings = fleet::FleetSettings::from_config(&config.fleet)?;
            let view = fleet::Fleet::new(&settings).map_err(|e| anyhow::anyhow!("[fleet]: {e}"))?;
            if let Some(view) = &view {
                tracing::info!("Fleet view over {}.", view.describe());
            }
            view.map(Arc::new)
        } else {
            None
        };
        let schedule = collect::start(collector, config.interval, shutdown_rx.clone());

        // Hot reload: a changed probe set is sampled at once, not at the next tick.
        let stopping = Arc::new(AtomicBool::new(false));
        let dir = config.probe_dir();
        tracing::info!(dir = %dir.display(), "Watching the probe directory.");
        let (stop, on_change) = (stopping.clone(), schedule.clone());
        Reloader::new(dir, probes.clone())
            .spawn(move || stop.load(Ordering::Relaxed), move || on_change.request_reload_cycle());

        let history = Arc::new(history::History::new(history::Limits::default()));
        tokio::spawn(history::feed(history.clone(), schedule.subscribe()));
        let health = local::HealthInputs { capabilities, loki: config.loki.clone(), observations: outlet };
        let local =
            Arc::new(Local::new(schedule, probes, connections, history, ring, renderer, health).with_fleet(fleet_view));
        tracing::info!(interval = ?config.interval, "Agent running.");
        Ok(Agent { local, shutdown, stopping, observing })
    }

    /// The agent's answers.
    pub fn local(&self) -> Arc<Local> {
        self.local.clone()
    }

    /// Turns true when the agent stops (servers drain on it).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops sampling, reloading and observing; what the observers hold is flushed
    /// (Loki: what is unsent stays in the spool).
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        if let Some(observing) = self.observing {
            observing.stop().await;
        }
    }
}

/// The built-in probes; the probe directory's files are loaded by the reloader, off
/// the start-up path.
pub fn load_probes(options: RuntimeOptions) -> anyhow::Result<Arc<Mutex<ProbeSet>>> {
    let mut probes = ProbeSet::new(options)?;
    for error in probes.load_builtins() {
        tracing::error!("Built-in probe not loaded: {error}");
    }
    Ok(Arc::new(Mutex::new(probes)))
}

/// The files the agent sends as credentials (`[loki]` `bearer_token_file` and
/// `basic_auth.password_file`, `[fleet] token_file`) must be private to gomon's user,
/// and the CAs it trusts for them (`tls_ca_file` of both) writable by nobody else:
/// a token another user can read is that user's way into Loki or into every agent's
/// API; a CA another user can write lets them answer in Loki's or an agent's name.
/// Checked like the state directory (StrictModes, `crate::trust`); the error names the
/// key, the file, its owner and mode, and the fix.
pub fn check_secret_files(config: &Config) -> anyhow::Result<()> {
    let loki = &config.loki;
    let secrets = [
        ("[loki] bearer_token_file", loki.bearer_token_file.as_deref()),
        ("[loki] basic_auth.password_file", loki.basic_auth.as_ref().and_then(|b| b.password_file.as_deref())),
        ("[fleet] token_file", config.fleet.token_file.as_deref()),
    ];
    for (key, path) in secrets {
        if let Some(path) = path {
            crate::trust::check_private_file(path).with_context(|| format!("{key}: refused"))?;
        }
    }
    let anchors = [
        ("[loki] tls_ca_file", loki.tls_ca_file.as_deref()),
        ("[fleet] tls_ca_file", config.fleet.tls_ca_file.as_deref()),
    ];
    for (key, path) in anchors {
        if let Some(path) = path {
            crate::trust::check_file(path).with_context(|| format!("{key}: refused"))?;
        }
    }
    Ok(())
}

/// Creates the state directory, private (0700), or checks the one there: it must be
/// a directory (not a link to one) owned by this user or root, and not writable by
/// group or others — otherwise another local user could plant the probes, the
/// compiled code or the credentials gomon trusts.
pub fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state directory {}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    anyhow::ensure!(meta.is_dir(), "state directory {} is not a directory (a link?)", dir.display());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    anyhow::ensure!(
        meta.uid() == euid || meta.uid() == 0,
        "state directory {} is owned by uid {}, not by this user (uid {euid}) or root: refusing it (chown it, or choose another)",
        dir.display(),
        meta.uid()
    );
    let mode = meta.permissions().mode() & 0o7777;
    anyhow::ensure!(
        mode & 0o022 == 0,
        "state directory {} has mode {mode:04o}, writable by group or others: refusing it (chmod go-w {})",
        dir.display(),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_state_dir_is_created_private_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/state");
        prepare_state_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare_state_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("0777") && error.contains("chmod go-w"), "{error}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(prepare_state_dir(&link).unwrap_err().to_string().contains("not a directory"));
    }

    #[test]
    fn credentials_sent_out_must_be_private_and_their_cas_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc");
        prepare_state_dir(&dir).unwrap();
        let (token, ca) = (dir.join("fleet-token"), dir.join("ca.pem"));
        std::fs::write(&token, "t0ken\n").unwrap();
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let set =
            |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        set(&token, 0o600);
        set(&ca, 0o644);
        let mut config = Config::default();
        config.fleet.token_file = Some(token.clone());
        config.fleet.tls_ca_file = Some(ca.clone());
        config.loki.bearer_token_file = Some(token.clone());
        check_secret_files(&config).unwrap();

        // Readable by others: another user's way into every agent's API.
        set(&token, 0o644);
        let error = format!("{:#}", check_secret_files(&config).unwrap_err());
        assert!(error.contains("[loki] bearer_token_file") && error.contains(token.to_str().unwrap()), "{error}");
        assert!(error.contains("chmod go-rwx"), "{error}");
        config.loki.bearer_token_file = None;
        let error = format!("{:#}", check_secret_files(&config).unwrap_err());
        assert!(error.contains("[fleet] token_file"), "{error}");
        set(&token, 0o600);

        // A CA others may write: they could answer in an agent's name.
        set(&ca, 0o666);
        let error = format!("{:#}", check_secret_files(&config).unwrap_err());
        assert!(error.contains("[fleet] tls_ca_file") && error.contains("chmod go-w"), "{error}");
        set(&ca, 0o644);
        check_secret_files(&config).unwrap();
    }
}
