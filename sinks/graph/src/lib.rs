//! The connection graph as the renderers see it, and as `/api/graph` serves it.
//!
//! A plain mirror of the WIT `topology` records (the host converts once); both
//! renderers take it: the Graphviz page (`gomon-sink-graphviz`) and the Grafana
//! node-graph frames (`gomon-sink-grafana`).
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
    /// The nodes, in the order the graph probe drew them.
    pub nodes: Vec<Node>,
    /// The edges between them.
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
    /// What the node stands for.
    pub kind: NodeKind,
    /// First label line (a process's name, `TCP:443`, `REG`).
    pub title: String,
    /// Second label line (the pid, the host name, the path); may be empty.
    pub subtitle: String,
    /// Grafana's `mainstat` (shown inside the node).
    pub main_stat: String,
    /// Grafana's `secondarystat`.
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
    /// The id of the node it starts from.
    pub source: String,
    /// The id of the node it ends at.
    pub target: String,
    /// Grafana's `mainstat` of the edge.
    pub main_stat: String,
    /// Grafana's `secondarystat` of the edge.
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
