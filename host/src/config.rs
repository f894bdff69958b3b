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

use crate::sample::SampleConfig;

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
    /// File holding a bearer token the agent API (`/api/nodegraph`,
    /// `/api/series`, `/api/processes`, `/api/events`, `/api/health`) asks
    /// for: a Grafana data source in agent mode sends it as its *Agent
    /// token*. Unset: no token is asked (keep `listen` on loopback then).
    pub api_token_file: Option<PathBuf>,
    /// TLS for the HTTP server.
    pub tls: TlsConfig,
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
    /// Loki push (`[loki]`). Without `url`, observations go to a size-rotated
    /// NDJSON file in `<state_dir>/observations/`.
    pub loki: gomon_sink_loki::LokiConfig,
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

/// Probe settings shared by every probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    /// Directory of operator probes: every `*.wasm` component in it is
    /// loaded at start. Default: `<state_dir>/probes`.
    pub dir: Option<PathBuf>,
    /// Wall-clock limit for one probe call; a call past it is stopped.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Linear-memory limit of one probe instance, in bytes.
    pub memory_limit_bytes: u64,
    /// Most series one probe may return from one call; more is an error.
    pub max_series: u32,
}

/// One probe's settings (`[probe.NAME]`); unset limits fall back to
/// `[probes]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Load and call this probe. `false` disables a built-in or a file.
    pub enabled: bool,
    /// Snapshot parts the probe may read: `system`, `filesystems`, `disks`,
    /// `network`, `processes`, `process-details`, `connections`,
    /// `observations`. Default: a built-in's own needs; for operator
    /// probes `system`, `filesystems`, `disks`, `network`.
    pub grants: Option<Vec<String>>,
    /// Wall-clock limit of one call.
    #[serde(with = "humantime_serde::option")]
    pub call_timeout: Option<Duration>,
    /// Linear-memory limit, in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Most series one call may return.
    pub max_series: Option<u32>,
    /// Free-form settings handed to the probe's `configure` as key/value
    /// text (numbers and booleans are turned into their TOML text).
    pub settings: toml::Table,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            enabled: true,
            grants: None,
            call_timeout: None,
            memory_limit_bytes: None,
            max_series: None,
            settings: toml::Table::new(),
        }
    }
}

impl ProbeConfig {
    /// The settings as the key/value strings the contract passes.
    pub fn settings_strings(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
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
            api_token_file: None,
            sample: SampleConfig::default(),
            probes: ProbesConfig::default(),
            probe: BTreeMap::new(),
            log: LogConfig::default(),
            observe: crate::observe::ObserveConfig::default(),
            loki: gomon_sink_loki::LokiConfig::default(),
        }
    }
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            dir: None,
            call_timeout: Duration::from_millis(500),
            memory_limit_bytes: 64 * 1024 * 1024,
            max_series: 100_000,
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
            for grant in probe.grants.iter().flatten() {
                if crate::runtime::capability_from_name(grant).is_none() {
                    anyhow::bail!(
                        "probe.{name}.grants: unknown part `{grant}` (known: system, filesystems, disks, network, processes, process-details, connections, observations)"
                    );
                }
            }
            if probe.call_timeout.is_some_and(|t| t < Duration::from_millis(10)) {
                anyhow::bail!("probe.{name}.call_timeout is too short (minimum 10ms)");
            }
        }
        self.observe.validate()?;
        self.loki.validate().map_err(|e| anyhow::anyhow!("loki: {e}"))?;
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
