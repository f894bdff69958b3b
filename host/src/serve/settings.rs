//! `[web]`: who may read what over HTTPS, and the connection bounds.
//!
//! ```toml
//! [web]
//! config_file = "/etc/gomon/web.yml"   # exporter-toolkit web config (--web.config.file)
//! auth = "on"                          # "off": no credential asked (loopback), /metrics only (elsewhere)
//! max_connections = 512
//! max_connections_per_peer = 64
//! handshake_timeout = "10s"
//! header_timeout = "10s"
//! idle_timeout = "60s"
//! write_timeout = "10s"
//! response_timeout = "60s"
//! max_lifetime = "10m"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::limits::Limits;

/// Whether routes that reveal more than `/proc` does ask for a credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// They do (the default).
    #[default]
    On,
    /// They do not: served to anyone on a loopback address, not served at all on others.
    Off,
}

/// The `[web]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// An exporter-toolkit web configuration file (YAML: `tls_server_config`,
    /// `http_server_config`, `basic_auth_users`, `rate_limit`), as node_exporter's
    /// `--web.config.file`. Its TLS settings replace `[tls]`.
    pub config_file: Option<PathBuf>,
    /// `on`: routes that reveal logs, processes, connections or probe internals need
    /// a credential. `off`: they need none on a loopback `listen`, and are not served on
    /// any other address (`/metrics` only).
    pub auth: AuthMode,
    /// Connections held at once.
    pub max_connections: usize,
    /// Connections held at once from one peer (an IPv4 address or an IPv6 /64).
    pub max_connections_per_peer: usize,
    /// Time a TLS handshake may take.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Time a request head may take once its first byte arrived.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Time a connection may wait for its next request.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time a write may make no progress.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Time one response may take to be written.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Time a connection may live (closed after its current request).
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
}

impl Default for WebSettings {
    fn default() -> Self {
        let limits = Limits::default();
        WebSettings {
            config_file: None,
            auth: AuthMode::On,
            max_connections: limits.max_connections,
            max_connections_per_peer: limits.max_per_peer,
            handshake_timeout: limits.handshake_timeout,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            write_timeout: limits.write_timeout,
            response_timeout: limits.response_timeout,
            max_lifetime: limits.max_lifetime,
        }
    }
}

impl WebSettings {
    /// The connection limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_per_peer: self.max_connections_per_peer,
            handshake_timeout: self.handshake_timeout,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            response_timeout: self.response_timeout,
            max_lifetime: self.max_lifetime,
        }
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("web.max_connections must be at least 1".into());
        }
        if self.max_connections_per_peer == 0 {
            return Err("web.max_connections_per_peer must be at least 1".into());
        }
        for (name, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
            ("response_timeout", self.response_timeout),
            ("max_lifetime", self.max_lifetime),
        ] {
            if value < Duration::from_millis(100) {
                return Err(format!("web.{name} {value:?} is too short (minimum 100ms)"));
            }
        }
        Ok(())
    }
}
