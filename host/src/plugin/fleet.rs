//! The `nodegraph` query's fleet scope: the fleet's graph (or one host's, drilled down
//! to) as node-graph frames. Agents that did not answer and what the join could not
//! match are frame notices; data links carry `scope: "fleet"`, so a click on
//! `<host>/<pid>` asks that host's agent for that process's graph.
//!
//! ```json
//! {"refId":"A","queryType":"nodegraph","scope":"fleet"}
//! {"refId":"A","queryType":"nodegraph","scope":"fleet","pid":"web1:1234/812"}
//! ```

use gomon_sink_grafana::{DrillDown, Frame, Notice, node_graph_frames};

use super::proto::pluginv2::PluginContext;
use super::query::{PanelQuery, Request};
use super::services::{Plugin, ResolveError};
use crate::agent::SourceError;
use crate::agent::fleet::{self, FleetFocus};

fn notice(n: &fleet::Notice) -> Notice {
    if n.warning { Notice::warning(n.text.clone()) } else { Notice::info(n.text.clone()) }
}

/// Answers a fleet-scope query: frames, or (status, message).
pub async fn run(
    plugin: &Plugin,
    context: Option<&PluginContext>,
    query: &PanelQuery,
) -> Result<Vec<Frame>, (i32, String)> {
    let Request::FleetGraph(focus) = &query.request else {
        return Err((400, "not a fleet query".into()));
    };
    let (fleet, instance) = plugin.fleet(context).await.map_err(|e| match e {
        ResolveError::Settings(_) => (400, e.to_string()),
        ResolveError::Source(SourceError::Graph(_)) => (400, e.to_string()),
        ResolveError::Source(_) => (503, e.to_string()),
    })?;
    let drill_down = (!instance.uid.is_empty()).then(|| DrillDown {
        datasource_uid: instance.uid.clone(),
        datasource_name: instance.name.clone(),
        scope: Some("fleet".into()),
    });
    let mut notices = Vec::new();
    let node = match focus {
        FleetFocus::Overview => None,
        FleetFocus::Node(node) => Some(node),
        FleetFocus::NotAHost(id) => {
            notices.push(Notice::info(format!("{id} is not on an agent of the fleet; the fleet's overview.")));
            None
        }
    };
    let graph = match node {
        Some(node) => {
            let drilled = fleet.drill(node).await.map_err(|e| match e {
                SourceError::Graph(_) => (400, e.to_string()),
                _ => (502, e.to_string()),
            })?;
            notices.extend(drilled.notices.iter().map(notice));
            fleet::prefix_ids(drilled.graph, &drilled.host)
        }
        None => {
            let drawn = fleet.graph().await.map_err(|e| (502, e.to_string()))?;
            notices.extend(drawn.notices.iter().map(notice));
            drawn.graph
        }
    };
    Ok(node_graph_frames(&graph, &query.ref_id, drill_down.as_ref(), notices).into())
}
