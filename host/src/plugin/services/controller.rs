//! go-plugin's `plugin.GRPCController/Shutdown`: Grafana's way to stop a plugin
//! gracefully; the plugin then exits as on SIGTERM.

use std::sync::Arc;

use super::super::proto::controller::Empty;
use super::super::proto::controller::grpc_controller_server::GrpcController;
use super::Plugin;

/// The `GRPCController` service.
pub struct ControllerService {
    plugin: Arc<Plugin>,
}

impl ControllerService {
    /// The service over shared state.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        ControllerService { plugin }
    }
}

#[tonic::async_trait]
impl GrpcController for ControllerService {
    async fn shutdown(&self, _request: tonic::Request<Empty>) -> Result<tonic::Response<Empty>, tonic::Status> {
        tracing::info!("Grafana asked the plugin to shut down.");
        self.plugin.stop();
        Ok(tonic::Response::new(Empty {}))
    }
}
