//! The built-in layout, used when Graphviz is not installed (or fails).
//!
//! The graph is already layered by kind and tree depth, so the hard part of a layered
//! layout (assigning layers) is given: columns are hosts | processes by depth | data,
//! rows keep the input order, each column is centred vertically, edges are cubic
//! curves between box sides with arrowheads (one-way for tree edges, both ways for
//! connections, like the DOT). Same SVG structure and CSS classes as Graphviz's output,
//! so the page styles both alike. Text widths are estimated (no font metrics).

use std::fmt::Write;

use crate::dot::{DotOptions, cluster_label};
use crate::escape::{push_xml, xml};
use crate::model::{Column, Layered, edge_tooltip, node_tooltip};
use crate::style::{self, Colors, PALETTE};
use gomon_graph::{Graph, NodeKind};

const MARGIN: f64 = 12.0;
/// Padding inside a cluster box.
const PAD: f64 = 10.0;
/// Height of a cluster's label band.
const LABEL: f64 = 18.0;
/// Horizontal room between columns, for the edges.
const GAP: f64 = 120.0;
/// Vertical room between boxes.
const ROW_GAP: f64 = 8.0;
const HEADING_LINE: f64 = 17.0;
const FONT: f64 = 11.0;
const MIN_BOX: f64 = 70.0;
const MAX_BOX: f64 = 300.0;
const ARROW: f64 = 8.0;
/// Vertical distance between the lanes of edges that span columns.
const LANE: f64 = 7.0;

/// A node's box and text.
struct Boxed {
    lines: Vec<String>,
    w: f64,
    h: f64,
    x: f64,
    y: f64,
    column: usize,
}

/// The next free lane below the drawing.
struct Lanes {
    next: f64,
}

type Point = (f64, f64);

/// An edge's path from box `a` to box `b`: its `d`, and for each end the point the end's
/// tangent comes from (for the arrowhead) and the end itself.
/// - next column (either way): one S-curve between the facing sides;
/// - same column: a bulge out of the right sides (a small loop for a self-edge);
/// - further: down to a lane of its own below the drawing, along it, and up, so that
///   it never crosses the boxes of the columns between.
fn route(a: &Boxed, b: &Boxed, is_loop: bool, lanes: &mut Lanes) -> (String, Point, Point, Point, Point) {
    let (ay, by) = (a.y + a.h / 2.0, b.y + b.h / 2.0);
    let curve = |p0: Point, c1: Point, c2: Point, p3: Point| {
        let d = format!(
            "M{},{} C{},{} {},{} {},{}",
            n(p0.0),
            n(p0.1),
            n(c1.0),
            n(c1.1),
            n(c2.0),
            n(c2.1),
            n(p3.0),
            n(p3.1)
        );
        (d, c1, p0, c2, p3)
    };
    if is_loop {
        let r = a.x + a.w;
        return curve((r, ay - 4.0), (r + 28.0, ay - 18.0), (r + 28.0, ay + 18.0), (r, ay + 4.0));
    }
    if a.column == b.column {
        let (x0, x3) = (a.x + a.w, b.x + b.w);
        let bulge = (24.0 + (by - ay).abs() * 0.15).min(GAP * 0.7);
        return curve((x0, ay), (x0 + bulge, ay), (x3 + bulge, by), (x3, by));
    }
    let forward = b.column > a.column;
    let (x0, x3) = if forward { (a.x + a.w, b.x) } else { (a.x, b.x + b.w) };
    let sign = if forward { 1.0 } else { -1.0 };
    if a.column.abs_diff(b.column) == 1 {
        let dx = ((x3 - x0).abs() / 2.0).max(20.0) * sign;
        return curve((x0, ay), (x0 + dx, ay), (x3 - dx, by), (x3, by));
    }
    let lane = lanes.next;
    lanes.next += LANE;
    let q = GAP / 4.0 * sign;
    let d = format!(
        "M{},{} C{},{} {},{} {},{} H{} C{},{} {},{} {},{}",
        n(x0),
        n(ay),
        n(x0 + q),
        n(ay),
        n(x0 + q),
        n(lane),
        n(x0 + 2.0 * q),
        n(lane),
        n(x3 - 2.0 * q),
        n(x3 - q),
        n(lane),
        n(x3 - q),
        n(by),
        n(x3),
        n(by)
    );
    (d, (x0 + q, ay), (x0, ay), (x3 - q, by), (x3, by))
}

/// [`layout_svg_with`] the default options (no heading beyond the title, light colours).
pub fn layout_svg(graph: &Graph) -> String {
    layout_svg_with(graph, &DotOptions::default())
}

/// Lay the graph out without Graphviz and draw it as a standalone SVG document (no XML
/// prolog, so it can be inlined in HTML as is). Process boxes are `<a href="?pid=N">`
/// links; every node and edge has a `<title>` tooltip.
pub fn layout_svg_with(graph: &Graph, opts: &DotOptions) -> String {
    let layered = Layered::new(graph);
    let colors = opts.theme.colors();
    let focus = opts.focus_pid.map(|p| p.to_string());
    let heading = opts.heading(graph);

    let mut boxes: Vec<Option<Boxed>> = (0..graph.nodes.len()).map(|_| None).collect();
    for (c, (_, nodes)) in layered.columns.iter().enumerate() {
        for &i in nodes {
            let node = &graph.nodes[i];
            // One <text> per line (SVG does not break lines), as Graphviz draws them.
            let lines: Vec<String> =
                node.title.lines().chain(node.subtitle.lines()).map(|l| fit(&l.replace('\t', " "))).collect();
            let text = lines.iter().map(|l| text_width(l)).fold(0.0, f64::max);
            let w = (text + 16.0 + if node.kind == NodeKind::Host { 12.0 } else { 0.0 }).clamp(MIN_BOX, MAX_BOX);
            let h = 8.0 + 13.0 * lines.len() as f64;
            boxes[i] = Some(Boxed { lines, w, h, x: 0.0, y: 0.0, column: c });
        }
    }

    // Vertical: every column's rows centred on the tallest column.
    let has_depth = layered.columns.iter().any(|(c, _)| matches!(c, Column::Depth(_)));
    let top = MARGIN + HEADING_LINE * heading.len() as f64 + 8.0 + (LABEL + PAD) * if has_depth { 2.0 } else { 1.0 };
    let column_height = |nodes: &[usize], boxes: &[Option<Boxed>]| -> f64 {
        nodes.iter().map(|&i| boxes[i].as_ref().map_or(0.0, |b| b.h)).sum::<f64>()
            + ROW_GAP * nodes.len().saturating_sub(1) as f64
    };
    let content = layered.columns.iter().map(|(_, n)| column_height(n, &boxes)).fold(0.0, f64::max);

    // Horizontal: columns left to right; the depth columns inside the "Processes" box.
    let mut svg_clusters = String::new();
    let mut x = MARGIN;
    let mut processes: Option<(f64, f64, f64)> = None; // left, top, bottom
    let mut process_right = 0.0;
    for (column, nodes) in &layered.columns {
        let is_depth = matches!(column, Column::Depth(_));
        if is_depth && processes.is_none() {
            processes = Some((x, f64::MAX, 0.0));
            x += PAD;
        }
        if !is_depth && let Some((left, t, b)) = processes.take() {
            x = process_right + PAD;
            cluster(&mut svg_clusters, "processes", "Processes", left, t, x - left, b - t, &colors);
            x += GAP;
        }
        // Room for the cluster's label too (bold, about 12% wider).
        let width = nodes
            .iter()
            .map(|&i| boxes[i].as_ref().map_or(0.0, |b| b.w))
            .fold(text_width(&cluster_label(*column, opts)) * 1.12, f64::max);
        let height = column_height(nodes, &boxes);
        let mut y = top + (content - height) / 2.0;
        let (ctop, cbottom) = (y - LABEL - PAD, y + height + PAD);
        for &i in nodes {
            let b = boxes[i].as_mut().expect("boxed");
            b.x = x + PAD + (width - b.w) / 2.0;
            b.y = y;
            y += b.h + ROW_GAP;
        }
        let class = match column {
            Column::Hosts => "hosts",
            Column::Depth(_) => "depth",
            Column::Data => "data",
        };
        let cwidth = width + 2.0 * PAD;
        cluster(&mut svg_clusters, class, &cluster_label(*column, opts), x, ctop, cwidth, cbottom - ctop, &colors);
        if let Some((_, t, b)) = processes.as_mut() {
            *t = t.min(ctop - LABEL - PAD);
            *b = b.max(cbottom + PAD);
            process_right = x + cwidth;
        }
        x += cwidth + GAP;
    }
    if let Some((left, t, b)) = processes.take() {
        x = process_right + PAD;
        cluster(&mut svg_clusters, "processes", "Processes", left, t, x - left, b - t, &colors);
        x += GAP;
    }
    let heading_width = heading.iter().map(|l| text_width(l) * 13.0 / FONT).fold(0.0, f64::max) + 2.0 * MARGIN;
    let width = (x - GAP + MARGIN).max(heading_width).max(240.0);
    // Edges that would cross a column run in lanes below everything, one lane each.
    let long = layered
        .edges
        .iter()
        .filter(|(_, s, t)| {
            let (a, b) = (boxes[*s].as_ref().expect("boxed"), boxes[*t].as_ref().expect("boxed"));
            a.column.abs_diff(b.column) > 1
        })
        .count();
    let mut lanes = Lanes { next: top + content + 2.0 * PAD + LANE };
    let height = top
        + content
        + 2.0 * PAD
        + MARGIN
        + LANE * long as f64
        + if long > 0 { LANE } else { 0.0 }
        + if layered.columns.is_empty() { 20.0 } else { 0.0 };

    let mut out = String::with_capacity(1024 + 600 * graph.nodes.len() + 500 * graph.edges.len());
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}pt\" height=\"{h}pt\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"Helvetica,Arial,sans-serif\" class=\"fallback\">",
        w = n(width),
        h = n(height)
    );
    out.push_str("<g id=\"graph0\" class=\"graph gomon\">\n<title>gomon</title>\n");
    let _ = writeln!(
        out,
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
        n(width),
        n(height),
        colors.background
    );
    for (k, line) in heading.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"{}\">{}</text>",
            n(MARGIN),
            n(MARGIN + 13.0 + HEADING_LINE * k as f64),
            colors.text,
            xml(line)
        );
    }
    if layered.columns.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{FONT}\" fill=\"{}\">No connections to show.</text>",
            n(MARGIN),
            n(top),
            colors.text
        );
    }
    out.push_str(&svg_clusters);

    // Edges under the nodes.
    for (k, (edge, s, t)) in layered.edges.iter().enumerate() {
        let (source, target) = (&graph.nodes[*s], &graph.nodes[*t]);
        let (a, b) = (boxes[*s].as_ref().expect("boxed"), boxes[*t].as_ref().expect("boxed"));
        let tree = edge.is_tree();
        let color = if tree { colors.text } else { PALETTE[style::color_index(source)] };
        let (d, start_from, p0, end_from, p3) = route(a, b, *s == *t, &mut lanes);
        let _ = write!(
            out,
            "<g id=\"edge{}\" class=\"edge {}\">\n<title>",
            k + 1,
            style::edge_class(tree, source.kind, target.kind)
        );
        push_xml(&mut out, &edge_tooltip(edge));
        let _ = writeln!(
            out,
            "</title>\n<path class=\"hit\" fill=\"none\" stroke=\"transparent\" stroke-width=\"10\" d=\"{d}\"/>"
        );
        let _ = writeln!(
            out,
            "<path fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-opacity=\"0.7\" d=\"{d}\"/>"
        );
        arrow(&mut out, end_from, p3, color);
        if !tree {
            arrow(&mut out, start_from, p0, color);
        }
        out.push_str("</g>\n");
    }

    // Nodes on top.
    for (_, nodes) in &layered.columns {
        for &i in nodes {
            let node = &graph.nodes[i];
            let b = boxes[i].as_ref().expect("boxed");
            let palette = style::color_index(node);
            let focused = node.kind == NodeKind::Process && focus.as_deref() == Some(node.id.as_str());
            let _ = write!(
                out,
                "<g id=\"node{}\" class=\"node {} c{palette}{}\">\n<title>",
                i + 1,
                style::kind_class(node.kind),
                if focused { " focus" } else { "" }
            );
            push_xml(&mut out, &node_tooltip(node));
            out.push_str("</title>\n");
            let url = crate::dot::node_url(node, &opts.links);
            if let Some(url) = &url {
                let _ = writeln!(out, "<a href=\"{}\">", crate::escape::xml(url));
            }
            let paint = format!(
                "fill=\"{}\" fill-opacity=\"0.5\" stroke=\"{}\" stroke-width=\"{}\"",
                PALETTE[palette],
                if focused { colors.text } else { colors.stroke },
                if focused { 3 } else { 1 }
            );
            let (x, y, w, h) = (b.x, b.y, b.w, b.h);
            match node.kind {
                NodeKind::Process => {
                    let _ = writeln!(
                        out,
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" {paint}/>",
                        n(x),
                        n(y),
                        n(w),
                        n(h)
                    );
                }
                NodeKind::Host => {
                    // Graphviz's `cds`: a box with a pointed right end.
                    let _ = writeln!(
                        out,
                        "<path d=\"M{},{} H{} L{},{} L{},{} H{} Z\" {paint}/>",
                        n(x),
                        n(y),
                        n(x + w - 12.0),
                        n(x + w),
                        n(y + h / 2.0),
                        n(x + w - 12.0),
                        n(y + h),
                        n(x)
                    );
                }
                NodeKind::Data => {
                    // Graphviz's `note`: a sheet with a folded corner.
                    let _ = writeln!(
                        out,
                        "<path d=\"M{},{} H{} L{},{} V{} H{} Z M{},{} V{} H{}\" {paint}/>",
                        n(x),
                        n(y),
                        n(x + w - 8.0),
                        n(x + w),
                        n(y + 8.0),
                        n(y + h),
                        n(x),
                        n(x + w - 8.0),
                        n(y),
                        n(y + 8.0),
                        n(x + w)
                    );
                }
            }
            let cx = x + (w - if node.kind == NodeKind::Host { 12.0 } else { 0.0 }) / 2.0;
            let first = y + h / 2.0 + 4.0 - 6.5 * (b.lines.len() as f64 - 1.0);
            for (k, line) in b.lines.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "<text text-anchor=\"middle\" x=\"{}\" y=\"{}\" font-size=\"{FONT}\" fill=\"{}\">{}</text>",
                    n(cx),
                    n(first + 13.0 * k as f64),
                    colors.text,
                    xml(line)
                );
            }
            if url.is_some() {
                out.push_str("</a>\n");
            }
            out.push_str("</g>\n");
        }
    }
    out.push_str("</g>\n</svg>\n");
    out
}

#[allow(clippy::too_many_arguments)]
fn cluster(out: &mut String, class: &str, label: &str, x: f64, y: f64, w: f64, h: f64, colors: &Colors) {
    let _ = writeln!(
        out,
        "<g class=\"cluster {class}\">\n<title>{label}</title>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" \
         fill=\"none\" stroke=\"{}\" stroke-width=\"3\"/>\n<text x=\"{}\" y=\"{}\" font-size=\"{FONT}\" \
         font-weight=\"bold\" fill=\"{}\">{label}</text>\n</g>",
        n(x),
        n(y),
        n(w),
        n(h),
        colors.cluster,
        n(x + PAD),
        n(y + LABEL - 2.0),
        colors.text,
        label = xml(label)
    );
}

/// An arrowhead with its tip at `tip`, pointing away from `from`.
fn arrow(out: &mut String, from: (f64, f64), tip: (f64, f64), color: &str) {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let len = dx.hypot(dy);
    let (ux, uy) = if len > 0.0 { (dx / len, dy / len) } else { (1.0, 0.0) };
    let (bx, by) = (tip.0 - ux * ARROW, tip.1 - uy * ARROW);
    let (px, py) = (-uy * ARROW * 0.45, ux * ARROW * 0.45);
    let _ = writeln!(
        out,
        "<polygon fill=\"{color}\" stroke=\"{color}\" points=\"{},{} {},{} {},{}\"/>",
        n(tip.0),
        n(tip.1),
        n(bx + px),
        n(by + py),
        n(bx - px),
        n(by - py)
    );
}

/// A coordinate with at most one decimal, without a trailing `.0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() { format!("{}", r as i64) } else { format!("{r:.1}") }
}

/// Estimated width of `s` at 11 px Helvetica: wide (East Asian) characters count a full
/// em, others about 0.56 em.
fn text_width(s: &str) -> f64 {
    s.chars().map(|c| if is_wide(c) { FONT } else { FONT * 0.56 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD)
}

/// `s`, cut with an ellipsis to fit the widest box (the tooltip has it whole).
fn fit(s: &str) -> String {
    let room = MAX_BOX - 16.0;
    if text_width(s) <= room {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = text_width("…");
    for c in s.chars() {
        w += text_width(c.encode_utf8(&mut [0; 4]));
        if w > room {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}
