//! The join: one endpoint table per host in, one connection graph of the fleet out.
//!
//! An outbound aggregate `(host A, process P) → (R_addr, R_port)` becomes the edge
//! `P@A → Q@B` when `R_addr` is an address of exactly one host B and B has a listener
//! on `R_port` (same protocol) bound to `R_addr` or to a wildcard (`0.0.0.0`, `::`),
//! owned by Q (an exact address beats a wildcard; among several, the lowest pid, then
//! name). A loopback `R_addr` is looked up on A only: loopback never crosses hosts.
//! Anything else stays a host node `host:R_addr:R_port` (`A/host:…` for loopback),
//! titled by the remote's reverse-DNS name when the agent that saw it knew one, and is
//! counted as unmatched with its reason — an address no agent has (a host outside the
//! fleet, NAT, a load balancer's virtual address), an agent's address with no listener
//! seen on that port (port forwarding, or a process the agent cannot see), or an
//! address several agents claim (never guessed between).
//!
//! Node ids: a process is `<host>/<pid>`, or `<host>/name:<comm>` when the table has no
//! pids (Prometheus series aggregate by name); `<host>` is the agent's label (its URL's
//! `host:port`, or Prometheus's `instance`). Process nodes: title the name, subtitle
//! the host, main stat the pid, secondary stat the services they listen on, `depth` the
//! host's position (1 for the first), so renderers can group a host's processes.
//! Edges carry the connection count and one detail line per aggregate:
//! `tcp:app[812]@web1:1234 → 10.0.0.2:5432 postgres[77]@db1:1234 (3 connections)`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use gomon_graph::{Arc, Edge, Graph, Node, NodeKind};

use super::table::{EndpointTable, Listener, Outbound, Protocol, normalise_address};

/// One host's table, under the label that names the host in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTable {
    /// The host's label: its agent's `host:port`, or Prometheus's `instance`.
    pub host: String,
    /// Its endpoints.
    pub table: EndpointTable,
}

/// An address more than one host claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    /// The address.
    pub address: String,
    /// The hosts that list it.
    pub hosts: Vec<String>,
}

/// The fleet graph and what the join could not match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Joined {
    /// The graph.
    pub graph: Graph,
    /// The hosts in column order (process node `depth` = index + 1).
    pub hosts: Vec<String>,
    /// Connections joined to a process of the fleet.
    pub matched_connections: u64,
    /// Connections left at a host node.
    pub unmatched_connections: u64,
    /// Distinct remote endpoints left as host nodes.
    pub unmatched_endpoints: usize,
    /// Addresses claimed by several hosts (never joined).
    pub ambiguous: Vec<Ambiguous>,
}

/// A process of the fleet: (host index, pid or name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ProcKey {
    host: usize,
    comm: String,
    pid: Option<u32>,
}

#[derive(Default)]
struct ProcStats {
    listening: BTreeSet<String>,
    outbound: u64,
    inbound: u64,
}

struct Remote {
    address: String,
    port: u16,
    protocols: BTreeSet<Protocol>,
    name: Option<String>,
    reason: String,
    seen_from: BTreeSet<String>,
    connections: u64,
}

#[derive(Default)]
struct EdgeLines {
    lines: Vec<String>,
    count: u64,
    services: BTreeSet<String>,
}

fn parse_ip(address: &str) -> Option<IpAddr> {
    address.split('%').next()?.parse().ok()
}

/// `address:port`, an IPv6 address in brackets.
pub fn endpoint(address: &str, port: u16) -> String {
    if address.contains(':') { format!("[{address}]:{port}") } else { format!("{address}:{port}") }
}

/// The node id of a process.
pub fn process_id(host: &str, pid: Option<u32>, comm: &str) -> String {
    match pid {
        Some(pid) => format!("{host}/{pid}"),
        None => format!("{host}/name:{comm}"),
    }
}

fn label(comm: &str, pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("{comm}[{pid}]"),
        None => comm.to_owned(),
    }
}

/// Whether a listener bound to `bound` receives traffic sent to `target`.
fn binds(bound: &str, target: &str) -> bool {
    if bound == target {
        return true;
    }
    match (parse_ip(bound), parse_ip(target)) {
        // `::` is dual-stack unless IPV6_V6ONLY (Linux's default), so it takes IPv4 too.
        (Some(IpAddr::V6(b)), Some(_)) => b.is_unspecified(),
        (Some(IpAddr::V4(b)), Some(IpAddr::V4(_))) => b.is_unspecified(),
        _ => false,
    }
}

/// The listener of `table` that receives `o`, if any: an exact address first, then a
/// wildcard; among equals the lowest pid, then name.
fn listener_for<'t>(table: &'t EndpointTable, o: &Outbound, address: &str) -> Option<&'t Listener> {
    let candidates = table.listening.iter().filter(|l| l.protocol == o.protocol && l.port == o.remote_port);
    candidates
        .filter(|l| binds(&normalise_address(&l.address), address))
        .min_by_key(|l| (normalise_address(&l.address) != address, l.pid.unwrap_or(u32::MAX), l.process.clone()))
}

/// Joins the tables (one per host; a label that repeats is joined once, the first).
pub fn join(tables: &[HostTable]) -> Joined {
    let mut seen = BTreeSet::new();
    let tables: Vec<&HostTable> = tables.iter().filter(|t| seen.insert(t.host.clone())).collect();

    // Which host owns each non-loopback address.
    let mut owners: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, t) in tables.iter().enumerate() {
        for a in &t.table.addresses {
            let address = normalise_address(&a.address);
            match parse_ip(&address) {
                Some(ip) if ip.is_loopback() || ip.is_unspecified() => continue,
                _ => {}
            }
            owners.entry(address).or_default().insert(i);
        }
    }
    let ambiguous: Vec<Ambiguous> = owners
        .iter()
        .filter(|(_, hosts)| hosts.len() > 1)
        .map(|(address, hosts)| Ambiguous {
            address: address.clone(),
            hosts: hosts.iter().map(|&i| tables[i].host.clone()).collect(),
        })
        .collect();

    let mut processes: BTreeMap<ProcKey, ProcStats> = BTreeMap::new();
    let mut remotes: BTreeMap<String, Remote> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), EdgeLines> = BTreeMap::new();
    let (mut matched, mut unmatched) = (0u64, 0u64);

    for (i, t) in tables.iter().enumerate() {
        for l in &t.table.listening {
            let key = ProcKey { host: i, comm: l.process.clone(), pid: l.pid };
            let service = format!("{}:{}", l.protocol.as_str(), l.port);
            // Recorded for nodes that turn out to be on an edge.
            processes.entry(key).or_default().listening.insert(service);
        }
    }

    for (i, t) in tables.iter().enumerate() {
        for o in &t.table.connections {
            let address = normalise_address(&o.remote_address);
            let loopback = parse_ip(&address).is_some_and(|ip| ip.is_loopback());
            let source = ProcKey { host: i, comm: o.process.clone(), pid: o.pid };
            let source_id = process_id(&t.host, o.pid, &o.process);
            let source_label = format!("{}@{}", label(&o.process, o.pid), t.host);
            let there = endpoint(&address, o.remote_port);
            let service = format!("{}:{}", o.protocol.as_str(), o.remote_port);

            let owner: Result<usize, String> = if loopback {
                Ok(i)
            } else {
                match owners.get(&address) {
                    None => Err("no agent of the fleet has this address: a host outside the fleet, or NAT or a \
                                 load balancer in between (not guessed)"
                        .to_owned()),
                    Some(hosts) if hosts.len() > 1 => Err(format!(
                        "several agents claim this address ({}): not joined",
                        hosts.iter().map(|&h| tables[h].host.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                    Some(hosts) => Ok(*hosts.iter().next().expect("one owner")),
                }
            };
            let target = owner.and_then(|b| {
                listener_for(&tables[b].table, o, &address).map(|l| (b, l)).ok_or_else(|| {
                    if loopback {
                        format!("nothing seen listening on {service} on {} (loopback)", tables[b].host)
                    } else {
                        format!(
                            "the address of {}, but nothing seen listening there on {service}: port forwarding, or a \
                             process its agent cannot see",
                            tables[b].host
                        )
                    }
                })
            });

            processes.entry(source.clone()).or_default().outbound += o.count;
            let plural = if o.count == 1 { String::new() } else { format!(" ({} connections)", o.count) };
            match target {
                Ok((b, l)) => {
                    matched += o.count;
                    let key = ProcKey { host: b, comm: l.process.clone(), pid: l.pid };
                    processes.entry(key).or_default().inbound += o.count;
                    let target_id = process_id(&tables[b].host, l.pid, &l.process);
                    let edge = edges.entry((source_id, target_id)).or_default();
                    edge.lines.push(format!(
                        "{}:{source_label} → {there} {}@{}{plural}",
                        o.protocol.as_str(),
                        label(&l.process, l.pid),
                        tables[b].host
                    ));
                    edge.count += o.count;
                    edge.services.insert(service);
                }
                Err(reason) => {
                    unmatched += o.count;
                    let id = if loopback { format!("{}/host:{there}", t.host) } else { format!("host:{there}") };
                    let remote = remotes.entry(id.clone()).or_insert_with(|| Remote {
                        address: address.clone(),
                        port: o.remote_port,
                        protocols: BTreeSet::new(),
                        name: None,
                        reason,
                        seen_from: BTreeSet::new(),
                        connections: 0,
                    });
                    remote.protocols.insert(o.protocol);
                    remote.seen_from.insert(t.host.clone());
                    remote.connections += o.count;
                    if remote.name.is_none() {
                        remote.name = o.remote_name.clone().filter(|n| !n.is_empty());
                    }
                    let edge = edges.entry((source_id, id)).or_default();
                    edge.lines.push(format!("{}:{source_label} → {there} (unmatched){plural}", o.protocol.as_str()));
                    edge.count += o.count;
                    edge.services.insert(service);
                }
            }
        }
    }

    // Nodes: the remotes, then the processes on an edge, host by host.
    let on_edge: BTreeSet<&str> = edges.keys().flat_map(|(s, t)| [s.as_str(), t.as_str()]).collect();
    let mut nodes: Vec<Node> = remotes.iter().map(|(id, r)| remote_node(id, r)).collect();
    for (key, stats) in &processes {
        let t = tables[key.host];
        let id = process_id(&t.host, key.pid, &key.comm);
        if on_edge.contains(id.as_str()) {
            nodes.push(process_node(id, key, stats, t));
        }
    }
    let order: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut edge_list: Vec<Edge> = edges
        .into_iter()
        .map(|((source, target), mut e)| {
            e.lines.sort();
            Edge {
                id: format!("{source}->{target}"),
                main_stat: if e.count == 1 { "1 connection".to_owned() } else { format!("{} connections", e.count) },
                secondary_stat: e.services.into_iter().collect::<Vec<_>>().join(", "),
                details: e.lines,
                source,
                target,
            }
        })
        .collect();
    edge_list.sort_by_key(|e| (order.get(e.source.as_str()).copied(), order.get(e.target.as_str()).copied()));

    Joined {
        graph: Graph { nodes, edges: edge_list },
        hosts: tables.iter().map(|t| t.host.clone()).collect(),
        matched_connections: matched,
        unmatched_connections: unmatched,
        unmatched_endpoints: remotes.len(),
        ambiguous,
    }
}

fn process_node(id: String, key: &ProcKey, stats: &ProcStats, t: &HostTable) -> Node {
    let mut details = vec![("host".to_owned(), t.host.clone())];
    if !t.table.hostname.is_empty() {
        details.push(("hostname".to_owned(), t.table.hostname.clone()));
    }
    if let Some(pid) = key.pid {
        details.push(("pid".to_owned(), pid.to_string()));
    }
    if !stats.listening.is_empty() {
        details.push(("listening".to_owned(), stats.listening.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    if stats.outbound > 0 {
        details.push(("outbound connections".to_owned(), stats.outbound.to_string()));
    }
    if stats.inbound > 0 {
        details.push(("inbound connections from the fleet".to_owned(), stats.inbound.to_string()));
    }
    Node {
        id,
        kind: NodeKind::Process,
        title: key.comm.clone(),
        subtitle: t.host.clone(),
        main_stat: key.pid.map(|p| p.to_string()).unwrap_or_default(),
        secondary_stat: stats.listening.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>().join(", "),
        arcs: vec![Arc { name: "process".into(), fraction: 1.0 }],
        details,
        depth: u32::try_from(key.host + 1).unwrap_or(u32::MAX),
    }
}

fn remote_node(id: &str, r: &Remote) -> Node {
    let there = endpoint(&r.address, r.port);
    let services: Vec<String> =
        r.protocols.iter().map(|p| format!("{}:{}", p.as_str().to_uppercase(), r.port)).collect();
    let mut details = vec![("address".to_owned(), r.address.clone()), ("port".to_owned(), r.port.to_string())];
    if let Some(name) = &r.name {
        details.push(("name".to_owned(), name.clone()));
    }
    details.extend([
        ("unmatched".to_owned(), r.reason.clone()),
        ("seen from".to_owned(), r.seen_from.iter().cloned().collect::<Vec<_>>().join(", ")),
        ("connections".to_owned(), r.connections.to_string()),
    ]);
    Node {
        id: id.to_owned(),
        kind: NodeKind::Host,
        title: r.name.clone().unwrap_or_else(|| there.clone()),
        subtitle: there,
        main_stat: services.join(", "),
        secondary_stat: "unmatched".to_owned(),
        arcs: vec![Arc { name: "host".into(), fraction: 1.0 }],
        details,
        depth: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::HostAddress;
    use super::*;

    fn address(a: &str) -> HostAddress {
        HostAddress { address: a.into(), interface: "eth0".into() }
    }

    fn listen(address: &str, port: u16, process: &str, pid: Option<u32>) -> Listener {
        Listener { address: address.into(), port, protocol: Protocol::Tcp, process: process.into(), pid }
    }

    fn out(process: &str, pid: Option<u32>, remote: &str, port: u16, count: u64) -> Outbound {
        Outbound {
            process: process.into(),
            pid,
            remote_address: remote.into(),
            remote_port: port,
            protocol: Protocol::Tcp,
            count,
            remote_name: None,
        }
    }

    fn host(label: &str, addresses: &[&str], listening: Vec<Listener>, connections: Vec<Outbound>) -> HostTable {
        HostTable {
            host: label.into(),
            table: EndpointTable {
                hostname: String::new(),
                addresses: addresses.iter().map(|a| address(a)).collect(),
                listening,
                connections,
            },
        }
    }

    fn edge_pairs(joined: &Joined) -> Vec<(&str, &str, &str)> {
        joined.graph.edges.iter().map(|e| (e.source.as_str(), e.target.as_str(), e.main_stat.as_str())).collect()
    }

    #[test]
    fn remote_ends_join_to_the_listening_process_of_the_other_host() {
        let a = host(
            "a:1234",
            &["10.0.0.1"],
            vec![],
            vec![
                out("app", Some(812), "10.0.0.2", 5432, 3),
                out("app", Some(812), "::ffff:10.0.0.3", 6379, 1),
                out("app", Some(812), "203.0.113.5", 443, 2),
            ],
        );
        let b = host("b:1234", &["10.0.0.2"], vec![listen("0.0.0.0", 5432, "postgres", Some(77))], vec![]);
        let c = host(
            "c:1234",
            &["10.0.0.3", "fd00::3"],
            vec![listen("::", 6379, "redis", Some(50)), listen("10.0.0.3", 6379, "proxy", Some(60))],
            vec![out("redis", Some(50), "10.0.0.2", 5432, 1)],
        );
        let joined = join(&[a, b, c]);
        assert_eq!(
            edge_pairs(&joined),
            [
                ("a:1234/812", "host:203.0.113.5:443", "2 connections"),
                ("a:1234/812", "b:1234/77", "3 connections"),
                // The exact address beats the wildcard.
                ("a:1234/812", "c:1234/60", "1 connection"),
                ("c:1234/50", "b:1234/77", "1 connection"),
            ]
        );
        assert_eq!((joined.matched_connections, joined.unmatched_connections, joined.unmatched_endpoints), (5, 2, 1));
        let postgres = joined.graph.nodes.iter().find(|n| n.id == "b:1234/77").unwrap();
        assert_eq!((postgres.title.as_str(), postgres.subtitle.as_str(), postgres.depth), ("postgres", "b:1234", 2));
        assert_eq!(postgres.secondary_stat, "TCP:5432");
        let detail = &joined.graph.edges[1].details[0];
        assert_eq!(detail, "tcp:app[812]@a:1234 → 10.0.0.2:5432 postgres[77]@b:1234 (3 connections)");
        let remote = &joined.graph.nodes[0];
        assert_eq!((remote.kind, remote.title.as_str()), (NodeKind::Host, "203.0.113.5:443"));
        assert!(remote.details.iter().any(|(k, v)| k == "unmatched" && v.contains("NAT")), "{:?}", remote.details);
        // Processes on no edge (c's proxy is on one; nobody else listens) are left out.
        assert_eq!(joined.graph.nodes.len(), 5);
    }

    #[test]
    fn loopback_stays_on_its_host_and_an_address_without_listener_is_unmatched() {
        let a = host(
            "a",
            &["10.0.0.1"],
            vec![listen("127.0.0.1", 8080, "sidecar", Some(9))],
            vec![out("app", Some(1), "127.0.0.1", 8080, 1), out("app", Some(1), "127.0.0.1", 9999, 1)],
        );
        // b also listens on 127.0.0.1:8080 and 9999: never reached from a.
        let b = host(
            "b",
            &["10.0.0.2"],
            vec![listen("127.0.0.1", 8080, "other", Some(5)), listen("0.0.0.0", 9999, "x", Some(6))],
            vec![out("app", Some(2), "10.0.0.1", 22, 1)],
        );
        let joined = join(&[a, b]);
        assert_eq!(
            edge_pairs(&joined),
            [
                ("a/1", "a/host:127.0.0.1:9999", "1 connection"),
                ("a/1", "a/9", "1 connection"),
                ("b/2", "host:10.0.0.1:22", "1 connection")
            ]
        );
        let ssh = joined.graph.nodes.iter().find(|n| n.id == "host:10.0.0.1:22").unwrap();
        assert!(ssh.details.iter().any(|(k, v)| k == "unmatched" && v.starts_with("the address of a")), "{ssh:?}");
    }

    #[test]
    fn an_address_two_hosts_claim_is_never_guessed() {
        let a = host("a", &["10.0.0.1"], vec![], vec![out("app", None, "10.0.0.9", 80, 1)]);
        let b = host("b", &["10.0.0.9"], vec![listen("0.0.0.0", 80, "nginx", None)], vec![]);
        // A hostile or misconfigured agent claims b's address.
        let c = host("c", &["10.0.0.9"], vec![listen("0.0.0.0", 80, "evil", None)], vec![]);
        let joined = join(&[a, b, c]);
        assert_eq!(edge_pairs(&joined), [("a/name:app", "host:10.0.0.9:80", "1 connection")]);
        assert_eq!(joined.ambiguous, [Ambiguous { address: "10.0.0.9".into(), hosts: vec!["b".into(), "c".into()] }]);
    }

    #[test]
    fn the_same_tables_always_join_to_the_same_graph() {
        let a = host(
            "a",
            &["10.0.0.1"],
            vec![],
            vec![out("z", Some(3), "10.0.0.2", 1, 1), out("y", Some(2), "10.0.0.2", 1, 1)],
        );
        let b = host("b", &["10.0.0.2"], vec![listen("0.0.0.0", 1, "s", Some(1))], vec![]);
        let one = join(&[a.clone(), b.clone()]);
        assert_eq!(one, join(&[a.clone(), b.clone()]));
        // A repeated label is joined once.
        assert_eq!(join(&[a.clone(), b.clone(), a]).graph, one.graph);
    }
}
