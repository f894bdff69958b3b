//! The fleet view's drill-down links and host columns, through `to_dot`, the real `dot`
//! and the built-in layout alike: every link parses back to the node id it came from.

mod common;

use std::time::Duration;

use gomon_sink_graphviz::{DotOptions, Graph, Links, Node, NodeKind, layout_svg_with, render_svg, to_dot};

fn fleet_graph() -> Graph {
    let process = |id: &str, title: &str, depth: u32| Node {
        id: id.into(),
        kind: NodeKind::Process,
        title: title.into(),
        subtitle: id.split('/').next().unwrap().into(),
        depth,
        ..Default::default()
    };
    Graph {
        nodes: vec![
            Node {
                id: "host:203.0.113.5:443".into(),
                kind: NodeKind::Host,
                title: "203.0.113.5:443".into(),
                ..Default::default()
            },
            process("10.0.0.1:1234/812", "app", 1),
            process("10.0.0.2:1234/name:kworker/0:1", "kworker/0:1", 2),
        ],
        edges: Vec::new(),
    }
}

fn options() -> DotOptions {
    DotOptions {
        links: Links::Fleet { prefix: String::new() },
        column_labels: vec!["Host 10.0.0.1:1234".into(), "Host 10.0.0.2:1234".into()],
        ..Default::default()
    }
}

/// The `href`s of an SVG, XML-decoded (by roxmltree), in document order.
fn hrefs(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse_with_options(
        svg,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .unwrap_or_else(|e| panic!("the SVG does not parse: {e}\n{svg}"));
    let xlink = "http://www.w3.org/1999/xlink";
    doc.descendants()
        .filter_map(|n| n.attribute((xlink, "href")).or_else(|| n.attribute("href")))
        .map(str::to_owned)
        .collect()
}

/// The node id a fleet link names.
fn linked_id(href: &str) -> String {
    let query = href.strip_prefix('?').unwrap_or_else(|| panic!("not a relative query link: {href}"));
    let pairs: Vec<(String, String)> =
        query.split('&').map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    assert_eq!(pairs[0], ("scope".to_owned(), "fleet".to_owned()), "{href}");
    assert_eq!(pairs[1].0, "pid", "{href}");
    percent_decode(&pairs[1].1)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn process_nodes_link_to_their_fleet_id_and_hosts_name_the_columns() {
    let dot = to_dot(&fleet_graph(), &options());
    assert!(dot.contains(r#"URL="?scope=fleet&amp;pid=10.0.0.1%3A1234%2F812""#), "{dot}");
    assert!(!dot.contains('\u{2060}'), "a word joiner would break the link");
    assert!(dot.contains("Host 10.0.0.2:1234"), "{dot}");
    assert!(!dot.contains("Process depth"), "{dot}");
    // The remote host has no agent: no link.
    assert_eq!(dot.matches("URL=").count(), 2);

    let want = ["10.0.0.1:1234/812", "10.0.0.2:1234/name:kworker/0:1"];
    let builtin: Vec<String> =
        hrefs(&layout_svg_with(&fleet_graph(), &options())).iter().map(|h| linked_id(h)).collect();
    assert_eq!(builtin, want);
    if common::dot_available() {
        let svg = render_svg(&dot, Duration::from_secs(30)).unwrap();
        let drawn: Vec<String> = hrefs(&svg).iter().map(|h| linked_id(h)).collect();
        assert_eq!(drawn, want);
    }
}

#[test]
fn one_hosts_graph_links_with_the_host_prefix() {
    let graph = Graph {
        nodes: vec![Node { id: "77".into(), kind: NodeKind::Process, title: "postgres".into(), ..Default::default() }],
        edges: Vec::new(),
    };
    let opts = DotOptions { links: Links::Fleet { prefix: "db1:1234/".into() }, ..Default::default() };
    assert!(to_dot(&graph, &opts).contains(r#"URL="?scope=fleet&amp;pid=db1%3A1234%2F77""#));
    // The default stays the single host's `?pid=N`.
    assert!(to_dot(&graph, &DotOptions::default()).contains(r#"URL="?pid=77""#));
}
