//! Colours shared by the DOT text, the built-in layout and the page's CSS.
//!
//! The SVG carries concrete colours (so `/gomon/svg` opened alone looks right) and CSS
//! classes (so the page re-themes it): the top group `gomon`; nodes `process`/`host`/`data`,
//! a palette class `c0`…`c9` and `focus`; edges `tree`/`ipc`/`remote`/`file`; clusters
//! `hosts`/`processes`/`depth`/`data`. Graphviz ≥ 2.42 copies DOT `class` attributes
//! into the SVG `class` of each group, after its own `node`/`edge`/`cluster`.

use gomon_graph::{Node, NodeKind};

/// The colour scheme baked into the SVG. The page overrides it with CSS either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Theme {
    /// Dark text on a light background (the default).
    #[default]
    Light,
    /// Light text on a dark background.
    Dark,
}

/// Concrete colours of a theme.
pub(crate) struct Colors {
    pub background: &'static str,
    pub text: &'static str,
    pub cluster: &'static str,
    pub stroke: &'static str,
}

impl Theme {
    pub(crate) fn colors(self) -> Colors {
        match self {
            Theme::Light => Colors { background: "#F8F8FC", text: "#000000", cluster: "#4169E1", stroke: "#505060" },
            Theme::Dark => Colors { background: "#202028", text: "#FFFFFF", cluster: "#6A8CFF", stroke: "#A0A0B0" },
        }
    }
}

/// Ten hues (HSV: hue 0.0–0.9, saturation 0.75, value 1.0 or 0.8), as the original.
/// Fills use them at 50% alpha, which reads on both backgrounds.
pub(crate) const PALETTE: [&str; 10] =
    ["#FF4040", "#CC8F33", "#D9FF40", "#52CC33", "#40FF8C", "#33CCCC", "#408CFF", "#5233CC", "#D940FF", "#CC338F"];

/// The palette slot of a node: a process's pid mod 10 (as the original), else a stable
/// hash (FNV-1a) of the id.
pub(crate) fn color_index(node: &Node) -> usize {
    if let Some(pid) = node.pid() {
        return pid as usize % PALETTE.len();
    }
    let mut hash: u32 = 0x811c9dc5;
    for b in node.id.bytes() {
        hash = (hash ^ b as u32).wrapping_mul(0x01000193);
    }
    hash as usize % PALETTE.len()
}

/// `#RRGGBB80`: the translucent fill of palette slot `i`.
pub(crate) fn fill(i: usize) -> String {
    format!("{}80", PALETTE[i])
}

pub(crate) fn kind_class(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Process => "process",
        NodeKind::Host => "host",
        NodeKind::Data => "data",
    }
}

/// The CSS class of an edge: `tree` (parent → child), `remote` (from a host), `file`
/// (to a data node) or `ipc` (between processes).
pub(crate) fn edge_class(tree: bool, source: NodeKind, target: NodeKind) -> &'static str {
    if tree {
        "tree"
    } else if source == NodeKind::Host || target == NodeKind::Host {
        "remote"
    } else if source == NodeKind::Data || target == NodeKind::Data {
        "file"
    } else {
        "ipc"
    }
}

/// The page's stylesheet for the SVG of either renderer: rules are scoped to `.gomon`,
/// the class of the top group (`<g class="graph gomon">` from both). `--bg`, `--fg`,
/// `--cluster` and `--stroke` are set per theme by the page.
pub(crate) const SVG_CSS: &str = r#".gomon > polygon, .gomon > rect.background { fill: var(--bg); stroke: none; }
.gomon text { fill: var(--fg); }
.gomon .cluster > polygon, .gomon .cluster > path, .gomon .cluster > rect { stroke: var(--cluster); fill: none; }
.gomon .cluster > text { font-weight: bold; }
.gomon .node polygon, .gomon .node path, .gomon .node rect { stroke: var(--stroke); }
.gomon .node.focus polygon, .gomon .node.focus path, .gomon .node.focus rect { stroke: var(--fg); stroke-width: 3px; }
.gomon .edge path { stroke-opacity: 0.7; }
.gomon .edge.tree path { stroke: var(--fg); }
.gomon .edge.tree polygon { fill: var(--fg); stroke: var(--fg); }
.gomon .edge:hover path { stroke-opacity: 1; stroke-width: 3px; }
.gomon .edge path.hit { stroke: transparent; stroke-width: 10px; }
.gomon .node.process a { cursor: pointer; }
.gomon .node.process a:hover polygon, .gomon .node.process a:hover path, .gomon .node.process a:hover rect { stroke: var(--fg); stroke-width: 2px; }
"#;
