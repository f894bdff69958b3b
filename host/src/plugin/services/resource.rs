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

use gomon_sink_graphviz as graphviz;
use tokio_stream::Stream;

use super::super::proto::pluginv2::resource_server::Resource;
use super::super::proto::pluginv2::{CallResourceRequest, CallResourceResponse, StringList};
use super::Plugin;
use crate::agent::query::Params;
use crate::agent::{DataSource, Renderer};

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
                let query = request.url.split_once('?').map(|(_, query)| query);
                let pid = match Params::parse(query).focus() {
                    Ok(focus) => focus.pid(),
                    Err(e) => return text(400, &e),
                };
                svg(&source, self.plugin.renderer(), pid).await
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

async fn svg(source: &DataSource, renderer: &Renderer, pid: Option<u32>) -> CallResourceResponse {
    let graph = match source.nodegraph(pid).await {
        Ok(graph) => graph,
        Err(e) => return text(502, &e.to_string()),
    };
    let options = graphviz::DotOptions { focus_pid: pid, ..Default::default() };
    match crate::agent::local::render(renderer, graph, options).await {
        Ok(rendered) => respond(200, "image/svg+xml", graphviz::svg_body(&rendered.svg).as_bytes().to_vec()),
        Err(e) => text(500, &e.to_string()),
    }
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
