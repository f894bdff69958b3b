//! TCP and UDP sockets as sock_diag reports them (`struct inet_diag_msg`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6};
use netlink_packet_sock_diag::inet::InetResponse;
use netlink_packet_sock_diag::inet::nlas::Nla;

/// The transport protocol of an inet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// `sk_state` values (include/net/tcp_states.h). UDP uses `ESTABLISHED`
/// (connected) and `CLOSE` (not connected); unix sockets use those two,
/// `LISTEN` and `SYN_SENT` (connecting).
pub mod state {
    /// `TCP_ESTABLISHED`.
    pub const ESTABLISHED: u8 = 1;
    /// `TCP_SYN_SENT`.
    pub const SYN_SENT: u8 = 2;
    /// `TCP_SYN_RECV`.
    pub const SYN_RECV: u8 = 3;
    /// `TCP_FIN_WAIT1`.
    pub const FIN_WAIT1: u8 = 4;
    /// `TCP_FIN_WAIT2`.
    pub const FIN_WAIT2: u8 = 5;
    /// `TCP_TIME_WAIT`.
    pub const TIME_WAIT: u8 = 6;
    /// `TCP_CLOSE`.
    pub const CLOSE: u8 = 7;
    /// `TCP_CLOSE_WAIT`.
    pub const CLOSE_WAIT: u8 = 8;
    /// `TCP_LAST_ACK`.
    pub const LAST_ACK: u8 = 9;
    /// `TCP_LISTEN`.
    pub const LISTEN: u8 = 10;
    /// `TCP_CLOSING`.
    pub const CLOSING: u8 = 11;
    /// A request socket: a SYN received for a listener, not yet a socket.
    pub const NEW_SYN_RECV: u8 = 12;
}

/// The `state` string of a TCP socket, as in the WIT record.
pub fn tcp_state_name(state: u8) -> &'static str {
    match state {
        state::ESTABLISHED => "established",
        state::SYN_SENT => "syn-sent",
        state::SYN_RECV => "syn-recv",
        state::FIN_WAIT1 => "fin-wait-1",
        state::FIN_WAIT2 => "fin-wait-2",
        state::TIME_WAIT => "time-wait",
        state::CLOSE => "close",
        state::CLOSE_WAIT => "close-wait",
        state::LAST_ACK => "last-ack",
        state::LISTEN => "listen",
        state::CLOSING => "closing",
        state::NEW_SYN_RECV => "new-syn-recv",
        _ => "unknown",
    }
}

/// The `state` string of a UDP socket: `established` when connected,
/// `unconnected` otherwise (what `ss` shows as UNCONN).
pub fn udp_state_name(state: u8) -> &'static str {
    match state {
        state::ESTABLISHED => "established",
        state::CLOSE => "unconnected",
        _ => tcp_state_name(state),
    }
}

/// One TCP or UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetSocket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// `AF_INET` or `AF_INET6` (the socket's own family, even when its
    /// addresses are IPv4-mapped and given here as IPv4).
    pub family: u8,
    /// `sk_state`; see [`state`].
    pub state: u8,
    /// Local address and port; IPv4-mapped IPv6 addresses as IPv4.
    pub local: SocketAddr,
    /// Remote address and port (unspecified and 0 when not connected).
    pub remote: SocketAddr,
    /// 0 for sockets no file refers to: TIME_WAIT, request sockets, and
    /// connections not yet accepted.
    pub inode: u32,
    /// The owner's uid.
    pub uid: u32,
    /// An IPv6 socket that does not accept IPv4 (`IPV6_V6ONLY`).
    pub v6only: bool,
}

/// Why an inet reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInet(pub u8);

impl fmt::Display for NotInet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address family {} is neither AF_INET nor AF_INET6", self.0)
    }
}

impl InetSocket {
    /// From a decoded `inet_diag_msg` of a TCP or UDP dump.
    pub fn from_response(response: &InetResponse, protocol: Protocol) -> Result<Self, NotInet> {
        let header = &response.header;
        if header.family != AF_INET && header.family != AF_INET6 {
            return Err(NotInet(header.family));
        }
        let id = &header.socket_id;
        let v6only = response.nlas.iter().any(|nla| matches!(nla, Nla::SkV6Only(true)));
        Ok(InetSocket {
            protocol,
            family: header.family,
            state: header.state,
            local: SocketAddr::new(unmap(id.source_address), id.source_port),
            remote: SocketAddr::new(unmap(id.destination_address), id.destination_port),
            inode: header.inode,
            uid: header.uid,
            v6only,
        })
    }

    /// The WIT `state` string.
    pub fn state_name(&self) -> &'static str {
        match self.protocol {
            Protocol::Tcp => tcp_state_name(self.state),
            Protocol::Udp => udp_state_name(self.state),
        }
    }

    /// Connected to a remote endpoint (not a listener, not an unconnected
    /// UDP socket, not a TCP socket that is closed).
    pub fn is_connected(&self) -> bool {
        self.remote.port() != 0 && !self.remote.ip().is_unspecified()
    }

    /// Can accept traffic from others: a TCP listener, or a bound UDP
    /// socket that is not connected.
    pub fn is_server(&self) -> bool {
        self.local.port() != 0
            && match self.protocol {
                Protocol::Tcp => self.state == state::LISTEN,
                Protocol::Udp => self.state == state::CLOSE,
            }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; every other address as is.
pub fn unmap(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => address,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn state_names() {
        assert_eq!(tcp_state_name(1), "established");
        assert_eq!(tcp_state_name(10), "listen");
        assert_eq!(tcp_state_name(6), "time-wait");
        assert_eq!(tcp_state_name(4), "fin-wait-1");
        assert_eq!(tcp_state_name(12), "new-syn-recv");
        assert_eq!(tcp_state_name(99), "unknown");
        assert_eq!(udp_state_name(7), "unconnected");
        assert_eq!(udp_state_name(1), "established");
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(unmap(mapped), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(unmap(IpAddr::V6(Ipv6Addr::LOCALHOST)), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(unmap(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }
}
