//! OpenMetrics 1.0 text format.
//!
//! Per family: `# TYPE`, `# UNIT` (when the unit is non-empty), `# HELP` (when the help
//! text is non-empty) in that order, then the samples, all in model order; the
//! exposition ends with `# EOF`. A family with no samples is still listed with its
//! metadata ("A MetricFamily MAY have zero or more Metrics").
//!
//! ```text
//! # TYPE gomon_cpu_seconds counter
//! # UNIT gomon_cpu_seconds seconds
//! # HELP gomon_cpu_seconds CPU time spent, by mode.
//! gomon_cpu_seconds_total{cpu="0",mode="user"} 1234.5
//! # TYPE gomon_memory_total_bytes gauge
//! # UNIT gomon_memory_total_bytes bytes
//! # HELP gomon_memory_total_bytes Physical memory.
//! gomon_memory_total_bytes 16709685248.0
//! # TYPE gomon_probe_call_seconds histogram
//! # UNIT gomon_probe_call_seconds seconds
//! # HELP gomon_probe_call_seconds Probe call duration.
//! gomon_probe_call_seconds_bucket{probe="net",le="0.001"} 3
//! gomon_probe_call_seconds_bucket{probe="net",le="+Inf"} 5
//! gomon_probe_call_seconds_sum{probe="net"} 0.0125
//! gomon_probe_call_seconds_count{probe="net"} 5
//! # TYPE gomon_build info
//! # HELP gomon_build Build information.
//! gomon_build_info{version="0.1.0"} 1
//! # EOF
//! ```
//!
//! - Family names carry no suffix; counter samples are `<name>_total`, info samples
//!   `<name>_info` with value `1`; unknown families have type `unknown`.
//! - HELP and label values escape `\`, `"` and newline.
//! - Float values always show a point or an exponent (`16709685248.0`, `0.25`,
//!   `1e+21`); counts are integers. `le` values are canonical: Go's `%g` with `.0`
//!   appended when it has neither point nor exponent (`0.005`, `1.0`, `1e+06`, `+Inf`).
//! - A histogram with a negative bucket bound or a negative sum is exposed without
//!   `_sum` (the spec forbids it then, its sum being no longer a counter) and so
//!   also without `_count` (which the reference parser only accepts beside `_sum`).
//!   Its buckets, `+Inf` included, still carry the count.
//! - No `_created` samples and no exemplars: the model has neither.
//!
//! The encoder expects families that passed [`crate::validate()`]. Given others it
//! does not panic, but its output may be invalid; samples whose value does not
//! fit the family kind are skipped.

use crate::escape::{Le, write_label_value, write_labels, write_sample};
use crate::model::{Kind, MetricFamily, Value};
use crate::number::{write_om_value, write_u64};

/// Appends the OpenMetrics 1.0 exposition of `families` (a slice, a `Vec`, or any
/// iterator of `&MetricFamily`) to `out`, `# EOF` included.
pub fn encode_openmetrics<'a>(families: impl IntoIterator<Item = &'a MetricFamily>, out: &mut Vec<u8>) {
    for family in families {
        encode_family(family, out);
    }
    out.extend_from_slice(b"# EOF\n");
}

fn encode_family(family: &MetricFamily, out: &mut Vec<u8>) {
    let (suffix, type_name): (&[u8], &[u8]) = match family.kind {
        Kind::Counter => (b"_total", b"counter"),
        Kind::Gauge => (b"", b"gauge"),
        Kind::Histogram => (b"", b"histogram"),
        Kind::Info => (b"_info", b"info"),
        Kind::Unknown => (b"", b"unknown"),
    };
    let name = family.name.as_bytes();
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name);
    out.push(b' ');
    out.extend_from_slice(type_name);
    out.push(b'\n');
    if !family.unit.is_empty() {
        out.extend_from_slice(b"# UNIT ");
        out.extend_from_slice(name);
        out.push(b' ');
        out.extend_from_slice(family.unit.as_bytes());
        out.push(b'\n');
    }
    if !family.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name);
        out.push(b' ');
        write_label_value(out, &family.help);
        out.push(b'\n');
    }

    let labels = family.label_names.as_slice();
    for sample in &family.samples {
        let values = sample.label_values.as_slice();
        match (&sample.value, family.kind) {
            (Value::Scalar(_), Kind::Info) => {
                out.extend_from_slice(name);
                out.extend_from_slice(suffix);
                write_labels(out, labels, values, None);
                out.extend_from_slice(b" 1\n");
            }
            (Value::Scalar(v), Kind::Counter | Kind::Gauge | Kind::Unknown) => {
                write_sample(out, name, suffix, (labels, values), None, |out| write_om_value(out, *v));
            }
            (Value::Histogram { buckets, sum, count }, Kind::Histogram) => {
                let mut inf_written = false;
                let mut negative_bound = false;
                for &(bound, cumulative) in buckets {
                    write_bucket(out, name, labels, values, bound, cumulative);
                    inf_written = bound == f64::INFINITY;
                    negative_bound |= bound < 0.0;
                }
                if !inf_written {
                    write_bucket(out, name, labels, values, f64::INFINITY, *count);
                }
                // NaN is rejected by validation; leaving it out keeps the output valid.
                if negative_bound || *sum < 0.0 || sum.is_nan() {
                    continue;
                }
                write_sample(out, name, b"_sum", (labels, values), None, |out| write_om_value(out, *sum));
                write_sample(out, name, b"_count", (labels, values), None, |out| write_u64(out, *count));
            }
            // Value does not fit the kind: only an unvalidated family gets here.
            _ => {}
        }
    }
}

fn write_bucket(out: &mut Vec<u8>, name: &[u8], labels: &[String], values: &[String], bound: f64, count: u64) {
    let le = Le { bound, openmetrics: true };
    write_sample(out, name, b"_bucket", (labels, values), Some(le), |out| write_u64(out, count));
}
