//! The selection of nodes and edges (the original gomon's algorithm, §4.4)
//! and the nodes' and edges' contents.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use gomon_probe::{Arc, Edge, Graph, Node, NodeKind, Process, ProcessState, Snapshot};

use crate::links::{DataInfo, DataKey, HostLink, Links, ProcLink, Role, is_inet, kind_name};
use crate::table::Table;

/// Draws the graph of `now`: the overview when `focus` is `None` or a pid
/// that is not in the process table, else the view focused on that pid.
pub fn graph(now: &Snapshot, focus: Option<u32>) -> Graph {
    let table = Table::new(&now.processes);
    let links = Links::derive(&now.connections, &table);
    let focus = focus.filter(|&pid| table.contains(pid));
    let selection = match focus {
        None => overview(&table, &links),
        Some(pid) => focused(&table, &links, pid),
    };
    Drawing::new(&table, &links, now.taken_at_seconds).finish(selection)
}

/// What a view shows.
struct Selection<'l> {
    processes: BTreeSet<u32>,
    hosts: Vec<&'l HostLink>,
    /// Links to data nodes, as (pid, data node).
    data: Vec<(u32, DataKey)>,
}

/// Adds `pid` and its ancestors to `set`.
fn with_ancestors(table: &Table<'_>, set: &mut BTreeSet<u32>, pid: u32) {
    set.insert(pid);
    set.extend(table.ancestors(pid));
}

/// The overview: every process that is not a direct child of init (nor a
/// kernel thread), every process with a remote host, the processes these
/// talk to, and all their ancestors. Remote hosts, no data nodes.
fn overview<'l>(table: &Table<'_>, links: &'l Links<'_>) -> Selection<'l> {
    let mut considered = BTreeSet::new();
    for p in table.processes().filter(|p| p.ppid > 1 && !p.kernel_thread) {
        // Its descendants are not children of init either: they are here too.
        with_ancestors(table, &mut considered, p.pid);
    }
    for link in &links.hosts {
        with_ancestors(table, &mut considered, link.pid);
    }
    let mut processes = considered.clone();
    for link in &links.procs {
        if considered.contains(&link.a) || considered.contains(&link.b) {
            with_ancestors(table, &mut processes, link.a);
            with_ancestors(table, &mut processes, link.b);
        }
    }
    Selection { processes, hosts: links.hosts.iter().collect(), data: Vec::new() }
}

/// The view focused on `pid`: its ancestors and descendants, the processes
/// it is connected to with their ancestors; its remote hosts and its data
/// nodes (not those of the other processes).
fn focused<'l>(table: &Table<'_>, links: &'l Links<'_>, pid: u32) -> Selection<'l> {
    let mut processes = table.descendants(pid);
    with_ancestors(table, &mut processes, pid);
    for link in links.procs.iter().filter(|l| l.a == pid || l.b == pid) {
        let peer = if link.a == pid { link.b } else { link.a };
        with_ancestors(table, &mut processes, peer);
    }
    Selection {
        processes,
        hosts: links.hosts.iter().filter(|l| l.pid == pid).collect(),
        data: links.data.iter().filter(|l| l.pid == pid).map(|l| (l.pid, l.key)).collect(),
    }
}

/// One edge being built.
#[derive(Default)]
struct EdgeLines {
    /// `parent:` lines, which come first.
    tree: Vec<String>,
    connections: Vec<String>,
    kinds: BTreeSet<&'static str>,
}

/// The graph being built.
struct Drawing<'t, 'a> {
    table: &'t Table<'a>,
    links: &'t Links<'a>,
    taken_at: f64,
    edges: BTreeMap<(String, String), EdgeLines>,
}

impl<'t, 'a> Drawing<'t, 'a> {
    fn new(table: &'t Table<'a>, links: &'t Links<'a>, taken_at: f64) -> Self {
        Drawing { table, links, taken_at, edges: BTreeMap::new() }
    }

    fn edge(&mut self, source: String, target: String) -> &mut EdgeLines {
        self.edges.entry((source, target)).or_default()
    }

    fn finish(mut self, selection: Selection<'_>) -> Graph {
        let table = self.table;
        let shown = &selection.processes;

        // Process to process: one edge per pair, from the shallower process
        // to the deeper one (on a tie, the lower pid first).
        for &ProcLink { kind, a, b } in &self.links.procs {
            if a == b || !shown.contains(&a) || !shown.contains(&b) {
                continue;
            }
            let (from, to) =
                if (table.depth(a), a) <= (table.depth(b), b) { (a, b) } else { (b, a) };
            let line = format!("{}:{} → {}", kind_name(kind), table.label(from), table.label(to));
            let edge = self.edge(from.to_string(), to.to_string());
            edge.connections.push(line);
            edge.kinds.insert(kind_name(kind));
        }
        // The tree.
        for &pid in shown {
            if let Some(parent) = table.parent(pid).filter(|parent| shown.contains(parent)) {
                let line = format!("parent:{} → {}", table.label(parent), table.label(pid));
                let edge = self.edge(parent.to_string(), pid.to_string());
                edge.tree.push(line);
                edge.kinds.insert("parent");
            }
        }
        // Hosts, on the left: host → process.
        let mut hosts: BTreeMap<&str, Vec<&HostLink>> = BTreeMap::new();
        for &link in &selection.hosts {
            hosts.entry(link.address.as_str()).or_default().push(link);
            let line = format!(
                "{}:{} → {}",
                kind_name(link.kind),
                endpoint(&link.address, link.remote_port),
                table.label(link.pid)
            );
            let edge = self.edge(host_id(&link.address), link.pid.to_string());
            edge.connections.push(line);
            edge.kinds.insert(kind_name(link.kind));
        }
        // Data, on the right: process → data.
        let mut data = BTreeSet::new();
        for &(pid, key) in &selection.data {
            let info = self.links.data_nodes[&key];
            data.insert(key);
            let line = format!("{} → {}", table.label(pid), data_name(&info));
            let edge = self.edge(pid.to_string(), data_id(&info));
            edge.connections.push(line);
            edge.kinds.insert(kind_name(info.connection.kind));
        }

        let mut nodes = Vec::new();
        let mut host_list: Vec<_> = hosts.into_iter().collect();
        host_list.sort_by_key(|(address, _)| host_order(address));
        nodes.extend(host_list.iter().map(|(address, links)| self.host_node(address, links)));
        let mut pids: Vec<u32> = shown.iter().copied().collect();
        pids.sort_by_key(|&pid| table.order_key(pid));
        nodes.extend(pids.iter().filter_map(|&pid| table.get(pid)).map(|p| self.process_node(p)));
        nodes.extend(data.iter().map(|key| self.data_node(key)));

        let order: HashMap<&str, usize> =
            nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let mut edges: Vec<Edge> = self
            .edges
            .iter()
            .map(|((source, target), lines)| {
                let mut edge = Edge::new(source, target);
                let count = lines.connections.len();
                edge.main_stat = match count {
                    0 => "parent".to_owned(),
                    1 => "1 connection".to_owned(),
                    n => format!("{n} connections"),
                };
                edge.secondary_stat = lines.kinds.iter().copied().collect::<Vec<_>>().join(", ");
                let mut connections = lines.connections.clone();
                connections.sort();
                edge.details = lines.tree.iter().cloned().chain(connections).collect();
                edge
            })
            .collect();
        edges.sort_by_key(|e| (order[e.source.as_str()], order[e.target.as_str()]));
        Graph { nodes, edges }
    }

    fn process_node(&self, p: &Process) -> Node {
        let mut details = vec![
            ("pid".to_owned(), p.pid.to_string()),
            ("ppid".to_owned(), p.ppid.to_string()),
            ("state".to_owned(), state_name(p.state).to_owned()),
            ("threads".to_owned(), p.threads.to_string()),
            ("resident memory".to_owned(), bytes(p.resident_bytes)),
            ("virtual memory".to_owned(), bytes(p.virtual_bytes)),
            (
                "cpu time".to_owned(),
                format!(
                    "{} (user {}, system {})",
                    seconds(p.user_seconds + p.system_seconds),
                    seconds(p.user_seconds),
                    seconds(p.system_seconds)
                ),
            ),
            (
                "open files".to_owned(),
                p.open_fds.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
            ),
            ("uid".to_owned(), p.uid.map_or_else(|| "unknown".to_owned(), |uid| uid.to_string())),
            ("session".to_owned(), p.session.to_string()),
        ];
        if self.taken_at > 0.0
            && p.start_time_seconds > 0.0
            && self.taken_at >= p.start_time_seconds
        {
            details
                .push(("running for".to_owned(), duration(self.taken_at - p.start_time_seconds)));
        }
        if p.kernel_thread {
            details.push(("kernel thread".to_owned(), "yes".to_owned()));
        }
        if let Some(d) = &p.details {
            details.push(("executable".to_owned(), d.executable.clone()));
            details.push(("user".to_owned(), d.user.clone()));
            details.push(("command line".to_owned(), d.command_line.join(" ")));
            details.push(("working directory".to_owned(), d.working_directory.clone()));
        }
        Node {
            id: p.pid.to_string(),
            kind: NodeKind::Process,
            title: p.comm.clone(),
            subtitle: p.pid.to_string(),
            main_stat: if p.kernel_thread {
                "kernel thread".to_owned()
            } else {
                bytes(p.resident_bytes)
            },
            secondary_stat: p.pid.to_string(),
            arcs: vec![Arc::whole("process")],
            details,
            depth: self.table.depth(p.pid),
        }
    }

    /// A remote host. The title is the address's reverse-DNS name when the
    /// host knew it (`remote-host-name`), else the address; the subtitle and
    /// the details keep the address.
    fn host_node(&self, address: &str, links: &[&HostLink]) -> Node {
        let services: BTreeSet<(&str, u16)> =
            links.iter().map(|l| (kind_name(l.kind), l.service_port)).collect();
        let services: Vec<String> =
            services.iter().map(|(kind, port)| format!("{}:{port}", kind.to_uppercase())).collect();
        let processes: BTreeSet<u32> = links.iter().map(|l| l.pid).collect();
        let processes: Vec<String> = processes.iter().map(|&pid| self.table.label(pid)).collect();
        let count = links.len();
        let name = links.iter().find_map(|l| l.name.as_deref());
        let mut details = vec![("address".to_owned(), address.to_owned())];
        if let Some(name) = name {
            details.push(("name".to_owned(), name.to_owned()));
        }
        details.extend([
            ("services".to_owned(), services.join(", ")),
            ("connections".to_owned(), count.to_string()),
            ("processes".to_owned(), processes.join(", ")),
        ]);
        Node {
            id: host_id(address),
            kind: NodeKind::Host,
            title: name.unwrap_or(address).to_owned(),
            subtitle: address.to_owned(),
            main_stat: services.join(", "),
            secondary_stat: if count == 1 {
                "1 connection".to_owned()
            } else {
                format!("{count} connections")
            },
            arcs: vec![Arc::whole("host")],
            details,
            depth: 0,
        }
    }

    fn data_node(&self, key: &DataKey) -> Node {
        let info = self.links.data_nodes[key];
        let c = info.connection;
        let kind = kind_name(c.kind);
        let title = match info.role {
            _ if is_inet(c.kind) => format!("{}:{}", kind.to_uppercase(), c.local_port),
            Role::Pipe => "pipe".to_owned(),
            _ if !c.local_address.is_empty() => c.local_address.clone(),
            _ => format!("{kind} socket"),
        };
        let main_stat =
            if c.state.is_empty() { kind.to_owned() } else { format!("{kind} {}", c.state) };
        let secondary_stat = if is_inet(c.kind) {
            match info.role {
                Role::Listening | Role::Bound => endpoint(&c.local_address, c.local_port),
                _ => format!(
                    "{} → {}",
                    endpoint(&c.local_address, c.local_port),
                    endpoint(&c.remote_address, c.remote_port)
                ),
            }
        } else if !c.local_address.is_empty() {
            c.local_address.clone()
        } else {
            format!("inode {}", c.inode)
        };
        let mut details = vec![
            ("kind".to_owned(), kind.to_owned()),
            ("inode".to_owned(), c.inode.to_string()),
            ("role".to_owned(), role_name(info.role).to_owned()),
        ];
        if !c.state.is_empty() {
            details.push(("state".to_owned(), c.state.clone()));
        }
        if is_inet(c.kind) {
            details.push(("local".to_owned(), endpoint(&c.local_address, c.local_port)));
            if c.remote_port != 0 {
                details.push(("remote".to_owned(), endpoint(&c.remote_address, c.remote_port)));
            }
        } else if !c.local_address.is_empty() {
            details.push(("path".to_owned(), c.local_address.clone()));
        }
        if c.peer_inode != 0 {
            details.push(("peer inode".to_owned(), c.peer_inode.to_string()));
        }
        let mut holders: Vec<u32> =
            c.pids.iter().copied().filter(|&p| self.table.contains(p)).collect();
        holders.sort_unstable();
        holders.dedup();
        let shown: Vec<String> = holders.iter().take(8).map(|&p| self.table.label(p)).collect();
        let more = holders.len().saturating_sub(shown.len());
        let mut held_by = shown.join(", ");
        if more > 0 {
            held_by.push_str(&format!(" and {more} more"));
        }
        details.push(("held by".to_owned(), held_by));
        Node {
            id: data_id(&info),
            kind: NodeKind::Data,
            title,
            subtitle: format!("inode {}", c.inode),
            main_stat,
            secondary_stat,
            arcs: vec![Arc::whole(info.role.arc())],
            details,
            depth: 0,
        }
    }
}

/// `host:<address>`.
fn host_id(address: &str) -> String {
    format!("host:{address}")
}

/// `data:<kind>:<inode>`.
fn data_id(info: &DataInfo<'_>) -> String {
    format!("data:{}:{}", kind_name(info.connection.kind), info.connection.inode)
}

/// How a data node is named in edge details: `tcp:0.0.0.0:80`,
/// `fifo:/run/x`, `unix-stream:/run/x.sock`, `pipe:4321`.
fn data_name(info: &DataInfo<'_>) -> String {
    let c = info.connection;
    let name = if is_inet(c.kind) {
        endpoint(&c.local_address, c.local_port)
    } else if !c.local_address.is_empty() {
        c.local_address.clone()
    } else {
        c.inode.to_string()
    };
    format!("{}:{name}", kind_name(c.kind))
}

/// Hosts in address order (IPv4 before IPv6), names after addresses.
fn host_order(address: &str) -> (u8, Option<IpAddr>, String) {
    match address.split('%').next().and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(ip) => (0, Some(ip), address.to_owned()),
        None => (1, None, address.to_owned()),
    }
}

/// `address:port`, with an IPv6 address in brackets.
fn endpoint(address: &str, port: u16) -> String {
    let address = crate::links::normalise_address(address);
    if address.contains(':') { format!("[{address}]:{port}") } else { format!("{address}:{port}") }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Listening => "listening",
        Role::Bound => "bound, no peer",
        Role::Unconnected => "unconnected",
        Role::PeerUnseen => "peer held by no process in the snapshot",
        Role::Pipe => "pipe",
        Role::Fifo => "fifo",
    }
}

fn state_name(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "running",
        ProcessState::Sleeping => "sleeping",
        ProcessState::DiskSleep => "disk-sleep",
        ProcessState::Stopped => "stopped",
        ProcessState::TracingStop => "tracing-stop",
        ProcessState::Zombie => "zombie",
        ProcessState::Dead => "dead",
        ProcessState::Idle => "idle",
        ProcessState::Other => "other",
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds with two decimals: `1.50 s`.
fn seconds(s: f64) -> String {
    format!("{s:.2} s")
}

/// A duration as its two largest units: `3d 4h`, `2h 5m`, `4m 10s`, `9s`.
pub fn duration(s: f64) -> String {
    let s = s.max(0.0) as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 << 20), "12.0 MiB");
        assert_eq!(duration(9.7), "9s");
        assert_eq!(duration(250.0), "4m 10s");
        assert_eq!(duration(7500.0), "2h 5m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
        assert_eq!(endpoint("2001:db8::1", 443), "[2001:db8::1]:443");
        assert_eq!(endpoint("::ffff:192.0.2.1", 80), "192.0.2.1:80");
    }
}
