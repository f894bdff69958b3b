//! gomon's configuration: a TOML file, overridden by command-line flags.
//!
//! Every field has a default, so an empty file (or none) is a valid
//! configuration. Unknown keys are refused with their name, so a typo never
//! silently falls back to a default. `gomon config` prints the effective
//! configuration in this format; `assets/gomon.example.toml` is the
//! documented example (a test keeps it equal to the defaults).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::runtime::RuntimeOptions;
use crate::runtime::probe::Limits;
use crate::sample::SampleConfig;

pub use crate::runtime::config::{ProbeConfig, ProbesConfig};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port of the HTTPS server that serves `/metrics`.
    pub listen: SocketAddr,
    /// Directory for the generated TLS certificate, the compiled-probe cache
    /// and other state. Default: `/var/lib/gomon` for root, else
    /// `$XDG_STATE_HOME/gomon` (or `~/.local/state/gomon`).
    pub state_dir: PathBuf,
    /// Sampling interval. Samples are aligned to multiples of it; a scrape
    /// that finds the last sample older than 1.5 intervals samples at once.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// File holding a bearer token accepted beside the generated credential
    /// (`<state_dir>/credentials/token`) on every route that needs one: a Grafana data
    /// source in agent mode may send it as its *Agent token*. Mode 0600, owned by
    /// gomon's user or root.
    pub api_token_file: Option<PathBuf>,
    /// TLS for the HTTP server.
    pub tls: TlsConfig,
    /// Who may read what over HTTPS (the web config file, the auth switch) and the
    /// connection bounds (`[web]`).
    pub web: crate::serve::settings::WebSettings,
    /// What the host samples and how.
    pub sample: SampleConfig,
    /// Settings shared by every probe.
    pub probes: ProbesConfig,
    /// Per-probe settings, by probe name: `[probe.cpu-ratios]`.
    pub probe: BTreeMap<String, ProbeConfig>,
    /// gomon's own log.
    pub log: LogConfig,
    /// What the host observes (`[observe]`): process, file and log events.
    pub observe: crate::observe::ObserveConfig,
    /// Loki push (`[loki]`). Without `url`, observations go to a local Loki
    /// (`http://localhost:3100`) while it answers, else to a size-rotated NDJSON file in
    /// `<state_dir>/observations/`; `url = "off"`: always the file.
    pub loki: gomon_sink_loki::LokiConfig,
    /// Grafana plugin mode (`[plugin]`).
    pub plugin: PluginConfig,
    /// The fleet's connection graph (`[fleet]`): this host's endpoint export, and the
    /// peers or Prometheus the fleet view joins (see docs/fleet.md).
    pub fleet: crate::agent::fleet::FleetConfig,
}

/// Grafana plugin mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    /// Run the whole agent inside the plugin process, as `gomon run` does (sampling,
    /// observations, `/metrics` and `/gomon` on `listen`). `false`: every data source
    /// names an agent URL, and the plugin samples and serves nothing of its own.
    pub local_agent: bool,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig { local_agent: true }
    }
}

/// TLS settings. Without `cert` and `key`, gomon generates a self-signed
/// certificate in `<state_dir>/tls/` on first start and re-uses it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain to serve (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS. Only for a listener that nothing
    /// untrusted can reach.
    pub plain_http: bool,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human-readable) or `json` (one object per line).
    pub format: LogFormat,
    /// Level filter, in `RUST_LOG` syntax (`info`, `gomon=debug`, …).
    /// The `RUST_LOG` environment variable overrides it.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 1234)),
            state_dir: default_state_dir(),
            interval: Duration::from_secs(15),
            tls: TlsConfig::default(),
            web: Default::default(),
            api_token_file: None,
            sample: SampleConfig::default(),
            probes: ProbesConfig::default(),
            probe: BTreeMap::new(),
            log: LogConfig::default(),
            observe: crate::observe::ObserveConfig::default(),
            loki: gomon_sink_loki::LokiConfig::default(),
            plugin: PluginConfig::default(),
            fleet: crate::agent::fleet::FleetConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".to_owned() }
    }
}

impl Config {
    /// Reads a TOML file. Errors name the file and, for unknown keys, the key.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::from_toml(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        // toml's message names the unknown key and its line; keep it whole
        // but on one line.
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", one_line(&e.to_string())))
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configuration is always representable as TOML")
    }

    /// The probe runtime's slice: cache, limits, the back-off unit, per-probe settings.
    pub fn runtime_options(&self) -> RuntimeOptions {
        RuntimeOptions {
            cache_dir: Some(self.state_dir.join("cache").join("probes")),
            limits: Limits {
                memory_bytes: self.probes.memory_limit_bytes,
                call_timeout: self.probes.call_timeout,
                max_series: self.probes.max_series,
            },
            interval: self.interval,
            probe_config: self.probe.clone(),
        }
    }

    /// Directory of operator probes.
    pub fn probe_dir(&self) -> PathBuf {
        self.probes.dir.clone().unwrap_or_else(|| self.state_dir.join("probes"))
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.interval < Duration::from_millis(100) {
            anyhow::bail!("interval {:?} is too short (minimum 100ms)", self.interval);
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            anyhow::bail!("tls.cert and tls.key must be given together");
        }
        if self.probes.call_timeout < Duration::from_millis(10) {
            anyhow::bail!("probes.call_timeout {:?} is too short (minimum 10ms)", self.probes.call_timeout);
        }
        for (name, probe) in &self.probe {
            probe.validate().map_err(|e| anyhow::anyhow!("probe.{name}.{e}"))?;
        }
        self.web.validate().map_err(|e| anyhow::anyhow!(e))?;
        self.observe.validate()?;
        self.loki.validate().map_err(|e| anyhow::anyhow!("loki: {e}"))?;
        self.fleet.validate()?;
        Ok(())
    }
}

/// `/var/lib/gomon` for root, else the XDG state directory.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/gomon");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("gomon");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/gomon"),
        None => PathBuf::from("gomon-state"),
    }
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("listen = \"127.0.0.1:9\"\nintervall = \"5s\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("intervall"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_nested_key_is_named() {
        let err = Config::from_toml("[tls]\ncertificate = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
    }

    #[test]
    fn round_trips_through_toml() {
        let mut config = Config { interval: Duration::from_secs(5), ..Config::default() };
        config.tls.cert = Some("/etc/gomon/cert.pem".into());
        config.tls.key = Some("/etc/gomon/key.pem".into());
        let text = config.to_toml();
        assert!(text.contains("interval = \"5s\""), "{text}");
        assert_eq!(Config::from_toml(&text).unwrap(), config);
    }

    #[test]
    fn example_file_matches_the_defaults() {
        let text = include_str!("../../assets/gomon.example.toml");
        let mut example = Config::from_toml(text).unwrap();
        example.state_dir = Config::default().state_dir;
        assert_eq!(example, Config::default());
    }

    /// The example is also the Debian package's conffile (/etc/gomon/gomon.toml): every key
    /// the defaults have is in it, set or commented out, in its own table.
    #[test]
    fn example_file_names_every_key() {
        fn keys(path: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
            for (key, value) in table {
                match value {
                    toml::Value::Table(inner) => {
                        let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                        keys(&path, inner, out);
                    }
                    _ => out.push((path.to_owned(), key.clone())),
                }
            }
        }
        let defaults: toml::Table = toml::from_str(&Config::default().to_toml()).unwrap();
        let mut want = Vec::new();
        keys("", &defaults, &mut want);
        assert!(want.len() > 40, "{want:?}");

        let text = include_str!("../../assets/gomon.example.toml");
        let mut table = String::new();
        let mut have = std::collections::BTreeSet::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = header.to_owned();
            } else if let Some((key, _)) = line.trim_start_matches('#').trim().split_once('=') {
                let key = key.trim();
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                    have.insert((table.clone(), key.to_owned()));
                }
            }
        }
        let missing: Vec<_> = want.iter().filter(|k| !have.contains(*k)).collect();
        assert!(missing.is_empty(), "assets/gomon.example.toml lacks (table, key): {missing:?}");
    }

    #[test]
    fn per_probe_sections_parse_and_stringify_settings() {
        let config = Config::from_toml(
            "[probe.threshold-alert]\ngrants = [\"system\"]\ncall_timeout = \"50ms\"\nsettings = { metric = \"load1\", above = 2.5, enabled = true }\n[probe.io]\nenabled = false\n",
        )
        .unwrap();
        config.validate().unwrap();
        let alert = &config.probe["threshold-alert"];
        assert_eq!(alert.call_timeout, Some(Duration::from_millis(50)));
        let mut settings = alert.settings_strings();
        settings.sort();
        assert_eq!(
            settings,
            [("above".into(), "2.5".into()), ("enabled".into(), "true".into()), ("metric".into(), "load1".into())]
        );
        assert!(!config.probe["io"].enabled);
        let err = Config::from_toml("[probe.x]\ngrant = []\n").unwrap_err();
        assert!(err.to_string().contains("grant"), "{err}");
        let bad = Config::from_toml("[probe.x]\ngrants = [\"root\"]\n").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("`root`"));
    }

    #[test]
    fn rejects_half_a_certificate() {
        let config = Config::from_toml("[tls]\ncert = \"c.pem\"\n").unwrap();
        assert!(config.validate().is_err());
    }
}
