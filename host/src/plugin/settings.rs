//! A data source's settings, from the `PluginContext` of each request.
//!
//! ```json
//! jsonData:       {"agentUrl":"https://web1:1234","tlsSkipVerify":false,
//!                  "prometheusUid":"gomon-prometheus","lokiUid":"gomon-loki",
//!                  "fleetPeers":["https://web1:1234","https://db1:1234"],
//!                  "fleetPrometheusUrl":"http://prometheus:9090","fleetJob":"gomon"}
//! secureJsonData: {"agentCaCert":"-----BEGIN CERTIFICATE-----…","agentToken":"…"}
//! ```
//!
//! Without `agentUrl` the plugin answers from its own collector; with it, from the gomon
//! agent at that URL.

use serde::Deserialize;

use super::proto::pluginv2::PluginContext;

/// The `jsonData` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonData {
    /// `https://host:1234` of a gomon agent.
    #[serde(default)]
    pub agent_url: Option<String>,
    /// Accept any certificate from the agent.
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// The Prometheus data source scraping the hosts (for the frontend's links).
    #[serde(default)]
    pub prometheus_uid: Option<String>,
    /// The Loki data source holding the observations (for the frontend's links).
    #[serde(default)]
    pub loki_uid: Option<String>,
    /// The fleet view's agents (`https://host:1234`), asked concurrently; they take the
    /// agent CA, token and TLS settings above.
    #[serde(default)]
    pub fleet_peers: Vec<String>,
    /// The fleet view from a Prometheus-compatible query API scraping the agents'
    /// `[fleet] export` (instead of `fleetPeers`).
    #[serde(default)]
    pub fleet_prometheus_url: Option<String>,
    /// The Prometheus job of the agents (default `gomon`).
    #[serde(default)]
    pub fleet_job: Option<String>,
}

/// One data source instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// Grafana's uid for it (data links use it).
    pub uid: String,
    /// Its name.
    pub name: String,
    /// When it was last saved (ms), to notice changes.
    pub updated_ms: i64,
    /// Its `jsonData`.
    pub json: JsonData,
    /// `secureJsonData.agentCaCert`: PEM to trust for the agent.
    pub agent_ca_cert: Option<String>,
    /// `secureJsonData.agentToken`: sent as `Authorization: Bearer`.
    pub agent_token: Option<String>,
}

/// Settings that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `jsonData` does not parse.
    #[error("the data source's settings (jsonData) are not valid: {0}")]
    Json(String),
    /// The fleet settings cannot be used.
    #[error("fleet settings: {0}")]
    Fleet(String),
    /// `agentUrl` is not an http(s) URL.
    #[error("agentUrl {url:?} is not usable: {message}")]
    AgentUrl {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
}

impl Instance {
    /// The instance a request is for; a request without one (Grafana's own calls) gets
    /// the defaults: the local collector.
    pub fn from_context(context: Option<&PluginContext>) -> Result<Instance, SettingsError> {
        let Some(settings) = context.and_then(|c| c.data_source_instance_settings.as_ref()) else {
            return Ok(Instance::default());
        };
        let json: JsonData = if settings.json_data.iter().all(u8::is_ascii_whitespace) {
            JsonData::default()
        } else {
            serde_json::from_slice(&settings.json_data).map_err(|e| SettingsError::Json(e.to_string()))?
        };
        let secret = |key: &str| {
            settings.decrypted_secure_json_data.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        };
        let instance = Instance {
            uid: settings.uid.clone(),
            name: settings.name.clone(),
            updated_ms: settings.last_updated_ms,
            json,
            agent_ca_cert: secret("agentCaCert"),
            agent_token: secret("agentToken"),
        };
        instance.agent_url()?;
        instance.fleet_settings(std::time::Duration::from_secs(5))?;
        Ok(instance)
    }

    /// The fleet view this data source names (peers or a Prometheus URL), with the
    /// agent CA, token and TLS settings; `None` when it names none.
    pub fn fleet_settings(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Option<crate::agent::fleet::FleetSettings>, SettingsError> {
        use crate::agent::fleet::{FleetSettings, parse_url};
        let peers: Vec<String> =
            self.json.fleet_peers.iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
        let prometheus_url = self.json.fleet_prometheus_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        if peers.is_empty() && prometheus_url.is_none() {
            return Ok(None);
        }
        if !peers.is_empty() && prometheus_url.is_some() {
            return Err(SettingsError::Fleet("set fleetPeers or fleetPrometheusUrl, not both".into()));
        }
        for url in peers.iter().map(String::as_str).chain(prometheus_url) {
            parse_url(url).map_err(SettingsError::Fleet)?;
        }
        Ok(Some(FleetSettings {
            peers,
            prometheus_url: prometheus_url.map(str::to_owned),
            job: self.json.fleet_job.as_deref().map(str::trim).filter(|j| !j.is_empty()).unwrap_or("gomon").to_owned(),
            remote: crate::agent::remote::RemoteOptions {
                ca_pem: self.agent_ca_cert.clone(),
                tls_skip_verify: self.json.tls_skip_verify,
                token: self.agent_token.clone(),
            },
            timeout,
            agent_scheme: "https".into(),
        }))
    }

    /// The agent's base URL, when one is set (checked: http or https, a host, no query).
    pub fn agent_url(&self) -> Result<Option<reqwest::Url>, SettingsError> {
        let Some(text) = self.json.agent_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let bad = |message: &str| SettingsError::AgentUrl { url: text.to_owned(), message: message.to_owned() };
        let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("the scheme must be https (or http for an agent run with --plain-http)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or fragment"));
        }
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto::pluginv2::DataSourceInstanceSettings;
    use super::*;

    fn context(json: &str, secrets: &[(&str, &str)]) -> PluginContext {
        PluginContext {
            data_source_instance_settings: Some(DataSourceInstanceSettings {
                uid: "P1".into(),
                name: "gomon".into(),
                json_data: json.as_bytes().to_vec(),
                decrypted_secure_json_data: secrets.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn settings_are_read_from_the_context() {
        let instance = Instance::from_context(Some(&context(
            r#"{"agentUrl":"https://web1:1234","tlsSkipVerify":true,"lokiUid":"L","other":1}"#,
            &[("agentToken", " t0k "), ("agentCaCert", "")],
        )))
        .unwrap();
        assert_eq!(instance.uid, "P1");
        assert!(instance.json.tls_skip_verify);
        assert_eq!(instance.json.loki_uid.as_deref(), Some("L"));
        assert_eq!(instance.agent_token.as_deref(), Some("t0k"));
        assert_eq!(instance.agent_ca_cert, None, "an empty secret is no secret");
        assert_eq!(instance.agent_url().unwrap().unwrap().as_str(), "https://web1:1234/");
        assert_eq!(Instance::from_context(None).unwrap(), Instance::default());
        assert_eq!(Instance::from_context(Some(&context("", &[]))).unwrap().agent_url(), Ok(None));
    }

    #[test]
    fn bad_settings_are_named() {
        let error = Instance::from_context(Some(&context("{", &[]))).unwrap_err();
        assert!(matches!(error, SettingsError::Json(_)));
        for json in
            [r#"{"fleetPeers":["ftp://x"]}"#, r#"{"fleetPeers":["https://a:1"],"fleetPrometheusUrl":"http://p"}"#]
        {
            let error = Instance::from_context(Some(&context(json, &[]))).unwrap_err().to_string();
            assert!(error.starts_with("fleet settings: "), "{json}: {error}");
        }
        for url in ["ftp://x", "web1:1234", "https://x/?a=1"] {
            let json = format!(r#"{{"agentUrl":"{url}"}}"#);
            let error = Instance::from_context(Some(&context(&json, &[]))).unwrap_err().to_string();
            assert!(error.contains("agentUrl"), "{url}: {error}");
        }
    }
}
