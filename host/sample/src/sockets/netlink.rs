//! netlink sock_diag: the five dumps gomon asks for, and a pure parser of
//! the kernel's replies (tested on captured bytes,
//! `host/sample/tests/fixtures/netlink/*.bin`).
//!
//! A dump is one `SOCK_DIAG_BY_FAMILY` request with `NLM_F_DUMP`; the kernel
//! answers with as many datagrams as it takes (each up to ~32 KiB, holding
//! whole messages flagged `NLM_F_MULTI`), the last ending in `NLMSG_DONE`. A
//! request the kernel refuses gets a single `NLMSG_ERROR` carrying a negative
//! errno (an unknown family: EINVAL; a family without a diag module:
//! ENOENT); an error of the dump itself comes as a negative code in the
//! `NLMSG_DONE` payload (an inet protocol without a diag module: ENOENT).
//!
//! | dump | request | what a reply message holds |
//! |---|---|---|
//! | tcp4, tcp6, udp4, udp6 | `inet_diag_req_v2` (family, protocol, all states, no extensions) | `inet_diag_msg`: state, addresses, ports, uid, inode; attributes (`INET_DIAG_SKV6ONLY`, …) |
//! | unix | `unix_diag_req` (all states, `UDIAG_SHOW_NAME \| UDIAG_SHOW_PEER`) | `unix_diag_msg`: type, state, inode; `UNIX_DIAG_NAME`, `UNIX_DIAG_PEER` |

use std::io;
use std::time::Duration;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags as UnixStateFlags, UnixRequest};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

use super::inet::{InetSocket, Protocol};
use super::unix::UnixSocket;

/// Size of a netlink message header (`struct nlmsghdr`).
const HEADER_LEN: usize = 16;

/// The receive buffer. The kernel fills dump datagrams up to 32 KiB (less
/// skb overhead) however large the buffer; twice that leaves room, and
/// `MSG_TRUNC` tells if a datagram was ever larger.
const RECV_BUFFER: usize = 64 * 1024;

/// How long to wait for the kernel's next datagram before giving up on a dump.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// One sock_diag dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dump {
    /// TCP over IPv4.
    Tcp4,
    /// TCP over IPv6.
    Tcp6,
    /// UDP over IPv4.
    Udp4,
    /// UDP over IPv6.
    Udp6,
    /// Unix sockets.
    Unix,
}

impl Dump {
    /// Every dump, in the order discovery makes them.
    pub const ALL: [Dump; 5] = [Dump::Tcp4, Dump::Tcp6, Dump::Udp4, Dump::Udp6, Dump::Unix];

    /// The request, as named in errors: `sock_diag(AF_INET6, IPPROTO_UDP)`.
    pub fn call(self) -> &'static str {
        match self {
            Dump::Tcp4 => "sock_diag(AF_INET, IPPROTO_TCP)",
            Dump::Tcp6 => "sock_diag(AF_INET6, IPPROTO_TCP)",
            Dump::Udp4 => "sock_diag(AF_INET, IPPROTO_UDP)",
            Dump::Udp6 => "sock_diag(AF_INET6, IPPROTO_UDP)",
            Dump::Unix => "sock_diag(AF_UNIX)",
        }
    }

    /// Short name (fixture files are `<name>.bin`).
    pub fn name(self) -> &'static str {
        match self {
            Dump::Tcp4 => "tcp4",
            Dump::Tcp6 => "tcp6",
            Dump::Udp4 => "udp4",
            Dump::Udp6 => "udp6",
            Dump::Unix => "unix",
        }
    }

    /// TCP or UDP for the inet dumps.
    pub fn protocol(self) -> Option<Protocol> {
        match self {
            Dump::Tcp4 | Dump::Tcp6 => Some(Protocol::Tcp),
            Dump::Udp4 | Dump::Udp6 => Some(Protocol::Udp),
            Dump::Unix => None,
        }
    }

    fn request(self) -> SockDiagMessage {
        let inet = |family, protocol, socket_id| {
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol,
                extensions: ExtensionFlags::empty(),
                // Every state: listeners, TIME_WAIT and request sockets included.
                states: StateFlags::from_bits_retain(u32::MAX),
                socket_id,
            })
        };
        match self {
            Dump::Tcp4 => inet(AF_INET, IPPROTO_TCP, SocketId::new_v4()),
            Dump::Tcp6 => inet(AF_INET6, IPPROTO_TCP, SocketId::new_v6()),
            Dump::Udp4 => inet(AF_INET, IPPROTO_UDP, SocketId::new_v4()),
            Dump::Udp6 => inet(AF_INET6, IPPROTO_UDP, SocketId::new_v6()),
            Dump::Unix => SockDiagMessage::UnixRequest(UnixRequest {
                state_flags: UnixStateFlags::from_bits_retain(u32::MAX),
                inode: 0,
                show_flags: ShowFlags::NAME | ShowFlags::PEER,
                cookie: [0; 8],
            }),
        }
    }
}

/// What the dumps found, and the messages that could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replies {
    /// TCP and UDP sockets.
    pub inet: Vec<InetSocket>,
    /// Unix sockets.
    pub unix: Vec<UnixSocket>,
    /// One line per reply message that was skipped, with why.
    pub skipped: Vec<String>,
}

impl Replies {
    /// Empties every list, keeping their capacity.
    pub fn clear(&mut self) {
        self.inet.clear();
        self.unix.clear();
        self.skipped.clear();
    }
}

/// Whether a dump has more datagrams to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not yet at `NLMSG_DONE`: read another datagram.
    More,
    /// `NLMSG_DONE` seen.
    Done,
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The kernel answered with an error (`NLMSG_ERROR`, or a negative code
    /// in `NLMSG_DONE`).
    #[error("kernel answered {} ({})", errno_name(*.errno), io::Error::from_raw_os_error(*.errno))]
    Kernel {
        /// Positive errno.
        errno: i32,
    },
    /// sending or receiving failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The reply was not a well-formed sequence of netlink messages.
    #[error("malformed reply: {0}")]
    Malformed(String),
}

impl DumpError {
    /// The kernel does not offer this dump (no `udp_diag` or IPv6, or
    /// sock_diag for unix sockets not built): skip it, do not fail.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            DumpError::Kernel { errno }
                if matches!(*errno, libc::ENOENT | libc::EOPNOTSUPP | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
        )
    }

    /// As an `io::Error` (for [`SampleError::Syscall`](crate::SampleError)).
    pub fn into_io(self) -> io::Error {
        match self {
            DumpError::Kernel { errno } => io::Error::from_raw_os_error(errno),
            DumpError::Io(e) => e,
            DumpError::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, format!("malformed reply: {m}")),
        }
    }
}

/// The symbolic name of the errnos sock_diag answers with.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ESRCH => "ESRCH",
        _ => "errno",
    }
}

/// Parses one datagram (or several concatenated: they are a valid message
/// stream too) of the reply to `dump`, appending what it finds to `out`.
///
/// `seq`, when given, is the request's sequence number: messages with
/// another one (left over from an abandoned earlier dump) are ignored.
/// Returns [`Progress::Done`] at `NLMSG_DONE`; bytes after it are ignored.
/// A socket message that does not decode is skipped and noted in
/// `out.skipped`; a broken message frame, `NLMSG_ERROR` or `NLMSG_OVERRUN`
/// fails the dump.
pub fn parse_replies(bytes: &[u8], dump: Dump, seq: Option<u32>, out: &mut Replies) -> Result<Progress, DumpError> {
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < HEADER_LEN {
            return Err(DumpError::Malformed(format!(
                "{} bytes at offset {offset}, shorter than a message header",
                rest.len()
            )));
        }
        let len = read_u32(rest, 0) as usize;
        if len < HEADER_LEN || len > rest.len() {
            return Err(DumpError::Malformed(format!(
                "message at offset {offset} claims {len} bytes, {} available",
                rest.len()
            )));
        }
        let message = &rest[..len];
        let at = offset;
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        offset = offset.saturating_add((len + 3) & !3);
        if let Some(seq) = seq
            && read_u32(message, 8) != seq
        {
            continue;
        }
        let parsed = match NetlinkMessage::<SockDiagMessage>::deserialize(message) {
            Ok(parsed) => parsed,
            Err(e) => {
                out.skipped.push(format!("{}: message at offset {at}: {e}", dump.name()));
                continue;
            }
        };
        match parsed.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => match dump.protocol() {
                Some(protocol) => match InetSocket::from_response(&response, protocol) {
                    Ok(socket) => out.inet.push(socket),
                    Err(e) => out.skipped.push(format!("{}: message at offset {at}: {e}", dump.name())),
                },
                None => out.skipped.push(format!("{}: message at offset {at}: an inet socket", dump.name())),
            },
            NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(response)) => match dump {
                Dump::Unix => match UnixSocket::from_response(&response) {
                    Ok(socket) => out.unix.push(socket),
                    Err(e) => out.skipped.push(format!("{}: message at offset {at}: {e}", dump.name())),
                },
                _ => out.skipped.push(format!("{}: message at offset {at}: a unix socket", dump.name())),
            },
            NetlinkPayload::InnerMessage(_) => {
                out.skipped.push(format!("{}: message at offset {at}: a request, not a reply", dump.name()))
            }
            NetlinkPayload::Done(done) => {
                return if done.code < 0 {
                    Err(DumpError::Kernel { errno: done.code.saturating_neg() })
                } else {
                    Ok(Progress::Done)
                };
            }
            NetlinkPayload::Error(error) => match error.code {
                // An ACK (code 0): nothing to report.
                None => {}
                Some(code) => return Err(DumpError::Kernel { errno: code.get().saturating_neg() }),
            },
            NetlinkPayload::Noop => {}
            NetlinkPayload::Overrun(_) => return Err(DumpError::Malformed("NLMSG_OVERRUN".into())),
            _ => out.skipped.push(format!("{}: message at offset {at}: unknown payload", dump.name())),
        }
    }
    Ok(Progress::More)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

/// A `NETLINK_SOCK_DIAG` socket with its receive buffer, reused from dump to
/// dump.
pub struct DiagSocket {
    socket: Socket,
    request: Vec<u8>,
    buf: Vec<u8>,
    seq: u32,
}

impl DiagSocket {
    /// Opens and connects the socket. Needs no privilege.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        set_recv_timeout(&socket, RECV_TIMEOUT)?;
        Ok(DiagSocket { socket, request: Vec::with_capacity(128), buf: Vec::with_capacity(RECV_BUFFER), seq: 0 })
    }

    /// Runs one dump, appending the sockets it finds to `out`. If `capture`
    /// is given, every datagram received is appended to it as is (to make
    /// fixtures).
    pub fn dump(&mut self, dump: Dump, out: &mut Replies, mut capture: Option<&mut Vec<u8>>) -> Result<(), DumpError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut message = NetlinkMessage::new(header, dump.request().into());
        message.finalize();
        self.request.clear();
        self.request.resize(message.buffer_len(), 0);
        message.serialize(&mut self.request);
        let sent = self.socket.send(&self.request, 0)?;
        if sent != self.request.len() {
            return Err(DumpError::Malformed(format!("sent {sent} of {} request bytes", self.request.len())));
        }
        loop {
            self.buf.clear();
            let size = loop {
                match self.socket.recv(&mut self.buf, libc::MSG_TRUNC) {
                    Ok(size) => break size,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DumpError::Io(e)),
                }
            };
            if size > self.buf.len() {
                return Err(DumpError::Malformed(format!("datagram of {size} bytes truncated to {}", self.buf.len())));
            }
            if size == 0 {
                return Err(DumpError::Malformed("empty datagram before NLMSG_DONE".into()));
            }
            if let Some(capture) = capture.as_deref_mut() {
                capture.extend_from_slice(&self.buf);
            }
            if parse_replies(&self.buf, dump, Some(self.seq), out)? == Progress::Done {
                return Ok(());
            }
        }
    }
}

/// SO_RCVTIMEO, through the samplers' syscall seam (rustix).
fn set_recv_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    rustix::net::sockopt::set_socket_timeout(socket, rustix::net::sockopt::Timeout::Recv, Some(timeout))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built netlink message: header then payload, padded to 4 bytes.
    pub(crate) fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = HEADER_LEN + payload.len();
        let mut m = Vec::with_capacity((len + 3) & !3);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize((len + 3) & !3, 0);
        m
    }

    fn error(errno: i32, seq: u32) -> Vec<u8> {
        // struct nlmsgerr: int error, then the offending request's header.
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0u8; HEADER_LEN]);
        message(2, 0, seq, &payload)
    }

    fn done(code: i32, seq: u32) -> Vec<u8> {
        message(3, 2, seq, &code.to_ne_bytes())
    }

    #[test]
    fn error_reply_names_the_errno() {
        let mut out = Replies::default();
        let e = parse_replies(&error(libc::ENOENT, 7), Dump::Udp6, Some(7), &mut out).unwrap_err();
        assert!(e.is_unsupported());
        assert!(e.to_string().starts_with("kernel answered ENOENT ("), "{e}");
        let e = parse_replies(&error(libc::EACCES, 7), Dump::Tcp4, Some(7), &mut out).unwrap_err();
        assert!(!e.is_unsupported());
        assert!(e.to_string().contains("EACCES"), "{e}");
        assert_eq!(e.into_io().raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn done_ends_the_dump_and_a_negative_done_fails_it() {
        let mut out = Replies::default();
        assert_eq!(parse_replies(&done(0, 1), Dump::Tcp4, Some(1), &mut out).unwrap(), Progress::Done);
        // NLMSG_DONE with no payload at all (allowed by the kernel).
        assert_eq!(parse_replies(&message(3, 2, 1, &[]), Dump::Tcp4, Some(1), &mut out).unwrap(), Progress::Done);
        let e = parse_replies(&done(-libc::EINTR, 1), Dump::Tcp4, Some(1), &mut out).unwrap_err();
        assert!(matches!(e, DumpError::Kernel { errno } if errno == libc::EINTR), "{e}");
        assert!(!e.is_unsupported());
        // What inet_diag answers for a protocol it has no module for
        // (as the kernel does for IPPROTO_SCTP without sctp_diag).
        let e = parse_replies(&done(-libc::ENOENT, 1), Dump::Udp6, Some(1), &mut out).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
    }

    #[test]
    fn stale_sequence_numbers_and_noops_are_ignored() {
        let mut out = Replies::default();
        let mut bytes = error(libc::EACCES, 3); // from an earlier, abandoned dump
        bytes.extend(message(1, 0, 4, &[])); // NLMSG_NOOP
        assert_eq!(parse_replies(&bytes, Dump::Tcp4, Some(4), &mut out).unwrap(), Progress::More);
        assert_eq!(out, Replies::default());
    }

    #[test]
    fn broken_frames_fail_and_undecodable_messages_are_skipped() {
        let mut out = Replies::default();
        // Shorter than a header.
        let e = parse_replies(&[1, 2, 3], Dump::Tcp4, None, &mut out).unwrap_err();
        assert!(e.to_string().contains("shorter than a message header"), "{e}");
        // Length past the end.
        let mut bytes = done(0, 1);
        bytes[0] = 200;
        let e = parse_replies(&bytes, Dump::Tcp4, None, &mut out).unwrap_err();
        assert!(e.to_string().contains("claims 200 bytes"), "{e}");
        // Length below the header size.
        bytes[0] = 4;
        assert!(parse_replies(&bytes, Dump::Tcp4, None, &mut out).is_err());
        // A SOCK_DIAG_BY_FAMILY message too short for inet_diag_msg is
        // skipped, and the dump goes on to its NLMSG_DONE.
        let mut bytes = message(20, 2, 1, &[libc::AF_INET as u8, 1, 0, 0]);
        bytes.extend(done(0, 1));
        assert_eq!(parse_replies(&bytes, Dump::Tcp4, None, &mut out).unwrap(), Progress::Done);
        assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
        assert!(out.skipped[0].starts_with("tcp4: message at offset 0:"), "{:?}", out.skipped);
        // An overrun fails.
        let e = parse_replies(&message(4, 0, 1, &[]), Dump::Tcp4, None, &mut out).unwrap_err();
        assert!(e.to_string().contains("OVERRUN"), "{e}");
    }

    #[test]
    fn requests_serialize_to_the_kernel_layout() {
        for dump in Dump::ALL {
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            header.sequence_number = 9;
            let mut message = NetlinkMessage::new(header, dump.request().into());
            message.finalize();
            let mut buf = vec![0; message.buffer_len()];
            message.serialize(&mut buf);
            assert_eq!(read_u32(&buf, 0) as usize, buf.len());
            assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 20, "SOCK_DIAG_BY_FAMILY");
            assert_eq!(u16::from_ne_bytes([buf[6], buf[7]]), NLM_F_REQUEST | NLM_F_DUMP);
            assert_eq!(read_u32(&buf, 8), 9);
            match dump {
                // struct inet_diag_req_v2: family, protocol, ext, pad, states, id (48 bytes).
                Dump::Tcp4 | Dump::Tcp6 | Dump::Udp4 | Dump::Udp6 => {
                    assert_eq!(buf.len(), HEADER_LEN + 56);
                    let family = if matches!(dump, Dump::Tcp4 | Dump::Udp4) { AF_INET } else { AF_INET6 };
                    let protocol = if matches!(dump, Dump::Tcp4 | Dump::Tcp6) { IPPROTO_TCP } else { IPPROTO_UDP };
                    assert_eq!((buf[16], buf[17], buf[18]), (family, protocol, 0));
                    assert_eq!(read_u32(&buf, 20), u32::MAX, "every state");
                }
                // struct unix_diag_req: family, protocol, pad, states, ino, show, cookie.
                Dump::Unix => {
                    assert_eq!(buf.len(), HEADER_LEN + 24);
                    assert_eq!(buf[16], libc::AF_UNIX as u8);
                    assert_eq!(read_u32(&buf, 20), u32::MAX, "every state");
                    assert_eq!(read_u32(&buf, 28), 0x1 | 0x4, "UDIAG_SHOW_NAME | UDIAG_SHOW_PEER");
                }
            }
        }
    }
}
