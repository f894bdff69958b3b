//! DOT golden files (the DOT text, not dot's SVG, which varies by Graphviz version).
//!
//! Regenerate after an intended change with
//! `GOMON_UPDATE_GOLDEN=1 cargo test -p gomon-sink-graphviz --test golden`
//! and review the diff.

mod common;

use std::path::PathBuf;

use gomon_sink_graphviz::{DotOptions, Graph, Theme, to_dot};

fn check(name: &str, graph: &Graph, opts: &DotOptions) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let actual = to_dot(graph, opts);
    if std::env::var_os("GOMON_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with GOMON_UPDATE_GOLDEN=1 to create it)", path.display()));
    if actual != expected {
        let line = actual.lines().zip(expected.lines()).position(|(a, e)| a != e).map_or(0, |i| i + 1);
        panic!("{name} differs from {} (first at line {line}):\n{actual}", path.display());
    }
}

fn opts() -> DotOptions {
    DotOptions {
        host_name: "web1".into(),
        generated_at: Some("Mon Jan 02 2006 at 03:04:05PM MST".into()),
        ..Default::default()
    }
}

#[test]
fn overview() {
    check("overview.dot", &common::overview(), &opts());
}

#[test]
fn focused_dark() {
    check("focused-dark.dot", &common::focused(), &DotOptions { focus_pid: Some(813), theme: Theme::Dark, ..opts() });
}

#[test]
fn hostile() {
    check("hostile.dot", &common::hostile(), &DotOptions { host_name: "h\"ost\\".into(), ..opts() });
}

#[test]
fn empty() {
    check("empty.dot", &Graph::default(), &DotOptions::default());
}
