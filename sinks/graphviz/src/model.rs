//! What the renderers add to the graph model (`gomon-graph`): tooltips, and the
//! graph sorted into columns.

use gomon_graph::{Edge, Graph, Node, NodeKind};

/// A node's tooltip: `title (subtitle)`, then one `label: value` line per detail.
pub(crate) fn node_tooltip(node: &Node) -> String {
    let mut out = node.title.clone();
    if !node.subtitle.is_empty() {
        out.push_str(" (");
        out.push_str(&node.subtitle);
        out.push(')');
    }
    for (label, value) in &node.details {
        out.push('\n');
        out.push_str(label);
        out.push_str(": ");
        out.push_str(value);
    }
    out
}

/// An edge's tooltip: the detail lines; without any, `main → secondary` or
/// `source → target`.
pub(crate) fn edge_tooltip(edge: &Edge) -> String {
    if !edge.details.is_empty() {
        edge.details.join("\n")
    } else if !edge.main_stat.is_empty() && !edge.secondary_stat.is_empty() {
        format!("{} → {}", edge.main_stat, edge.secondary_stat)
    } else {
        format!("{} → {}", edge.source, edge.target)
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
