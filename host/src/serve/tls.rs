//! The server's certificate: the operator's, or a self-signed one that gomon
//! generates on first start and re-uses afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Where the certificate and key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// PEM certificate (chain).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Whether gomon generated them on this start.
    pub generated: bool,
}

/// Uses the operator's pair when given, else `<state_dir>/tls/{cert,key}.pem`,
/// generating them when absent.
pub fn ensure_certificate(cert: Option<&Path>, key: Option<&Path>, state_dir: &Path) -> anyhow::Result<CertPaths> {
    if let (Some(cert), Some(key)) = (cert, key) {
        return Ok(CertPaths { cert: cert.to_owned(), key: key.to_owned(), generated: false });
    }
    let dir = state_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok(CertPaths { cert, key, generated: false });
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let generated = generate(&subject_alt_names()).context("cannot generate a TLS certificate")?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem()).with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(CertPaths { cert, key, generated: true })
}

/// localhost, the loopback addresses and the host name.
fn subject_alt_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = hostname().filter(|h| !names.contains(h)) {
        names.push(host);
    }
    names
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn generate(names: &[String]) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "gomon self-signed");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "gomon");
    let cert = params.self_signed(&key)?;
    Ok(rcgen::CertifiedKey { cert, signing_key: key })
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A rustls server configuration from PEM files. Errors name the file.
pub fn server_config(paths: &CertPaths) -> anyhow::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&paths.cert)
        .and_then(|iter| iter.collect())
        .map_err(|e| anyhow::anyhow!("cannot read TLS certificate {}: {}", paths.cert.display(), pem_error(&e)))?;
    if certs.is_empty() {
        anyhow::bail!("TLS certificate {} holds no certificate", paths.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&paths.key)
        .map_err(|e| anyhow::anyhow!("cannot read TLS key {}: {}", paths.key.display(), pem_error(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!("TLS key {} does not fit certificate {}", paths.key.display(), paths.cert.display())
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM section found".to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_certificate(None, None, dir.path()).unwrap();
        assert!(first.generated);
        let pem = std::fs::read(&first.cert).unwrap();
        let second = ensure_certificate(None, None, dir.path()).unwrap();
        assert!(!second.generated);
        assert_eq!(std::fs::read(&second.cert).unwrap(), pem);
        server_config(&second).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn names_an_unreadable_certificate() {
        let paths = CertPaths { cert: "/nonexistent/c.pem".into(), key: "/nonexistent/k.pem".into(), generated: false };
        let err = server_config(&paths).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
    }

    #[test]
    fn names_a_file_without_pem() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let paths = CertPaths { cert: cert.clone(), key: cert.clone(), generated: false };
        let err = server_config(&paths).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
    }
}
