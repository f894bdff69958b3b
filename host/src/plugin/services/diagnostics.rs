//! `Diagnostics`: `CheckHealth` (Grafana's "Save & test") runs real checks and says
//! which failed; `CollectMetrics` returns the collector's `/metrics` text, which Grafana
//! serves at `/metrics/plugins/<plugin id>`.
//!
//! ```json
//! CheckHealth → status OK | ERROR, message "sampler: …; probes: …",
//!               jsonDetails {"source":"…","checks":[{"name":"sampler","ok":true,"message":"…"}, …]}
//! ```

use std::sync::Arc;

use gomon_sink_prometheus::{Format, MetricFamily};

use super::super::proto::pluginv2::check_health_response::HealthStatus;
use super::super::proto::pluginv2::collect_metrics_response::Payload;
use super::super::proto::pluginv2::diagnostics_server::Diagnostics;
use super::super::proto::pluginv2::{
    CheckHealthRequest, CheckHealthResponse, CollectMetricsRequest, CollectMetricsResponse,
};
use super::Plugin;
use crate::agent::Check;
use crate::telemetry;

/// The `Diagnostics` service.
pub struct DiagnosticsService {
    plugin: Arc<Plugin>,
}

impl DiagnosticsService {
    /// The service over shared state.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        DiagnosticsService { plugin }
    }
}

#[tonic::async_trait]
impl Diagnostics for DiagnosticsService {
    async fn check_health(
        &self,
        request: tonic::Request<CheckHealthRequest>,
    ) -> Result<tonic::Response<CheckHealthResponse>, tonic::Status> {
        let request = request.into_inner();
        let (checks, source) = match self.plugin.source(request.plugin_context.as_ref()).await {
            Ok((source, _)) => (source.health().await, source.describe()),
            Err(e) => (vec![Check::fail("settings", e.to_string())], "none".to_owned()),
        };
        Ok(tonic::Response::new(report(&checks, &source)))
    }

    async fn collect_metrics(
        &self,
        _request: tonic::Request<CollectMetricsRequest>,
    ) -> Result<tonic::Response<CollectMetricsResponse>, tonic::Status> {
        let mut host: Vec<MetricFamily> = vec![telemetry::build_info()];
        host.extend(telemetry::process_families());
        let exposition = self.plugin.local_now().map(|local| local.latest());
        let mut families: Vec<&MetricFamily> =
            exposition.iter().flat_map(|e| e.families.iter()).chain(host.iter()).collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        let mut text = Vec::with_capacity(64 * 1024);
        gomon_sink_prometheus::encode(Format::Text, families.iter().copied(), &mut text);
        Ok(tonic::Response::new(CollectMetricsResponse { metrics: Some(Payload { prometheus: text }) }))
    }
}

/// The response for a list of checks: OK when all passed.
pub fn report(checks: &[Check], source: &str) -> CheckHealthResponse {
    let failed: Vec<&Check> = checks.iter().filter(|c| c.failed()).collect();
    let starting: Vec<&Check> = checks.iter().filter(|c| c.starting).collect();
    let describe = |c: &&Check| format!("{}: {}", c.name, c.message);
    let (status, message) = if failed.is_empty() && !starting.is_empty() {
        (
            HealthStatus::Unknown,
            format!(
                "gomon is still starting ({source}): {}",
                starting.iter().map(describe).collect::<Vec<_>>().join("; ")
            ),
        )
    } else if failed.is_empty() {
        (
            HealthStatus::Ok,
            format!(
                "gomon is working ({source}). {}",
                checks.iter().map(|c| describe(&c)).collect::<Vec<_>>().join("; ")
            ),
        )
    } else {
        let n = failed.len();
        let what = if n == 1 { "check" } else { "checks" };
        (
            HealthStatus::Error,
            format!("{n} {what} failed: {}", failed.iter().map(describe).collect::<Vec<_>>().join("; ")),
        )
    };
    let details = serde_json::json!({ "source": source, "checks": checks });
    CheckHealthResponse { status: status as i32, message, json_details: details.to_string().into_bytes() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_check_fails_the_whole_and_is_named() {
        let checks = [Check::pass("probes", "6 loaded"), Check::fail("sampler", "no sample for 47 s")];
        let response = report(&checks, "local");
        assert_eq!(response.status, HealthStatus::Error as i32);
        assert_eq!(response.message, "1 check failed: sampler: no sample for 47 s");
        let details: serde_json::Value = serde_json::from_slice(&response.json_details).unwrap();
        assert_eq!(details["checks"][1]["ok"], false);
        let response = report(&checks[..1], "local");
        assert_eq!(response.status, HealthStatus::Ok as i32);
        assert!(response.message.contains("probes: 6 loaded"), "{}", response.message);
        let starting = [Check::starting("sampler", "no sample yet"), Check::pass("privileges", "all")];
        let response = report(&starting, "local");
        assert_eq!(response.status, HealthStatus::Unknown as i32);
        assert!(response.message.starts_with("gomon is still starting"), "{}", response.message);
    }
}
