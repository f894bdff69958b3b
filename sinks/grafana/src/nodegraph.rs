//! The connection graph as Grafana node-graph frames.
//!
//! The model ([`NodeGraph`], which is `gomon_graph::Graph`) mirrors the probe
//! contract's `topology` records, arcs included; it is also the JSON an agent serves at
//! `/api/nodegraph` and `/api/graph`:
//!
//! ```json
//! {"nodes":[{"id":"812","kind":"process","title":"nginx","subtitle":"812","mainStat":"12.0 MiB",
//!            "secondaryStat":"812","arcs":[{"name":"process","fraction":1.0}],
//!            "details":[["pid","812"],["executable","/usr/sbin/nginx"]],"depth":1}],
//!  "edges":[{"id":"host:10.0.0.9->812","source":"host:10.0.0.9","target":"812",
//!            "mainStat":"TCP:443","secondaryStat":"1 connection",
//!            "details":["tcp:10.0.0.9:443 → nginx[812]"]}]}
//! ```
//!
//! [`node_graph_frames`] turns it into the two frames the node-graph panel reads, both
//! named for their role and marked `preferredVisualisationType: nodeGraph`:
//!
//! | frame | field | type | content |
//! |---|---|---|---|
//! | `nodes` | `id` | string | the node id; a data link focuses the graph on it |
//! | | `title`, `subtitle`, `mainstat`, `secondarystat` | string | the node's labels |
//! | | `arc__process`, `arc__host`, `arc__data`, `arc__socket`, `arc__kernel` (+ any other arc a probe names) | float64 | fractions summing to 1 per node, fixed colours |
//! | | `detail__<label>` | string, nullable | one column per detail label, `displayName` the label |
//! | `edges` | `id`, `source`, `target` | string | `source` and `target` carry the same data link |
//! | | `mainstat`, `secondarystat` | string | |
//! | | `detail__connection_1` … `_N` | string, nullable | one connection or tree link per column (N ≤ 8; the last says how many more) |

use crate::frame::{
    DataLink, Field, FieldColor, FieldConfig, Frame, FrameMeta, InternalLink, Notice, QueryStat, Values,
};

/// The graph model, shared with the Graphviz renderers (one conversion from the
/// probe contract's records, in the host, feeds both).
pub use gomon_graph::{Arc, Edge as GraphEdge, Graph as NodeGraph, Node as GraphNode, NodeKind};

/// The arcs every nodes frame carries, with their fixed colours and display names (the
/// original's palette: hosts red, processes blue, data yellow, sockets magenta, kernel
/// objects cyan).
pub const ARCS: [(&str, &str, &str); 5] = [
    ("process", "#5794F2", "Process"),
    ("host", "#F2495C", "Host"),
    ("data", "#FADE2A", "Data"),
    ("socket", "#B877D9", "Socket"),
    ("kernel", "#8AB8FF", "Kernel"),
];

/// Colour of an arc no built-in palette entry names.
const OTHER_ARC_COLOR: &str = "#808080";

/// Most `detail__connection_N` columns of the edges frame.
pub const MAX_EDGE_DETAIL_COLUMNS: usize = 8;

/// Where the data links lead: the same data source, in Explore.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillDown {
    /// The data source's uid.
    pub datasource_uid: String,
    /// The data source's name.
    pub datasource_name: String,
    /// The query's `scope` (`"fleet"`: the node ids are fleet node ids); `None`: absent.
    pub scope: Option<String>,
}

impl DrillDown {
    /// A link that runs a `nodegraph` query focused on the clicked value.
    fn link(&self, title: &str) -> DataLink {
        DataLink {
            title: title.to_owned(),
            url: String::new(),
            internal: Some(InternalLink {
                query: {
                    let mut query = serde_json::json!({
                        "refId": "A",
                        "queryType": "nodegraph",
                        "pid": "${__value.raw}",
                    });
                    if let Some(scope) = &self.scope {
                        query["scope"] = serde_json::Value::String(scope.clone());
                    }
                    query
                },
                datasource_uid: self.datasource_uid.clone(),
                datasource_name: self.datasource_name.clone(),
            }),
        }
    }
}

/// The `nodes` and `edges` frames of a graph.
pub fn node_graph_frames(
    graph: &NodeGraph,
    ref_id: &str,
    drill_down: Option<&DrillDown>,
    notices: Vec<Notice>,
) -> [Frame; 2] {
    let meta = |label: &str, count: usize, notices: Vec<Notice>| FrameMeta {
        preferred_visualisation_type: Some("nodeGraph".into()),
        stats: vec![QueryStat { display_name: label.into(), value: count as f64 }],
        notices,
        ..Default::default()
    };
    let nodes = nodes_frame(graph, ref_id, drill_down).with_meta(meta("Node count", graph.nodes.len(), notices));
    let edges = edges_frame(graph, ref_id, drill_down).with_meta(meta("Edge count", graph.edges.len(), Vec::new()));
    [nodes, edges]
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Values {
    Values::String(items.map(str::to_owned).collect())
}

fn nodes_frame(graph: &NodeGraph, ref_id: &str, drill_down: Option<&DrillDown>) -> Frame {
    let nodes = &graph.nodes;
    let mut id = Field::new("id", strings(nodes.iter().map(|n| n.id.as_str())));
    if let Some(drill_down) = drill_down {
        id = id
            .with_config(FieldConfig { links: vec![drill_down.link("Focus on ${__value.raw}")], ..Default::default() });
    }
    let mut frame = Frame::new("nodes", ref_id)
        .with_field(id)
        .with_field(Field::new("title", strings(nodes.iter().map(|n| n.title.as_str()))))
        .with_field(Field::new("subtitle", strings(nodes.iter().map(|n| n.subtitle.as_str()))))
        .with_field(Field::new("mainstat", strings(nodes.iter().map(|n| n.main_stat.as_str()))))
        .with_field(Field::new("secondarystat", strings(nodes.iter().map(|n| n.secondary_stat.as_str()))));

    // Arcs: the five known ones always (a stable schema), then any other name a probe used.
    let shares: Vec<Vec<(String, f64)>> = nodes.iter().map(normalised_arcs).collect();
    let mut names: Vec<(String, String, String)> =
        ARCS.iter().map(|(n, c, d)| ((*n).to_owned(), (*c).to_owned(), (*d).to_owned())).collect();
    for (name, _) in shares.iter().flatten() {
        if !names.iter().any(|(n, _, _)| n == name) {
            names.push((name.clone(), OTHER_ARC_COLOR.to_owned(), name.clone()));
        }
    }
    for (name, color, display) in names {
        let values =
            shares.iter().map(|arcs| arcs.iter().filter(|(n, _)| *n == name).map(|(_, f)| f).sum::<f64>()).collect();
        let config =
            FieldConfig { display_name: Some(display), color: Some(FieldColor::fixed(color)), ..Default::default() };
        frame.fields.push(Field::new(format!("arc__{}", slug(&name)), Values::Float64(values)).with_config(config));
    }

    // Details: one column per label, in order of first appearance.
    let mut labels: Vec<(String, String)> = Vec::new(); // (slug, label)
    for (label, _) in nodes.iter().flat_map(|n| &n.details) {
        let key = slug(label);
        if !labels.iter().any(|(k, _)| *k == key) {
            labels.push((key, label.clone()));
        }
    }
    for (key, label) in labels {
        let values =
            nodes.iter().map(|n| n.details.iter().find(|(l, _)| slug(l) == key).map(|(_, v)| v.clone())).collect();
        let config = FieldConfig { display_name: Some(capitalise(&label)), ..Default::default() };
        frame.fields.push(Field::new(format!("detail__{key}"), Values::NullableString(values)).with_config(config));
    }
    frame
}

fn edges_frame(graph: &NodeGraph, ref_id: &str, drill_down: Option<&DrillDown>) -> Frame {
    let edges = &graph.edges;
    let mut source = Field::new("source", strings(edges.iter().map(|e| e.source.as_str())));
    let mut target = Field::new("target", strings(edges.iter().map(|e| e.target.as_str())));
    if let Some(drill_down) = drill_down {
        source = source.with_config(FieldConfig {
            links: vec![drill_down.link("Focus on the source, ${__value.raw}")],
            ..Default::default()
        });
        target = target.with_config(FieldConfig {
            links: vec![drill_down.link("Focus on the target, ${__value.raw}")],
            ..Default::default()
        });
    }
    let mut frame = Frame::new("edges", ref_id)
        .with_field(Field::new("id", strings(edges.iter().map(|e| e.id.as_str()))))
        .with_field(source)
        .with_field(target)
        .with_field(Field::new("mainstat", strings(edges.iter().map(|e| e.main_stat.as_str()))))
        .with_field(Field::new("secondarystat", strings(edges.iter().map(|e| e.secondary_stat.as_str()))));
    let columns = edges.iter().map(|e| e.details.len()).max().unwrap_or(0).min(MAX_EDGE_DETAIL_COLUMNS);
    for column in 0..columns {
        let values = edges
            .iter()
            .map(|e| {
                let last = column + 1 == MAX_EDGE_DETAIL_COLUMNS && e.details.len() > MAX_EDGE_DETAIL_COLUMNS;
                if last {
                    Some(format!("… and {} more", e.details.len() - column))
                } else {
                    e.details.get(column).cloned()
                }
            })
            .collect();
        let config = FieldConfig { display_name: Some(format!("Connection {}", column + 1)), ..Default::default() };
        frame.fields.push(
            Field::new(format!("detail__connection_{}", column + 1), Values::NullableString(values))
                .with_config(config),
        );
    }
    frame
}

/// A node's arcs as (name, share) with the shares summing to 1: negative and non-finite
/// shares are dropped, the rest scaled; none left means the whole ring in the kind's arc.
pub fn normalised_arcs(node: &GraphNode) -> Vec<(String, f64)> {
    let mut arcs: Vec<(String, f64)> = node
        .arcs
        .iter()
        .filter(|a| a.fraction.is_finite() && a.fraction > 0.0)
        .map(|a| (a.name.clone(), a.fraction))
        .collect();
    let total: f64 = arcs.iter().map(|(_, f)| f).sum();
    if arcs.is_empty() || total <= 0.0 {
        let name = match node.kind {
            NodeKind::Process => "process",
            NodeKind::Host => "host",
            NodeKind::Data => "data",
        };
        return vec![(name.to_owned(), 1.0)];
    }
    for (_, f) in &mut arcs {
        *f /= total;
    }
    arcs
}

/// A field-name suffix: lower case ASCII letters, digits and `_`.
fn slug(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() { "detail".to_owned() } else { trimmed.to_owned() }
}

fn capitalise(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_field_name_safe() {
        assert_eq!(slug("command line"), "command_line");
        assert_eq!(slug("Peer inode"), "peer_inode");
        assert_eq!(slug("  --  "), "detail");
        assert_eq!(slug("CPU (s)"), "cpu_s");
    }

    #[test]
    fn arcs_are_scaled_to_one_and_default_to_the_kind() {
        let mut node = GraphNode { kind: NodeKind::Host, ..Default::default() };
        assert_eq!(normalised_arcs(&node), vec![("host".to_owned(), 1.0)]);
        node.arcs = vec![
            Arc { name: "a".into(), fraction: 3.0 },
            Arc { name: "b".into(), fraction: 1.0 },
            Arc { name: "c".into(), fraction: f64::NAN },
            Arc { name: "d".into(), fraction: -1.0 },
        ];
        assert_eq!(normalised_arcs(&node), vec![("a".to_owned(), 0.75), ("b".to_owned(), 0.25)]);
    }
}
