//! Golden strings for each kind in both formats, escaping and number rendering.

use gomon_sink_prometheus::{Format, Kind, MetricFamily, Value, encode_openmetrics, encode_text, validate};

fn text(families: &[MetricFamily]) -> String {
    for f in families {
        validate(f).unwrap();
    }
    let mut out = Vec::new();
    encode_text(families, &mut out);
    String::from_utf8(out).unwrap()
}

fn om(families: &[MetricFamily]) -> String {
    let mut out = Vec::new();
    encode_openmetrics(families, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn counter() {
    let f = MetricFamily::counter("gomon_net_bytes_total", "Bytes moved.")
        .unit("bytes")
        .labels(["dev", "dir"])
        .with_sample(&["eth0", "rx"], 123456789.0)
        .with_sample(&["eth0", "tx"], 0.5);
    assert_eq!(f.name, "gomon_net_bytes");
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP gomon_net_bytes_total Bytes moved.\n\
         # TYPE gomon_net_bytes_total counter\n\
         gomon_net_bytes_total{dev=\"eth0\",dir=\"rx\"} 123456789\n\
         gomon_net_bytes_total{dev=\"eth0\",dir=\"tx\"} 0.5\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE gomon_net_bytes counter\n\
         # UNIT gomon_net_bytes bytes\n\
         # HELP gomon_net_bytes Bytes moved.\n\
         gomon_net_bytes_total{dev=\"eth0\",dir=\"rx\"} 123456789.0\n\
         gomon_net_bytes_total{dev=\"eth0\",dir=\"tx\"} 0.5\n\
         # EOF\n"
    );
}

#[test]
fn gauge() {
    let f = MetricFamily::gauge("gomon_load1", "Load average.").with_sample(&[], 0.42);
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP gomon_load1 Load average.\n# TYPE gomon_load1 gauge\ngomon_load1 0.42\n"
    );
    assert_eq!(om(&[f]), "# TYPE gomon_load1 gauge\n# HELP gomon_load1 Load average.\ngomon_load1 0.42\n# EOF\n");
}

#[test]
fn histogram() {
    let f = MetricFamily::histogram("gomon_scrape_seconds", "Scrape time.")
        .unit("seconds")
        .with_sample(&[], Value::histogram([(0.005, 1), (0.5, 2), (1.0, 2), (10.0, 3), (1e6, 3)], 7.25, 4));
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP gomon_scrape_seconds Scrape time.\n\
         # TYPE gomon_scrape_seconds histogram\n\
         gomon_scrape_seconds_bucket{le=\"0.005\"} 1\n\
         gomon_scrape_seconds_bucket{le=\"0.5\"} 2\n\
         gomon_scrape_seconds_bucket{le=\"1\"} 2\n\
         gomon_scrape_seconds_bucket{le=\"10\"} 3\n\
         gomon_scrape_seconds_bucket{le=\"1e+06\"} 3\n\
         gomon_scrape_seconds_bucket{le=\"+Inf\"} 4\n\
         gomon_scrape_seconds_sum 7.25\n\
         gomon_scrape_seconds_count 4\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE gomon_scrape_seconds histogram\n\
         # UNIT gomon_scrape_seconds seconds\n\
         # HELP gomon_scrape_seconds Scrape time.\n\
         gomon_scrape_seconds_bucket{le=\"0.005\"} 1\n\
         gomon_scrape_seconds_bucket{le=\"0.5\"} 2\n\
         gomon_scrape_seconds_bucket{le=\"1.0\"} 2\n\
         gomon_scrape_seconds_bucket{le=\"10.0\"} 3\n\
         gomon_scrape_seconds_bucket{le=\"1e+06\"} 3\n\
         gomon_scrape_seconds_bucket{le=\"+Inf\"} 4\n\
         gomon_scrape_seconds_sum 7.25\n\
         gomon_scrape_seconds_count 4\n\
         # EOF\n"
    );
}

#[test]
fn histogram_with_caller_inf_bucket_is_not_doubled() {
    let f = MetricFamily::histogram("h", "")
        .labels(["a"])
        .with_sample(&["x"], Value::histogram([(1.0, 1), (f64::INFINITY, 2)], 3.0, 2));
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 3\nh_count{a=\"x\"} 2\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1.0\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 3.0\nh_count{a=\"x\"} 2\n# EOF\n"
    );
}

#[test]
fn histogram_without_buckets_has_only_inf() {
    let f = MetricFamily::histogram("h", "").with_sample(&[], Value::histogram([], 0.0, 0));
    assert_eq!(text(std::slice::from_ref(&f)), "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
    assert_eq!(om(&[f]), "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0.0\nh_count 0\n# EOF\n");
}

/// OpenMetrics forbids `_sum` once a bound is negative; text 0.0.4 keeps it.
#[test]
fn histogram_with_negative_bounds() {
    let f = MetricFamily::histogram("gomon_temp_delta_celsius", "")
        .with_sample(&[], Value::histogram([(-1.0, 1), (0.0, 2), (1.0, 4)], -0.5, 4));
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# TYPE gomon_temp_delta_celsius histogram\n\
         gomon_temp_delta_celsius_bucket{le=\"-1\"} 1\n\
         gomon_temp_delta_celsius_bucket{le=\"0\"} 2\n\
         gomon_temp_delta_celsius_bucket{le=\"1\"} 4\n\
         gomon_temp_delta_celsius_bucket{le=\"+Inf\"} 4\n\
         gomon_temp_delta_celsius_sum -0.5\n\
         gomon_temp_delta_celsius_count 4\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE gomon_temp_delta_celsius histogram\n\
         gomon_temp_delta_celsius_bucket{le=\"-1.0\"} 1\n\
         gomon_temp_delta_celsius_bucket{le=\"0.0\"} 2\n\
         gomon_temp_delta_celsius_bucket{le=\"1.0\"} 4\n\
         gomon_temp_delta_celsius_bucket{le=\"+Inf\"} 4\n\
         # EOF\n"
    );
}

#[test]
fn info() {
    let f = MetricFamily::info("gomon_build_info", "Build.")
        .labels(["version", "rustc"])
        .with_sample(&["0.1.0", "1.95"], 1.0);
    assert_eq!(f.name, "gomon_build");
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP gomon_build_info Build.\n# TYPE gomon_build_info gauge\ngomon_build_info{version=\"0.1.0\",rustc=\"1.95\"} 1\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE gomon_build info\n# HELP gomon_build Build.\ngomon_build_info{version=\"0.1.0\",rustc=\"1.95\"} 1\n# EOF\n"
    );
}

#[test]
fn unknown() {
    let f = MetricFamily::unknown("probe_thing", "From a probe.").with_sample(&[], -3.0);
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP probe_thing From a probe.\n# TYPE probe_thing untyped\nprobe_thing -3\n"
    );
    assert_eq!(om(&[f]), "# TYPE probe_thing unknown\n# HELP probe_thing From a probe.\nprobe_thing -3.0\n# EOF\n");
}

/// Families without samples keep their metadata in both formats; empty help and
/// unit lines are left out.
#[test]
fn empty_family_and_empty_help() {
    let f = MetricFamily::counter("gomon_errors", "Errors.");
    let g = MetricFamily::gauge("g", "");
    assert_eq!(
        text(&[f.clone(), g.clone()]),
        "# HELP gomon_errors_total Errors.\n# TYPE gomon_errors_total counter\n# TYPE g gauge\n"
    );
    assert_eq!(om(&[f, g]), "# TYPE gomon_errors counter\n# HELP gomon_errors Errors.\n# TYPE g gauge\n# EOF\n");
    assert_eq!(text(&[]), "");
    assert_eq!(om(&[]), "# EOF\n");
}

#[test]
fn escaping() {
    let f = MetricFamily::gauge("g", "Path \\ \"quoted\"\nsecond line.")
        .labels(["path", "comm"])
        .with_sample(&["C:\\dir\\", "say \"hi\"\nbye"], 1.0)
        .with_sample(&["tab\there", "ünï\r"], 2.0);
    assert_eq!(
        text(std::slice::from_ref(&f)),
        "# HELP g Path \\\\ \"quoted\"\\nsecond line.\n\
         # TYPE g gauge\n\
         g{path=\"C:\\\\dir\\\\\",comm=\"say \\\"hi\\\"\\nbye\"} 1\n\
         g{path=\"tab\there\",comm=\"ünï\r\"} 2\n"
    );
    assert_eq!(
        om(&[f]),
        "# TYPE g gauge\n\
         # HELP g Path \\\\ \\\"quoted\\\"\\nsecond line.\n\
         g{path=\"C:\\\\dir\\\\\",comm=\"say \\\"hi\\\"\\nbye\"} 1.0\n\
         g{path=\"tab\there\",comm=\"ünï\r\"} 2.0\n\
         # EOF\n"
    );
}

#[test]
fn float_rendering() {
    let values = [
        0.0,
        1.0,
        1024.0,
        16709685248.0,
        -7.0,
        0.1,
        1.0 / 3.0,
        1e21,
        1.5e-7,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut f = MetricFamily::gauge("v", "").labels(["i"]);
    for (i, v) in values.into_iter().enumerate() {
        f.push(&[&i.to_string()], v);
    }
    let want_text =
        ["0", "1", "1024", "16709685248", "-7", "0.1", "0.3333333333333333", "1e+21", "1.5e-07", "NaN", "+Inf", "-Inf"];
    let want_om = [
        "0.0",
        "1.0",
        "1024.0",
        "16709685248.0",
        "-7.0",
        "0.1",
        "0.3333333333333333",
        "1e+21",
        "1.5e-07",
        "NaN",
        "+Inf",
        "-Inf",
    ];
    let mut expected = String::from("# TYPE v gauge\n");
    for (i, s) in want_text.iter().enumerate() {
        expected += &format!("v{{i=\"{i}\"}} {s}\n");
    }
    assert_eq!(text(std::slice::from_ref(&f)), expected);
    let mut expected = String::from("# TYPE v gauge\n");
    for (i, s) in want_om.iter().enumerate() {
        expected += &format!("v{{i=\"{i}\"}} {s}\n");
    }
    expected += "# EOF\n";
    assert_eq!(om(&[f]), expected);
}

#[test]
fn encoders_append() {
    let f = MetricFamily::gauge("g", "").with_sample(&[], 1.0);
    let mut out = b"prefix\n".to_vec();
    encode_text(std::slice::from_ref(&f), &mut out);
    assert_eq!(out, b"prefix\n# TYPE g gauge\ng 1\n");
    let mut out = Vec::new();
    Format::Text.encode(std::slice::from_ref(&f), &mut out);
    Format::OpenMetrics.encode(&[f], &mut out);
    assert_eq!(out, b"# TYPE g gauge\ng 1\n# TYPE g gauge\ng 1.0\n# EOF\n");
}

#[test]
fn constructors_strip_suffix_once_and_only_for_their_kind() {
    assert_eq!(MetricFamily::counter("a_total_total", "").name, "a_total");
    assert_eq!(MetricFamily::counter("a", "").name, "a");
    assert_eq!(MetricFamily::gauge("a_total", "").name, "a_total");
    assert_eq!(MetricFamily::info("a_info", "").name, "a");
    assert_eq!(MetricFamily::new("a_info", "", Kind::Gauge).name, "a_info");
    assert_eq!(MetricFamily::new("x_total", "", Kind::Counter).kind, Kind::Counter);
}
