//! One push request, and what its answer means.
//!
//! ```text
//! POST /loki/api/v1/push
//! Content-Type: application/x-protobuf | application/json
//! Content-Encoding: gzip                  (json-gzip only)
//! X-Scope-OrgID: <tenant>                 (when configured)
//! Authorization: Basic … | Bearer …       (when configured)
//! User-Agent: gomon/<version>
//! ```
//!
//! | answer | meaning |
//! |---|---|
//! | 2xx (Loki: 204) | accepted |
//! | 260 | ingestion blocked for the tenant (`block_ingestion_until`): dropped, counted |
//! | 429, 5xx, no answer, timeout | retry with backoff |
//! | other 4xx (400 validation, 401/403 auth, 413 too large) | dropped, body logged, counted |
//! | anything else (1xx, 3xx left after redirects) | dropped like a 4xx |
//!
//! HTTPS uses rustls; the process must have a rustls `CryptoProvider` installed
//! (the gomon binary installs `ring`'s at start).

use bytes::Bytes;

use crate::config::{Auth, ConfigError, LokiConfig};
use crate::encode::Format;

/// What a push request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx other than 260.
    Accepted,
    /// 260.
    Blocked,
    /// A status not worth retrying, with the start of the body.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Up to 1 KiB of the answer's body.
        body: String,
    },
    /// Worth retrying: 429, 5xx, or no answer.
    Retry {
        /// The status or the error, as text.
        reason: String,
    },
}

/// Classifies a status code (see the module table).
pub fn classify(status: u16) -> Answer {
    match status {
        260 => Answer::Blocked,
        200..=299 => Answer::Accepted,
        429 | 500..=599 => Answer::Retry { reason: format!("Loki answered {status}") },
        _ => Answer::Rejected { status, body: String::new() },
    }
}

/// An HTTP client for one push URL.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    tenant: Option<String>,
    auth: Auth,
}

impl Client {
    /// A client for `config.url` (which must be set), reading the CA and
    /// credential files the configuration names.
    pub(crate) fn new(config: &LokiConfig) -> Result<Client, ConfigError> {
        let invalid = |key, problem: String| ConfigError::Invalid { key, problem };
        let url_text = config.url.as_deref().ok_or_else(|| invalid("url", "is not set".to_owned()))?;
        let url = reqwest::Url::parse(url_text).map_err(|e| invalid("url", format!("`{url_text}`: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("gomon/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.tls_ca_file {
            let pem = std::fs::read(path).map_err(|source| ConfigError::File {
                key: "tls_ca_file",
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| invalid("tls_ca_file", format!("{}: not PEM certificates: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(invalid("tls_ca_file", format!("{}: no certificate found", path.display())));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http =
            builder.build().map_err(|e| invalid("url", format!("cannot build the HTTP client: {}", chain(&e))))?;
        let auth = config.auth()?;
        Ok(Client { http, url, tenant: config.tenant.clone(), auth })
    }

    /// The push URL.
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Sends one body and classifies the answer.
    pub(crate) async fn push(&self, format: Format, body: Bytes) -> Answer {
        let mut request =
            self.http.post(self.url.clone()).header(reqwest::header::CONTENT_TYPE, format.content_type()).body(body);
        if let Some(encoding) = format.content_encoding() {
            request = request.header(reqwest::header::CONTENT_ENCODING, encoding);
        }
        if let Some(tenant) = &self.tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Answer::Retry { reason: format!("no answer from {}: {}", self.url, chain(&e)) },
        };
        let status = response.status().as_u16();
        match classify(status) {
            Answer::Rejected { status, .. } => {
                let text = response.text().await.unwrap_or_default();
                Answer::Rejected { status, body: truncate(text.trim(), 1024) }
            }
            Answer::Retry { .. } => {
                let text = response.text().await.unwrap_or_default();
                let text = truncate(text.trim(), 256);
                let reason = if text.is_empty() {
                    format!("Loki answered {status}")
                } else {
                    format!("Loki answered {status}: {text}")
                };
                Answer::Retry { reason }
            }
            other => other,
        }
    }
}

/// An error and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(204), Answer::Accepted);
        assert_eq!(classify(200), Answer::Accepted);
        assert_eq!(classify(260), Answer::Blocked);
        assert!(matches!(classify(429), Answer::Retry { .. }));
        assert!(matches!(classify(500), Answer::Retry { .. }));
        assert!(matches!(classify(503), Answer::Retry { .. }));
        for status in [400, 401, 403, 404, 413, 302, 101] {
            assert!(matches!(classify(status), Answer::Rejected { .. }), "{status}");
        }
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
