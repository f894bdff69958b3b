//! The probe runtime's slice of the configuration: `[probes]` (shared by every probe)
//! and `[probe.NAME]` (one probe's settings, grants and limits).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

impl ProbeConfig {
    /// Checks what serde cannot; the error names the key (`grants: …`).
    pub fn validate(&self) -> Result<(), String> {
        for grant in self.grants.iter().flatten() {
            if super::capability_from_name(grant).is_none() {
                return Err(format!(
                    "grants: unknown part `{grant}` (known: system, filesystems, disks, network, processes, process-details, connections, observations)"
                ));
            }
        }
        if self.call_timeout.is_some_and(|t| t < Duration::from_millis(10)) {
            return Err("call_timeout is too short (minimum 10ms)".to_owned());
        }
        Ok(())
    }
}
