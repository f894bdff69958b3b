//! Every route the HTTPS server answers and what it needs (the README's table is this one).
//!
//! | route | reveals | needs |
//! |---|---|---|
//! | `/` | the index of these routes | nothing |
//! | `/metrics` | what node_exporter shows (`/proc`-level figures) | nothing, unless the web config has `basic_auth_users` |
//! | `/api/probes` | probe internals: errors, last error text, grants | a credential |
//! | `/gomon`, `/gomon/svg`, `/api/graph`, `/api/nodegraph` | every process and connection, other users' too | a credential |
//! | `/api/processes` | every process | a credential |
//! | `/api/series` | recent series | a credential |
//! | `/api/events` | log lines, kernel messages, process and file events | a credential |
//! | `/api/health` | privileges, Loki, probe errors | a credential |
//! | `/api/endpoints` | this host's addresses, listeners and connections, with their processes (the fleet view's input) | a credential |

use super::auth::Access;

/// A route: its path (as counted in `gomon_http_requests_total{route}`) and access class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
}

/// Every route, in the README's order.
pub const ROUTES: &[Route] = &[
    Route { path: "/", access: Access::Open },
    Route { path: "/metrics", access: Access::Scrape },
    Route { path: "/api/probes", access: Access::Private },
    Route { path: "/gomon", access: Access::Private },
    Route { path: "/gomon/svg", access: Access::Private },
    Route { path: "/api/graph", access: Access::Private },
    Route { path: "/api/nodegraph", access: Access::Private },
    Route { path: "/api/processes", access: Access::Private },
    Route { path: "/api/series", access: Access::Private },
    Route { path: "/api/events", access: Access::Private },
    Route { path: "/api/health", access: Access::Private },
    Route { path: "/api/endpoints", access: Access::Private },
];

/// The route of a request path (`/gomon/` is `/gomon`); `None`: not found.
pub fn route(path: &str) -> Option<Route> {
    let path = if path == "/gomon/" { "/gomon" } else { path };
    ROUTES.iter().find(|r| r.path == path).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_index_and_metrics_are_open() {
        let open: Vec<&str> = ROUTES.iter().filter(|r| r.access != Access::Private).map(|r| r.path).collect();
        assert_eq!(open, ["/", "/metrics"]);
        assert_eq!(route("/gomon/").map(|r| r.path), Some("/gomon"));
        assert_eq!(route("/api/events").map(|r| r.access), Some(Access::Private));
        assert_eq!(route("/api/eventsX"), None);
    }
}
