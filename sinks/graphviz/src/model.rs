//! The graph as the renderers see it, and as `/api/graph` serves it.
//!
//! A plain mirror of the WIT `topology` records (the host converts once); the
//! renderers here and the Grafana frames (`gomon-sink-grafana`) both take it.
//! Serialized with camelCase field names, like Grafana's node-graph fields:
//!
//! ```json
//! {"nodes":[{"id":"812","kind":"process","title":"nginx","subtitle":"812",
//!            "mainStat":"nginx","secondaryStat":"812","arcs":[{"name":"process","fraction":1.0}],
//!            "details":[["executable","/usr/sbin/nginx"]],"depth":1}],
//!  "edges":[{"id":"host:10.0.0.9:443->812","source":"host:10.0.0.9:443","target":"812",
//!            "mainStat":"10.0.0.9","secondaryStat":"nginx[812]",
//!            "details":["tcp:10.0.0.9:443 → nginx[812]"]}]}
//! ```

use serde::{Deserialize, Serialize};

/// Nodes and edges. Edges whose `source` or `target` names no node are ignored by the
/// renderers, and so are nodes whose `id` repeats an earlier one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What a node stands for; it chooses the column, the shape and the drill-down link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A local process; its `id` is its pid in decimal.
    #[default]
    Process,
    /// A remote (or loopback) endpoint: `host:<address>`.
    Host,
    /// A file, device, pipe or socket with no process peer: `data:<kind>:<inode>`.
    Data,
}

/// One node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// A process's pid in decimal; `host:<address>`; `data:<kind>:<inode>`.
    pub id: String,
    pub kind: NodeKind,
    /// First label line (a process's name, `TCP:443`, `REG`).
    pub title: String,
    /// Second label line (the pid, the host name, the path); may be empty.
    pub subtitle: String,
    pub main_stat: String,
    pub secondary_stat: String,
    /// The ring's shares (Grafana's `arc__` fields); empty means the whole ring
    /// in the kind's colour. The Graphviz renderers do not draw them.
    #[serde(default)]
    pub arcs: Vec<Arc>,
    /// Label/value lines, shown as the tooltip.
    #[serde(default)]
    pub details: Vec<(String, String)>,
    /// Depth in the process tree (1 for children of init); 0 for hosts and data.
    #[serde(default)]
    pub depth: u32,
}

/// A share of a node's ring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arc {
    /// `process`, `host`, `data`, `socket`, `kernel` or a probe's own name.
    pub name: String,
    /// The share, 0 to 1.
    pub fraction: f64,
}

/// One edge; several connections between the same two nodes share it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// `<source>-><target>`.
    pub id: String,
    pub source: String,
    pub target: String,
    pub main_stat: String,
    pub secondary_stat: String,
    /// One line per connection (`tcp:nginx[812] → curl[4410]`) or tree link
    /// (`parent:bash[100] → vim[200]`), shown as the tooltip. A line starting with
    /// `parent:` makes the edge a process-tree edge (drawn one-way, in the text colour).
    #[serde(default)]
    pub details: Vec<String>,
}

impl Node {
    /// The pid of a process node whose id is a decimal pid; `None` otherwise (so a
    /// malformed id never becomes a link).
    pub fn pid(&self) -> Option<u32> {
        if self.kind != NodeKind::Process || self.id.is_empty() || !self.id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.id.parse().ok()
    }
}

impl Edge {
    /// Whether the edge links a parent to its child (a detail line starts with `parent:`).
    pub fn is_tree(&self) -> bool {
        self.details.iter().any(|d| d.starts_with("parent:"))
    }
}

impl Node {
    /// The tooltip: `title (subtitle)`, then one `label: value` line per detail.
    pub(crate) fn tooltip(&self) -> String {
        let mut out = self.title.clone();
        if !self.subtitle.is_empty() {
            out.push_str(" (");
            out.push_str(&self.subtitle);
            out.push(')');
        }
        for (label, value) in &self.details {
            out.push('\n');
            out.push_str(label);
            out.push_str(": ");
            out.push_str(value);
        }
        out
    }
}

impl Edge {
    /// The tooltip: the detail lines; without any, `main → secondary` or
    /// `source → target`.
    pub(crate) fn tooltip(&self) -> String {
        if !self.details.is_empty() {
            self.details.join("\n")
        } else if !self.main_stat.is_empty() && !self.secondary_stat.is_empty() {
            format!("{} → {}", self.main_stat, self.secondary_stat)
        } else {
            format!("{} → {}", self.source, self.target)
        }
    }
}

/// Which column a node goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Column {
    Hosts,
    Depth(u32),
    Data,
}

/// The graph sorted into columns, with duplicates and dangling edges dropped. Shared by
/// the DOT writer and the built-in layout so both draw the same thing.
pub(crate) struct Layered<'g> {
    /// Node indexes per column, columns in left-to-right order, rows in input order.
    pub columns: Vec<(Column, Vec<usize>)>,
    /// (edge, source node index, target node index), in input order.
    pub edges: Vec<(&'g Edge, usize, usize)>,
}

impl<'g> Layered<'g> {
    pub fn new(graph: &'g Graph) -> Self {
        let mut index = std::collections::HashMap::new();
        let mut columns: std::collections::BTreeMap<Column, Vec<usize>> = Default::default();
        for (i, node) in graph.nodes.iter().enumerate() {
            if index.contains_key(node.id.as_str()) {
                continue;
            }
            index.insert(node.id.as_str(), i);
            let column = match node.kind {
                NodeKind::Host => Column::Hosts,
                NodeKind::Process => Column::Depth(node.depth),
                NodeKind::Data => Column::Data,
            };
            columns.entry(column).or_default().push(i);
        }
        let edges = graph
            .edges
            .iter()
            .filter_map(|e| Some((e, *index.get(e.source.as_str())?, *index.get(e.target.as_str())?)))
            .collect();
        Layered { columns: columns.into_iter().collect(), edges }
    }
}
