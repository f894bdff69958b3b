//! Unix-domain sockets as sock_diag reports them (`struct unix_diag_msg`
//! with `UNIX_DIAG_NAME` and `UNIX_DIAG_PEER`).

use std::fmt;
use std::os::unix::ffi::OsStrExt;

use netlink_packet_sock_diag::unix::UnixResponse;
use netlink_packet_sock_diag::unix::nlas::UnixDiagName;

use super::inet::state;
use crate::model::ConnectionKind;

/// One unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// Stream, datagram or seqpacket.
    pub kind: ConnectionKind,
    /// `sk_state`: `ESTABLISHED`, `LISTEN`, `CLOSE` (unconnected) or
    /// `SYN_SENT` (connecting).
    pub state: u8,
    /// The socket's inode.
    pub inode: u32,
    /// The peer socket's inode; 0 when not connected.
    pub peer: u32,
    /// The bound path, `@name` for an abstract name (NUL bytes as `@`, as
    /// `ss` shows them), "" when unbound. An accepted socket carries its
    /// listener's name.
    pub name: String,
}

/// Why a unix reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownType(pub u8);

impl fmt::Display for UnknownType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix socket type {} is none of stream, dgram, seqpacket", self.0)
    }
}

impl UnixSocket {
    /// From a decoded `unix_diag_msg`.
    pub fn from_response(response: &UnixResponse) -> Result<Self, UnknownType> {
        let header = &response.header;
        let kind = match i32::from(header.kind) {
            libc::SOCK_STREAM => ConnectionKind::UnixStream,
            libc::SOCK_DGRAM => ConnectionKind::UnixDatagram,
            libc::SOCK_SEQPACKET => ConnectionKind::UnixSeqpacket,
            _ => return Err(UnknownType(header.kind)),
        };
        let name = match response.name() {
            None => String::new(),
            Some(UnixDiagName::Pathname(path)) => String::from_utf8_lossy(path.as_bytes()).into_owned(),
            Some(UnixDiagName::Abstract(bytes)) => abstract_name(bytes),
        };
        Ok(UnixSocket { kind, state: header.state, inode: header.inode, peer: response.peer().unwrap_or(0), name })
    }

    /// The WIT `state` string.
    pub fn state_name(&self) -> &'static str {
        unix_state_name(self.state)
    }
}

/// `established`, `listen`, `connecting`, `unconnected`.
pub fn unix_state_name(value: u8) -> &'static str {
    match value {
        state::ESTABLISHED => "established",
        state::LISTEN => "listen",
        state::SYN_SENT => "connecting",
        state::CLOSE => "unconnected",
        _ => "unknown",
    }
}

/// `@` then the name, each NUL byte shown as `@`.
fn abstract_name(bytes: &[u8]) -> String {
    let mut name = String::with_capacity(bytes.len() + 1);
    name.push('@');
    name.push_str(&String::from_utf8_lossy(bytes).replace('\0', "@"));
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_states() {
        assert_eq!(abstract_name(b"/tmp/.X11-unix/X0"), "@/tmp/.X11-unix/X0");
        assert_eq!(abstract_name(b"a\0b"), "@a@b");
        assert_eq!(unix_state_name(1), "established");
        assert_eq!(unix_state_name(10), "listen");
        assert_eq!(unix_state_name(7), "unconnected");
        assert_eq!(unix_state_name(2), "connecting");
    }
}
