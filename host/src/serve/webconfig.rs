//! The exporter-toolkit web configuration file that node_exporter and Prometheus read
//! with `--web.config.file` (YAML), with the same keys and meanings:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # or `cert:` inline PEM; relative paths are relative to this file
//!   key_file: server.key           # or `key:` inline PEM
//!   client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: ca.crt         # or `client_ca:` inline PEM
//!   client_allowed_sans: [prometheus.example]      # DNS names or IP addresses
//!   min_version: TLS12             # TLS12 (default) or TLS13
//!   max_version: TLS13
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 suites
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true
//! http_server_config:
//!   http2: false                   # gomon speaks HTTP/1.1 either way
//!   headers: { X-Frame-Options: deny, Strict-Transport-Security: max-age=31536000 }
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')
//! rate_limit: { interval: 100ms, burst: 20 }
//! ```
//!
//! Unknown keys are errors that name the key. Where gomon differs it refuses rather
//! than ignores: `RequestClientCert` and `RequireAnyClientCert` (client certificates
//! nobody verifies) and TLS versions below 1.2 are refused with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, ServerConfig, SignatureScheme};
use serde::Deserialize;

/// Why a web configuration file cannot be used. Every message names the key or file.
#[derive(Debug, thiserror::Error)]
#[error("web config {file}: {message}")]
pub struct WebConfigError {
    /// The web configuration file.
    pub file: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfigFile {
    /// `tls_server_config`.
    pub tls_server_config: Option<TlsServerConfig>,
    /// `http_server_config`.
    pub http_server_config: HttpServerConfig,
    /// `basic_auth_users`: user name → bcrypt hash.
    pub basic_auth_users: BTreeMap<String, String>,
    /// `rate_limit`.
    pub rate_limit: Option<RateLimit>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    /// Inline PEM certificate.
    pub cert: Option<String>,
    /// Inline PEM key.
    pub key: Option<String>,
    /// Inline PEM client CA.
    pub client_ca: Option<String>,
    /// Certificate file.
    pub cert_file: Option<PathBuf>,
    /// Key file.
    pub key_file: Option<PathBuf>,
    /// `NoClientCert`, `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
    /// Client CA file.
    pub client_ca_file: Option<PathBuf>,
    /// A verified client certificate must name one of these (DNS name or IP address).
    pub client_allowed_sans: Option<Vec<String>>,
    /// `TLS12` or `TLS13`.
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    pub max_version: Option<String>,
    /// TLS 1.2 cipher suites, by Go's names.
    pub cipher_suites: Option<Vec<String>>,
    /// Ignored, as Go ignores it since 1.18.
    pub prefer_server_cipher_suites: Option<bool>,
    /// Key exchange groups, by Go's names.
    pub curve_preferences: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; gomon serves HTTP/1.1.
    pub http2: Option<bool>,
    /// Extra response headers (only the five exporter-toolkit allows).
    pub headers: BTreeMap<String, String>,
}

/// `rate_limit`: a token bucket over all requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Time between two requests; 0 turns the limit off.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Requests allowed in a burst.
    pub burst: u32,
}

/// How the TLS layer treats client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// None asked.
    None,
    /// Asked; a certificate given must verify.
    VerifyIfGiven,
    /// Required and verified: the handshake fails without one.
    RequireAndVerify,
}

/// A web configuration, checked and loaded: what the server needs.
#[derive(Clone)]
pub struct WebConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// The TLS server configuration, when the file has `tls_server_config`.
    pub tls: Option<Arc<ServerConfig>>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// Basic-auth users and their bcrypt hashes.
    pub users: BTreeMap<String, String>,
    /// Extra response headers.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The request rate limit.
    pub rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("file", &self.file)
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The headers exporter-toolkit lets a web config set, with their allowed values (none: any).
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Largest web configuration file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

impl WebConfigFile {
    /// Parses YAML text; unknown keys are named. An empty document is the empty configuration.
    pub fn parse(text: &str) -> Result<WebConfigFile, String> {
        if text.trim().is_empty() {
            return Ok(WebConfigFile::default());
        }
        yaml_serde::from_str::<Option<WebConfigFile>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| e.to_string().replace('\n', " "))
    }
}

impl WebConfig {
    /// Reads, checks and loads `file` (certificates and keys too). Relative paths in it
    /// are relative to its directory, as in exporter-toolkit.
    pub fn load(file: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |message: String| WebConfigError { file: file.display().to_string(), message };
        let meta = std::fs::metadata(file).map_err(|e| error(format!("cannot read it: {e}")))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(error(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(file).map_err(|e| error(format!("cannot read it: {e}")))?;
        let parsed = WebConfigFile::parse(&text).map_err(error)?;
        let base = file.parent().unwrap_or(Path::new("."));
        WebConfig::from_parsed(file, parsed, base).map_err(error)
    }

    /// Checks a parsed file; `base` resolves its relative paths.
    pub fn from_parsed(file: &Path, parsed: WebConfigFile, base: &Path) -> Result<WebConfig, String> {
        for (user, hash) in &parsed.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(format!("basic_auth_users: {user:?} is not a user name (non-empty, no ':')"));
            }
            bcrypt_cost(hash).map_err(|e| format!("basic_auth_users.{user}: {e}"))?;
        }
        let mut headers = Vec::new();
        for (name, value) in &parsed.http_server_config.headers {
            let Some((_, allowed)) = HEADERS.iter().find(|(known, _)| known == name) else {
                return Err(format!(
                    "http_server_config.headers: HTTP header {name:?} can not be configured (allowed: {})",
                    HEADERS.map(|(n, _)| n).join(", ")
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!(
                    "http_server_config.headers.{name}: invalid value {value:?}, expected one of {allowed:?}"
                ));
            }
            if value.is_empty() {
                continue; // "Unset if blank."
            }
            let header_name = hyper::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let header_value = hyper::header::HeaderValue::from_str(value)
                .map_err(|_| format!("http_server_config.headers.{name}: {value:?} is not a header value"))?;
            headers.push((header_name, header_value));
        }
        if let Some(limit) = &parsed.rate_limit
            && !limit.interval.is_zero()
            && limit.burst == 0
        {
            return Err("rate_limit.burst must be at least 1 when rate_limit.interval is set".into());
        }
        let (tls, client_auth) = match &parsed.tls_server_config {
            Some(tls) => {
                let (config, auth) = server_config(tls, base)?;
                (Some(config), auth)
            }
            None => (None, ClientAuth::None),
        };
        Ok(WebConfig {
            file: file.to_owned(),
            tls,
            client_auth,
            users: parsed.basic_auth_users,
            headers,
            rate_limit: parsed.rate_limit.filter(|l| !l.interval.is_zero()),
        })
    }
}

/// The cost of a bcrypt hash, or why it is not one.
fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    // $2a$, $2b$, $2x$, $2y$ then a two-digit cost, '$', 53 characters of salt and hash.
    let bytes = hash.as_bytes();
    let ok = bytes.len() == 60
        && hash.starts_with("$2")
        && matches!(bytes[2], b'a' | b'b' | b'x' | b'y')
        && bytes[3] == b'$'
        && bytes[6] == b'$';
    let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok()).filter(|c| (4..=31).contains(c));
    match (ok, cost) {
        (true, Some(cost)) => Ok(cost),
        _ => Err("not a bcrypt hash ($2y$<cost>$<53 characters>)".into()),
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

/// PEM text from an inline value or a file; `what` names the keys.
fn pem_source(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    base: &Path,
    what: (&str, &str),
) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("tls_server_config: give {} or {}, not both", what.0, what.1)),
        (Some(text), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(path)) => {
            let path = resolve(base, path);
            std::fs::read(&path)
                .map(Some)
                .map_err(|e| format!("tls_server_config.{}: cannot read {}: {e}", what.1, path.display()))
        }
        (None, None) => Ok(None),
    }
}

fn tls_version(value: &Option<String>, key: &str) -> Result<Option<&'static rustls::SupportedProtocolVersion>, String> {
    match value.as_deref() {
        None => Ok(None),
        Some("TLS12") => Ok(Some(&rustls::version::TLS12)),
        Some("TLS13") => Ok(Some(&rustls::version::TLS13)),
        Some(v @ ("TLS10" | "TLS11")) => {
            Err(format!("tls_server_config.{key}: {v} is not supported (gomon speaks TLS 1.2 and 1.3 only)"))
        }
        Some(v) => Err(format!("tls_server_config.{key}: unknown TLS version {v:?} (TLS12 or TLS13)")),
    }
}

/// A rustls server configuration from `tls_server_config`.
fn server_config(tls: &TlsServerConfig, base: &Path) -> Result<(Arc<ServerConfig>, ClientAuth), String> {
    let cert = pem_source(&tls.cert, &tls.cert_file, base, ("cert", "cert_file"))?
        .ok_or("tls_server_config: missing one of cert or cert_file")?;
    let key = pem_source(&tls.key, &tls.key_file, base, ("key", "key_file"))?
        .ok_or("tls_server_config: missing one of key or key_file")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_server_config.cert_file: not PEM certificates: {e:?}"))?;
    if certs.is_empty() {
        return Err("tls_server_config.cert_file: holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("tls_server_config.key_file: not a PEM private key: {e:?}"))?;
    let client_ca = pem_source(&tls.client_ca, &tls.client_ca_file, base, ("client_ca", "client_ca_file"))?;
    let client_auth = match tls.client_auth_type.as_deref() {
        None | Some("" | "NoClientCert") => ClientAuth::None,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
        Some(v @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert")) => {
            return Err(format!(
                "tls_server_config.client_auth_type: {v} accepts client certificates nobody verifies; gomon \
                 refuses it (use RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file)"
            ));
        }
        Some(v) => return Err(format!("tls_server_config.client_auth_type: invalid ClientAuth {v:?}")),
    };
    if client_ca.is_some() && client_auth == ClientAuth::None {
        return Err(
            "tls_server_config: client CA's have been configured without a Client Auth Policy (client_auth_type)"
                .into(),
        );
    }
    let sans = tls.client_allowed_sans.clone().unwrap_or_default();
    if !sans.is_empty() && client_auth == ClientAuth::None {
        return Err("tls_server_config.client_allowed_sans: needs a client_auth_type that verifies certificates".into());
    }
    let mut sans_parsed = Vec::new();
    for san in &sans {
        let name = ServerName::try_from(san.clone())
            .map_err(|_| format!("tls_server_config.client_allowed_sans: {san:?} is not a DNS name or IP address"))?;
        sans_parsed.push(name);
    }

    let mut provider = (*super::crypto::provider()).clone();
    if let Some(suites) = &tls.cipher_suites {
        let mut chosen = Vec::new();
        for name in suites {
            let suite =
                provider.cipher_suites.iter().find(|s| s.suite().as_str() == Some(name.as_str())).ok_or_else(|| {
                    format!(
                        "tls_server_config.cipher_suites: {name:?} is not a suite gomon supports ({})",
                        suite_names(&provider)
                    )
                })?;
            chosen.push(*suite);
        }
        // TLS 1.3 suites are not configurable (as in Go); keep them all.
        chosen.extend(provider.cipher_suites.iter().filter(|s| s.tls13().is_some()).copied());
        provider.cipher_suites = chosen;
    }
    if let Some(curves) = &tls.curve_preferences {
        let mut groups = Vec::new();
        for name in curves {
            let wanted = match name.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                "CurveP521" => rustls::NamedGroup::secp521r1,
                other => return Err(format!("tls_server_config.curve_preferences: unknown curve {other:?}")),
            };
            let group = provider
                .kx_groups
                .iter()
                .find(|g| g.name() == wanted)
                .ok_or_else(|| format!("tls_server_config.curve_preferences: {name} is not supported by gomon"))?;
            groups.push(*group);
        }
        provider.kx_groups = groups;
    }
    let min = tls_version(&tls.min_version, "min_version")?.unwrap_or(&rustls::version::TLS12);
    let max = tls_version(&tls.max_version, "max_version")?.unwrap_or(&rustls::version::TLS13);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [&rustls::version::TLS12, &rustls::version::TLS13]
        .into_iter()
        .filter(|v| {
            let rank = |v: &rustls::SupportedProtocolVersion| {
                if v.version == rustls::ProtocolVersion::TLSv1_2 { 0 } else { 1 }
            };
            rank(v) >= rank(min) && rank(v) <= rank(max)
        })
        .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let pem = client_ca.ok_or("tls_server_config: client_auth_type verifies certificates but neither client_ca_file nor client_ca is set")?;
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(&pem) {
                let ca = ca.map_err(|e| format!("tls_server_config.client_ca_file: not PEM: {e:?}"))?;
                roots.add(ca).map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            }
            if roots.is_empty() {
                return Err("tls_server_config.client_ca_file: holds no certificate".into());
            }
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if client_auth == ClientAuth::VerifyIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            let verifier: Arc<dyn ClientCertVerifier> = if sans_parsed.is_empty() {
                verifier
            } else {
                Arc::new(AllowedSans { inner: verifier, sans: sans_parsed })
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), client_auth))
}

fn suite_names(provider: &rustls::crypto::CryptoProvider) -> String {
    provider
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_none())
        .filter_map(|s| s.suite().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A verifier that also wants one of the allowed names in the client certificate.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    sans: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if self.sans.iter().any(|name| cert.verify_is_valid_for_subject_name(name).is_ok()) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
