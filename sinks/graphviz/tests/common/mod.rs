//! Graphs shared by the tests.
#![allow(dead_code)]

use gomon_sink_graphviz::{Edge, Graph, Node, NodeKind, RenderError, render_svg};

/// Whether Graphviz `dot` is installed. Without it a test that needs it prints `SKIPPED` and
/// returns early, unless `GOMON_REQUIRE_ALL` is set (`./run-tests` sets it, having installed
/// graphviz): then it fails, so a machine without `dot` cannot pass silently.
pub fn dot_available() -> bool {
    match render_svg("digraph{}", std::time::Duration::from_secs(30)) {
        Ok(_) => true,
        Err(e @ RenderError::NotInstalled { .. }) => {
            if std::env::var_os("GOMON_REQUIRE_ALL").is_some_and(|v| !v.is_empty() && v != "0") {
                panic!("GOMON_REQUIRE_ALL is set and this test needs Graphviz: {e}");
            }
            eprintln!("SKIPPED: {e} (set GOMON_REQUIRE_ALL=1 to fail instead)");
            false
        }
        Err(e) => panic!("dot is installed but fails on an empty graph: {e}"),
    }
}

pub fn process(pid: u32, name: &str, depth: u32, exe: &str) -> Node {
    Node {
        id: pid.to_string(),
        kind: NodeKind::Process,
        title: name.into(),
        subtitle: pid.to_string(),
        main_stat: name.into(),
        secondary_stat: pid.to_string(),
        details: vec![("executable".into(), exe.into()), ("pid".into(), pid.to_string())],
        arcs: vec![],
        depth,
    }
}

pub fn host(proto: &str, addr: &str, port: u16, name: &str) -> Node {
    Node {
        id: format!("host:{addr}:{port}"),
        kind: NodeKind::Host,
        title: format!("{proto}:{port}"),
        subtitle: name.into(),
        main_stat: format!("{proto}:{port}"),
        secondary_stat: name.into(),
        details: vec![("address".into(), format!("{addr}:{port}"))],
        arcs: vec![],
        depth: 0,
    }
}

pub fn data(kind: &str, inode: u64, name: &str) -> Node {
    Node {
        id: format!("data:{kind}:{inode}"),
        kind: NodeKind::Data,
        title: kind.into(),
        subtitle: name.into(),
        main_stat: kind.into(),
        secondary_stat: name.into(),
        details: vec![("name".into(), format!("{kind}:{name}"))],
        arcs: vec![],
        depth: 0,
    }
}

pub fn edge(source: &str, target: &str, details: &[&str]) -> Edge {
    Edge {
        id: format!("{source}->{target}"),
        source: source.into(),
        target: target.into(),
        main_stat: source.into(),
        secondary_stat: target.into(),
        details: details.iter().map(|d| d.to_string()).collect(),
    }
}

/// The overview: hosts, a three-level process tree, no data nodes.
pub fn overview() -> Graph {
    Graph {
        nodes: vec![
            host("TCP", "10.0.0.9", 443, "api.example.com"),
            host("TCP", "127.0.0.1%lo", 5432, "localhost"),
            process(1, "systemd", 0, "/usr/lib/systemd/systemd"),
            process(640, "sshd", 1, "/usr/sbin/sshd"),
            process(812, "nginx", 1, "/usr/sbin/nginx"),
            process(900, "postgres", 1, "/usr/lib/postgresql/16/bin/postgres"),
            process(813, "nginx", 2, "/usr/sbin/nginx"),
            process(2001, "sshd", 2, "/usr/sbin/sshd"),
            process(2002, "bash", 3, "/usr/bin/bash"),
        ],
        edges: vec![
            edge("host:10.0.0.9:443", "813", &["TCP:10.0.0.9:443 → nginx[813]"]),
            edge(
                "host:127.0.0.1%lo:5432",
                "900",
                &["TCP:127.0.0.1%lo:5432 → postgres[900]", "TCP:127.0.0.1%lo:41234 → postgres[900]"],
            ),
            edge("host:127.0.0.1%lo:5432", "813", &["TCP:127.0.0.1%lo:5432 → nginx[813]"]),
            edge("1", "640", &["parent:systemd[1] → sshd[640]"]),
            edge("1", "812", &["parent:systemd[1] → nginx[812]"]),
            edge("1", "900", &["parent:systemd[1] → postgres[900]"]),
            edge("812", "813", &["parent:nginx[812] → nginx[813]", "unix:nginx[812] → nginx[813]"]),
            edge("640", "2001", &["parent:sshd[640] → sshd[2001]"]),
            edge("2001", "2002", &["parent:sshd[2001] → bash[2002]", "FIFO:sshd[2001] → bash[2002]"]),
            edge("813", "2002", &["unix:nginx[813] → bash[2002]"]),
        ],
    }
}

/// Focused on nginx[813]: its family, its peers and its data nodes.
pub fn focused() -> Graph {
    Graph {
        nodes: vec![
            host("TCP", "10.0.0.9", 443, "api.example.com"),
            process(1, "systemd", 0, "/usr/lib/systemd/systemd"),
            process(812, "nginx", 1, "/usr/sbin/nginx"),
            process(813, "nginx", 2, "/usr/sbin/nginx"),
            data("REG", 131, "/var/log/nginx/access.log"),
            data("unix", 5521, "/run/nginx.sock"),
            data("CHR", 6, "/dev/urandom"),
        ],
        edges: vec![
            edge("host:10.0.0.9:443", "813", &["TCP:10.0.0.9:443 → nginx[813]"]),
            edge("1", "812", &["parent:systemd[1] → nginx[812]"]),
            edge("812", "813", &["parent:nginx[812] → nginx[813]"]),
            edge("813", "data:REG:131", &["nginx[813] → REG:/var/log/nginx/access.log"]),
            edge("813", "data:unix:5521", &["nginx[813] → unix:/run/nginx.sock"]),
            edge("812", "data:CHR:6", &["nginx[812] → CHR:/dev/urandom"]),
        ],
    }
}

/// Hostile names: every string a process or file name can throw at DOT, XML and HTML.
pub const NASTY: [&str; 7] = [
    r#"evil"name\N\l"#,
    "<script>alert(1)</script>",
    "a&lt;b & c&#60;",
    "two\nlines\r\nthree\ttab",
    "日本語 → ✓ 🚀",
    r"C:\path\with\backslash\",
    r"two\\backslashes \\N\G &amp; \\\",
];

pub fn hostile() -> Graph {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (k, name) in NASTY.iter().enumerate() {
        let pid = 100 + k as u32;
        let mut p = process(pid, name, 1, name);
        p.details.push((name.to_string(), name.to_string()));
        nodes.push(p);
        nodes.push(data("REG", k as u64, name));
        edges.push(edge(&pid.to_string(), &format!("data:REG:{k}"), &[name, "second line"]));
    }
    // A host whose id looks like DOT syntax, a duplicate node, a dangling edge.
    nodes.push(host("UDP", "\"];digraph{", 53, "x\" -> y"));
    nodes.push(process(100, "duplicate of 100", 5, "/bin/dup"));
    edges.push(edge("host:\"];digraph{:53", "101", &[]));
    edges.push(edge("101", "nowhere", &["dangling"]));
    Graph { nodes, edges }
}
