//! Times encoding 10 000 series in both formats against a baseline of plain
//! `write!` of the same names, labels and numbers (std formatting, no escaping).
//!
//! `cargo run --release -p gomon-sink-prometheus --example encode_bench`
//!
//! The series look like per-process metrics: 5 000 counter samples with fractional
//! seconds and 5 000 gauge samples with integral byte counts, two labels each.
//! Each measurement is the best of several rounds of encoding into a reused buffer,
//! as the scrape handler does.

use std::hint::black_box;
use std::io::Write as _;
use std::time::{Duration, Instant};

use gomon_sink_prometheus::{MetricFamily, encode_openmetrics, encode_text, validate_all};

const SERIES_PER_FAMILY: usize = 5_000;
const ROUNDS: usize = 50;
const REPEAT: usize = 10;

fn families() -> Vec<MetricFamily> {
    let mut cpu = MetricFamily::counter("gomon_process_cpu_seconds", "CPU time by process.")
        .unit("seconds")
        .labels(["pid", "comm"]);
    let mut rss = MetricFamily::gauge("gomon_process_resident_bytes", "Resident memory by process.")
        .unit("bytes")
        .labels(["pid", "comm"]);
    for i in 0..SERIES_PER_FAMILY {
        let pid = (1000 + i * 7).to_string();
        let comm = format!("worker-{}", i % 97);
        cpu.push(&[&pid, &comm], i as f64 * 1.37 + 0.01);
        rss.push(&[&pid, &comm], (4096 * (i * 613 + 17)) as f64);
    }
    vec![cpu, rss]
}

/// The same lines, written with `write!` and std float formatting.
fn baseline(families: &[MetricFamily], out: &mut Vec<u8>) {
    for family in families {
        let suffix = if family.kind == gomon_sink_prometheus::Kind::Counter { "_total" } else { "" };
        for s in &family.samples {
            let value = match s.value {
                gomon_sink_prometheus::Value::Scalar(v) => v,
                _ => 0.0,
            };
            let _ = writeln!(
                out,
                "{}{}{{pid=\"{}\",comm=\"{}\"}} {}",
                family.name, suffix, s.label_values[0], s.label_values[1], value
            );
        }
    }
}

fn best(mut f: impl FnMut(&mut Vec<u8>), out: &mut Vec<u8>) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..REPEAT {
            out.clear();
            f(out);
            black_box(&out);
        }
        best = best.min(start.elapsed() / REPEAT as u32);
    }
    best
}

fn main() {
    let families = families();
    validate_all(&families).expect("bench families are valid");
    let series = (2 * SERIES_PER_FAMILY) as f64;
    let mut out = Vec::with_capacity(1 << 20);

    let base = best(|out| baseline(black_box(&families), out), &mut out);
    let base_len = out.len();
    let text = best(|out| encode_text(black_box(&families), out), &mut out);
    let text_len = out.len();
    let om = best(|out| encode_openmetrics(black_box(&families), out), &mut out);
    let om_len = out.len();
    let validate = best(|_| validate_all(black_box(&families)).unwrap(), &mut out);

    let ns = |d: Duration| d.as_nanos() as f64 / series;
    println!("{} series, best of {ROUNDS}x{REPEAT} runs", series as usize);
    println!("baseline write!  {:7.1} ns/series  {base_len} bytes", ns(base));
    println!("text 0.0.4       {:7.1} ns/series  {text_len} bytes  ({:.2}x baseline)", ns(text), ns(text) / ns(base));
    println!("OpenMetrics 1.0  {:7.1} ns/series  {om_len} bytes  ({:.2}x baseline)", ns(om), ns(om) / ns(base));
    println!("validate_all     {:7.1} ns/series", ns(validate));
}
