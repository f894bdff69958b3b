//! Golden files: a realistic exposition with every kind and the edge cases, in both
//! formats. The same files are checked by `promtool check metrics` and by
//! `tests/parse_check.py` (Python's reference parsers).
//!
//! Regenerate after an intended change with
//! `GOMON_UPDATE_GOLDEN=1 cargo test -p gomon-sink-prometheus --test golden`
//! and review the diff.

use std::path::PathBuf;

use gomon_sink_prometheus::{MetricFamily, Value, encode_openmetrics, encode_text, validate_all};

fn families() -> Vec<MetricFamily> {
    let mut cpu = MetricFamily::counter("gomon_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
        .unit("seconds")
        .labels(["cpu", "mode"]);
    for (cpu_index, times) in [[81234.56, 1234.5, 0.0], [80001.0, 999.25, 3.75]].iter().enumerate() {
        for (mode, t) in ["idle", "user", "steal"].iter().zip(times) {
            cpu.push(&[&cpu_index.to_string(), mode], *t);
        }
    }
    vec![
        MetricFamily::info("gomon_build", "Build information of this gomon.")
            .labels(["version", "rustc", "target"])
            .with_sample(&["0.1.0", "1.95.0", "x86_64-unknown-linux-gnu"], 1.0),
        cpu,
        MetricFamily::gauge("gomon_memory_bytes", "Memory by state, from /proc/meminfo.")
            .unit("bytes")
            .labels(["state"])
            .with_sample(&["total"], 16709685248.0)
            .with_sample(&["available"], 9876543210.0)
            .with_sample(&["huge"], 1.5e21),
        MetricFamily::gauge("gomon_load1", "1-minute load average.").with_sample(&[], 0.42),
        MetricFamily::gauge("gomon_sensor_ratio", "Edge values: NaN, infinities, tiny and negative.")
            .labels(["sensor"])
            .with_sample(&["nan"], f64::NAN)
            .with_sample(&["plus_inf"], f64::INFINITY)
            .with_sample(&["minus_inf"], f64::NEG_INFINITY)
            .with_sample(&["tiny"], 1.5e-7)
            .with_sample(&["negative"], -0.25)
            .with_sample(&["third"], 1.0 / 3.0),
        MetricFamily::histogram("gomon_probe_call_seconds", "Time spent in one probe call.")
            .unit("seconds")
            .labels(["probe"])
            .with_sample(
                &["net"],
                Value::histogram([(0.0001, 0), (0.001, 17), (0.01, 20), (0.1, 21), (1.0, 21), (2.5, 21)], 0.0375, 21),
            )
            .with_sample(
                &["proc"],
                Value::histogram([(0.0001, 0), (0.001, 0), (0.01, 3), (f64::INFINITY, 4)], 1.25, 4),
            ),
        MetricFamily::histogram("gomon_read_size_bytes", "Bytes per read() of /proc files.")
            .unit("bytes")
            .with_sample(&[], Value::histogram([(1024.0, 10), (65536.0, 12), (1048576.0, 13)], 123456.0, 13)),
        MetricFamily::histogram("gomon_clock_skew_seconds", "Clock skew against the reference; bounds below zero.")
            .unit("seconds")
            .with_sample(&[], Value::histogram([(-0.5, 1), (0.0, 3), (0.5, 4)], -0.25, 5)),
        MetricFamily::counter("gomon_probe_errors", "Errors by probe; none so far.").labels(["probe"]),
        MetricFamily::unknown("gomon_probe_value", "A value a probe exported without a type.")
            .labels(["probe", "comm", "path"])
            .with_sample(&["custom", "say \"hi\"", "C:\\tmp\\x"], 7.0)
            .with_sample(&["custom", "two\nlines", "ünïcødé ✓"], -1.0),
        MetricFamily::gauge("gomon_escaping_demo", "Help with \\ backslash, \"quotes\"\nand a second line.")
            .with_sample(&[], 1.0),
    ]
}

fn check(file: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(file);
    if std::env::var_os("GOMON_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(expected == actual, "{} differs; got:\n{}", path.display(), String::from_utf8_lossy(actual));
}

#[test]
fn text_golden() {
    let families = families();
    validate_all(&families).unwrap();
    let mut out = Vec::new();
    encode_text(&families, &mut out);
    check("exposition.prom", &out);
}

#[test]
fn openmetrics_golden() {
    let families = families();
    validate_all(&families).unwrap();
    let mut out = Vec::new();
    encode_openmetrics(&families, &mut out);
    check("exposition.om", &out);
}
