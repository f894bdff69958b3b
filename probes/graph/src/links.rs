//! What the snapshot's connections mean for the graph: process-to-process
//! links, links to remote hosts and links to data nodes.
//!
//! A connection is one endpoint (a socket, a pipe or a FIFO inode) with the
//! processes that hold it. The other end of a socket is the connection whose
//! inode is its `peer-inode`; the other end of a pipe or FIFO is another
//! process holding the same inode.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};

use gomon_probe::{Connection, ConnectionKind};

use crate::table::Table;

/// A pipe or FIFO held by more processes than this (a make jobserver, a
/// log pipe inherited by a whole service) is drawn as a data node rather
/// than as a link between every two of its holders.
pub const MAX_SHARED_HOLDERS: usize = 16;

/// One connection between two distinct processes. `a` holds one end and `b`
/// the other (for a pipe or FIFO, both hold the one inode).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcLink {
    pub kind: ConnectionKind,
    pub a: u32,
    pub b: u32,
}

/// One connection of a process to a remote host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLink {
    pub pid: u32,
    /// The remote address, normalised (no brackets, IPv4-mapped IPv6 as
    /// IPv4).
    pub address: String,
    /// The address's reverse-DNS name, when the host knew it.
    pub name: Option<String>,
    pub kind: ConnectionKind,
    pub remote_port: u16,
    /// The port that names the service: the local port when this host is
    /// the server (something here listens on it), else the remote port.
    pub service_port: u16,
}

/// A data node: an endpoint with no process or host at its other end.
pub type DataKey = (u8, u64);

/// What kind of data node an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A listening TCP or unix socket.
    Listening,
    /// A bound socket with no peer: a UDP socket with no remote, a unix
    /// socket with a path.
    Bound,
    /// A socket with no peer, address or path.
    Unconnected,
    /// A socket whose peer is on this host but held by no process in the
    /// snapshot.
    PeerUnseen,
    /// A pipe with one holder, or with more than [`MAX_SHARED_HOLDERS`].
    Pipe,
    /// A FIFO with one holder, or with more than [`MAX_SHARED_HOLDERS`].
    Fifo,
}

impl Role {
    /// The arc (ring colour) of a data node in this role.
    pub fn arc(self) -> &'static str {
        match self {
            Role::Listening | Role::Bound => "socket",
            Role::Fifo => "data",
            Role::Unconnected | Role::PeerUnseen | Role::Pipe => "kernel",
        }
    }
}

/// A data node's endpoint.
#[derive(Debug, Clone, Copy)]
pub struct DataInfo<'a> {
    pub connection: &'a Connection,
    pub role: Role,
}

/// One process's link to a data node.
#[derive(Debug, Clone, PartialEq)]
pub struct DataLink {
    pub pid: u32,
    pub key: DataKey,
}

/// Everything the connections say, for processes in the table only.
#[derive(Default)]
pub struct Links<'a> {
    pub procs: Vec<ProcLink>,
    pub hosts: Vec<HostLink>,
    pub data: Vec<DataLink>,
    pub data_nodes: BTreeMap<DataKey, DataInfo<'a>>,
}

/// The contract's name of a connection kind (`unix-stream`).
pub fn kind_name(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Tcp => "tcp",
        ConnectionKind::Udp => "udp",
        ConnectionKind::UnixStream => "unix-stream",
        ConnectionKind::UnixDatagram => "unix-datagram",
        ConnectionKind::UnixSeqpacket => "unix-seqpacket",
        ConnectionKind::Pipe => "pipe",
        ConnectionKind::Fifo => "fifo",
    }
}

/// The order of data nodes by kind.
fn kind_rank(kind: ConnectionKind) -> u8 {
    match kind {
        ConnectionKind::Tcp => 0,
        ConnectionKind::Udp => 1,
        ConnectionKind::UnixStream => 2,
        ConnectionKind::UnixDatagram => 3,
        ConnectionKind::UnixSeqpacket => 4,
        ConnectionKind::Pipe => 5,
        ConnectionKind::Fifo => 6,
    }
}

/// Whether `kind` is a socket (has a `peer-inode`).
fn is_socket(kind: ConnectionKind) -> bool {
    !matches!(kind, ConnectionKind::Pipe | ConnectionKind::Fifo)
}

/// Whether `kind` is TCP or UDP (has addresses and ports).
pub fn is_inet(kind: ConnectionKind) -> bool {
    matches!(kind, ConnectionKind::Tcp | ConnectionKind::Udp)
}

/// An address as text without brackets, an IPv4-mapped IPv6 address as
/// IPv4; the zone (`%eth0`) is kept.
pub fn normalise_address(address: &str) -> String {
    let bare = address.trim().trim_start_matches('[').trim_end_matches(']');
    let (ip, zone) = match bare.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (bare, None),
    };
    match (ip.parse::<Ipv6Addr>().ok().and_then(|v6| v6.to_ipv4_mapped()), zone) {
        (Some(v4), None) => v4.to_string(),
        _ => bare.to_owned(),
    }
}

/// The address without its zone, parsed.
fn parse_ip(address: &str) -> Option<IpAddr> {
    address.split('%').next()?.parse().ok()
}

/// Whether a TCP or UDP endpoint's other end is another machine: no local
/// peer, and a remote address that is not loopback or unspecified, with a
/// port.
fn is_remote(c: &Connection) -> bool {
    let address = normalise_address(&c.remote_address);
    if c.peer_inode != 0 || c.remote_port == 0 || address.is_empty() {
        return false;
    }
    match parse_ip(&address) {
        Some(ip) => !ip.is_loopback() && !ip.is_unspecified(),
        // Not an IP address (a name the host resolved): not this machine.
        None => true,
    }
}

/// Whether a TCP or UDP endpoint has no remote end at all.
fn has_no_remote(c: &Connection) -> bool {
    let address = normalise_address(&c.remote_address);
    c.remote_port == 0
        || address.is_empty()
        || parse_ip(&address).is_some_and(|ip| ip.is_unspecified())
}

impl<'a> Links<'a> {
    /// Derives the links of `connections`, keeping the pids in `table`
    /// (pid 0 never is) and dropping self-connections.
    pub fn derive(connections: &'a [Connection], table: &Table<'_>) -> Self {
        let mut links = Links::default();
        let holders = |c: &Connection| -> Vec<u32> {
            let mut pids: Vec<u32> =
                c.pids.iter().copied().filter(|&p| table.contains(p)).collect();
            pids.sort_unstable();
            pids.dedup();
            pids
        };
        let sockets: HashMap<u64, &Connection> = connections
            .iter()
            .filter(|c| is_socket(c.kind) && c.inode != 0)
            .map(|c| (c.inode, c))
            .collect();
        let listening: HashSet<(u8, u16)> = connections
            .iter()
            .filter(|c| is_inet(c.kind) && c.state == "listen" && c.local_port != 0)
            .map(|c| (kind_rank(c.kind), c.local_port))
            .collect();
        let mut paired = HashSet::new();

        for c in connections {
            let held_by = holders(c);
            if held_by.is_empty() {
                continue;
            }
            if !is_socket(c.kind) {
                let role = if c.kind == ConnectionKind::Fifo { Role::Fifo } else { Role::Pipe };
                if (2..=MAX_SHARED_HOLDERS).contains(&held_by.len()) {
                    for (i, &a) in held_by.iter().enumerate() {
                        for &b in &held_by[i + 1..] {
                            links.procs.push(ProcLink { kind: c.kind, a, b });
                        }
                    }
                } else {
                    links.add_data(c, role, &held_by);
                }
                continue;
            }
            if c.peer_inode != 0 {
                match sockets.get(&c.peer_inode).filter(|d| d.inode != c.inode) {
                    Some(d) => {
                        let pair = (c.inode.min(d.inode), c.inode.max(d.inode));
                        if !paired.insert(pair) {
                            continue;
                        }
                        let peers = holders(d);
                        if peers.is_empty() {
                            links.add_data(c, Role::PeerUnseen, &held_by);
                        }
                        for &a in &held_by {
                            for &b in peers.iter().filter(|&&b| b != a) {
                                links.procs.push(ProcLink { kind: c.kind, a, b });
                            }
                        }
                    }
                    None => links.add_data(c, Role::PeerUnseen, &held_by),
                }
                continue;
            }
            if is_inet(c.kind) {
                if is_remote(c) {
                    let address = normalise_address(&c.remote_address);
                    let inbound = listening.contains(&(kind_rank(c.kind), c.local_port));
                    let service_port = if inbound { c.local_port } else { c.remote_port };
                    for &pid in &held_by {
                        links.hosts.push(HostLink {
                            pid,
                            address: address.clone(),
                            name: c.remote_host_name.clone(),
                            kind: c.kind,
                            remote_port: c.remote_port,
                            service_port,
                        });
                    }
                } else if c.state == "listen" {
                    links.add_data(c, Role::Listening, &held_by);
                } else if has_no_remote(c) {
                    links.add_data(c, Role::Bound, &held_by);
                } else {
                    // A loopback peer the host did not resolve.
                    links.add_data(c, Role::PeerUnseen, &held_by);
                }
            } else if c.state == "listen" {
                links.add_data(c, Role::Listening, &held_by);
            } else if !c.local_address.is_empty() {
                links.add_data(c, Role::Bound, &held_by);
            } else {
                links.add_data(c, Role::Unconnected, &held_by);
            }
        }
        links
    }

    /// Makes `c` a data node and links its holders to it.
    fn add_data(&mut self, c: &'a Connection, role: Role, held_by: &[u32]) {
        let key = (kind_rank(c.kind), c.inode);
        self.data_nodes.entry(key).or_insert(DataInfo { connection: c, role });
        self.data.extend(held_by.iter().map(|&pid| DataLink { pid, key }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(normalise_address("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(normalise_address("::ffff:203.0.113.5"), "203.0.113.5");
        assert_eq!(normalise_address("fe80::1%eth0"), "fe80::1%eth0");
        assert_eq!(normalise_address(" 192.0.2.1 "), "192.0.2.1");
    }

    #[test]
    fn remote_means_another_machine() {
        let tcp = |addr: &str, port: u16, peer: u64| Connection {
            remote_address: addr.into(),
            remote_port: port,
            peer_inode: peer,
            ..gomon_probe::testing::connection(ConnectionKind::Tcp, 1, &[1])
        };
        assert!(is_remote(&tcp("203.0.113.5", 443, 0)));
        assert!(is_remote(&tcp("2001:db8::1", 443, 0)));
        assert!(is_remote(&tcp("fe80::1%eth0", 22, 0)));
        assert!(!is_remote(&tcp("203.0.113.5", 443, 7)), "a local peer");
        assert!(!is_remote(&tcp("127.0.0.1", 5432, 0)));
        assert!(!is_remote(&tcp("::ffff:127.0.0.1", 5432, 0)));
        assert!(!is_remote(&tcp("::1", 5432, 0)));
        assert!(!is_remote(&tcp("0.0.0.0", 0, 0)));
        assert!(!is_remote(&tcp("203.0.113.5", 0, 0)));
        assert!(!is_remote(&tcp("", 80, 0)));
    }
}
