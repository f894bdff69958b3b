//! Prometheus text exposition format 0.0.4.
//!
//! Per family: `# HELP` (left out when the help text is empty), `# TYPE`, then the
//! samples, all in model order. A family with no samples still gets its HELP and
//! TYPE lines (Prometheus and `promtool check metrics` accept that).
//!
//! ```text
//! # HELP gomon_cpu_seconds_total CPU time spent, by mode.
//! # TYPE gomon_cpu_seconds_total counter
//! gomon_cpu_seconds_total{cpu="0",mode="user"} 1234.5
//! # HELP gomon_memory_total_bytes Physical memory.
//! # TYPE gomon_memory_total_bytes gauge
//! gomon_memory_total_bytes 16709685248
//! # HELP gomon_probe_call_seconds Probe call duration.
//! # TYPE gomon_probe_call_seconds histogram
//! gomon_probe_call_seconds_bucket{probe="net",le="0.001"} 3
//! gomon_probe_call_seconds_bucket{probe="net",le="+Inf"} 5
//! gomon_probe_call_seconds_sum{probe="net"} 0.0125
//! gomon_probe_call_seconds_count{probe="net"} 5
//! # HELP gomon_build_info Build information.
//! # TYPE gomon_build_info gauge
//! gomon_build_info{version="0.1.0"} 1
//! ```
//!
//! - Counters are exposed under `<name>_total` in HELP, TYPE and samples (promtool
//!   wants the suffix); info families as gauges named `<name>_info` with value `1`;
//!   unknown as `untyped`. Units are not part of 0.0.4 and are left out.
//! - HELP escapes `\` and newline only; label values also escape `"`.
//! - Values: integral values below 10¹⁶ as plain integers, others in the shortest
//!   form that parses back exactly, with an exponent outside 10⁻⁴ ≤ |v| < 10¹⁶
//!   (`1e+21`); `NaN`, `+Inf`, `-Inf`.
//! - `le` is rendered like Go's `strconv.FormatFloat(v, 'g', -1, 64)` (`0.005`, `1`,
//!   `1e+06`), as client_golang does, so bucket series match other Go exporters'.
//!
//! The encoder expects families that passed [`crate::validate()`]. Given others it
//! does not panic, but its output may be invalid; samples whose value does not
//! fit the family kind are skipped.

use crate::escape::{Le, write_labels, write_sample, write_text_help};
use crate::model::{Kind, MetricFamily, Value};
use crate::number::{write_text_value, write_u64};

/// Appends the text 0.0.4 exposition of `families` (a slice, a `Vec`, or any
/// iterator of `&MetricFamily`) to `out`.
pub fn encode_text<'a>(families: impl IntoIterator<Item = &'a MetricFamily>, out: &mut Vec<u8>) {
    for family in families {
        encode_family(family, out);
    }
}

fn encode_family(family: &MetricFamily, out: &mut Vec<u8>) {
    let (suffix, type_name): (&[u8], &[u8]) = match family.kind {
        Kind::Counter => (b"_total", b"counter"),
        Kind::Gauge => (b"", b"gauge"),
        Kind::Histogram => (b"", b"histogram"),
        Kind::Info => (b"_info", b"gauge"),
        Kind::Unknown => (b"", b"untyped"),
    };
    let name = family.name.as_bytes();
    if !family.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name);
        out.extend_from_slice(suffix);
        out.push(b' ');
        write_text_help(out, &family.help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name);
    out.extend_from_slice(suffix);
    out.push(b' ');
    out.extend_from_slice(type_name);
    out.push(b'\n');

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
                write_sample(out, name, suffix, (labels, values), None, |out| write_text_value(out, *v));
            }
            (Value::Histogram { buckets, sum, count }, Kind::Histogram) => {
                let mut inf_written = false;
                for &(bound, cumulative) in buckets {
                    write_bucket(out, name, labels, values, bound, cumulative);
                    inf_written = bound == f64::INFINITY;
                }
                if !inf_written {
                    write_bucket(out, name, labels, values, f64::INFINITY, *count);
                }
                write_sample(out, name, b"_sum", (labels, values), None, |out| write_text_value(out, *sum));
                write_sample(out, name, b"_count", (labels, values), None, |out| write_u64(out, *count));
            }
            // Value does not fit the kind: only an unvalidated family gets here.
            _ => {}
        }
    }
}

fn write_bucket(out: &mut Vec<u8>, name: &[u8], labels: &[String], values: &[String], bound: f64, count: u64) {
    let le = Le { bound, openmetrics: false };
    write_sample(out, name, b"_bucket", (labels, values), Some(le), |out| write_u64(out, count));
}
