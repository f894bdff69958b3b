//! The go-plugin handshake: how Grafana starts a backend plugin and finds its
//! gRPC server.
//!
//! Grafana runs the executable with the magic cookie `grafana_plugin_type=datasource`
//! in its environment, the protocol versions it speaks in `PLUGIN_PROTOCOL_VERSIONS`
//! (comma-separated) and optionally a port range in `PLUGIN_MIN_PORT` /
//! `PLUGIN_MAX_PORT`. The plugin listens on loopback and announces itself with one
//! line on stdout — the only thing it ever writes there:
//!
//! ```text
//! 1|2|tcp|127.0.0.1:41234|grpc
//! ^ ^ ^   ^               ^ protocol
//! | | |   +-------------- address
//! | | +------------------ network
//! | +-------------------- app protocol version (Grafana's plugin protocol 2)
//! +---------------------- go-plugin core protocol version, always 1
//! ```

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

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
    /// A malformed port bound.
    #[error("{name}={value:?} is not a port number (1-65535)")]
    Port {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// An empty port range.
    #[error("PLUGIN_MIN_PORT={min} is above PLUGIN_MAX_PORT={max}")]
    PortRange {
        /// Lower bound.
        min: u16,
        /// Upper bound.
        max: u16,
    },
    /// No port of the range could be bound.
    #[error("cannot listen on any loopback port in {min}-{max}: {message}")]
    Bind {
        /// Lower bound.
        min: u16,
        /// Upper bound.
        max: u16,
        /// The last error.
        message: String,
    },
}

/// What the environment asks of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The protocol version agreed on.
    pub version: u32,
    /// Ports to listen on, inclusive; `None`: any free port.
    pub ports: Option<(u16, u16)>,
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
    /// Reads `PLUGIN_PROTOCOL_VERSIONS`, `PLUGIN_MIN_PORT` and `PLUGIN_MAX_PORT`.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<Environment, HandshakeError> {
        let version = match var("PLUGIN_PROTOCOL_VERSIONS") {
            // go-plugin: without the variable, the server's own version is used.
            None => PROTOCOL_VERSION,
            Some(list) => {
                let offered = list.split(',').filter_map(|v| v.trim().parse::<u32>().ok());
                offered.filter(|v| *v == PROTOCOL_VERSION).max().ok_or(HandshakeError::Version(list))?
            }
        };
        let port = |name: &'static str| -> Result<Option<u16>, HandshakeError> {
            match var(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(value) => match value.trim().parse::<u16>() {
                    Ok(port) if port > 0 => Ok(Some(port)),
                    _ => Err(HandshakeError::Port { name, value }),
                },
            }
        };
        let ports = match (port("PLUGIN_MIN_PORT")?, port("PLUGIN_MAX_PORT")?) {
            (None, None) => None,
            (min, max) => {
                let (min, max) = (min.unwrap_or(1), max.unwrap_or(u16::MAX));
                if min > max {
                    return Err(HandshakeError::PortRange { min, max });
                }
                Some((min, max))
            }
        };
        Ok(Environment { version, ports })
    }
}

/// Listens on 127.0.0.1: the first free port of the range, or any.
pub async fn bind(ports: Option<(u16, u16)>) -> Result<TcpListener, HandshakeError> {
    let Some((min, max)) = ports else {
        return TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(|e| HandshakeError::Bind {
            min: 0,
            max: 0,
            message: e.to_string(),
        });
    };
    let mut last = String::from("empty range");
    for port in min..=max {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e.to_string(),
        }
    }
    Err(HandshakeError::Bind { min, max, message: last })
}

/// The handshake line for a listener, newline included.
pub fn line(version: u32, addr: SocketAddr) -> String {
    format!("{CORE_PROTOCOL_VERSION}|{version}|tcp|{addr}|grpc\n")
}

/// Writes the handshake line to stdout and flushes it.
pub fn announce(version: u32, addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line(version, addr).as_bytes())?;
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
    fn port_ranges_are_checked() {
        let read = |pairs: &[(&str, &str)]| Environment::read(env(pairs)).map(|e| e.ports);
        assert_eq!(read(&[("PLUGIN_MIN_PORT", "10000"), ("PLUGIN_MAX_PORT", "10010")]), Ok(Some((10000, 10010))));
        assert_eq!(read(&[("PLUGIN_MIN_PORT", "")]), Ok(None));
        assert!(matches!(read(&[("PLUGIN_MIN_PORT", "x")]), Err(HandshakeError::Port { name: "PLUGIN_MIN_PORT", .. })));
        assert!(matches!(read(&[("PLUGIN_MAX_PORT", "70000")]), Err(HandshakeError::Port { .. })));
        assert_eq!(
            read(&[("PLUGIN_MIN_PORT", "9"), ("PLUGIN_MAX_PORT", "8")]),
            Err(HandshakeError::PortRange { min: 9, max: 8 })
        );
    }

    #[test]
    fn the_line_has_go_plugins_shape() {
        let addr: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(line(2, addr), "1|2|tcp|127.0.0.1:41234|grpc\n");
    }

    #[tokio::test]
    async fn binding_honours_the_range() {
        let first = bind(None).await.unwrap();
        let taken = first.local_addr().unwrap().port();
        // A range holding only a taken port fails and names the range.
        let error = bind(Some((taken, taken))).await.unwrap_err();
        assert!(matches!(error, HandshakeError::Bind { min, max, .. } if min == taken && max == taken));
    }
}
