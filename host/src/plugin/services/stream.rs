//! `Stream`: live metrics through Grafana Live.
//!
//! Channel paths: `metrics` (the default set: CPU, memory, load) and
//! `metrics/<family>` (one family, e.g. `metrics/gomon_load_average`). `RunStream`
//! sends, as soon as it starts, the newest sample of each series, then every new one as
//! the collector records it (an agent is polled every few seconds). Each packet is one
//! wide frame in data-frame JSON, one row per sampling time:
//!
//! ```text
//! time | gomon_load_average{window="1m"} | gomon_load_average{window="5m"} | …
//! ```
//!
//! `PublishStream` is refused: the channels are read-only.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gomon_sink_grafana::{Field, FieldConfig, Frame, Series, Values, to_json};
use tokio::sync::mpsc;
use tokio_stream::Stream;

use super::super::proto::pluginv2::publish_stream_response::Status as PublishStatus;
use super::super::proto::pluginv2::stream_server::Stream as StreamTrait;
use super::super::proto::pluginv2::subscribe_stream_response::Status as SubscribeStatus;
use super::super::proto::pluginv2::{
    PublishStreamRequest, PublishStreamResponse, RunStreamRequest, StreamPacket, SubscribeStreamRequest,
    SubscribeStreamResponse,
};
use super::Plugin;
use crate::agent::DataSource;
use crate::agent::history::SeriesQuery;
use crate::agent::query::now_ms;

/// How often an agent-backed stream polls.
const AGENT_POLL: Duration = Duration::from_secs(5);
/// How far back the first packet looks for the newest sample.
const FIRST_LOOKBACK_MS: i64 = 10 * 60 * 1000;

/// The `Stream` service.
pub struct StreamService {
    plugin: Arc<Plugin>,
}

impl StreamService {
    /// The service over shared state.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        StreamService { plugin }
    }
}

/// The family a channel path names: `Some(None)` for `metrics`, `Some(Some(f))` for
/// `metrics/f`, `None` for any other path.
pub fn channel(path: &str) -> Option<Option<String>> {
    let path = path.trim_matches('/');
    if path == "metrics" {
        return Some(None);
    }
    let family = path.strip_prefix("metrics/")?;
    let valid = !family.is_empty()
        && family.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        && !family.as_bytes()[0].is_ascii_digit();
    valid.then(|| Some(family.to_owned()))
}

type PacketStream = Pin<Box<dyn Stream<Item = Result<StreamPacket, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl StreamTrait for StreamService {
    type RunStreamStream = PacketStream;

    async fn subscribe_stream(
        &self,
        request: tonic::Request<SubscribeStreamRequest>,
    ) -> Result<tonic::Response<SubscribeStreamResponse>, tonic::Status> {
        let path = request.into_inner().path;
        let status = if channel(&path).is_some() { SubscribeStatus::Ok } else { SubscribeStatus::NotFound };
        tracing::debug!(%path, ?status, "Stream subscription.");
        Ok(tonic::Response::new(SubscribeStreamResponse { status: status as i32, data: Vec::new() }))
    }

    async fn publish_stream(
        &self,
        _request: tonic::Request<PublishStreamRequest>,
    ) -> Result<tonic::Response<PublishStreamResponse>, tonic::Status> {
        Ok(tonic::Response::new(PublishStreamResponse {
            status: PublishStatus::PermissionDenied as i32,
            data: Vec::new(),
        }))
    }

    async fn run_stream(
        &self,
        request: tonic::Request<RunStreamRequest>,
    ) -> Result<tonic::Response<PacketStream>, tonic::Status> {
        let request = request.into_inner();
        let Some(metric) = channel(&request.path) else {
            return Err(tonic::Status::not_found(format!(
                "no stream {:?}: gomon streams metrics and metrics/<family>",
                request.path
            )));
        };
        let (source, _) = self
            .plugin
            .source(request.plugin_context.as_ref())
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let (tx, rx) = mpsc::channel(4);
        let mut stopping = self.plugin.stopping();
        let path = request.path.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = pump(source, metric, tx) => {},
                _ = stopping.wait_for(|stop| *stop) => {},
            }
            tracing::debug!(%path, "Stream ended.");
        });
        Ok(tonic::Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// Sends packets until the receiver goes away.
async fn pump(source: DataSource, metric: Option<String>, tx: mpsc::Sender<Result<StreamPacket, tonic::Status>>) {
    let name = metric.clone().unwrap_or_else(|| "metrics".to_owned());
    let mut updates = match &source {
        DataSource::Local(local) => Some(local.history().subscribe()),
        DataSource::Remote(_) => None,
    };
    let mut last_ms = now_ms() - FIRST_LOOKBACK_MS;
    let mut first = true;
    loop {
        let to_ms = now_ms();
        let query = SeriesQuery { metric: metric.clone(), filter: None, from_ms: last_ms + 1, to_ms, max_points: 0 };
        match source.series(&query).await {
            Ok(series) => {
                let mut frame = wide_frame(&name, &series, last_ms);
                if first {
                    keep_last_row(&mut frame);
                    first = false;
                }
                if frame.rows() > 0 {
                    if let Some(newest) = newest(&series) {
                        last_ms = newest;
                    }
                    match to_json(&frame) {
                        Ok(data) => {
                            if tx.send(Ok(StreamPacket { data })).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("Stream frame not encoded: {e}"),
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(tonic::Status::unavailable(e.to_string()))).await;
                return;
            }
        }
        match &mut updates {
            Some(updates) => {
                tokio::select! {
                    changed = updates.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
            None => {
                tokio::select! {
                    () = tokio::time::sleep(AGENT_POLL) => {},
                    () = tx.closed() => return,
                }
            }
        }
    }
}

fn newest(series: &[Series]) -> Option<i64> {
    series.iter().filter_map(|s| s.points.last().map(|(t, _)| *t)).max()
}

/// One row per sampling time after `after_ms`, one column per series.
pub fn wide_frame(name: &str, series: &[Series], after_ms: i64) -> Frame {
    let times: BTreeSet<i64> =
        series.iter().flat_map(|s| s.points.iter().map(|(t, _)| *t)).filter(|t| *t > after_ms).collect();
    let times: Vec<i64> = times.into_iter().collect();
    let mut frame = Frame::new(name, "")
        .with_field(Field::new("time", Values::Time(times.iter().map(|t| t * 1_000_000).collect())));
    for s in series {
        let values = times.iter().map(|t| s.points.iter().find(|(pt, _)| pt == t).map(|(_, v)| *v)).collect();
        let config = FieldConfig {
            unit: (!s.unit.is_empty()).then(|| s.unit.clone()),
            display_name_from_ds: (!s.display_name.is_empty()).then(|| s.display_name.clone()),
            ..Default::default()
        };
        frame.fields.push(
            Field::new(s.name.clone(), Values::NullableFloat64(values))
                .with_labels(s.labels.clone())
                .with_config(config),
        );
    }
    frame
}

/// Drops every row but the newest.
fn keep_last_row(frame: &mut Frame) {
    let rows = frame.rows();
    if rows <= 1 {
        return;
    }
    for field in &mut frame.fields {
        match &mut field.values {
            Values::Time(v) => {
                v.drain(..rows - 1);
            }
            Values::NullableFloat64(v) => {
                v.drain(..rows - 1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_paths() {
        assert_eq!(channel("metrics"), Some(None));
        assert_eq!(channel("/metrics/gomon_load_average"), Some(Some("gomon_load_average".into())));
        assert_eq!(channel("metrics/"), Some(None), "a trailing slash is the default set");
        assert_eq!(channel("metrics//x"), None);
        assert_eq!(channel("metrics/1bad"), None);
        assert_eq!(channel("metrics/a b"), None);
        assert_eq!(channel("stream"), None);
    }

    #[test]
    fn rows_are_sampling_times_after_the_last_sent() {
        let a = Series { name: "a".into(), points: vec![(1, 1.0), (2, 2.0), (3, 3.0)], ..Default::default() };
        let b = Series { name: "b".into(), points: vec![(2, 20.0)], ..Default::default() };
        let mut frame = wide_frame("metrics", &[a, b], 1);
        assert_eq!(frame.rows(), 2);
        assert_eq!(frame.fields[0].values, Values::Time(vec![2_000_000, 3_000_000]));
        assert_eq!(frame.fields[2].values, Values::NullableFloat64(vec![Some(20.0), None]));
        keep_last_row(&mut frame);
        assert_eq!(frame.fields[1].values, Values::NullableFloat64(vec![Some(3.0)]));
    }
}
