//! Whether a Loki answers: `GET <base>/ready`, where the base comes from the push URL
//! (`http://loki:3100/loki/api/v1/push` → `http://loki:3100/ready`). Used by the
//! health check and by the default outlet, which pushes to a local Loki only while
//! it answers.

use std::time::Duration;

use gomon_sink_loki::LokiConfig;

/// How long a `/ready` request may take.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Loki's base URL (`http://loki:3100/`) from its push URL
/// (`http://loki:3100/loki/api/v1/push`); `None` when unset or unparsable.
pub fn loki_base(push_url: Option<&str>) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(push_url?.trim()).ok()?;
    let path = url.path().trim_end_matches('/');
    let base = path.strip_suffix("/loki/api/v1/push").unwrap_or(path);
    let base = format!("{base}/");
    url.set_path(&base);
    url.set_query(None);
    Some(url)
}

/// `GET <loki base>/ready` answers 2xx, or 401/403 from an authenticating proxy
/// (reachable; `/ready` wants credentials): `Ok` with what answered, else `Err` with
/// why not. The client trusts the sink's CA file.
pub async fn ready(loki: &LokiConfig, push_url: &str) -> Result<String, String> {
    let ready = loki_base(Some(push_url))
        .and_then(|base| base.join("ready").ok())
        .ok_or_else(|| format!("{push_url:?} is not a Loki URL"))?;
    let mut builder = reqwest::Client::builder().timeout(READY_TIMEOUT).connect_timeout(READY_TIMEOUT);
    if let Some(ca) = &loki.tls_ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read tls_ca_file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("tls_ca_file {} is not PEM: {e}", ca.display()))?;
        builder = builder.tls_certs_only([cert]);
    }
    let client = builder.build().map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    match client.get(ready.clone()).send().await {
        Ok(r) if r.status().is_success() => Ok(format!("{ready} answers {}", r.status())),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            Ok(format!("{ready} answers {} (reachable; it wants credentials)", r.status()))
        }
        Ok(r) => Err(format!("{ready} answers {}", r.status())),
        Err(e) => Err(format!("{ready} is unreachable: {}", crate::error_chain(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_base_comes_from_the_push_url() {
        let base = |u: &str| loki_base(Some(u)).map(|u| u.to_string());
        assert_eq!(base("http://loki:3100/loki/api/v1/push").as_deref(), Some("http://loki:3100/"));
        assert_eq!(base("https://h/prefix/loki/api/v1/push/").as_deref(), Some("https://h/prefix/"));
        assert_eq!(base("http://loki:3100").as_deref(), Some("http://loki:3100/"));
        assert_eq!(loki_base(None), None);
        assert_eq!(base("not a url"), None);
    }
}
