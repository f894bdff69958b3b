//! The gRPC services Grafana calls, over one shared [`Plugin`] state:
//!
//! - `pluginv2.Data` ([`data`]): `QueryData` — nodegraph, metrics and events queries;
//! - `pluginv2.Diagnostics` ([`diagnostics`]): `CheckHealth`, `CollectMetrics`;
//! - `pluginv2.Resource` ([`resource`]): `CallResource` — `graph.svg`, `processes`, `probes`;
//! - `pluginv2.Stream` ([`stream`]): live metrics on `metrics` and `metrics/<family>`;
//! - `plugin.GRPCController` ([`controller`]): go-plugin's graceful `Shutdown`.
//!
//! Each request names its data source instance in its `PluginContext`; the instance's
//! settings choose the answers' source: the local collector, or a gomon agent (one
//! client per instance, rebuilt when the settings change).

pub mod controller;
pub mod data;
pub mod diagnostics;
pub mod resource;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::proto::pluginv2::PluginContext;
use super::settings::{Instance, SettingsError};
use crate::agent::fleet::Fleet;
use crate::agent::remote::{Remote, RemoteOptions};
use crate::agent::{DataSource, Local, Renderer, SourceError};

/// The deadline of each agent's (or query's) answer in a data source's fleet view.
const FLEET_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for the local collector to come up.
const READY_WAIT: Duration = Duration::from_secs(30);

/// State shared by the services.
pub struct Plugin {
    /// The local agent, once it is up (`None` while starting, or in agent-URL mode).
    local: watch::Receiver<Option<Arc<Local>>>,
    /// One client per agent-backed instance: uid → (settings, client).
    agents: Mutex<HashMap<String, (Instance, Arc<Remote>)>>,
    /// One fleet view per instance that names one: uid → (settings, fleet).
    fleets: Mutex<HashMap<String, (Instance, Arc<Fleet>)>>,
    /// The process's one SVG renderer (the local agent's too).
    renderer: Renderer,
    /// Turns true when asked to stop (SIGTERM or `GRPCController.Shutdown`).
    shutdown: watch::Sender<bool>,
}

/// Why a request has no source.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Bad data source settings.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The source cannot be used.
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl Plugin {
    /// State whose local agent arrives through `local`.
    pub fn new(local: watch::Receiver<Option<Arc<Local>>>, renderer: Renderer) -> Self {
        Plugin {
            local,
            agents: Mutex::new(HashMap::new()),
            fleets: Mutex::new(HashMap::new()),
            renderer,
            shutdown: watch::Sender::new(false),
        }
    }

    /// The process's one SVG renderer.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Asks everything to stop.
    pub fn stop(&self) {
        self.shutdown.send_replace(true);
    }

    /// Turns true when the plugin is asked to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The local collector, waiting (bounded) while it starts.
    pub async fn local(&self) -> Result<Arc<Local>, SourceError> {
        let mut local = self.local.clone();
        let ready = tokio::time::timeout(READY_WAIT, local.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(guard)) => guard.clone().ok_or(SourceError::NotReady),
            _ => Err(SourceError::NotReady),
        }
    }

    /// The local collector if it is up now.
    pub fn local_now(&self) -> Option<Arc<Local>> {
        self.local.borrow().clone()
    }

    /// The source the request's data source instance asks for, and its settings.
    pub async fn source(&self, context: Option<&PluginContext>) -> Result<(DataSource, Instance), ResolveError> {
        let instance = Instance::from_context(context)?;
        let Some(url) = instance.agent_url()? else {
            return Ok((DataSource::Local(self.local().await?), instance));
        };
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((settings, agent)) = agents.get(&instance.uid)
            && *settings == instance
        {
            return Ok((DataSource::Remote(agent.clone()), instance));
        }
        let options = RemoteOptions {
            ca_pem: instance.agent_ca_cert.clone(),
            tls_skip_verify: instance.json.tls_skip_verify,
            token: instance.agent_token.clone(),
        };
        let agent = Arc::new(Remote::new(url, &options)?);
        tracing::info!(datasource = %instance.name, agent = %agent.url(), "Data source answers from a gomon agent.");
        agents.insert(instance.uid.clone(), (instance.clone(), agent.clone()));
        Ok((DataSource::Remote(agent), instance))
    }

    /// The fleet view of the request's data source: the peers or Prometheus its settings
    /// name, else the local agent's `[fleet]`.
    pub async fn fleet(&self, context: Option<&PluginContext>) -> Result<(Arc<Fleet>, Instance), ResolveError> {
        let instance = Instance::from_context(context)?;
        let Some(settings) = instance.fleet_settings(FLEET_TIMEOUT)? else {
            let local = self.local().await?;
            let fleet = local.fleet().cloned().ok_or_else(|| {
                SourceError::Graph(
                    "no fleet view: set the data source's fleet peers or fleet Prometheus URL, or [fleet] in gomon.toml"
                        .into(),
                )
            })?;
            return Ok((fleet, instance));
        };
        let mut fleets = self.fleets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, fleet)) = fleets.get(&instance.uid)
            && *cached == instance
        {
            return Ok((fleet.clone(), instance));
        }
        let fleet = Fleet::new(&settings)
            .map_err(SettingsError::Fleet)?
            .ok_or_else(|| SettingsError::Fleet("no peers and no Prometheus URL".into()))?;
        tracing::info!(datasource = %instance.name, "Fleet view over {}.", fleet.describe());
        let fleet = Arc::new(fleet);
        fleets.insert(instance.uid.clone(), (instance.clone(), fleet.clone()));
        Ok((fleet, instance))
    }
}
