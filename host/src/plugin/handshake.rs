//! The go-plugin handshake: how Grafana starts a backend plugin and finds its
//! gRPC server, and the private channel between them.
//!
//! Grafana runs the executable with the magic cookie `grafana_plugin_type=datasource`
//! in its environment and the protocol versions it speaks in `PLUGIN_PROTOCOL_VERSIONS`
//! (comma-separated). The plugin listens on a unix socket, as go-plugin's own plugins
//! do on Linux, and announces itself with one line on stdout — the only thing it ever
//! writes there:
//!
//! ```text
//! 1|2|unix|/tmp/gomon-plugin-3fa9c1d2e4b5a607/plugin.sock|grpc|MIIB…
//! ^ ^ ^    ^                                              ^    ^ AutoMTLS: the server's
//! | | |    |                                              |      certificate (base64 DER,
//! | | |    |                                              |      no padding), else empty
//! | | |    |                                              +----- protocol
//! | | |    +---------------------------------------------------- address
//! | | +--------------------------------------------------------- network
//! | +----------------------------------------------------------- app protocol version (2)
//! +------------------------------------------------------------- go-plugin core protocol version, 1
//! ```
//!
//! The channel is private to the process that started the plugin: the socket lives in
//! a new directory of mode 0700 (in `PLUGIN_UNIX_SOCKET_DIR` when the client names one,
//! else the temporary directory), so only the plugin's user (and root) can reach it,
//! and every connection's peer credentials (`SO_PEERCRED`) are checked: a peer whose
//! uid is neither the plugin's nor root's is closed at once. When the client sets
//! `PLUGIN_CLIENT_CERT` (go-plugin's AutoMTLS), the plugin also speaks TLS on the
//! socket with a certificate it generates (announced in the sixth field) and accepts
//! exactly that client certificate and no other.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// The magic cookie's key.
pub const COOKIE_KEY: &str = "grafana_plugin_type";
/// The magic cookie's value ("should never be changed", says Grafana).
pub const COOKIE_VALUE: &str = "datasource";
/// The plugin protocol version gomon speaks.
pub const PROTOCOL_VERSION: u32 = 2;
/// go-plugin's core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// Why plugin mode cannot start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The cookie is set to something else.
    #[error(
        "{COOKIE_KEY}={0:?} is not a plugin type gomon serves: Grafana starts data-source plugins with \
         {COOKIE_KEY}={COOKIE_VALUE} (unset it to run the collector)"
    )]
    Cookie(String),
    /// Grafana speaks no protocol version gomon speaks.
    #[error(
        "PLUGIN_PROTOCOL_VERSIONS={0:?} does not offer protocol version {PROTOCOL_VERSION}, the only one gomon \
         speaks: this Grafana is too old or too new for this plugin"
    )]
    Version(String),
    /// No private socket could be made.
    #[error("cannot make the plugin's private socket in {dir}: {message}")]
    Socket {
        /// The directory it was made in.
        dir: String,
        /// Why not.
        message: String,
    },
    /// `PLUGIN_CLIENT_CERT` holds no usable certificate.
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate (go-plugin AutoMTLS): {0}")]
    ClientCert(String),
}

/// What the environment asks of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The protocol version agreed on.
    pub version: u32,
    /// Where to make the socket's private directory (`PLUGIN_UNIX_SOCKET_DIR`).
    pub socket_dir: Option<PathBuf>,
    /// go-plugin AutoMTLS: the client's certificate (PEM), from `PLUGIN_CLIENT_CERT`.
    pub client_cert: Option<String>,
}

/// Whether Grafana started us: `Ok(true)` with the cookie, `Ok(false)` without it, an
/// error when the cookie names another plugin type.
pub fn requested(var: impl Fn(&str) -> Option<String>) -> Result<bool, HandshakeError> {
    match var(COOKIE_KEY) {
        None => Ok(false),
        Some(value) if value == COOKIE_VALUE => Ok(true),
        Some(value) => Err(HandshakeError::Cookie(value)),
    }
}

impl Environment {
    /// Reads `PLUGIN_PROTOCOL_VERSIONS`, `PLUGIN_UNIX_SOCKET_DIR` and `PLUGIN_CLIENT_CERT`.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<Environment, HandshakeError> {
        let version = match var("PLUGIN_PROTOCOL_VERSIONS") {
            // go-plugin: without the variable, the server's own version is used.
            None => PROTOCOL_VERSION,
            Some(list) => {
                let offered = list.split(',').filter_map(|v| v.trim().parse::<u32>().ok());
                offered.filter(|v| *v == PROTOCOL_VERSION).max().ok_or(HandshakeError::Version(list))?
            }
        };
        let socket_dir = var("PLUGIN_UNIX_SOCKET_DIR").filter(|d| !d.trim().is_empty()).map(PathBuf::from);
        let client_cert = var("PLUGIN_CLIENT_CERT").filter(|c| !c.trim().is_empty());
        Ok(Environment { version, socket_dir, client_cert })
    }
}

/// The plugin's socket file in its private directory; dropping it removes both.
pub struct PrivateSocket {
    /// The socket's path (the handshake's address).
    pub path: PathBuf,
    dir: PathBuf,
}

impl Drop for PrivateSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Listens on `plugin.sock` in a new directory of mode 0700 under `parent` (default:
/// the temporary directory). The directory is made with a random name and
/// `mkdir` (which fails on anything already there, a planted link included).
pub fn bind(parent: Option<&Path>) -> Result<(UnixListener, PrivateSocket), HandshakeError> {
    let parent = parent.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    let error = |message: String| HandshakeError::Socket { dir: parent.display().to_string(), message };
    let mut last = String::new();
    for _ in 0..16 {
        let suffix = crate::serve::crypto::random_bytes::<8>().map_err(|e| error(e.to_string()))?;
        let dir = parent.join(format!("gomon-plugin-{}", hex::encode(suffix)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let path = dir.join("plugin.sock");
                // sockaddr_un holds 108 bytes, the terminating NUL included.
                if path.as_os_str().len() > 107 {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(error(format!(
                        "the socket path {} is longer than 107 bytes (choose a shorter PLUGIN_UNIX_SOCKET_DIR)",
                        path.display()
                    )));
                }
                return match UnixListener::bind(&path) {
                    Ok(listener) => Ok((listener, PrivateSocket { path, dir })),
                    Err(e) => {
                        let _ = std::fs::remove_dir(&dir);
                        Err(error(e.to_string()))
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e.to_string(),
            Err(e) => return Err(error(e.to_string())),
        }
    }
    Err(error(format!("no free directory name: {last}")))
}

/// Whether a peer of the socket may call the plugin: the plugin's own user or root.
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == own_uid || peer_uid == 0
}

/// The handshake line, newline included; `server_cert` is the AutoMTLS certificate (DER).
pub fn line(version: u32, socket: &Path, server_cert: Option<&[u8]>) -> String {
    use base64::Engine;
    let cert = server_cert.map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der)).unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{version}|unix|{}|grpc|{cert}\n", socket.display())
}

/// Writes the handshake line to stdout and flushes it.
pub fn announce(version: u32, socket: &Path, server_cert: Option<&[u8]>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line(version, socket, server_cert).as_bytes())?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_cookie_selects_plugin_mode() {
        assert_eq!(requested(env(&[])), Ok(false));
        assert_eq!(requested(env(&[("grafana_plugin_type", "datasource")])), Ok(true));
        let error = requested(env(&[("grafana_plugin_type", "app")])).unwrap_err();
        assert!(error.to_string().contains("\"app\""), "{error}");
    }

    #[test]
    fn version_2_must_be_offered() {
        assert_eq!(Environment::read(env(&[("PLUGIN_PROTOCOL_VERSIONS", "1,2")])).unwrap().version, 2);
        assert_eq!(Environment::read(env(&[])).unwrap().version, 2);
        let error = Environment::read(env(&[("PLUGIN_PROTOCOL_VERSIONS", "1,3")])).unwrap_err();
        assert_eq!(error, HandshakeError::Version("1,3".into()));
        assert!(error.to_string().contains("protocol version 2"));
    }

    #[test]
    fn socket_dir_and_client_cert_are_read() {
        let e = Environment::read(env(&[("PLUGIN_UNIX_SOCKET_DIR", "/run/x"), ("PLUGIN_CLIENT_CERT", "PEM")])).unwrap();
        assert_eq!(e.socket_dir, Some(PathBuf::from("/run/x")));
        assert_eq!(e.client_cert.as_deref(), Some("PEM"));
        let e = Environment::read(env(&[("PLUGIN_UNIX_SOCKET_DIR", ""), ("PLUGIN_CLIENT_CERT", " ")])).unwrap();
        assert_eq!((e.socket_dir, e.client_cert), (None, None));
    }

    #[test]
    fn the_line_has_go_plugins_shape() {
        let path = Path::new("/tmp/gomon-plugin-00/plugin.sock");
        assert_eq!(line(2, path, None), "1|2|unix|/tmp/gomon-plugin-00/plugin.sock|grpc|\n");
        assert_eq!(line(2, path, Some(&[0xff, 0xfe, 0x01])), "1|2|unix|/tmp/gomon-plugin-00/plugin.sock|grpc|//4B\n");
    }

    #[tokio::test]
    async fn the_socket_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let (_listener, socket) = bind(Some(parent.path())).unwrap();
        let dir = socket.path.parent().unwrap().to_owned();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(dir.file_name().unwrap().to_string_lossy().starts_with("gomon-plugin-"));
        let (_other_listener, other) = bind(Some(parent.path())).unwrap();
        assert_ne!(other.path, socket.path, "each plugin its own directory");
        drop(socket);
        assert!(!dir.exists(), "removed with the socket");
        assert!(peer_allowed(1000, 1000) && peer_allowed(0, 1000) && !peer_allowed(65534, 1000));
    }
}
