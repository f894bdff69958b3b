//! The graph as DOT text, laid out left to right: remote hosts, processes by tree depth,
//! data nodes.

use std::fmt::Write;

use crate::escape::{dot_string, push_dot};
use crate::model::{Column, Layered, edge_tooltip, node_tooltip};
use crate::style::{self, PALETTE, Theme};
use gomon_graph::{Graph, NodeKind};

/// What goes into the graph's heading, and its colours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DotOptions {
    /// First heading line.
    pub title: String,
    /// `Host: <host_name>` on the second line; omitted when empty.
    pub host_name: String,
    /// The focused process: its node (found by id) is marked `focus` and named on the
    /// second line as `Process: <title>[<pid>]`. `None`: the overview.
    pub focus_pid: Option<u32>,
    /// Third heading line, preformatted by the caller (e.g. the sample's local time);
    /// omitted when `None`. Kept out of this crate so that the output is deterministic.
    pub generated_at: Option<String>,
    /// Colours baked into the SVG (the page re-themes with CSS anyway).
    pub theme: Theme,
    /// Where nodes link to.
    pub links: Links,
    /// Labels of the process columns by depth (index `depth − 1`) in place of
    /// "Process depth N": the fleet graph's columns are its hosts.
    pub column_labels: Vec<String>,
}

/// Where a node's drill-down link leads (relative links: they work behind any prefix).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Links {
    /// A process node links to `?pid=<pid>`.
    #[default]
    Pid,
    /// The fleet view: a process node links to `?scope=fleet&pid=<prefix><id>`, the
    /// node id percent-encoded. On the fleet overview `prefix` is empty (ids are
    /// `<host>/<pid>`); on one host's graph it is `<host>/`.
    Fleet {
        /// Prepended to the node id.
        prefix: String,
    },
}

/// A node's drill-down link, or `None` (not a process, or a malformed id).
pub(crate) fn node_url(node: &gomon_graph::Node, links: &Links) -> Option<String> {
    match links {
        Links::Pid => node.pid().map(|pid| format!("?pid={pid}")),
        Links::Fleet { prefix } => {
            if node.kind != NodeKind::Process || node.id.is_empty() || (prefix.is_empty() && !node.id.contains('/')) {
                return None;
            }
            let id: String = form_urlencoded::byte_serialize(format!("{prefix}{}", node.id).as_bytes()).collect();
            Some(format!("?scope=fleet&pid={id}"))
        }
    }
}

impl Default for DotOptions {
    fn default() -> Self {
        DotOptions {
            title: "External and Inter-Process Connections".into(),
            host_name: String::new(),
            focus_pid: None,
            generated_at: None,
            theme: Theme::Light,
            links: Links::Pid,
            column_labels: Vec::new(),
        }
    }
}

impl DotOptions {
    /// The heading lines, shared with the built-in layout.
    pub(crate) fn heading(&self, graph: &Graph) -> Vec<String> {
        let mut lines = vec![self.title.clone()];
        let mut second = String::new();
        if !self.host_name.is_empty() {
            second = format!("Host: {}", self.host_name);
        }
        if let Some(pid) = self.focus_pid {
            let id = pid.to_string();
            let name = graph.nodes.iter().find(|n| n.kind == NodeKind::Process && n.id == id).map(|n| n.title.as_str());
            if !second.is_empty() {
                second.push_str(" · ");
            }
            let _ = write!(second, "Process: {}[{pid}]", name.unwrap_or(""));
        }
        if !second.is_empty() {
            lines.push(second);
        }
        if let Some(at) = &self.generated_at {
            lines.push(at.clone());
        }
        lines.retain(|l| !l.is_empty());
        lines
    }
}

/// The column's cluster label.
pub(crate) fn cluster_label(column: Column, opts: &DotOptions) -> String {
    match column {
        Column::Hosts => "External Connections".into(),
        Column::Depth(d) => {
            let label = (d as usize).checked_sub(1).and_then(|i| opts.column_labels.get(i));
            label.cloned().unwrap_or_else(|| format!("Process depth {d}"))
        }
        Column::Data => "Data Sources".into(),
    }
}

/// The graph as DOT text for `dot -Tsvg`.
///
/// - Clusters: "External Connections" (hosts), "Processes" holding one "Process depth
///   N" cluster per depth, "Data Sources"; each with `rank=same`, and invisible edges
///   between their first nodes keep them in that order left to right.
/// - Node ids are generated (`n0`, `n1`, … by input position), so no data is ever an id.
/// - Process nodes link to `?pid=<pid>` (relative: it works behind any scheme, host,
///   port or path prefix) and all nodes and edges carry tooltips and CSS classes.
/// - Nodes and edges keep their input order within each cluster.
///
/// Requires Graphviz ≥ 2.30 (`newrank`); classes reach the SVG from 2.42 on.
pub fn to_dot(graph: &Graph, opts: &DotOptions) -> String {
    let layered = Layered::new(graph);
    let colors = opts.theme.colors();
    let focus = opts.focus_pid.map(|p| p.to_string());
    let mut out = String::with_capacity(256 + 256 * graph.nodes.len() + 192 * graph.edges.len());

    out.push_str("digraph \"gomon\" {\n");
    out.push_str("  graph [class=\"gomon\", label=\"");
    for line in opts.heading(graph) {
        push_dot(&mut out, &line);
        out.push_str("\\l");
    }
    let _ = writeln!(
        out,
        "\", labelloc=t, labeljust=l, fontname=\"Helvetica\", fontsize=13, fontcolor=\"{text}\", \
         bgcolor=\"{bg}\", rankdir=LR, newrank=true, remincross=false, nodesep=0.05, ranksep=2, truecolor=true];",
        text = colors.text,
        bg = colors.background,
    );
    let _ = writeln!(
        out,
        "  node [margin=0, fontname=\"Helvetica\", fontsize=11, fontcolor=\"{}\", color=\"{}\", penwidth=1];",
        colors.text, colors.stroke
    );
    out.push_str("  edge [penwidth=2, arrowsize=0.6];\n");

    let mut in_processes = false;
    for (column, nodes) in &layered.columns {
        let is_depth = matches!(column, Column::Depth(_));
        if is_depth && !in_processes {
            in_processes = true;
            let _ = writeln!(
                out,
                "  subgraph \"cluster_processes\" {{\n    graph [label=\"Processes\", class=\"processes\", \
                 color=\"{}\", penwidth=3, fontsize=11];",
                colors.cluster
            );
        } else if !is_depth && in_processes {
            in_processes = false;
            out.push_str("  }\n");
        }
        let indent = if is_depth { "    " } else { "  " };
        let (name, class) = match column {
            Column::Hosts => ("hosts".to_string(), "hosts"),
            Column::Depth(d) => (format!("depth_{d}"), "depth"),
            Column::Data => ("data".to_string(), "data"),
        };
        let _ = writeln!(
            out,
            "{indent}subgraph \"cluster_{name}\" {{\n{indent}  graph [label={}, class=\"{class}\", color=\"{}\", \
             penwidth=3, fontsize=11];\n{indent}  rank=same;",
            dot_string(&cluster_label(*column, opts)),
            colors.cluster
        );
        for &i in nodes {
            let node = &graph.nodes[i];
            let palette = style::color_index(node);
            let _ = write!(out, "{indent}  n{i} [class=\"{} c{palette}", style::kind_class(node.kind));
            if focus.as_deref() == Some(node.id.as_str()) && node.kind == NodeKind::Process {
                let _ = write!(out, " focus\", penwidth=3, color=\"{}\"", colors.text);
            } else {
                out.push('"');
            }
            match node.kind {
                NodeKind::Host => out.push_str(", shape=cds, style=filled, height=0.6, width=2"),
                NodeKind::Data => out.push_str(", shape=note, style=filled, height=0.2"),
                NodeKind::Process => out.push_str(", shape=rect, style=\"rounded,filled\", height=0.3, width=1"),
            }
            let _ = write!(out, ", fillcolor=\"{}\", label=\"", style::fill(palette));
            push_dot(&mut out, &node.title);
            if !node.subtitle.is_empty() {
                out.push_str("\\n");
                push_dot(&mut out, &node.subtitle);
            }
            let _ = write!(out, "\", tooltip={}", dot_string(&node_tooltip(node)));
            // Not through `dot_string` (it would mark `&` with a word joiner): the link
            // holds only `?`, `=`, `&` and percent-encoded text. Graphviz copies a URL
            // into the SVG as it is (2.43 does not escape `&`), so `&` goes in as `&amp;`.
            if let Some(url) = node_url(node, &opts.links) {
                let _ = write!(out, ", URL=\"{}\"", url.replace('&', "&amp;"));
            }
            out.push_str("];\n");
        }
        let _ = writeln!(out, "{indent}}}");
    }
    if in_processes {
        out.push_str("  }\n");
    }

    // Keep the clusters in column order, left to right.
    for pair in layered.columns.windows(2) {
        let _ = writeln!(out, "  n{} -> n{} [style=invis];", pair[0].1[0], pair[1].1[0]);
    }

    for (edge, s, t) in &layered.edges {
        let (source, target) = (&graph.nodes[*s], &graph.nodes[*t]);
        let tree = edge.is_tree();
        let class = style::edge_class(tree, source.kind, target.kind);
        let _ = write!(out, "  n{s} -> n{t} [class=\"{class}\", ");
        if tree {
            let _ = write!(out, "dir=forward, color=\"{}\"", colors.text);
        } else {
            let _ = write!(
                out,
                "dir=both, color=\"{};0.5:{}\"",
                PALETTE[style::color_index(source)],
                PALETTE[style::color_index(target)]
            );
        }
        let _ = writeln!(out, ", tooltip={}];", dot_string(&edge_tooltip(edge)));
    }
    out.push_str("}\n");
    out
}
