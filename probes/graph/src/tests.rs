//! The probe on small synthetic snapshots.

use gomon_probe::testing::{self, process};
use gomon_probe::{Connection, ConnectionKind, Edge, Node, NodeKind, Process};

use super::*;

// ---- snapshot builders ----------------------------------------------------

fn tcp(
    inode: u64,
    pids: &[u32],
    local: (&str, u16),
    remote: (&str, u16),
    state: &str,
    peer: u64,
) -> Connection {
    Connection {
        state: state.into(),
        local_address: local.0.into(),
        local_port: local.1,
        remote_address: remote.0.into(),
        remote_port: remote.1,
        peer_inode: peer,
        ..testing::connection(ConnectionKind::Tcp, inode, pids)
    }
}

fn listener(inode: u64, pids: &[u32], port: u16) -> Connection {
    tcp(inode, pids, ("0.0.0.0", port), ("0.0.0.0", 0), "listen", 0)
}

fn unix(inode: u64, pids: &[u32], peer: u64) -> Connection {
    Connection { peer_inode: peer, ..testing::connection(ConnectionKind::UnixStream, inode, pids) }
}

fn pipe(inode: u64, pids: &[u32]) -> Connection {
    testing::connection(ConnectionKind::Pipe, inode, pids)
}

fn fifo(inode: u64, pids: &[u32], path: &str) -> Connection {
    Connection {
        local_address: path.into(),
        ..testing::connection(ConnectionKind::Fifo, inode, pids)
    }
}

/// init, with `processes` under it.
fn snapshot(mut processes: Vec<Process>, connections: Vec<Connection>) -> Snapshot {
    processes.insert(0, process(1, 0, "init"));
    testing::process_snapshot(processes, connections)
}

fn draw(now: &Snapshot, pid: Option<u32>) -> Graph {
    let graph = GraphDrawer.draw(now, &GraphQuery { pid }).unwrap();
    testing::check_graph(&graph).unwrap();
    graph
}

// ---- graph readers --------------------------------------------------------

fn ids(graph: &Graph) -> Vec<&str> {
    graph.nodes.iter().map(|n| n.id.as_str()).collect()
}

fn edge_ids(graph: &Graph) -> Vec<&str> {
    graph.edges.iter().map(|e| e.id.as_str()).collect()
}

fn node<'g>(graph: &'g Graph, id: &str) -> &'g Node {
    graph
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id} in {:?}", ids(graph)))
}

fn edge<'g>(graph: &'g Graph, source: &str, target: &str) -> &'g Edge {
    let id = format!("{source}->{target}");
    graph
        .edges
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no edge {id} in {:?}", edge_ids(graph)))
}

/// The edges between two nodes, either way.
fn edges_between<'g>(graph: &'g Graph, a: &str, b: &str) -> Vec<&'g Edge> {
    graph
        .edges
        .iter()
        .filter(|e| (e.source == a && e.target == b) || (e.source == b && e.target == a))
        .collect()
}

fn of_kind(graph: &Graph, kind: NodeKind) -> Vec<&str> {
    graph.nodes.iter().filter(|n| n.kind == kind).map(|n| n.id.as_str()).collect()
}

// ---- the probe ------------------------------------------------------------

#[test]
fn info() {
    let info = GraphDrawer::info();
    assert_eq!(info.name, "graph");
    assert_eq!(info.needs, [Capability::Processes, Capability::Connections]);
}

#[test]
fn no_processes_is_an_error() {
    let err = GraphDrawer.draw(&testing::empty_snapshot(), &GraphQuery { pid: None }).unwrap_err();
    assert!(err.contains("processes"), "{err}");
}

// ---- process to process ---------------------------------------------------

/// nginx (depth 1) listens on :80 and accepted curl (depth 2, under bash).
fn web() -> Snapshot {
    snapshot(
        vec![process(812, 1, "nginx"), process(100, 1, "bash"), process(4410, 100, "curl")],
        vec![
            listener(10, &[812], 80),
            tcp(11, &[812], ("127.0.0.1", 80), ("127.0.0.1", 51000), "established", 12),
            tcp(12, &[4410], ("127.0.0.1", 51000), ("127.0.0.1", 80), "established", 11),
        ],
    )
}

#[test]
fn listener_and_client_make_one_edge_from_shallower_to_deeper() {
    let graph = draw(&web(), None);
    let between = edges_between(&graph, "812", "4410");
    assert_eq!(between.len(), 1, "{:?}", edge_ids(&graph));
    let e = edge(&graph, "812", "4410");
    assert_eq!(e.details, ["tcp:nginx[812] → curl[4410]"]);
    assert_eq!((e.main_stat.as_str(), e.secondary_stat.as_str()), ("1 connection", "tcp"));
    // nginx is a child of init, but curl's peer: it is drawn.
    assert_eq!(ids(&graph), ["1", "100", "812", "4410"]);
    // The listening socket is a data node: not in the overview.
    assert!(of_kind(&graph, NodeKind::Data).is_empty());
}

#[test]
fn equal_depths_put_the_lower_pid_first() {
    let now = snapshot(
        vec![process(100, 1, "bash"), process(300, 100, "server"), process(200, 100, "client")],
        vec![
            tcp(21, &[300], ("127.0.0.1", 9000), ("127.0.0.1", 40000), "established", 22),
            tcp(22, &[200], ("127.0.0.1", 40000), ("127.0.0.1", 9000), "established", 21),
        ],
    );
    let graph = draw(&now, None);
    assert_eq!(edge(&graph, "200", "300").details, ["tcp:client[200] → server[300]"]);
    assert!(edges_between(&graph, "200", "300").len() == 1);
}

#[test]
fn socketpair_across_a_fork_is_one_edge() {
    // bash made a socketpair and forked; each kept one end.
    let now = snapshot(
        vec![process(100, 1, "bash"), process(200, 100, "worker")],
        vec![unix(21, &[100], 22), unix(22, &[200], 21)],
    );
    let graph = draw(&now, None);
    assert_eq!(edge_ids(&graph), ["1->100", "100->200"]);
    assert_eq!(
        edge(&graph, "100", "200").details,
        ["parent:bash[100] → worker[200]", "unix-stream:bash[100] → worker[200]"]
    );
    assert_eq!(edge(&graph, "100", "200").secondary_stat, "parent, unix-stream");

    // Before either closed its copy, both held both ends: still one edge.
    let now = snapshot(
        vec![process(100, 1, "bash"), process(200, 100, "worker")],
        vec![unix(21, &[100, 200], 22), unix(22, &[200, 100], 21)],
    );
    let graph = draw(&now, None);
    assert_eq!(edges_between(&graph, "100", "200").len(), 1);
}

#[test]
fn pipe_from_parent_to_child_is_one_edge() {
    let now = snapshot(
        vec![process(100, 1, "bash"), process(200, 100, "cat")],
        vec![pipe(31, &[100, 200])],
    );
    let graph = draw(&now, None);
    assert_eq!(edges_between(&graph, "100", "200").len(), 1);
    let e = edge(&graph, "100", "200");
    assert_eq!(e.details, ["parent:bash[100] → cat[200]", "pipe:bash[100] → cat[200]"]);
    assert_eq!(e.main_stat, "1 connection");
}

#[test]
fn fifo_between_unrelated_processes() {
    let now = snapshot(
        vec![process(100, 1, "bash"), process(200, 100, "writer"), process(300, 1, "reader")],
        vec![fifo(41, &[200, 300], "/run/queue")],
    );
    let graph = draw(&now, None);
    assert_eq!(edge(&graph, "300", "200").details, ["fifo:reader[300] → writer[200]"]);
}

#[test]
fn self_connections_and_pid_0_are_left_out() {
    let now = snapshot(
        vec![process(0, 0, "swapper"), process(100, 1, "bash"), process(200, 100, "loop")],
        vec![
            // Both ends of a socketpair in one process.
            unix(51, &[200], 52),
            unix(52, &[200], 51),
            // A pipe between pid 0 and bash.
            pipe(53, &[0, 100]),
            // A pipe held by nobody in the table.
            pipe(54, &[0, 7777]),
        ],
    );
    let graph = draw(&now, None);
    assert!(!ids(&graph).contains(&"0"));
    assert_eq!(edge_ids(&graph), ["1->100", "100->200"]);
    // Focused, the pipe bash alone holds is a data node; the socketpair is nothing.
    let graph = draw(&now, Some(100));
    assert_eq!(of_kind(&graph, NodeKind::Data), ["data:pipe:53"]);
    let graph = draw(&now, Some(200));
    assert!(of_kind(&graph, NodeKind::Data).is_empty());
}

#[test]
fn widely_shared_pipe_is_a_data_node_not_a_clique() {
    let mut procs = vec![process(100, 1, "make")];
    let jobs: Vec<u32> = (0..20).map(|i| 200 + i).collect();
    procs.extend(jobs.iter().map(|&pid| process(pid, 100, "cc")));
    let mut holders = jobs.clone();
    holders.push(100);
    let now = snapshot(procs, vec![pipe(61, &holders)]);
    let graph = draw(&now, None);
    assert_eq!(graph.edges.len(), 21, "the tree only: {:?}", edge_ids(&graph));
    let graph = draw(&now, Some(100));
    let e = edge(&graph, "100", "data:pipe:61");
    assert_eq!(e.details, ["make[100] → pipe:61"]);
    assert_eq!(node(&graph, "data:pipe:61").arcs[0].name, "kernel");
}

// ---- hosts ----------------------------------------------------------------

#[test]
fn remote_tcp_is_a_host_node_on_the_left() {
    let now = snapshot(
        vec![process(100, 1, "bash"), process(4410, 100, "curl")],
        vec![tcp(41, &[4410], ("192.168.1.10", 50000), ("203.0.113.5", 443), "established", 0)],
    );
    let graph = draw(&now, None);
    assert_eq!(ids(&graph), ["host:203.0.113.5", "1", "100", "4410"]);
    let host = node(&graph, "host:203.0.113.5");
    assert_eq!(host.kind, NodeKind::Host);
    assert_eq!((host.title.as_str(), host.main_stat.as_str()), ("203.0.113.5", "TCP:443"));
    assert_eq!(host.arcs[0].name, "host");
    assert_eq!(host.depth, 0);
    assert_eq!(
        edge(&graph, "host:203.0.113.5", "4410").details,
        ["tcp:203.0.113.5:443 → curl[4410]"]
    );
    assert_eq!(edge_ids(&graph)[0], "host:203.0.113.5->4410");
}

#[test]
fn a_host_is_titled_by_its_reverse_dns_name_when_known() {
    let named = |inode: u64, port: u16, name: Option<&str>| Connection {
        remote_host_name: name.map(str::to_owned),
        ..tcp(inode, &[4410], ("192.168.1.10", port), ("203.0.113.5", 443), "established", 0)
    };
    // The first connection has no name yet (a cache miss); the second has.
    let now = snapshot(
        vec![process(100, 1, "bash"), process(4410, 100, "curl")],
        vec![
            named(41, 50000, None),
            named(42, 50001, Some("www.example.org")),
            tcp(43, &[4410], ("192.168.1.10", 50002), ("198.51.100.7", 22), "established", 0),
        ],
    );
    let graph = draw(&now, None);
    assert_eq!(
        ids(&graph)[..2],
        ["host:198.51.100.7", "host:203.0.113.5"],
        "ids and order keep the address"
    );
    let host = node(&graph, "host:203.0.113.5");
    assert_eq!((host.title.as_str(), host.subtitle.as_str()), ("www.example.org", "203.0.113.5"));
    assert!(host.details.contains(&("address".to_owned(), "203.0.113.5".to_owned())));
    assert!(host.details.contains(&("name".to_owned(), "www.example.org".to_owned())));
    let unnamed = node(&graph, "host:198.51.100.7");
    assert_eq!(
        (unnamed.title.as_str(), unnamed.subtitle.as_str()),
        ("198.51.100.7", "198.51.100.7")
    );
    assert!(!unnamed.details.iter().any(|(label, _)| label == "name"));
    assert_eq!(
        edge(&graph, "host:203.0.113.5", "4410").details,
        ["tcp:203.0.113.5:443 → curl[4410]", "tcp:203.0.113.5:443 → curl[4410]"]
    );
}

#[test]
fn host_services_name_the_listening_port_for_inbound_connections() {
    let now = snapshot(
        vec![process(900, 1, "sshd"), process(901, 900, "sshd")],
        vec![
            listener(70, &[900], 22),
            tcp(71, &[901], ("192.168.1.10", 22), ("::ffff:198.51.100.7", 51234), "established", 0),
            tcp(72, &[901], ("192.168.1.10", 40000), ("198.51.100.7", 443), "established", 0),
        ],
    );
    let graph = draw(&now, None);
    let host = node(&graph, "host:198.51.100.7");
    assert_eq!(host.main_stat, "TCP:22, TCP:443");
    assert_eq!(host.secondary_stat, "2 connections");
    assert_eq!(
        edge(&graph, "host:198.51.100.7", "901").details,
        ["tcp:198.51.100.7:443 → sshd[901]", "tcp:198.51.100.7:51234 → sshd[901]"]
    );
}

#[test]
fn loopback_and_unspecified_remotes_are_not_hosts() {
    let now = snapshot(
        vec![process(100, 1, "bash"), process(200, 100, "psql")],
        vec![
            // The server side is not in the snapshot.
            tcp(81, &[200], ("127.0.0.1", 40000), ("127.0.0.1", 5432), "established", 0),
            Connection {
                local_address: "0.0.0.0".into(),
                local_port: 5353,
                ..testing::connection(ConnectionKind::Udp, 82, &[200])
            },
        ],
    );
    let graph = draw(&now, None);
    assert!(of_kind(&graph, NodeKind::Host).is_empty());
    let graph = draw(&now, Some(200));
    assert_eq!(of_kind(&graph, NodeKind::Data), ["data:tcp:81", "data:udp:82"]);
    assert_eq!(node(&graph, "data:tcp:81").arcs[0].name, "kernel");
    assert_eq!(node(&graph, "data:udp:82").arcs[0].name, "socket");
    assert_eq!(node(&graph, "data:udp:82").title, "UDP:5353");
}

// ---- overview and focus ---------------------------------------------------

/// init ─┬─ bash 100 ── vim 200 ── sh 300
///       ├─ dbus 500 (unix socket to vim)
///       ├─ syncd 600 (unix socket to sh)
///       ├─ sshd 900 ── sshd 901 ── zsh 902
///       ├─ cron 700 (no children, no connections)
///       └─ kthreadd 2 (ppid 0) ── kworker 3
fn machine() -> Snapshot {
    let kthread = |pid, ppid, comm| Process { kernel_thread: true, ..process(pid, ppid, comm) };
    snapshot(
        vec![
            process(100, 1, "bash"),
            process(200, 100, "vim"),
            process(300, 200, "sh"),
            process(500, 1, "dbus"),
            process(600, 1, "syncd"),
            process(900, 1, "sshd"),
            process(901, 900, "sshd"),
            process(902, 901, "zsh"),
            process(700, 1, "cron"),
            kthread(2, 0, "kthreadd"),
            kthread(3, 2, "kworker/0:1"),
        ],
        vec![
            unix(1001, &[500], 1002),
            unix(1002, &[200], 1001),
            unix(1003, &[600], 1004),
            unix(1004, &[300], 1003),
            tcp(1005, &[200], ("10.0.0.2", 40000), ("192.0.2.80", 443), "established", 0),
            tcp(1006, &[300], ("10.0.0.2", 40001), ("192.0.2.99", 443), "established", 0),
            tcp(1007, &[901], ("10.0.0.2", 22), ("198.51.100.7", 50000), "established", 0),
            listener(1008, &[900], 22),
            pipe(1009, &[200]),
            fifo(1010, &[300], "/tmp/sh.fifo"),
            Connection {
                local_address: "/run/dbus.sock".into(),
                state: "listen".into(),
                ..unix(1011, &[500], 0)
            },
        ],
    )
}

#[test]
fn overview_has_families_hosts_and_peers_but_no_data() {
    let graph = draw(&machine(), None);
    assert_eq!(
        ids(&graph),
        [
            "host:192.0.2.80",
            "host:192.0.2.99",
            "host:198.51.100.7",
            "1",
            "100",
            "500",
            "900",
            "600",
            "901",
            "200",
            "300",
            "902",
        ]
    );
    // Not cron (a child of init with nothing else), not the kernel threads.
    assert!(of_kind(&graph, NodeKind::Data).is_empty());
    assert_eq!(edge(&graph, "500", "200").details, ["unix-stream:dbus[500] → vim[200]"]);
    assert_eq!(edge(&graph, "600", "300").details, ["unix-stream:syncd[600] → sh[300]"]);
    let depths: Vec<u32> = graph.nodes.iter().map(|n| n.depth).collect();
    assert_eq!(depths, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3]);
}

#[test]
fn focused_view_has_the_family_and_the_peers_only() {
    let graph = draw(&machine(), Some(200));
    // vim's ancestors and descendants, its peer dbus; vim's host and data.
    // Not syncd (a peer of sh, not of vim), not sh's host or FIFO, not sshd.
    assert_eq!(ids(&graph), ["host:192.0.2.80", "1", "100", "500", "200", "300", "data:pipe:1009"]);
    assert_eq!(
        edge_ids(&graph),
        [
            "host:192.0.2.80->200",
            "1->100",
            "1->500",
            "100->200",
            "500->200",
            "200->300",
            "200->data:pipe:1009"
        ]
    );
    assert_eq!(edge(&graph, "200", "data:pipe:1009").details, ["vim[200] → pipe:1009"]);

    // dbus: its listening socket is drawn as a socket.
    let graph = draw(&machine(), Some(500));
    // vim's ancestors come with it.
    assert_eq!(ids(&graph), ["1", "100", "500", "200", "data:unix-stream:1011"]);
    let socket = node(&graph, "data:unix-stream:1011");
    assert_eq!((socket.title.as_str(), socket.arcs[0].name.as_str()), ("/run/dbus.sock", "socket"));
    assert_eq!(node(&graph, "1").depth, 0);

    // sh: its FIFO is data.
    let graph = draw(&machine(), Some(300));
    assert_eq!(node(&graph, "data:fifo:1010").arcs[0].name, "data");
    assert!(ids(&graph).contains(&"600"));
}

#[test]
fn focused_view_of_a_listener_shows_its_socket() {
    let graph = draw(&web(), Some(812));
    assert_eq!(ids(&graph), ["1", "100", "812", "4410", "data:tcp:10"]);
    let socket = node(&graph, "data:tcp:10");
    assert_eq!((socket.title.as_str(), socket.main_stat.as_str()), ("TCP:80", "tcp listen"));
    assert_eq!(socket.secondary_stat, "0.0.0.0:80");
    assert_eq!(socket.arcs[0].name, "socket");
    assert_eq!(edge(&graph, "812", "data:tcp:10").details, ["nginx[812] → tcp:0.0.0.0:80"]);
}

#[test]
fn a_pid_not_in_the_table_draws_the_overview() {
    let now = machine();
    let overview = draw(&now, None);
    assert_eq!(draw(&now, Some(424_242)), overview);
    assert_eq!(draw(&now, Some(0)), overview);
}

#[test]
fn process_nodes() {
    let graph = draw(&machine(), Some(200));
    let vim = node(&graph, "200");
    assert_eq!(vim.kind, NodeKind::Process);
    assert_eq!(
        (vim.title.as_str(), vim.subtitle.as_str(), vim.secondary_stat.as_str()),
        ("vim", "200", "200")
    );
    assert_eq!(vim.main_stat, "200.0 MiB");
    assert_eq!(vim.arcs, [gomon_probe::Arc::whole("process")]);
    assert_eq!(vim.depth, 2);
    let detail =
        |label: &str| vim.details.iter().find(|(l, _)| l == label).map(|(_, v)| v.as_str());
    assert_eq!(detail("ppid"), Some("100"));
    assert_eq!(detail("state"), Some("sleeping"));
    assert_eq!(detail("threads"), Some("1"));
}

#[test]
fn order_is_deterministic() {
    let now = machine();
    let mut shuffled = now.clone();
    shuffled.processes.reverse();
    shuffled.connections.reverse();
    for pid in [None, Some(200), Some(300), Some(901)] {
        assert_eq!(draw(&now, pid), draw(&shuffled, pid), "{pid:?}");
    }
    // Edges follow the node order: by source, then by target.
    let graph = draw(&now, None);
    let index = |id: &str| graph.nodes.iter().position(|n| n.id == id).unwrap();
    let keys: Vec<(usize, usize)> =
        graph.edges.iter().map(|e| (index(&e.source), index(&e.target))).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}
