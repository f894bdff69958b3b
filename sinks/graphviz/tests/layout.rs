//! The built-in layout's SVG: well-formed, a link per process, tooltips, classes.

mod common;

use gomon_sink_graphviz::{DotOptions, Graph, NodeKind, Theme, layout_svg, layout_svg_with};

fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"))
}

fn check(graph: &Graph, svg: &str) {
    let doc = parse(svg);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));

    let hrefs: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("a")).filter_map(|n| n.attribute("href")).collect();
    let mut seen = std::collections::HashSet::new();
    for node in graph.nodes.iter().filter(|n| seen.insert(n.id.clone())) {
        let want = format!("?pid={}", node.id);
        let count = hrefs.iter().filter(|h| **h == want).count();
        assert_eq!(count, usize::from(node.kind == NodeKind::Process), "{want} in {hrefs:?}");
    }

    // Every node and edge group has a <title> tooltip first.
    for g in doc.descendants().filter(|n| n.has_tag_name("g")) {
        let class = g.attribute("class").unwrap_or("");
        if class.starts_with("node ") || class.starts_with("edge ") {
            let first = g.children().find(|c| c.is_element()).unwrap();
            assert!(first.has_tag_name("title"), "{class}: no title");
        }
    }
    // Texts come back decoded as they were, line by line.
    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    let mut seen = std::collections::HashSet::new();
    for node in graph.nodes.iter().filter(|n| seen.insert(n.id.clone())) {
        // Drawn line by line (a long line is cut with an ellipsis), tabs as spaces.
        for line in node.title.replace('\t', " ").lines() {
            assert!(texts.contains(&line) || texts.iter().any(|t| t.ends_with('…')), "{line:?} in {texts:?}");
        }
    }
}

#[test]
fn overview() {
    let graph = common::overview();
    let svg = layout_svg(&graph);
    check(&graph, &svg);
    assert!(svg.contains("class=\"graph gomon\""));
    assert!(svg.contains("class=\"cluster hosts\""));
    assert!(svg.contains("class=\"cluster depth\""));
    assert!(svg.contains("class=\"edge tree\""));
    assert!(svg.contains("class=\"edge remote\""));
    assert!(svg.contains("class=\"edge ipc\""));
    assert!(!svg.contains("class=\"cluster data\""), "no data nodes in the overview");
}

#[test]
fn focused_dark() {
    let graph = common::focused();
    let opts = DotOptions { focus_pid: Some(813), theme: Theme::Dark, host_name: "web1".into(), ..Default::default() };
    let svg = layout_svg_with(&graph, &opts);
    check(&graph, &svg);
    assert!(svg.contains("class=\"node process c3 focus\""), "{svg}");
    assert!(svg.contains("Process: nginx[813]"));
    assert!(svg.contains("#202028"));
    assert!(svg.contains("class=\"edge file\""));
}

#[test]
fn hostile() {
    let graph = common::hostile();
    let svg = layout_svg(&graph);
    check(&graph, &svg);
    assert!(!svg.contains("<script"));
    let doc = parse(&svg);
    let titles: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).collect();
    for name in common::NASTY {
        let name = name.replace('\r', "");
        assert!(titles.iter().any(|t| t.starts_with(&format!("{name} ("))), "{name:?} not a tooltip in {titles:?}");
    }
}

#[test]
fn empty() {
    let svg = layout_svg(&Graph::default());
    parse(&svg);
    assert!(svg.contains("No connections to show."));
}

#[test]
fn long_names_are_cut() {
    let mut graph = common::focused();
    graph.nodes[4].subtitle = format!("/var/{}/file", "very-long-directory-name/".repeat(10));
    let svg = layout_svg(&graph);
    check(&graph, &svg);
    assert!(svg.contains("…</text>"));
    assert!(svg.contains(&graph.nodes[4].subtitle), "the tooltip has it whole");
}
