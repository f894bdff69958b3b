//! The `[loki]` configuration section.
//!
//! Defaults follow Grafana Alloy's `loki.write` (batch 1 MiB / 1 s, backoff
//! 500 ms → 5 m, timeout 10 s); the spool and the local NDJSON file are gomon's.
//! Durations are humantime text (`"500ms"`, `"5m"`). Unknown keys are refused.
//!
//! ```toml
//! [loki]
//! url = "https://loki.example:3100/loki/api/v1/push"
//! tenant = "ops"
//! tls_ca_file = "/etc/gomon/loki-ca.pem"
//! bearer_token_file = "/etc/gomon/loki-token"
//! static_labels = { job = "gomon" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::encode::Format;
use crate::entry::DEFAULT_MAX_LINE_BYTES;
use crate::labels::{self, LabelError};

/// Where and how observations are pushed to Loki.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LokiConfig {
    /// Push endpoint, `http(s)://HOST:PORT/loki/api/v1/push`. Unset: like the
    /// original gomon, observations go to a local Loki
    /// ([`DEFAULT_URL`], `http://localhost:3100/loki/api/v1/push`) while its `/ready`
    /// answers (checked at start and every `ready_interval`), and to a size-rotated
    /// NDJSON file in the state directory while it does not. `"off"`: always the file.
    pub url: Option<String>,
    /// Without `url`: how often the local Loki's `/ready` is checked.
    #[serde(with = "humantime_serde")]
    pub ready_interval: Duration,
    /// Tenant, sent as `X-Scope-OrgID` (omitted when unset).
    pub tenant: Option<String>,
    /// PEM file of the CA(s) that sign Loki's certificate. Set: only these are
    /// trusted. Unset: the system's trust store.
    pub tls_ca_file: Option<PathBuf>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token (`Authorization: Bearer …`). Not with `basic_auth`.
    pub bearer_token: Option<String>,
    /// File holding the bearer token (read at start, surrounding whitespace
    /// trimmed). Not with `bearer_token`.
    pub bearer_token_file: Option<PathBuf>,
    /// Body format: `protobuf` (raw snappy), `json` or `json-gzip`.
    pub format: Format,
    /// Labels added to every stream (a stream's own label of the same name wins).
    pub static_labels: BTreeMap<String, String>,
    /// A batch is sent once it holds this many bytes of lines and metadata.
    pub batch_max_bytes: u64,
    /// … or once its oldest entry has waited this long.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// First retry delay after a 429, a 5xx or a network error; doubles per retry.
    #[serde(with = "humantime_serde")]
    pub min_backoff: Duration,
    /// Longest retry delay. Retries go on (at this pace) while the spool holds
    /// the batch: an outage loses nothing up to `spool_max_bytes`.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Limit of one push request, connection included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Directory of the on-disk spool. Default: `<state_dir>/loki-spool`.
    pub spool_dir: Option<PathBuf>,
    /// Most bytes the spool keeps; past it the oldest batches are dropped (and counted).
    pub spool_max_bytes: u64,
    /// Most bytes of entries waiting in memory to be written to the spool; past
    /// it, the pushing caller writes them itself.
    pub queue_max_bytes: u64,
    /// Longer lines are cut to this many bytes (Loki 3.x refuses more than 256 KB).
    pub max_line_bytes: u64,
    /// Without `url`: the NDJSON file is rotated when it reaches this size.
    pub file_max_bytes: u64,
    /// Without `url`: how many rotated NDJSON files are kept.
    pub file_keep: u32,
}

/// The Loki pushed to when `url` is unset, while it answers (the original's default).
pub const DEFAULT_URL: &str = "http://localhost:3100/loki/api/v1/push";

/// Where observations go, from [`LokiConfig::url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LokiTarget<'a> {
    /// `url = "off"`: the local NDJSON file only.
    Off,
    /// An explicit push URL: always Loki (the spool holds what it cannot take yet).
    Explicit(&'a str),
    /// No `url`: this Loki while its `/ready` answers, else the local file.
    Auto(&'a str),
}

/// HTTP basic authentication. Give `password` or `password_file`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub user: String,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// File holding the password (read at start, surrounding whitespace trimmed).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            url: None,
            ready_interval: Duration::from_secs(30),
            tenant: None,
            tls_ca_file: None,
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            format: Format::Protobuf,
            static_labels: BTreeMap::new(),
            batch_max_bytes: 1024 * 1024,
            batch_max_wait: Duration::from_secs(1),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            spool_dir: None,
            spool_max_bytes: 64 * 1024 * 1024,
            queue_max_bytes: 8 * 1024 * 1024,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES as u64,
            file_max_bytes: 64 * 1024 * 1024,
            file_keep: 3,
        }
    }
}

// Secrets stay out of logs.
impl std::fmt::Debug for LokiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiConfig")
            .field("url", &self.url)
            .field("ready_interval", &self.ready_interval)
            .field("tenant", &self.tenant)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("basic_auth", &self.basic_auth)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("bearer_token_file", &self.bearer_token_file)
            .field("format", &self.format)
            .field("static_labels", &self.static_labels)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("batch_max_wait", &self.batch_max_wait)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("timeout", &self.timeout)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("queue_max_bytes", &self.queue_max_bytes)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("file_max_bytes", &self.file_max_bytes)
            .field("file_keep", &self.file_keep)
            .finish()
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// A configuration that cannot work. The message names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a value that cannot work.
    #[error("loki.{key}: {problem}")]
    Invalid {
        /// The key, as in the file.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A static label is invalid.
    #[error("loki.static_labels: {0}")]
    StaticLabel(#[from] LabelError),
    /// A file named by the configuration cannot be read.
    #[error("loki.{key}: cannot read {}: {source}", path.display())]
    File {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The credentials to send, resolved from the configuration (files read).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic(<redacted>)",
            Auth::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

impl LokiConfig {
    /// Checks the values, independent of the network and the spool.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| ConfigError::Invalid { key, problem: problem.to_owned() };
        if let LokiTarget::Explicit(url) = self.target() {
            let parsed = reqwest::Url::parse(url).map_err(|e| invalid("url", &format!("`{url}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid("url", &format!("`{url}` must start with http:// or https://")));
            }
        }
        if let Some(tenant) = &self.tenant
            && (tenant.is_empty() || tenant.contains(['\r', '\n', '|']))
        {
            return Err(invalid("tenant", "must be non-empty, on one line, without `|`"));
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err(invalid("bearer_token", "give `bearer_token` or `bearer_token_file`, not both"));
        }
        if self.basic_auth.is_some() && (self.bearer_token.is_some() || self.bearer_token_file.is_some()) {
            return Err(invalid("basic_auth", "give basic_auth or a bearer token, not both"));
        }
        if let Some(basic) = &self.basic_auth
            && basic.password.is_some() == basic.password_file.is_some()
        {
            return Err(invalid("basic_auth", "give exactly one of `password` and `password_file`"));
        }
        for name in self.static_labels.keys() {
            labels::check_name(name)?;
        }
        if self.batch_max_bytes == 0 {
            return Err(invalid("batch_max_bytes", "must be more than 0"));
        }
        if self.batch_max_wait.is_zero() {
            return Err(invalid("batch_max_wait", "must be more than 0"));
        }
        if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            return Err(invalid("min_backoff", "must be more than 0 and at most `max_backoff`"));
        }
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be more than 0"));
        }
        if self.spool_max_bytes < self.batch_max_bytes {
            return Err(invalid("spool_max_bytes", "must be at least `batch_max_bytes`"));
        }
        if self.queue_max_bytes == 0 {
            return Err(invalid("queue_max_bytes", "must be more than 0"));
        }
        if self.max_line_bytes < 64 {
            return Err(invalid("max_line_bytes", "must be at least 64"));
        }
        if self.file_max_bytes == 0 {
            return Err(invalid("file_max_bytes", "must be more than 0"));
        }
        if self.ready_interval < Duration::from_millis(100) {
            return Err(invalid("ready_interval", "must be at least 100ms"));
        }
        Ok(())
    }

    /// Where observations go, as `url` says.
    pub fn target(&self) -> LokiTarget<'_> {
        match self.url.as_deref().map(str::trim) {
            None | Some("") => LokiTarget::Auto(DEFAULT_URL),
            Some(off) if off.eq_ignore_ascii_case("off") => LokiTarget::Off,
            Some(url) => LokiTarget::Explicit(url),
        }
    }

    /// The spool directory: `spool_dir`, else `<state_dir>/loki-spool`.
    pub fn spool_dir_in(&self, state_dir: &Path) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(|| state_dir.join("loki-spool"))
    }

    /// The static labels as pairs.
    pub(crate) fn static_label_pairs(&self) -> Vec<(String, String)> {
        self.static_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The credentials, reading the files the configuration names.
    pub(crate) fn auth(&self) -> Result<Auth, ConfigError> {
        let read = |key, path: &PathBuf| {
            std::fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|source| ConfigError::File {
                key,
                path: path.clone(),
                source,
            })
        };
        if let Some(basic) = &self.basic_auth {
            let password = match (&basic.password, &basic.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(path)) => read("basic_auth.password_file", path)?,
                (None, None) => String::new(),
            };
            return Ok(Auth::Basic { user: basic.user.clone(), password });
        }
        if let Some(token) = &self.bearer_token {
            return Ok(Auth::Bearer(token.clone()));
        }
        if let Some(path) = &self.bearer_token_file {
            return Ok(Auth::Bearer(read("bearer_token_file", path)?));
        }
        Ok(Auth::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_like_alloy() {
        let c = LokiConfig::default();
        c.validate().unwrap();
        assert_eq!(c.batch_max_bytes, 1 << 20);
        assert_eq!(c.batch_max_wait, Duration::from_secs(1));
        assert_eq!(c.min_backoff, Duration::from_millis(500));
        assert_eq!(c.max_backoff, Duration::from_secs(300));
        assert_eq!(c.spool_max_bytes, 64 << 20);
        assert_eq!(c.format, Format::Protobuf);
        assert_eq!(c.spool_dir_in(Path::new("/s")), PathBuf::from("/s/loki-spool"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: Vec<(LokiConfig, &str)> = vec![
            (LokiConfig { url: Some("localhost:3100".into()), ..Default::default() }, "loki.url"),
            (LokiConfig { url: Some("ftp://x/".into()), ..Default::default() }, "loki.url"),
            (LokiConfig { tenant: Some("a\nb".into()), ..Default::default() }, "loki.tenant"),
            (
                LokiConfig {
                    bearer_token: Some("t".into()),
                    bearer_token_file: Some("/f".into()),
                    ..Default::default()
                },
                "loki.bearer_token",
            ),
            (
                LokiConfig {
                    basic_auth: Some(BasicAuth { user: "u".into(), password: None, password_file: None }),
                    ..Default::default()
                },
                "loki.basic_auth",
            ),
            (LokiConfig { min_backoff: Duration::from_secs(600), ..Default::default() }, "loki.min_backoff"),
            (LokiConfig { spool_max_bytes: 1, ..Default::default() }, "loki.spool_max_bytes"),
            (
                LokiConfig { static_labels: [("bad-name".to_owned(), "x".to_owned())].into(), ..Default::default() },
                "bad-name",
            ),
        ];
        for (config, key) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let text = r#"
            url = "http://127.0.0.1:3100/loki/api/v1/push"
            format = "json-gzip"
            batch_max_wait = "250ms"
            max_backoff = "1m"
            static_labels = { job = "gomon" }
            basic_auth = { user = "u", password = "p" }
        "#;
        let c: LokiConfig = toml::from_str(text).unwrap();
        assert_eq!(c.format, Format::JsonGzip);
        assert_eq!(c.batch_max_wait, Duration::from_millis(250));
        assert_eq!(c.max_backoff, Duration::from_secs(60));
        c.validate().unwrap();
        assert!(matches!(c.auth().unwrap(), Auth::Basic { ref user, ref password } if user == "u" && password == "p"));
        let back: LokiConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(!format!("{c:?}").contains("\"p\""), "Debug must not show the password");

        let err = toml::from_str::<LokiConfig>("urll = \"x\"").unwrap_err().to_string();
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn token_file_is_read_and_missing_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let c = LokiConfig { bearer_token_file: Some(path), ..Default::default() };
        assert!(matches!(c.auth().unwrap(), Auth::Bearer(t) if t == "s3cret"));
        let missing = dir.path().join("nope");
        let c = LokiConfig { bearer_token_file: Some(missing.clone()), ..Default::default() };
        let err = c.auth().unwrap_err().to_string();
        assert!(err.contains("bearer_token_file") && err.contains(&missing.display().to_string()), "{err}");
    }
}
