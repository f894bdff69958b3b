//! The fleet's endpoint tables from a Prometheus-compatible query API (Prometheus,
//! Thanos, Mimir) that scrapes the agents' `[fleet] export`: two instant queries per
//! view, whatever the fleet's size.
//!
//! ```text
//! GET <url>/api/v1/query?query=up{job="gomon"}
//! GET <url>/api/v1/query?query={__name__=~"gomon_endpoint_listening|gomon_endpoint_connections|
//!                                 gomon_endpoint_dropped_series|gomon_host_address_info|gomon_host_info",job="gomon"}
//! ```
//!
//! Each target is a host, named by its `instance` label. A target whose `up` is 0 did
//! not answer its last scrape (its series are stale and gone from the answer); one that
//! is up without `gomon_endpoint_dropped_series` (always exported with the others)
//! does not export endpoints (`[fleet] export` is off there). Both are reported.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::join::HostTable;
use super::table::{
    ADDRESS_FAMILY, CONNECTIONS_FAMILY, DROPPED_FAMILY, EndpointTable, HostAddress, LISTENING_FAMILY, Listener,
    Outbound, Protocol,
};
use super::{Gathered, Missing};

/// Largest query answer read.
pub const MAX_ANSWER_BYTES: usize = 256 << 20;

/// A client of one query API, for one job.
pub struct Prometheus {
    base: reqwest::Url,
    client: reqwest::Client,
    job: String,
}

/// One sample of an instant vector.
#[derive(Debug, Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
    /// `[unix time, "value"]`.
    value: (f64, String),
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<Sample>,
}

/// A PromQL string literal: `"…"` with `\` and `"` escaped (so no job name can end the
/// matcher early).
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Prometheus {
    /// A client of the query API at `base` (`http(s)://host:9090`, any path prefix kept)
    /// for the targets of `job`. `client` carries the TLS settings and timeouts.
    pub fn new(mut base: reqwest::Url, job: &str, client: reqwest::Client) -> Prometheus {
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Prometheus { base, client, job: job.to_owned() }
    }

    /// The API's URL.
    pub fn url(&self) -> &reqwest::Url {
        &self.base
    }

    /// The job whose targets are the fleet.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// An instant query; the samples and the bytes read.
    async fn query(&self, expr: &str) -> Result<(Vec<Sample>, u64), String> {
        let mut url = self.base.join("api/v1/query").map_err(|e| format!("bad URL: {e}"))?;
        url.query_pairs_mut().append_pair("query", expr);
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{} unreachable: {}", self.base, crate::error_chain(&e)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the answer: {e}"))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let bytes = body.len() as u64;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned();
            format!("answered {status} with something that is not a query answer ({e}): {text}")
        })?;
        if answer.status != "success" {
            return Err(format!("the query {expr} failed ({status}): {}", answer.error.unwrap_or_default()));
        }
        let data = answer.data.ok_or("a successful answer without data")?;
        if data.result_type != "vector" {
            return Err(format!("expected a vector, got a {}", data.result_type));
        }
        Ok((data.result, bytes))
    }

    /// The tables of the job's targets that answered, and those that did not.
    pub async fn gather(&self) -> Result<Gathered, String> {
        let job = string_literal(&self.job);
        let up_query = format!("up{{job={job}}}");
        let families = [LISTENING_FAMILY, CONNECTIONS_FAMILY, DROPPED_FAMILY, ADDRESS_FAMILY, "gomon_host_info"];
        let series_query = format!("{{__name__=~{},job={job}}}", string_literal(&families.join("|")));
        let (up, series) = tokio::join!(self.query(&up_query), self.query(&series_query));
        let (up, up_bytes) = up?;
        let (series, series_bytes) = series?;

        let mut tables: BTreeMap<String, (EndpointTable, bool)> = BTreeMap::new();
        let mut malformed = 0usize;
        for sample in series {
            let Some(instance) = sample.metric.get("instance") else { continue };
            let entry = tables.entry(instance.clone()).or_default();
            if !add_sample(&mut entry.0, &sample) {
                malformed += 1;
            }
            if sample.metric.get("__name__").map(String::as_str) == Some(DROPPED_FAMILY) {
                entry.1 = true;
            }
        }
        let mut gathered = Gathered { requests: 2, bytes: up_bytes + series_bytes, malformed, ..Default::default() };
        let mut instances: Vec<(String, bool)> =
            up.iter().filter_map(|s| Some((s.metric.get("instance")?.clone(), s.value.1.trim() == "1"))).collect();
        instances.sort();
        instances.dedup();
        if instances.is_empty() {
            return Err(format!("Prometheus has no target of job {job}: check [fleet] job and its scrape config"));
        }
        for (instance, is_up) in instances {
            match tables.remove(&instance) {
                _ if !is_up => gathered.missing.push(Missing {
                    host: instance,
                    reason: "down: its last scrape failed (up == 0), its series are stale".into(),
                }),
                Some((table, true)) => gathered.tables.push(HostTable { host: instance, table }),
                _ => gathered.missing.push(Missing {
                    host: instance,
                    reason: "exports no endpoint series: set [fleet] export = true on it".into(),
                }),
            }
        }
        Ok(gathered)
    }

    /// Whether `instance` is a target of the job now (drill-down only ever asks those).
    pub async fn has_instance(&self, instance: &str) -> Result<bool, String> {
        let expr = format!("up{{job={},instance={}}}", string_literal(&self.job), string_literal(instance));
        Ok(!self.query(&expr).await?.0.is_empty())
    }
}

/// Adds one series to its host's table; false when it is malformed.
fn add_sample(table: &mut EndpointTable, sample: &Sample) -> bool {
    let label = |name: &str| sample.metric.get(name).cloned().unwrap_or_default();
    let port = |name: &str| sample.metric.get(name).and_then(|p| p.parse::<u16>().ok());
    let protocol = || sample.metric.get("protocol").and_then(|p| Protocol::parse(p));
    match sample.metric.get("__name__").map(String::as_str) {
        Some(ADDRESS_FAMILY) => {
            table.addresses.push(HostAddress { address: label("address"), interface: label("interface") })
        }
        Some(LISTENING_FAMILY) => {
            let (Some(port), Some(protocol)) = (port("port"), protocol()) else { return false };
            table.listening.push(Listener {
                address: label("address"),
                port,
                protocol,
                process: label("process"),
                pid: None,
            })
        }
        Some(CONNECTIONS_FAMILY) => {
            let (Some(port), Some(protocol)) = (port("remote_port"), protocol()) else { return false };
            let Some(count) = sample.value.1.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0) else {
                return false;
            };
            table.connections.push(Outbound {
                process: label("process"),
                pid: None,
                remote_address: label("remote_address"),
                remote_port: port,
                protocol,
                count: count.round() as u64,
                remote_name: None,
            })
        }
        Some("gomon_host_info") => table.hostname = label("hostname"),
        _ => {}
    }
    true
}

/// A client for the query API: `timeout` per request, TLS as the fleet's settings say.
pub fn client(timeout: Duration, ca_pem: Option<&str>, skip_verify: bool) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout);
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))?;
        builder = builder.tls_certs_only([cert]);
    }
    if skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| format!("cannot build an HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_cannot_break_out_of_the_matcher() {
        assert_eq!(string_literal("gomon"), "\"gomon\"");
        assert_eq!(string_literal(r#"a"}or vector(1)#\"#), r#""a\"}or vector(1)#\\""#);
    }

    #[test]
    fn series_become_table_rows_and_malformed_ones_are_counted() {
        let sample = |json: &str| serde_json::from_str::<Sample>(json).unwrap();
        let mut table = EndpointTable::default();
        assert!(add_sample(
            &mut table,
            &sample(
                r#"{"metric":{"__name__":"gomon_endpoint_listening","address":"0.0.0.0","port":"5432","protocol":"tcp","process":"postgres","instance":"b"},"value":[1,"1"]}"#
            )
        ));
        assert!(add_sample(
            &mut table,
            &sample(
                r#"{"metric":{"__name__":"gomon_endpoint_connections","process":"app","remote_address":"10.0.0.2","remote_port":"5432","protocol":"tcp"},"value":[1,"3"]}"#
            )
        ));
        assert!(add_sample(
            &mut table,
            &sample(
                r#"{"metric":{"__name__":"gomon_host_address_info","address":"10.0.0.2","interface":"eth0"},"value":[1,"1"]}"#
            )
        ));
        assert!(!add_sample(
            &mut table,
            &sample(
                r#"{"metric":{"__name__":"gomon_endpoint_listening","port":"99999","protocol":"tcp"},"value":[1,"1"]}"#
            )
        ));
        assert!(!add_sample(
            &mut table,
            &sample(
                r#"{"metric":{"__name__":"gomon_endpoint_connections","remote_port":"1","protocol":"tcp"},"value":[1,"NaN"]}"#
            )
        ));
        assert_eq!(table.listening[0].port, 5432);
        assert_eq!(table.connections[0].count, 3);
        assert_eq!(table.addresses[0].interface, "eth0");
    }
}
