//! Writes the /gomon page for a small demo graph, rendered by `dot` (when installed) and
//! by the built-in layout, to look at in a browser:
//! `cargo run -p gomon-sink-graphviz --example demo -- /tmp/gomon-demo`
//! (files `dot.html`, `fallback.html`, `graph.dot`, `dot.svg`, `fallback.svg`).

use std::time::Duration;

use gomon_sink_graphviz::*;

fn node(id: &str, kind: NodeKind, title: &str, subtitle: &str, depth: u32) -> Node {
    Node {
        id: id.into(),
        kind,
        title: title.into(),
        subtitle: subtitle.into(),
        details: vec![("name".into(), format!("{title} {subtitle}"))],
        depth,
        ..Default::default()
    }
}

fn edge(source: &str, target: &str, detail: &str) -> Edge {
    Edge {
        id: format!("{source}->{target}"),
        source: source.into(),
        target: target.into(),
        details: vec![detail.into()],
        ..Default::default()
    }
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gomon-demo".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let graph = Graph {
        nodes: vec![
            node("host:10.0.0.9:443", NodeKind::Host, "TCP:443", "api.example.com", 0),
            node("host:127.0.0.1%lo:5432", NodeKind::Host, "TCP:5432", "localhost", 0),
            node("1", NodeKind::Process, "systemd", "1", 0),
            node("812", NodeKind::Process, "nginx", "812", 1),
            node("900", NodeKind::Process, "postgres", "900", 1),
            node("813", NodeKind::Process, "nginx", "813", 2),
            node("814", NodeKind::Process, "nginx", "814", 2),
            node("data:REG:131", NodeKind::Data, "REG", "/var/log/nginx/access.log", 0),
            node("data:unix:77", NodeKind::Data, "unix", "/run/postgresql/.s.PGSQL.5432", 0),
        ],
        edges: vec![
            edge("host:10.0.0.9:443", "813", "TCP:10.0.0.9:443 → nginx[813]"),
            edge("host:127.0.0.1%lo:5432", "900", "TCP:127.0.0.1%lo:5432 → postgres[900]"),
            edge("host:127.0.0.1%lo:5432", "814", "TCP:127.0.0.1%lo:5432 → nginx[814]"),
            edge("1", "812", "parent:systemd[1] → nginx[812]"),
            edge("1", "900", "parent:systemd[1] → postgres[900]"),
            edge("812", "813", "parent:nginx[812] → nginx[813]"),
            edge("812", "814", "parent:nginx[812] → nginx[814]"),
            edge("813", "814", "unix:nginx[813] → nginx[814]"),
            edge("813", "data:REG:131", "nginx[813] → REG:/var/log/nginx/access.log"),
            edge("900", "data:unix:77", "postgres[900] → unix:/run/postgresql/.s.PGSQL.5432"),
        ],
    };
    let opts = DotOptions {
        host_name: "web1".into(),
        focus_pid: Some(813),
        generated_at: Some("demo".into()),
        ..Default::default()
    };
    let page =
        PageOptions { focus_pid: Some(813), focus_name: Some("nginx".into()), refresh_secs: 0, ..Default::default() };
    let dot = to_dot(&graph, &opts);
    std::fs::write(dir.join("graph.dot"), &dot).unwrap();
    match render_svg(&dot, Duration::from_secs(10)) {
        Ok(svg) => {
            std::fs::write(dir.join("dot.html"), page_html(&svg, &page)).unwrap();
            std::fs::write(dir.join("dot.svg"), svg).unwrap();
        }
        Err(e) => eprintln!("{e}"),
    }
    let svg = layout_svg_with(&graph, &opts);
    let notice = PageOptions { notice: Some("Graphviz is not installed: built-in layout.".into()), ..page };
    std::fs::write(dir.join("fallback.html"), page_html(&svg, &notice)).unwrap();
    std::fs::write(dir.join("fallback.svg"), svg).unwrap();
    println!("{}", dir.display());
}
