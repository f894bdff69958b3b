//! The `/gomon` connections graph: processes, the remote hosts they talk to and the data
//! they hold open.
//!
//! - [`Graph`]: the model, re-exported from `gomon-graph` (a mirror of the WIT
//!   `topology` records; also the `/api/graph` JSON), which the Grafana frames take too.
//! - [`to_dot`]: DOT text with the original's clusters (hosts | processes by tree depth |
//!   data), shapes and palette, relative drill-down links `?pid=N`, tooltips and CSS
//!   classes for theming.
//! - [`render_svg`]: `dot -Tsvg` as a subprocess with a deadline; every failure is a
//!   [`RenderError`] (never an empty body), so the caller can fall back to
//! - [`layout_svg`]: a built-in layered layout with the same look and classes.
//! - [`page_html`]: the page around either SVG: light and dark themes, live refresh.
//!
//! No OS code besides running `dot`; no dependencies besides the model, `thiserror` and
//! `form_urlencoded` (the fleet view's links).
//!
//! ```
//! use gomon_sink_graphviz::*;
//!
//! let graph = Graph {
//!     nodes: vec![
//!         Node { id: "812".into(), kind: NodeKind::Process, title: "nginx".into(), subtitle: "812".into(), depth: 1, ..Default::default() },
//!         Node { id: "host:10.0.0.9:443".into(), kind: NodeKind::Host, title: "TCP:443".into(), subtitle: "10.0.0.9".into(), ..Default::default() },
//!     ],
//!     edges: vec![Edge { id: "host:10.0.0.9:443->812".into(), source: "host:10.0.0.9:443".into(), target: "812".into(),
//!                        details: vec!["tcp:10.0.0.9:443 → nginx[812]".into()], ..Default::default() }],
//! };
//! let opts = DotOptions { host_name: "web1".into(), ..Default::default() };
//! let dot = to_dot(&graph, &opts);
//! assert!(dot.contains(r#"URL="?pid=812""#));
//!
//! let svg = match render_svg(&dot, std::time::Duration::from_secs(10)) {
//!     Ok(svg) => svg,
//!     Err(_not_installed_or_failed) => layout_svg_with(&graph, &opts),
//! };
//! let page = page_html(&svg, &PageOptions::default());
//! assert!(page.contains("?pid=812"));
//! ```

mod dot;
mod escape;
mod layout;
mod model;
mod page;
mod render;
mod style;

pub use dot::{DotOptions, Links, to_dot};
pub use escape::{dot_string, js_string, xml};
pub use gomon_graph::{Arc, Edge, Graph, Node, NodeKind};
pub use layout::{layout_svg, layout_svg_with};
pub use page::{PageOptions, page_html, svg_body};
pub use render::{RenderError, render_svg, render_svg_with};
pub use style::Theme;
