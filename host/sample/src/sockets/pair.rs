//! From the dumps and the fd walk to [`Connection`] records: holders,
//! peers, and the pairing of local TCP/UDP ends (which the original gomon
//! never did: its bug 11).
//!
//! **Local TCP/UDP peers.** Both ends of a connection between two processes
//! of this host are in the dump (same network namespace): the socket whose
//! local address:port is our remote one and whose remote is our local one.
//! That exact 4-tuple match gives `peer_inode` on both sides. When the other
//! end has no inode yet (a connection still in the listener's accept queue)
//! or is not connected (a UDP server answering with `sendto`), a socket
//! aimed at a *local* address falls back to the server socket there: the TCP
//! listener, or the unconnected UDP socket, bound to that address or to the
//! wildcard (`0.0.0.0`, or `::` unless it is IPv6-only). The server's own
//! `peer_inode` stays 0: it serves many. An address is local if it is
//! loopback, unspecified, or one of the interfaces' addresses.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::fds::{Access, FdTable};
use super::inet::{InetSocket, Protocol};
use super::unix::UnixSocket;
use crate::model::{Connection, ConnectionKind};

/// Builds every connection record, sorted by kind, inode and addresses.
/// `local_addresses` are this host's interface addresses (loopback and
/// unspecified addresses count as local without being listed).
pub fn assemble(
    inet: &[InetSocket],
    unix: &[UnixSocket],
    fds: &FdTable,
    local_addresses: &HashSet<IpAddr>,
    out: &mut Vec<Connection>,
) {
    out.clear();
    out.reserve(inet.len() + unix.len() + fds.pipes.len() / 2 + fds.fifos.len());
    inet_connections(inet, fds, local_addresses, out);
    unix_connections(unix, fds, out);
    pipe_connections(fds, out);
    fifo_connections(fds, out);
    out.sort_unstable_by(|a, b| {
        (a.kind, a.inode, &a.local_address, a.local_port, &a.remote_address, a.remote_port).cmp(&(
            b.kind,
            b.inode,
            &b.local_address,
            b.local_port,
            &b.remote_address,
            b.remote_port,
        ))
    });
}

fn is_local(address: IpAddr, local_addresses: &HashSet<IpAddr>) -> bool {
    address.is_loopback() || address.is_unspecified() || local_addresses.contains(&address)
}

fn inet_connections(inet: &[InetSocket], fds: &FdTable, local_addresses: &HashSet<IpAddr>, out: &mut Vec<Connection>) {
    // (protocol, local, remote) → inode, for connected sockets with a file.
    let mut tuples: HashMap<(Protocol, SocketAddr, SocketAddr), u32> = HashMap::with_capacity(inet.len());
    // (protocol, local) → (inode, v6only) for listeners and unconnected UDP.
    let mut servers: HashMap<(Protocol, SocketAddr), (u32, bool)> = HashMap::new();
    for s in inet.iter().filter(|s| s.inode != 0) {
        if s.is_connected() {
            tuples.entry((s.protocol, s.local, s.remote)).or_insert(s.inode);
        } else if s.is_server() {
            let entry = servers.entry((s.protocol, s.local)).or_insert((s.inode, s.v6only));
            // SO_REUSEPORT groups: the lowest inode, so the choice is stable.
            if s.inode < entry.0 {
                *entry = (s.inode, s.v6only);
            }
        }
    }
    for s in inet {
        let peer = if s.inode != 0 && s.is_connected() {
            tuples
                .get(&(s.protocol, s.remote, s.local))
                .copied()
                .or_else(|| server_for(s, &servers, local_addresses))
                .filter(|&peer| peer != s.inode)
                .unwrap_or(0)
        } else {
            0
        };
        out.push(Connection {
            kind: match s.protocol {
                Protocol::Tcp => ConnectionKind::Tcp,
                Protocol::Udp => ConnectionKind::Udp,
            },
            state: s.state_name().to_owned(),
            inode: u64::from(s.inode),
            local_address: s.local.ip().to_string(),
            local_port: s.local.port(),
            remote_address: s.remote.ip().to_string(),
            remote_port: s.remote.port(),
            remote_host_name: None,
            peer_inode: u64::from(peer),
            pids: pids_of(fds, s.inode),
        });
    }
}

/// The local server socket a connected socket is aimed at, if any.
fn server_for(
    s: &InetSocket,
    servers: &HashMap<(Protocol, SocketAddr), (u32, bool)>,
    local_addresses: &HashSet<IpAddr>,
) -> Option<u32> {
    let remote = s.remote;
    if !is_local(remote.ip(), local_addresses) {
        return None;
    }
    let port = remote.port();
    let lookup = |address: IpAddr| servers.get(&(s.protocol, SocketAddr::new(address, port)));
    if let Some(&(inode, _)) = lookup(remote.ip()) {
        return Some(inode);
    }
    match remote.ip() {
        IpAddr::V4(_) => lookup(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            .map(|&(inode, _)| inode)
            .or_else(|| lookup(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).filter(|&&(_, v6only)| !v6only).map(|&(i, _)| i)),
        IpAddr::V6(_) => lookup(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).map(|&(inode, _)| inode),
    }
}

fn pids_of(fds: &FdTable, inode: u32) -> Vec<u32> {
    if inode == 0 { Vec::new() } else { fds.socket_pids(u64::from(inode)).collect() }
}

fn unix_connections(unix: &[UnixSocket], fds: &FdTable, out: &mut Vec<Connection>) {
    let names: HashMap<u32, &str> =
        unix.iter().filter(|s| !s.name.is_empty()).map(|s| (s.inode, s.name.as_str())).collect();
    for s in unix {
        let remote = if s.peer == 0 { "" } else { names.get(&s.peer).copied().unwrap_or("") };
        out.push(Connection {
            kind: s.kind,
            state: s.state_name().to_owned(),
            inode: u64::from(s.inode),
            local_address: s.name.clone(),
            local_port: 0,
            remote_address: remote.to_owned(),
            remote_port: 0,
            remote_host_name: None,
            peer_inode: u64::from(s.peer),
            pids: pids_of(fds, s.inode),
        });
    }
}

/// The holders of one pipe or FIFO, from its (pid, access) descriptors.
fn ends(kind: ConnectionKind, inode: u64, path: &str, holders: impl Iterator<Item = (u32, Access)>) -> Connection {
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let mut pids = Vec::new();
    for (pid, access) in holders {
        if access.writes() {
            writers.push(pid);
        }
        if access.reads() {
            readers.push(pid);
        }
        pids.push(pid);
    }
    for list in [&mut writers, &mut readers, &mut pids] {
        list.sort_unstable();
        list.dedup();
    }
    let mut state = String::with_capacity(8 + 8 * pids.len());
    state.push_str("w:");
    join(&mut state, &writers);
    state.push_str(" r:");
    join(&mut state, &readers);
    Connection {
        kind,
        state,
        inode,
        local_address: path.to_owned(),
        local_port: 0,
        remote_address: String::new(),
        remote_port: 0,
        remote_host_name: None,
        peer_inode: if writers.is_empty() || readers.is_empty() { 0 } else { inode },
        pids,
    }
}

fn join(text: &mut String, pids: &[u32]) {
    for (i, pid) in pids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{pid}");
    }
}

fn pipe_connections(fds: &FdTable, out: &mut Vec<Connection>) {
    for group in fds.pipes.chunk_by(|a, b| a.0 == b.0) {
        let inode = group[0].0;
        out.push(ends(ConnectionKind::Pipe, inode, "", group.iter().map(|&(_, pid, access)| (pid, access))));
    }
}

fn fifo_connections(fds: &FdTable, out: &mut Vec<Connection>) {
    for group in fds.fifos.chunk_by(|a, b| (a.dev, a.inode) == (b.dev, b.inode)) {
        let first = &group[0];
        // The shortest link text: the live path rather than "… (deleted)".
        let path = group.iter().map(|f| f.path.as_str()).min_by_key(|p| p.len()).unwrap_or("");
        out.push(ends(ConnectionKind::Fifo, first.inode, path, group.iter().map(|f| (f.pid, f.access))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::fds::FifoEnd;
    use crate::sockets::inet::state;

    fn tcp(state: u8, local: &str, remote: &str, inode: u32) -> InetSocket {
        InetSocket {
            protocol: Protocol::Tcp,
            family: libc::AF_INET as u8,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode,
            uid: 0,
            v6only: false,
        }
    }

    fn udp(state: u8, local: &str, remote: &str, inode: u32) -> InetSocket {
        InetSocket { protocol: Protocol::Udp, ..tcp(state, local, remote, inode) }
    }

    fn build(inet: &[InetSocket], unix: &[UnixSocket], fds: &FdTable) -> Vec<Connection> {
        let local: HashSet<IpAddr> = ["10.0.0.2".parse().unwrap()].into_iter().collect();
        let mut out = Vec::new();
        assemble(inet, unix, fds, &local, &mut out);
        out
    }

    fn by_inode(out: &[Connection], kind: ConnectionKind, inode: u64) -> &Connection {
        out.iter().find(|c| c.kind == kind && c.inode == inode).unwrap_or_else(|| panic!("no {kind:?} {inode}"))
    }

    #[test]
    fn local_tcp_ends_pair_up_and_remote_ones_do_not() {
        let inet = [
            tcp(state::LISTEN, "127.0.0.1:8080", "0.0.0.0:0", 10),
            tcp(state::ESTABLISHED, "127.0.0.1:40000", "127.0.0.1:8080", 11), // client
            tcp(state::ESTABLISHED, "127.0.0.1:8080", "127.0.0.1:40000", 12), // accepted
            tcp(state::ESTABLISHED, "10.0.0.2:50000", "93.184.216.34:443", 13), // remote host
            tcp(state::TIME_WAIT, "127.0.0.1:40001", "127.0.0.1:8080", 0),
        ];
        let fds =
            FdTable { sockets: vec![(10, 100), (11, 200), (12, 100), (12, 101), (13, 300)], ..Default::default() };
        let out = build(&inet, &[], &fds);
        assert_eq!(out.len(), 5);
        let client = by_inode(&out, ConnectionKind::Tcp, 11);
        assert_eq!((client.peer_inode, client.pids.as_slice()), (12, &[200][..]));
        assert_eq!(client.state, "established");
        assert_eq!((client.local_address.as_str(), client.local_port), ("127.0.0.1", 40000));
        assert_eq!((client.remote_address.as_str(), client.remote_port), ("127.0.0.1", 8080));
        let accepted = by_inode(&out, ConnectionKind::Tcp, 12);
        assert_eq!((accepted.peer_inode, accepted.pids.as_slice()), (11, &[100, 101][..]));
        let listener = by_inode(&out, ConnectionKind::Tcp, 10);
        assert_eq!((listener.state.as_str(), listener.peer_inode), ("listen", 0));
        assert_eq!(by_inode(&out, ConnectionKind::Tcp, 13).peer_inode, 0);
        let time_wait = by_inode(&out, ConnectionKind::Tcp, 0);
        assert_eq!((time_wait.state.as_str(), time_wait.peer_inode, time_wait.pids.len()), ("time-wait", 0, 0));
    }

    #[test]
    fn unaccepted_connections_fall_back_to_the_listener() {
        let inet = [
            InetSocket { family: libc::AF_INET6 as u8, ..tcp(state::LISTEN, "[::]:5432", "[::]:0", 20) },
            tcp(state::ESTABLISHED, "10.0.0.2:41000", "10.0.0.2:5432", 21), // to our own interface address
            tcp(state::ESTABLISHED, "10.0.0.2:5432", "10.0.0.2:41000", 0),  // in the accept queue
            tcp(state::ESTABLISHED, "192.168.1.9:41001", "192.168.1.1:5432", 22), // another host's 5432
        ];
        let out = build(&inet, &[], &FdTable::default());
        assert_eq!(by_inode(&out, ConnectionKind::Tcp, 21).peer_inode, 20);
        assert_eq!(by_inode(&out, ConnectionKind::Tcp, 22).peer_inode, 0);
        assert_eq!(by_inode(&out, ConnectionKind::Tcp, 20).peer_inode, 0);
        // An IPv6-only listener does not take IPv4.
        let mut inet = inet;
        inet[0].v6only = true;
        let out = build(&inet, &[], &FdTable::default());
        assert_eq!(by_inode(&out, ConnectionKind::Tcp, 21).peer_inode, 0);
    }

    #[test]
    fn connected_udp_pairs_exactly_or_with_the_bound_server() {
        let inet = [
            udp(state::CLOSE, "127.0.0.53:53", "0.0.0.0:0", 30), // a resolver
            udp(state::ESTABLISHED, "127.0.0.1:33000", "127.0.0.53:53", 31),
            udp(state::ESTABLISHED, "127.0.0.1:33001", "127.0.0.1:33002", 32),
            udp(state::ESTABLISHED, "127.0.0.1:33002", "127.0.0.1:33001", 33),
            tcp(state::LISTEN, "127.0.0.53:53", "0.0.0.0:0", 34), // TCP does not answer UDP
        ];
        let out = build(&inet, &[], &FdTable::default());
        assert_eq!(by_inode(&out, ConnectionKind::Udp, 31).peer_inode, 30);
        assert_eq!(by_inode(&out, ConnectionKind::Udp, 32).peer_inode, 33);
        assert_eq!(by_inode(&out, ConnectionKind::Udp, 33).peer_inode, 32);
        let server = by_inode(&out, ConnectionKind::Udp, 30);
        assert_eq!((server.state.as_str(), server.peer_inode), ("unconnected", 0));
    }

    #[test]
    fn unix_peers_carry_the_listener_name() {
        let unix = [
            UnixSocket {
                kind: ConnectionKind::UnixStream,
                state: state::LISTEN,
                inode: 40,
                peer: 0,
                name: "/run/x.sock".into(),
            },
            UnixSocket {
                kind: ConnectionKind::UnixStream,
                state: state::ESTABLISHED,
                inode: 41,
                peer: 42,
                name: String::new(),
            },
            UnixSocket {
                kind: ConnectionKind::UnixStream,
                state: state::ESTABLISHED,
                inode: 42,
                peer: 41,
                name: "/run/x.sock".into(),
            },
            UnixSocket {
                kind: ConnectionKind::UnixDatagram,
                state: state::CLOSE,
                inode: 43,
                peer: 0,
                name: "@abstract".into(),
            },
        ];
        let fds = FdTable { sockets: vec![(40, 1), (41, 2), (42, 1)], ..Default::default() };
        let out = build(&[], &unix, &fds);
        let client = by_inode(&out, ConnectionKind::UnixStream, 41);
        assert_eq!(
            (client.peer_inode, client.remote_address.as_str(), client.pids.as_slice()),
            (42, "/run/x.sock", &[2][..])
        );
        let server_end = by_inode(&out, ConnectionKind::UnixStream, 42);
        assert_eq!(
            (server_end.peer_inode, server_end.local_address.as_str(), server_end.remote_address.as_str()),
            (41, "/run/x.sock", "")
        );
        let dgram = by_inode(&out, ConnectionKind::UnixDatagram, 43);
        assert_eq!(
            (dgram.state.as_str(), dgram.local_address.as_str(), dgram.pids.len()),
            ("unconnected", "@abstract", 0)
        );
    }

    #[test]
    fn pipes_and_fifos_name_their_writers_and_readers() {
        let mut fds = FdTable {
            pipes: vec![
                (50, 2, Access::Read),
                (50, 1, Access::Write),
                (50, 1, Access::Write),
                (51, 3, Access::ReadWrite),
                (52, 4, Access::Write),
            ],
            fifos: vec![
                FifoEnd { dev: 8, inode: 60, pid: 5, access: Access::Read, path: "/run/f".into() },
                FifoEnd { dev: 8, inode: 60, pid: 6, access: Access::Write, path: "/run/f".into() },
                FifoEnd { dev: 9, inode: 60, pid: 7, access: Access::Read, path: "/other/f (deleted)".into() },
            ],
            ..Default::default()
        };
        fds.finish();
        let out = build(&[], &[], &fds);
        let pipe = by_inode(&out, ConnectionKind::Pipe, 50);
        assert_eq!((pipe.state.as_str(), pipe.pids.as_slice(), pipe.peer_inode), ("w:1 r:2", &[1, 2][..], 50));
        let own = by_inode(&out, ConnectionKind::Pipe, 51);
        assert_eq!((own.state.as_str(), own.pids.as_slice(), own.peer_inode), ("w:3 r:3", &[3][..], 51));
        let half = by_inode(&out, ConnectionKind::Pipe, 52);
        assert_eq!((half.state.as_str(), half.peer_inode), ("w:4 r:", 0));
        let fifos: Vec<_> = out.iter().filter(|c| c.kind == ConnectionKind::Fifo).collect();
        assert_eq!(fifos.len(), 2, "same inode on two devices is two FIFOs");
        let f = fifos.iter().find(|c| c.local_address == "/run/f").unwrap();
        assert_eq!((f.state.as_str(), f.pids.as_slice(), f.peer_inode), ("w:6 r:5", &[5, 6][..], 60));
    }

    #[test]
    fn output_is_sorted_by_kind_then_inode() {
        let inet =
            [tcp(state::LISTEN, "127.0.0.1:1", "0.0.0.0:0", 9), udp(state::CLOSE, "127.0.0.1:2", "0.0.0.0:0", 3)];
        let fds = FdTable { pipes: vec![(1, 1, Access::Read)], ..Default::default() };
        let out = build(&inet, &[], &fds);
        let kinds: Vec<_> = out.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![ConnectionKind::Tcp, ConnectionKind::Udp, ConnectionKind::Pipe]);
    }
}
