//! `Resource.CallResource`: HTTP over gRPC, for the frontend's
//! `getResource(path)` (Grafana routes `/api/datasources/uid/<uid>/resources/<path>`):
//!
//! | GET path | answer |
//! |---|---|
//! | `graph.svg?pid=N` | the connection graph as SVG (Graphviz `dot`, else the built-in layout) |
//! | `processes` | `[{"pid":1,"ppid":0,"comm":"init","cpuSeconds":1.5,"residentBytes":4096}, …]` by comm |
//! | `probes` | the `/api/probes` JSON |

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gomon_sink_graphviz as graphviz;
use tokio_stream::Stream;

use super::super::proto::pluginv2::resource_server::Resource;
use super::super::proto::pluginv2::{CallResourceRequest, CallResourceResponse, StringList};
use super::super::query::{Focus, focus_text};
use super::super::source::DataSource;
use super::Plugin;

/// How long `dot` may take before the built-in layout is used.
const DOT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Resource` service.
pub struct ResourceService {
    plugin: Arc<Plugin>,
}

impl ResourceService {
    /// The service over shared state.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        ResourceService { plugin }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<CallResourceResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl Resource for ResourceService {
    type CallResourceStream = ResponseStream;

    async fn call_resource(
        &self,
        request: tonic::Request<CallResourceRequest>,
    ) -> Result<tonic::Response<ResponseStream>, tonic::Status> {
        let request = request.into_inner();
        let response = self.answer(&request).await;
        if response.code >= 400 {
            tracing::debug!(path = %request.path, code = response.code, "Resource request refused.");
        }
        Ok(tonic::Response::new(Box::pin(tokio_stream::once(Ok(response)))))
    }
}

impl ResourceService {
    async fn answer(&self, request: &CallResourceRequest) -> CallResourceResponse {
        let path = request.path.trim_matches('/');
        if !matches!(path, "graph.svg" | "processes" | "probes") {
            return text(404, &format!("no resource {path:?}: gomon serves graph.svg?pid=N, processes and probes"));
        }
        if !request.method.is_empty() && !request.method.eq_ignore_ascii_case("GET") {
            return text(405, &format!("{} {path}: only GET is supported", request.method));
        }
        let source = match self.plugin.source(request.plugin_context.as_ref()).await {
            Ok((source, _)) => source,
            Err(e) => return text(503, &e.to_string()),
        };
        match path {
            "graph.svg" => {
                let pid = match query_param(&request.url, "pid").map(|v| focus_text(v.trim())) {
                    None | Some(Ok(Focus::Overview | Focus::NotAProcess(_))) => None,
                    Some(Ok(Focus::Pid(pid))) => Some(pid),
                    Some(Err(e)) => return text(400, &format!("pid: {e}")),
                };
                svg(&source, pid).await
            }
            "processes" => match source.processes().await {
                Ok(rows) => json(&rows),
                Err(e) => text(502, &e.to_string()),
            },
            _ => match source.probes().await {
                Ok(probes) => json(&probes),
                Err(e) => text(502, &e.to_string()),
            },
        }
    }
}

async fn svg(source: &DataSource, pid: Option<u32>) -> CallResourceResponse {
    let graph = match source.nodegraph(pid).await {
        Ok(graph) => graph,
        Err(e) => return text(502, &e.to_string()),
    };
    let rendered = tokio::task::spawn_blocking(move || {
        let options = graphviz::DotOptions { focus_pid: pid, ..Default::default() };
        let dot = graphviz::to_dot(&graph, &options);
        match graphviz::render_svg(&dot, DOT_TIMEOUT) {
            Ok(svg) => svg,
            Err(e) => {
                tracing::debug!("Graphviz unavailable, using the built-in layout: {e}");
                graphviz::layout_svg_with(&graph, &options)
            }
        }
    })
    .await;
    match rendered {
        Ok(svg) => respond(200, "image/svg+xml", graphviz::svg_body(&svg).as_bytes().to_vec()),
        Err(e) => text(500, &format!("rendering failed: {e}")),
    }
}

/// A query parameter of a request URL such as `graph.svg?pid=812`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let base = reqwest::Url::parse("http://resource.invalid/").ok()?;
    let url = base.join(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn json<T: serde::Serialize>(value: &T) -> CallResourceResponse {
    match serde_json::to_vec(value) {
        Ok(body) => respond(200, "application/json", body),
        Err(e) => text(500, &format!("cannot encode the answer: {e}")),
    }
}

fn text(code: i32, message: &str) -> CallResourceResponse {
    respond(code, "text/plain; charset=utf-8", format!("{message}\n").into_bytes())
}

fn respond(code: i32, content_type: &str, body: Vec<u8>) -> CallResourceResponse {
    let headers = HashMap::from([
        ("Content-Type".to_owned(), StringList { values: vec![content_type.to_owned()] }),
        ("Cache-Control".to_owned(), StringList { values: vec!["no-store".to_owned()] }),
    ]);
    CallResourceResponse { code, headers, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_come_from_the_url() {
        assert_eq!(query_param("graph.svg?pid=812", "pid").as_deref(), Some("812"));
        assert_eq!(query_param("graph.svg?a=1&pid=%2042", "pid").as_deref(), Some(" 42"));
        assert_eq!(query_param("graph.svg", "pid"), None);
    }
}
