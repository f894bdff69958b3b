//! One host's endpoint table: its addresses, the sockets that listen on it (with their
//! owning processes) and its established outbound connections aggregated by owning
//! process and remote endpoint, the local ephemeral port dropped. The fleet join
//! ([`super::join`]) takes one table per host, whatever its source: an agent's
//! `GET /api/endpoints` (this JSON) or the `gomon_endpoint_*` series Prometheus holds
//! ([`families`]).
//!
//! ```json
//! {"hostname":"db1",
//!  "addresses":[{"address":"10.0.0.2","interface":"eth0"}],
//!  "listening":[{"address":"0.0.0.0","port":5432,"protocol":"tcp","process":"postgres","pid":77}],
//!  "connections":[{"process":"app","pid":812,"remoteAddress":"10.0.0.7","remotePort":6379,
//!                  "protocol":"tcp","count":3,"remoteName":"cache1.example"}]}
//! ```
//!
//! As series (`[fleet] export = true`), the same table without pids (a pid label would
//! churn; the process name keeps the series bounded):
//!
//! ```text
//! gomon_endpoint_listening{address="0.0.0.0",port="5432",protocol="tcp",process="postgres"} 1
//! gomon_endpoint_connections{process="app",remote_address="10.0.0.7",remote_port="6379",protocol="tcp"} 3
//! gomon_host_address_info{address="10.0.0.2",interface="eth0"} 1
//! ```
//!
//! **Listening**: a TCP socket in `listen`, or a UDP socket bound to a port with no
//! remote end. **Outbound**: a TCP socket in `established` (or a connected UDP socket)
//! whose local port is not one this host listens on for that protocol and address —
//! the accepted side of a connection is inbound and left out, so each connection is
//! counted once, at its client. A socket held by several processes counts once per
//! process name, for the lowest pid of that name (a forked server's workers share the
//! listener of their parent). Sockets whose holder is unknown (another user's process,
//! for an agent without privileges) are left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use gomon_sink_prometheus::MetricFamily;
use serde::{Deserialize, Serialize};

use crate::runtime::bindings::types::{Connection, ConnectionKind};

/// The transport of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`, the label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// From a label value.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// One of the host's own addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostAddress {
    /// The address, without brackets or prefix length.
    pub address: String,
    /// The interface that holds it.
    #[serde(default)]
    pub interface: String,
}

/// A socket that accepts connections or datagrams.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listener {
    /// The local address it is bound to (`0.0.0.0` or `::` for every address).
    pub address: String,
    /// The local port.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The owning process's name (`comm`).
    pub process: String,
    /// The lowest pid of that name holding it; `None` when the source does not know
    /// pids (Prometheus series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// Established outbound connections of one process to one remote endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbound {
    /// The owning process's name (`comm`).
    pub process: String,
    /// Its pid; `None` when the source does not know pids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The remote (server's) address.
    pub remote_address: String,
    /// The remote (server's) port.
    pub remote_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// How many connections.
    pub count: u64,
    /// The remote address's reverse-DNS name, when the agent knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_name: Option<String>,
}

/// One host's endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointTable {
    /// The host's name (uname), when known.
    #[serde(default)]
    pub hostname: String,
    /// Its own addresses.
    #[serde(default)]
    pub addresses: Vec<HostAddress>,
    /// Its listening and bound sockets.
    #[serde(default)]
    pub listening: Vec<Listener>,
    /// Its outbound connections, aggregated.
    #[serde(default)]
    pub connections: Vec<Outbound>,
}

/// An address as the table writes it: no brackets, an IPv4-mapped IPv6 address as IPv4.
pub fn normalise_address(address: &str) -> String {
    let bare = address.trim().trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        Ok(v4) => v4.to_string(),
        Err(_) => bare.to_owned(),
    }
}

fn protocol_of(kind: ConnectionKind) -> Option<Protocol> {
    match kind {
        ConnectionKind::Tcp => Some(Protocol::Tcp),
        ConnectionKind::Udp => Some(Protocol::Udp),
        _ => None,
    }
}

fn is_unspecified(address: &str) -> bool {
    address.is_empty() || address.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

/// Whether a socket accepts traffic: TCP in `listen`, or UDP bound with no remote end.
fn is_listener(c: &Connection, protocol: Protocol) -> bool {
    c.local_port != 0
        && match protocol {
            Protocol::Tcp => c.state == "listen",
            Protocol::Udp => c.remote_port == 0 || is_unspecified(&normalise_address(&c.remote_address)),
        }
}

/// Whether a socket is a connection to a remote endpoint (either side).
fn is_connected(c: &Connection, protocol: Protocol) -> bool {
    let remote = normalise_address(&c.remote_address);
    let connected = c.remote_port != 0 && !is_unspecified(&remote);
    connected
        && match protocol {
            Protocol::Tcp => c.state == "established",
            Protocol::Udp => true,
        }
}

/// (process name, pid, remote address, remote port, protocol).
type OutboundKey = (String, u32, String, u16, Protocol);

impl EndpointTable {
    /// The table of a snapshot's connections. `comm` names a pid's process (`None`:
    /// gone, or not sampled: that holder is left out).
    pub fn build<'a>(
        hostname: &str,
        addresses: Vec<HostAddress>,
        connections: &[Connection],
        comm: impl Fn(u32) -> Option<&'a str>,
    ) -> EndpointTable {
        // The holders of a socket: (name, lowest pid of that name).
        let holders = |c: &Connection| -> BTreeMap<&'a str, u32> {
            let mut by_name: BTreeMap<&'a str, u32> = BTreeMap::new();
            for &pid in &c.pids {
                if pid == 0 {
                    continue;
                }
                if let Some(name) = comm(pid) {
                    by_name.entry(name).and_modify(|p| *p = (*p).min(pid)).or_insert(pid);
                }
            }
            by_name
        };

        let mut listening: BTreeMap<(String, u16, Protocol, String), u32> = BTreeMap::new();
        // (protocol, port) -> addresses listened on, to tell accepted sockets apart.
        let mut listened: HashMap<(Protocol, u16), Vec<String>> = HashMap::new();
        for c in connections {
            let Some(protocol) = protocol_of(c.kind) else { continue };
            if !is_listener(c, protocol) {
                continue;
            }
            let address = normalise_address(&c.local_address);
            listened.entry((protocol, c.local_port)).or_default().push(address.clone());
            for (name, pid) in holders(c) {
                listening
                    .entry((address.clone(), c.local_port, protocol, name.to_owned()))
                    .and_modify(|p| *p = (*p).min(pid))
                    .or_insert(pid);
            }
        }
        let inbound = |c: &Connection, protocol: Protocol| {
            let local = normalise_address(&c.local_address);
            listened
                .get(&(protocol, c.local_port))
                .is_some_and(|addresses| addresses.iter().any(|a| *a == local || is_unspecified(a)))
        };

        let mut outbound: BTreeMap<OutboundKey, (u64, Option<String>)> = BTreeMap::new();
        for c in connections {
            let Some(protocol) = protocol_of(c.kind) else { continue };
            if is_listener(c, protocol) || !is_connected(c, protocol) || inbound(c, protocol) {
                continue;
            }
            let remote = normalise_address(&c.remote_address);
            for (name, pid) in holders(c) {
                let entry = outbound
                    .entry((name.to_owned(), pid, remote.clone(), c.remote_port, protocol))
                    .or_insert((0, None));
                entry.0 += 1;
                if entry.1.is_none() {
                    entry.1 = c.remote_host_name.clone().filter(|n| !n.is_empty());
                }
            }
        }

        let mut addresses: Vec<HostAddress> = addresses
            .into_iter()
            .map(|a| HostAddress { address: normalise_address(&a.address), interface: a.interface })
            .collect();
        addresses.sort();
        addresses.dedup();
        EndpointTable {
            hostname: hostname.to_owned(),
            addresses,
            listening: listening
                .into_iter()
                .map(|((address, port, protocol, process), pid)| Listener {
                    address,
                    port,
                    protocol,
                    process,
                    pid: Some(pid),
                })
                .collect(),
            connections: outbound
                .into_iter()
                .map(|((process, pid, remote_address, remote_port, protocol), (count, remote_name))| Outbound {
                    process,
                    pid: Some(pid),
                    remote_address,
                    remote_port,
                    protocol,
                    count,
                    remote_name,
                })
                .collect(),
        }
    }

    /// The table by process name, pids and names dropped: what the series carry.
    pub fn by_process_name(&self) -> EndpointTable {
        let mut listening: BTreeSet<(String, u16, Protocol, String)> = BTreeSet::new();
        for l in &self.listening {
            listening.insert((l.address.clone(), l.port, l.protocol, l.process.clone()));
        }
        let mut outbound: BTreeMap<(String, String, u16, Protocol), u64> = BTreeMap::new();
        for o in &self.connections {
            *outbound.entry((o.process.clone(), o.remote_address.clone(), o.remote_port, o.protocol)).or_default() +=
                o.count;
        }
        EndpointTable {
            hostname: self.hostname.clone(),
            addresses: self.addresses.clone(),
            listening: listening
                .into_iter()
                .map(|(address, port, protocol, process)| Listener { address, port, protocol, process, pid: None })
                .collect(),
            connections: outbound
                .into_iter()
                .map(|((process, remote_address, remote_port, protocol), count)| Outbound {
                    process,
                    pid: None,
                    remote_address,
                    remote_port,
                    protocol,
                    count,
                    remote_name: None,
                })
                .collect(),
        }
    }

    /// Rows in all.
    pub fn rows(&self) -> usize {
        self.addresses.len() + self.listening.len() + self.connections.len()
    }
}

/// Names of the exported families.
pub const LISTENING_FAMILY: &str = "gomon_endpoint_listening";
/// See [`LISTENING_FAMILY`].
pub const CONNECTIONS_FAMILY: &str = "gomon_endpoint_connections";
/// See [`LISTENING_FAMILY`].
pub const ADDRESS_FAMILY: &str = "gomon_host_address_info";
/// See [`LISTENING_FAMILY`].
pub const DROPPED_FAMILY: &str = "gomon_endpoint_dropped_series";

/// The table as the fleet export's families, each holding at most `max_series` series
/// (listeners first by port, connections busiest first); what is left out is counted
/// in `gomon_endpoint_dropped_series{family}`, so a host with a connection to every
/// port of the internet cannot flood Prometheus.
pub fn families(table: &EndpointTable, max_series: usize) -> Vec<MetricFamily> {
    let table = table.by_process_name();
    let mut addresses =
        MetricFamily::gauge(ADDRESS_FAMILY, "An address of this host, with its interface; the value is 1.")
            .labels(["address", "interface"]);
    let mut listening = MetricFamily::gauge(
        LISTENING_FAMILY,
        "A socket listening (TCP) or bound (UDP) on this host, with its owning process; the value is 1.",
    )
    .labels(["address", "port", "protocol", "process"]);
    let mut connections = MetricFamily::gauge(
        CONNECTIONS_FAMILY,
        "Established outbound connections by owning process and remote (server) endpoint; the local port is left out.",
    )
    .labels(["process", "remote_address", "remote_port", "protocol"]);
    let mut dropped = MetricFamily::gauge(
        DROPPED_FAMILY,
        "Endpoint series left out of the last cycle's export because a family reached [fleet] max_series.",
    )
    .labels(["family"]);

    let mut dropped_addresses = 0;
    for (i, a) in table.addresses.iter().enumerate() {
        if i >= max_series {
            dropped_addresses += 1;
            continue;
        }
        addresses.push(&[&a.address, &a.interface], 1.0);
    }
    let mut dropped_listening = 0;
    for (i, l) in table.listening.iter().enumerate() {
        if i >= max_series {
            dropped_listening += 1;
            continue;
        }
        listening.push(&[&l.address, &l.port.to_string(), l.protocol.as_str(), &l.process], 1.0);
    }
    let mut outbound = table.connections.clone();
    // Busiest first, then in table order, so a cut keeps the same series every cycle.
    outbound.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cmp(b)));
    let dropped_connections = outbound.len().saturating_sub(max_series);
    outbound.truncate(max_series);
    outbound.sort();
    for o in &outbound {
        connections
            .push(&[&o.process, &o.remote_address, &o.remote_port.to_string(), o.protocol.as_str()], o.count as f64);
    }
    dropped.push(&[ADDRESS_FAMILY], dropped_addresses as f64);
    dropped.push(&[LISTENING_FAMILY], dropped_listening as f64);
    dropped.push(&[CONNECTIONS_FAMILY], dropped_connections as f64);
    vec![addresses, listening, connections, dropped]
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn socket(
        kind: ConnectionKind,
        state: &str,
        local: (&str, u16),
        remote: (&str, u16),
        pids: &[u32],
    ) -> Connection {
        Connection {
            kind,
            state: state.into(),
            inode: 1,
            local_address: local.0.into(),
            local_port: local.1,
            remote_address: remote.0.into(),
            remote_port: remote.1,
            remote_host_name: None,
            peer_inode: 0,
            pids: pids.to_vec(),
        }
    }

    fn comm(pid: u32) -> Option<&'static str> {
        match pid {
            77 | 78 => Some("postgres"),
            812 | 813 => Some("app"),
            900 => Some("dns"),
            _ => None,
        }
    }

    #[test]
    fn listeners_outbound_and_the_accepted_side_left_out() {
        use ConnectionKind::{Tcp, Udp};
        let sockets = vec![
            socket(Tcp, "listen", ("0.0.0.0", 5432), ("0.0.0.0", 0), &[77, 78]),
            socket(Tcp, "listen", ("::", 5432), ("::", 0), &[77]),
            // Accepted by postgres: inbound, left out.
            socket(Tcp, "established", ("10.0.0.2", 5432), ("10.0.0.7", 41000), &[78]),
            // app's three connections to a cache and one to a database.
            socket(Tcp, "established", ("10.0.0.2", 41001), ("10.0.0.9", 6379), &[812]),
            socket(Tcp, "established", ("10.0.0.2", 41002), ("10.0.0.9", 6379), &[812]),
            socket(Tcp, "established", ("10.0.0.2", 41003), ("::ffff:10.0.0.9", 6379), &[812, 813]),
            socket(Tcp, "established", ("10.0.0.2", 41004), ("10.0.0.3", 5432), &[813]),
            // Not established, no holder, a unix socket: left out.
            socket(Tcp, "time-wait", ("10.0.0.2", 41005), ("10.0.0.3", 5432), &[813]),
            socket(Tcp, "established", ("10.0.0.2", 41006), ("10.0.0.3", 5432), &[4242]),
            socket(ConnectionKind::UnixStream, "established", ("/run/x", 0), ("", 0), &[812]),
            // A bound UDP server, and a connected UDP client of another host's.
            socket(Udp, "unconnected", ("0.0.0.0", 53), ("0.0.0.0", 0), &[900]),
            socket(Udp, "established", ("10.0.0.2", 50000), ("10.0.0.53", 53), &[812]),
        ];
        let addresses = vec![HostAddress { address: "10.0.0.2".into(), interface: "eth0".into() }];
        let table = EndpointTable::build("db1", addresses, &sockets, comm);
        let listening: Vec<_> = table
            .listening
            .iter()
            .map(|l| (l.address.as_str(), l.port, l.protocol, l.process.as_str(), l.pid))
            .collect();
        assert_eq!(
            listening,
            [
                ("0.0.0.0", 53, Protocol::Udp, "dns", Some(900)),
                ("0.0.0.0", 5432, Protocol::Tcp, "postgres", Some(77)),
                ("::", 5432, Protocol::Tcp, "postgres", Some(77)),
            ]
        );
        let outbound: Vec<_> = table
            .connections
            .iter()
            .map(|o| (o.process.as_str(), o.pid, o.remote_address.as_str(), o.remote_port, o.protocol, o.count))
            .collect();
        assert_eq!(
            outbound,
            [
                ("app", Some(812), "10.0.0.53", 53, Protocol::Udp, 1),
                ("app", Some(812), "10.0.0.9", 6379, Protocol::Tcp, 3),
                ("app", Some(813), "10.0.0.3", 5432, Protocol::Tcp, 1),
            ]
        );
        let named = table.by_process_name();
        let outbound: Vec<_> = named.connections.iter().map(|o| (o.remote_port, o.count, o.pid)).collect();
        assert_eq!(outbound, [(5432, 1, None), (53, 1, None), (6379, 3, None)]);
        assert_eq!(named.listening.len(), 3);
    }

    #[test]
    fn a_listener_on_one_address_does_not_make_another_address_inbound() {
        use ConnectionKind::Tcp;
        let sockets = vec![
            socket(Tcp, "listen", ("127.0.0.1", 8080), ("0.0.0.0", 0), &[77]),
            // Same local port, another address: an outbound connection after all.
            socket(Tcp, "established", ("10.0.0.2", 8080), ("10.0.0.3", 443), &[812]),
            socket(Tcp, "established", ("127.0.0.1", 8080), ("127.0.0.1", 50000), &[77]),
        ];
        let table = EndpointTable::build("h", Vec::new(), &sockets, comm);
        assert_eq!(table.connections.len(), 1, "{:?}", table.connections);
        assert_eq!(table.connections[0].remote_port, 443);
    }

    #[test]
    fn the_export_is_capped_and_counts_what_it_left_out() {
        use ConnectionKind::Tcp;
        // An unprivileged local user opens connections to many remote ports.
        let mut sockets: Vec<Connection> = (0..50u16)
            .map(|i| socket(Tcp, "established", ("10.0.0.2", 40000 + i), ("10.0.0.9", 1000 + i), &[812]))
            .collect();
        // The busiest aggregate survives the cut.
        for i in 0..3 {
            sockets.push(socket(Tcp, "established", ("10.0.0.2", 30000 + i), ("10.0.0.3", 5432), &[813]));
        }
        let table = EndpointTable::build("h", Vec::new(), &sockets, comm);
        let families = families(&table, 10);
        let connections = families.iter().find(|f| f.name == CONNECTIONS_FAMILY).unwrap();
        assert_eq!(connections.samples.len(), 10);
        assert!(connections.samples.iter().any(|s| s.label_values[2] == "5432"));
        let dropped = families.iter().find(|f| f.name == DROPPED_FAMILY).unwrap();
        let value = |family: &str| {
            dropped.samples.iter().find(|s| s.label_values[0] == family).map(|s| s.value.clone()).unwrap()
        };
        assert_eq!(value(CONNECTIONS_FAMILY), 41.0.into());
        assert_eq!(value(LISTENING_FAMILY), 0.0.into());
        for family in &families {
            gomon_sink_prometheus::validate(family).unwrap();
        }
    }

    #[test]
    fn the_json_round_trips_and_old_agents_missing_keys_are_empty() {
        let table = EndpointTable {
            hostname: "db1".into(),
            addresses: vec![HostAddress { address: "10.0.0.2".into(), interface: "eth0".into() }],
            listening: vec![Listener {
                address: "0.0.0.0".into(),
                port: 5432,
                protocol: Protocol::Tcp,
                process: "postgres".into(),
                pid: Some(77),
            }],
            connections: vec![Outbound {
                process: "app".into(),
                pid: None,
                remote_address: "10.0.0.7".into(),
                remote_port: 6379,
                protocol: Protocol::Tcp,
                count: 3,
                remote_name: Some("cache1".into()),
            }],
        };
        let json = serde_json::to_string(&table).unwrap();
        assert!(json.contains(r#""remoteAddress":"10.0.0.7""#) && !json.contains("\"pid\":null"), "{json}");
        assert_eq!(serde_json::from_str::<EndpointTable>(&json).unwrap(), table);
        assert_eq!(serde_json::from_str::<EndpointTable>("{}").unwrap(), EndpointTable::default());
        assert!(
            serde_json::from_str::<EndpointTable>(
                r#"{"listening":[{"address":"x","port":1,"protocol":"sctp","process":"p"}]}"#
            )
            .is_err()
        );
    }
}
