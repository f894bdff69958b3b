//! The private channel Grafana calls the plugin on: the unix socket of
//! [`handshake::bind`], each connection's peer checked (`SO_PEERCRED`: the plugin's
//! uid or root), and, with go-plugin AutoMTLS (`PLUGIN_CLIENT_CERT`), TLS with a
//! generated server certificate that accepts exactly the client certificate Grafana
//! gave and no other (pinned, so a self-signed CA certificate as go-plugin makes is
//! fine; its P-521 signature is verified with [`crate::serve::crypto`]).
//!
//! Accepted connections reach tonic through a bounded channel; a refused peer is
//! logged (once per uid) and closed before a byte of gRPC is read.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::DistinguishedName;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::handshake::{self, HandshakeError};

/// Time a TLS handshake on the socket may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections accepted but not yet taken by the gRPC server.
const BACKLOG: usize = 16;

/// One accepted connection: plain, or TLS (AutoMTLS).
pub enum PluginConn {
    /// A unix socket connection.
    Plain(UnixStream),
    /// The same under TLS.
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for PluginConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for PluginConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PluginConn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PluginConn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PluginConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PluginConn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PluginConn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PluginConn::Plain(s) => Pin::new(s).poll_flush(cx),
            PluginConn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PluginConn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PluginConn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// AutoMTLS: the server's TLS configuration and its certificate (DER) for the handshake.
pub struct AutoMtls {
    /// The acceptor.
    pub acceptor: TlsAcceptor,
    /// The generated server certificate.
    pub server_cert: Vec<u8>,
}

/// go-plugin AutoMTLS from the client's certificate (PEM): a fresh self-signed server
/// certificate for `localhost` that accepts only that client certificate.
pub fn auto_mtls(client_pem: &str) -> Result<AutoMtls, HandshakeError> {
    let client = CertificateDer::from_pem_slice(client_pem.as_bytes())
        .map_err(|e| HandshakeError::ClientCert(format!("{e:?}")))?;
    let generate = || -> Result<(rcgen::Certificate, rcgen::KeyPair), rcgen::Error> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "gomon plugin");
        // As go-plugin's: its own CA, for server and client auth.
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.self_signed(&key)?;
        Ok((cert, key))
    };
    let (cert, key) =
        generate().map_err(|e| HandshakeError::ClientCert(format!("cannot generate a server certificate: {e}")))?;
    let server_cert = cert.der().to_vec();
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| HandshakeError::ClientCert(e.to_string()))?;
    let verifier = Arc::new(PinnedClient { cert: client.into_owned() });
    let mut config = rustls::ServerConfig::builder_with_provider(crate::serve::crypto::provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_client_cert_verifier(verifier).with_single_cert(vec![CertificateDer::from(server_cert.clone())], key)
        })
        .map_err(|e| HandshakeError::ClientCert(format!("TLS set-up: {e}")))?;
    // gRPC clients insist on HTTP/2 by ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(AutoMtls { acceptor: TlsAcceptor::from(Arc::new(config)), server_cert })
}

/// Accepts exactly one client certificate, byte for byte.
#[derive(Debug)]
struct PinnedClient {
    cert: CertificateDer<'static>,
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &crate::serve::crypto::signature_algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &crate::serve::crypto::signature_algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        crate::serve::crypto::signature_algorithms().supported_schemes()
    }
}

/// Accepts connections on `listener` until it fails or the receiver is gone, passing
/// on those of allowed peers (through TLS when `tls` is set).
pub fn accept(
    listener: UnixListener,
    tls: Option<TlsAcceptor>,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<PluginConn>> {
    let (sender, receiver) = mpsc::channel(BACKLOG);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let own_uid = unsafe { libc::geteuid() };
    tokio::spawn(async move {
        let mut refused: HashSet<u32> = HashSet::new();
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("Plugin socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let uid = match stream.peer_cred() {
                Ok(cred) => cred.uid(),
                Err(e) => {
                    tracing::warn!("Plugin socket: cannot read the peer's credentials ({e}); closing the connection.");
                    continue;
                }
            };
            if !handshake::peer_allowed(uid, own_uid) {
                if refused.insert(uid) {
                    tracing::warn!(
                        uid,
                        "Plugin socket: refused a connection from uid {uid} (only uid {own_uid}, which Grafana runs as, and root may call the plugin)."
                    );
                }
                continue;
            }
            let conn = match &tls {
                None => PluginConn::Plain(stream),
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let _ = sender.send(Ok(PluginConn::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => tracing::warn!("Plugin socket: TLS handshake refused: {e}"),
                            Err(_) => tracing::warn!("Plugin socket: TLS handshake timed out."),
                        }
                    });
                    continue;
                }
            };
            if sender.send(Ok(conn)).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
