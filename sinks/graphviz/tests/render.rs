//! `render_svg`: with the real `dot` when it is installed, and with fake ones.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gomon_sink_graphviz::{DotOptions, RenderError, render_svg, render_svg_with, to_dot};

/// A fake `dot`: a shell script in a fresh directory.
fn fake_dot(name: &str, script: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gomon-graphviz-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dot");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The texts of all `<text>` elements and all `xlink:title` tooltips of an SVG, decoded.
fn texts_and_tooltips(svg: &str) -> (Vec<String>, Vec<String>) {
    let doc = roxmltree::Document::parse_with_options(
        svg,
        roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() },
    )
    .unwrap_or_else(|e| panic!("dot's SVG does not parse: {e}\n{svg}"));
    let xlink = "http://www.w3.org/1999/xlink";
    let texts =
        doc.descendants().filter(|n| n.has_tag_name("text")).map(|n| n.text().unwrap_or("").to_string()).collect();
    let tips = doc.descendants().filter_map(|n| n.attribute((xlink, "title"))).map(str::to_string).collect();
    (texts, tips)
}

#[test]
fn dot_draws_every_process() {
    if !common::dot_available() {
        return;
    }
    let graph = common::overview();
    let svg = render_svg(&to_dot(&graph, &DotOptions::default()), Duration::from_secs(30)).unwrap();
    let (texts, _) = texts_and_tooltips(&svg);
    for node in &graph.nodes {
        assert!(texts.contains(&node.title), "{} missing from {texts:?}", node.title);
    }
    for pid in [1, 640, 812, 900, 813, 2001, 2002] {
        assert!(svg.contains(&format!("xlink:href=\"?pid={pid}\"")), "no link to {pid}");
    }
    // Classes reach the SVG (Graphviz >= 2.42).
    assert!(svg.contains("class=\"graph gomon\""), "{svg}");
    assert!(svg.contains("class=\"node process c2\""));
    assert!(svg.contains("class=\"edge tree\""));
    assert!(svg.contains("class=\"cluster depth\""));
}

#[test]
fn dot_shows_hostile_names_as_they_are() {
    if !common::dot_available() {
        return;
    }
    let graph = common::hostile();
    let svg = render_svg(&to_dot(&graph, &DotOptions::default()), Duration::from_secs(30)).unwrap();
    let (texts, tips) = texts_and_tooltips(&svg);
    // Our only change to the text: an invisible WORD JOINER after an entity-like `&`.
    let texts: Vec<String> = texts.iter().map(|t| t.replace('\u{2060}', "")).collect();
    let tips: Vec<String> = tips.iter().map(|t| t.replace('\u{2060}', "")).collect();
    for name in common::NASTY {
        let tab = name.replace('\t', " ");
        for line in tab.lines() {
            assert!(texts.iter().any(|t| t == line), "label line {line:?} missing from {texts:?}");
        }
        let tooltip = format!("{tab} (");
        let tooltip = tooltip.replace("\r\n", "\n");
        assert!(tips.iter().any(|t| t.starts_with(&tooltip)), "tooltip {tooltip:?} missing from {tips:?}");
    }
}

#[test]
fn missing_program_is_not_installed() {
    let program = Path::new("/nonexistent/gomon-test/dot");
    let err = render_svg_with(program, "digraph{}", Duration::from_secs(5)).unwrap_err();
    assert!(matches!(&err, RenderError::NotInstalled { program: p } if p == program), "{err:?}");
    assert!(err.to_string().contains("not installed"), "{err}");
}

#[test]
fn slow_program_is_killed() {
    // The fake dot records its pid (kept by `exec`) and sleeps far past the deadline.
    let pid_file = std::env::temp_dir().join(format!("gomon-graphviz-test-{}-sleep.pid", std::process::id()));
    let program = fake_dot("sleep", &format!("echo $$ > {}\nexec sleep 300", pid_file.display()));
    // 2 s: ample for the script's first line, far short of its sleep.
    let err = render_svg_with(&program, "digraph{}", Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, RenderError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("killed"), "{err}");
    // When the error comes back the child is gone (killed and reaped), not left sleeping.
    let pid = std::fs::read_to_string(&pid_file).expect("the fake dot started and wrote its pid");
    let proc_dir = Path::new("/proc").join(pid.trim());
    assert!(!proc_dir.exists(), "the slow dot (pid {}) is still there after the timeout", pid.trim());
    let _ = std::fs::remove_file(&pid_file);
}

#[test]
fn failing_program_reports_stderr() {
    let program = fake_dot("fail", "cat >/dev/null; echo 'Error: <stdin>: syntax error in line 1' >&2; exit 1");
    let err = render_svg_with(&program, "digraph{", Duration::from_secs(10)).unwrap_err();
    match &err {
        RenderError::Failed { stderr, status, .. } => {
            assert_eq!(status.code(), Some(1));
            assert!(stderr.contains("syntax error"), "{stderr}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_output_is_an_error() {
    let program = fake_dot("empty", "cat >/dev/null; exit 0");
    let err = render_svg_with(&program, "digraph{}", Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, RenderError::BadOutput { reason: "empty output", .. }), "{err:?}");
}

#[test]
fn output_without_svg_is_an_error() {
    let program = fake_dot("notsvg", "cat >/dev/null; echo hello");
    let err = render_svg_with(&program, "digraph{}", Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, RenderError::BadOutput { reason: "no <svg> element", .. }), "{err:?}");
}

#[test]
fn large_input_and_output_do_not_deadlock() {
    // A fake dot that echoes its (large) input back, wrapped as SVG: both pipes fill up.
    let program = fake_dot("echo", "echo '<svg>'; cat; echo '</svg>'");
    let big = "x".repeat(4 << 20);
    let svg = render_svg_with(&program, &big, Duration::from_secs(30)).unwrap();
    assert!(svg == format!("<svg>\n{big}</svg>\n"), "{} bytes", svg.len());
}
