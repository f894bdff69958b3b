//! The fleet view over HTTPS (see `agent::fleet`):
//!
//! | GET | answer |
//! |---|---|
//! | `/api/endpoints` | this host's endpoint table (a credential, like the rest of the agent API) |
//! | `/api/graph?scope=fleet` | the fleet graph as JSON, with `hosts`, `missing` (agents that did not answer), `notices` and `stats` |
//! | `/api/graph?scope=fleet&pid=<host>/<pid>` | one host's graph from its agent, node ids prefixed by `<host>/` |
//! | `/gomon?scope=fleet[&pid=…]`, `/gomon/svg?scope=fleet[&pid=…]` | the same as the page and its SVG |
//!
//! The fleet scope answers with other hosts' data fetched with this agent's
//! credentials, so it needs a credential like the rest of the agent API (the route
//! table, `serve::routes`); `pid` may only name a host of the fleet (never a URL).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use gomon_sink_graphviz as graphviz;

use super::graph::{bad_request, respond, unavailable};
use super::{AppState, plain};
use crate::agent::SourceError;
use crate::agent::fleet::{self, FleetFocus, Notice, fleet_focus};
use crate::agent::query::Params;

/// What the request wants the fleet view as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `/api/graph`.
    Json,
    /// `/gomon`.
    Page,
    /// `/gomon/svg`.
    Svg,
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => respond("application/json", body),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the answer\n"),
    }
}

/// `GET /api/endpoints`.
pub async fn endpoints(state: &AppState) -> Response<Full<Bytes>> {
    match state.local.endpoints().await {
        Ok(table) => match serde_json::to_value(&table) {
            Ok(value) => json(&value),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the endpoints\n"),
        },
        Err(e) => unavailable(e.to_string()),
    }
}

fn notice_text(notices: &[Notice]) -> Option<String> {
    (!notices.is_empty()).then(|| notices.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join(" "))
}

/// The answer to a `scope=fleet` request, or `None` when the request is not one.
pub async fn scoped(req: &Request<Incoming>, state: &AppState, view: View) -> Option<Response<Full<Bytes>>> {
    let params = Params::parse(req.uri().query());
    match params.text("scope") {
        None | Some("host") => return None,
        Some("fleet") => {}
        Some(other) => return Some(bad_request(format!("scope: {other:?} is neither host nor fleet"))),
    }
    let Some(fleet) = state.local.fleet().cloned() else {
        return Some(plain(
            StatusCode::NOT_FOUND,
            "no fleet view: configure [fleet] peers or [fleet] prometheus_url and job\n",
        ));
    };
    let refresh = state.local.schedule().interval().as_secs().clamp(1, 3600) as u32;
    let page_options = |notice: Option<String>| graphviz::PageOptions {
        title: "gomon: fleet connections".into(),
        overview_url: "/gomon?scope=fleet".into(),
        refresh_secs: refresh,
        notice,
        ..Default::default()
    };
    let mut notices = Vec::new();
    let focus = match fleet_focus(params.text("pid").unwrap_or_default()) {
        FleetFocus::NotAHost(id) => {
            notices
                .push(Notice { warning: false, text: format!("{id} is not on an agent of the fleet; the overview.") });
            FleetFocus::Overview
        }
        focus => focus,
    };

    if let FleetFocus::Node(node) = focus {
        let drilled = match fleet.drill(&node).await {
            Ok(drilled) => drilled,
            Err(e @ SourceError::Graph(_)) => return Some(bad_request(e.to_string())),
            Err(e) => {
                return Some(match view {
                    View::Page => {
                        let notice = Some(format!("No graph from that agent: {e}."));
                        respond("text/html; charset=utf-8", graphviz::page_html("", &page_options(notice)).into_bytes())
                    }
                    _ => unavailable(e.to_string()),
                });
            }
        };
        notices.extend(drilled.notices.iter().cloned());
        if view == View::Json {
            let graph = fleet::prefix_ids(drilled.graph, &drilled.host);
            return Some(json(&serde_json::json!({
                "nodes": graph.nodes, "edges": graph.edges, "host": drilled.host, "notices": notices,
            })));
        }
        let focus_name = drilled
            .pid
            .and_then(|pid| drilled.graph.nodes.iter().find(|n| n.pid() == Some(pid)).map(|n| n.title.clone()));
        let options = graphviz::DotOptions {
            host_name: drilled.host.clone(),
            focus_pid: drilled.pid,
            links: graphviz::Links::Fleet { prefix: format!("{}/", drilled.host) },
            ..Default::default()
        };
        return Some(
            render(state, view, drilled.graph, options, notices, |notice| graphviz::PageOptions {
                focus_pid: drilled.pid,
                focus_name,
                ..page_options(notice)
            })
            .await,
        );
    }

    let drawn = match fleet.graph().await {
        Ok(drawn) => drawn,
        Err(e) => {
            return Some(match view {
                View::Page => respond(
                    "text/html; charset=utf-8",
                    graphviz::page_html("", &page_options(Some(format!("No fleet graph: {e}.")))).into_bytes(),
                ),
                _ => unavailable(format!("no fleet graph: {e}")),
            });
        }
    };
    notices.extend(drawn.notices.iter().cloned());
    if view == View::Json {
        return Some(json(&serde_json::json!({
            "nodes": drawn.graph.nodes, "edges": drawn.graph.edges, "hosts": drawn.hosts,
            "missing": drawn.missing, "notices": notices, "stats": drawn.stats,
        })));
    }
    let options = graphviz::DotOptions {
        title: "Fleet Connections".into(),
        host_name: format!("{} agents", drawn.hosts.len()),
        links: graphviz::Links::Fleet { prefix: String::new() },
        column_labels: drawn.hosts.iter().map(|h| format!("Host {h}")).collect(),
        ..Default::default()
    };
    Some(render(state, view, drawn.graph, options, notices, page_options).await)
}

async fn render(
    state: &AppState,
    view: View,
    graph: graphviz::Graph,
    options: graphviz::DotOptions,
    notices: Vec<Notice>,
    page: impl FnOnce(Option<String>) -> graphviz::PageOptions,
) -> Response<Full<Bytes>> {
    let Ok(rendered) = state.local.render(graph, options).await else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
    };
    if view == View::Svg {
        return respond("image/svg+xml", graphviz::svg_body(&rendered.svg).as_bytes().to_vec());
    }
    let mut notice = notice_text(&notices);
    if let Some(fallback) = rendered.fallback {
        let text = format!("Built-in layout ({fallback}).");
        notice = Some(match notice {
            Some(n) => format!("{n} {text}"),
            None => text,
        });
    }
    respond("text/html; charset=utf-8", graphviz::page_html(&rendered.svg, &page(notice)).into_bytes())
}
