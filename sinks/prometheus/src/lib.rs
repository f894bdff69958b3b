//! Prometheus text 0.0.4 and OpenMetrics 1.0 encoders for gomon's metric families.
//!
//! One model ([`MetricFamily`]), whose family names are known only at run time
//! (they come from WASM probes); two exact encoders ([`encode_text`],
//! [`encode_openmetrics`], or [`encode`] with a [`Format`]); a validator the host
//! runs on untrusted probe output ([`validate()`], [`retain_valid`]); and content
//! negotiation ([`Format::from_accept`], [`wants_gzip`]). No dependencies beyond
//! `thiserror`; encoding appends to a `Vec<u8>` without allocating per sample.
//!
//! ```
//! use gomon_sink_prometheus::{encode_openmetrics, encode_text, validate_all, MetricFamily, Value};
//!
//! let families = [
//!     // `_total` is stripped here and added back by the encoders.
//!     MetricFamily::counter("gomon_cpu_seconds_total", "CPU time spent, by mode.")
//!         .unit("seconds")
//!         .labels(["cpu", "mode"])
//!         .with_sample(&["0", "user"], 1234.5)
//!         .with_sample(&["0", "system"], 56.0),
//!     MetricFamily::gauge("gomon_memory_total_bytes", "Physical memory.")
//!         .unit("bytes")
//!         .with_sample(&[], 16709685248.0),
//!     MetricFamily::histogram("gomon_probe_call_seconds", "Probe call duration.")
//!         .unit("seconds")
//!         .labels(["probe"])
//!         .with_sample(&["net"], Value::histogram([(0.001, 3), (0.01, 4), (1.0, 5)], 0.0125, 5)),
//!     MetricFamily::info("gomon_build", "Build information.")
//!         .labels(["version"])
//!         .with_sample(&["0.1.0"], 1.0),
//! ];
//! validate_all(&families).unwrap();
//!
//! let mut text = Vec::new();
//! encode_text(&families, &mut text);
//! assert_eq!(String::from_utf8(text).unwrap(), r#"# HELP gomon_cpu_seconds_total CPU time spent, by mode.
//! ## TYPE gomon_cpu_seconds_total counter
//! gomon_cpu_seconds_total{cpu="0",mode="user"} 1234.5
//! gomon_cpu_seconds_total{cpu="0",mode="system"} 56
//! ## HELP gomon_memory_total_bytes Physical memory.
//! ## TYPE gomon_memory_total_bytes gauge
//! gomon_memory_total_bytes 16709685248
//! ## HELP gomon_probe_call_seconds Probe call duration.
//! ## TYPE gomon_probe_call_seconds histogram
//! gomon_probe_call_seconds_bucket{probe="net",le="0.001"} 3
//! gomon_probe_call_seconds_bucket{probe="net",le="0.01"} 4
//! gomon_probe_call_seconds_bucket{probe="net",le="1"} 5
//! gomon_probe_call_seconds_bucket{probe="net",le="+Inf"} 5
//! gomon_probe_call_seconds_sum{probe="net"} 0.0125
//! gomon_probe_call_seconds_count{probe="net"} 5
//! ## HELP gomon_build_info Build information.
//! ## TYPE gomon_build_info gauge
//! gomon_build_info{version="0.1.0"} 1
//! "#);
//!
//! let mut om = Vec::new();
//! encode_openmetrics(&families, &mut om);
//! assert_eq!(String::from_utf8(om).unwrap(), r#"# TYPE gomon_cpu_seconds counter
//! ## UNIT gomon_cpu_seconds seconds
//! ## HELP gomon_cpu_seconds CPU time spent, by mode.
//! gomon_cpu_seconds_total{cpu="0",mode="user"} 1234.5
//! gomon_cpu_seconds_total{cpu="0",mode="system"} 56.0
//! ## TYPE gomon_memory_total_bytes gauge
//! ## UNIT gomon_memory_total_bytes bytes
//! ## HELP gomon_memory_total_bytes Physical memory.
//! gomon_memory_total_bytes 16709685248.0
//! ## TYPE gomon_probe_call_seconds histogram
//! ## UNIT gomon_probe_call_seconds seconds
//! ## HELP gomon_probe_call_seconds Probe call duration.
//! gomon_probe_call_seconds_bucket{probe="net",le="0.001"} 3
//! gomon_probe_call_seconds_bucket{probe="net",le="0.01"} 4
//! gomon_probe_call_seconds_bucket{probe="net",le="1.0"} 5
//! gomon_probe_call_seconds_bucket{probe="net",le="+Inf"} 5
//! gomon_probe_call_seconds_sum{probe="net"} 0.0125
//! gomon_probe_call_seconds_count{probe="net"} 5
//! ## TYPE gomon_build info
//! ## HELP gomon_build Build information.
//! gomon_build_info{version="0.1.0"} 1
//! ## EOF
//! "#);
//! ```
//!
//! Serving a scrape:
//!
//! ```
//! use gomon_sink_prometheus::{wants_gzip, Format, MetricFamily};
//!
//! let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
//! let format = Format::from_accept(Some(accept));
//! assert_eq!(format, Format::OpenMetrics);
//! assert_eq!(format.content_type(), "application/openmetrics-text; version=1.0.0; charset=utf-8");
//! assert!(wants_gzip(Some("gzip")));
//!
//! let mut body = Vec::new();
//! let mut up = MetricFamily::gauge("up", "");
//! up.push(&[], 1.0);
//! format.encode(&[up], &mut body);
//! assert_eq!(body, b"# TYPE up gauge\nup 1.0\n# EOF\n");
//! ```
//!
//! The wire details of each format are in the docs of [`text`], [`openmetrics`],
//! [`negotiate`] and [`validate`](mod@validate).

#![deny(missing_docs)]

mod escape;
pub mod model;
pub mod negotiate;
mod number;
pub mod openmetrics;
pub mod text;
pub mod validate;

pub use model::{Kind, MetricFamily, Sample, Value};
pub use negotiate::{Format, encode, wants_gzip};
pub use openmetrics::encode_openmetrics;
pub use text::encode_text;
pub use validate::{
    HistogramProblem, InvalidFamily, Problem, is_valid_label_name, is_valid_metric_name, retain_valid, validate,
    validate_all,
};
