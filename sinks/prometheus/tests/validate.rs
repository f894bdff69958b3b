//! Validation errors, their messages, and robustness against arbitrary input.

use gomon_sink_prometheus::{
    HistogramProblem, Kind, MetricFamily, Problem, Sample, Value, encode_openmetrics, encode_text, retain_valid,
    validate, validate_all,
};

fn message(f: &MetricFamily) -> String {
    validate(f).expect_err("family should be invalid").to_string()
}

fn family(name: &str, kind: Kind) -> MetricFamily {
    MetricFamily {
        name: name.into(),
        help: String::new(),
        kind,
        unit: String::new(),
        label_names: vec![],
        samples: vec![],
    }
}

#[test]
fn valid_families_pass() {
    let families = [
        MetricFamily::counter("a:b_c1", "h").labels(["x", "_y"]).with_sample(&["1", ""], 0.0),
        MetricFamily::gauge("_g", "line\nwith\ttab").with_sample(&[], f64::NAN),
        MetricFamily::histogram("h_seconds", "")
            .unit("seconds")
            .labels(["quantile"])
            .with_sample(&["a"], Value::histogram([(-f64::INFINITY, 0), (0.5, 0), (f64::INFINITY, 3)], 1.0, 3))
            .with_sample(&["b"], Value::histogram([], f64::INFINITY, 0)),
        MetricFamily::info("i", "").labels(["v"]).with_sample(&["1"], 1.0),
        MetricFamily::unknown("u", "").with_sample(&[], f64::NEG_INFINITY),
        MetricFamily::counter("c", "").with_sample(&[], f64::INFINITY),
    ];
    validate_all(&families).unwrap();
}

#[test]
fn names() {
    for bad in ["", "foo bar", "1abc", "a-b", "é", "a\n"] {
        let f = family(bad, Kind::Gauge);
        assert_eq!(validate(&f).unwrap_err().problem, Problem::MetricName, "{bad:?}");
    }
    assert_eq!(message(&family("foo bar", Kind::Gauge)), "family `foo bar`: invalid metric name");
    assert_eq!(message(&family("a\nb", Kind::Gauge)), "family `a\\nb`: invalid metric name");
    assert_eq!(message(&family("__x", Kind::Gauge)), "family `__x`: metric names starting with `__` are reserved");
    assert_eq!(
        message(&family("x_total", Kind::Counter)),
        "family `x_total`: counter family names are given without the `_total` suffix, which the encoders add"
    );
    assert_eq!(
        message(&family("x_info", Kind::Info)),
        "family `x_info`: info family names are given without the `_info` suffix, which the encoders add"
    );
    validate(&family("x_total", Kind::Gauge)).unwrap();
    let long = "é".repeat(300);
    let shown = message(&family(&long, Kind::Gauge));
    assert_eq!(shown, format!("family `{}…`: invalid metric name", "é".repeat(100)));
}

#[test]
fn help() {
    let mut f = family("x", Kind::Gauge);
    f.help = "bell\u{7}".into();
    assert_eq!(message(&f), "family `x`: help text contains a control character (U+0007)");
    f.help = "cr\r".into();
    assert_eq!(validate(&f).unwrap_err().problem, Problem::HelpControlCharacter { code: 13 });
}

#[test]
fn units() {
    let f = MetricFamily::gauge("x_bytes", "").unit("seconds");
    assert_eq!(message(&f), "family `x_bytes`: unit `seconds` is not a suffix `_seconds` of the name");
    let f = MetricFamily::gauge("xbytes", "").unit("bytes");
    assert_eq!(message(&f), "family `xbytes`: unit `bytes` is not a suffix `_bytes` of the name");
    let f = MetricFamily::gauge("bytes", "").unit("bytes");
    assert!(validate(&f).is_err());
    let f = MetricFamily::gauge("x_a b", "").unit("a b");
    assert_eq!(validate(&f).unwrap_err().problem, Problem::MetricName);
    let f = MetricFamily::gauge("x_a", "").unit("a-");
    assert_eq!(message(&f), "family `x_a`: invalid unit `a-`");
    let f = MetricFamily::info("build_x", "").unit("x");
    assert_eq!(message(&f), "family `build_x`: info families cannot have a unit");
    validate(&MetricFamily::counter("cpu_seconds_total", "").unit("seconds")).unwrap();
}

#[test]
fn label_names() {
    let f = MetricFamily::gauge("x", "").labels(["ok", "not ok"]);
    assert_eq!(message(&f), "family `x`: invalid label name `not ok`");
    let f = MetricFamily::gauge("x", "").labels(["a:b"]);
    assert_eq!(message(&f), "family `x`: invalid label name `a:b`");
    let f = MetricFamily::gauge("x", "").labels([""]);
    assert_eq!(message(&f), "family `x`: invalid label name ``");
    let f = MetricFamily::gauge("x", "").labels(["__name__"]);
    assert_eq!(message(&f), "family `x`: label name `__name__` is reserved (starts with `__`)");
    let f = MetricFamily::gauge("x", "").labels(["a", "b", "a"]);
    assert_eq!(message(&f), "family `x`: label name `a` appears twice");
    let f = MetricFamily::histogram("x", "").labels(["le"]);
    assert_eq!(message(&f), "family `x`: histograms cannot have a label named `le`");
    validate(&MetricFamily::gauge("x", "").labels(["le"])).unwrap();
}

#[test]
fn samples() {
    let f = MetricFamily::gauge("x", "")
        .labels(["a", "b"])
        .with_sample(&["1", "2"], 0.0)
        .with_sample(&["1", "3"], 0.0)
        .with_sample(&["2", "2"], 0.0)
        .with_sample(&["1"], 0.0);
    assert_eq!(message(&f), "family `x`: sample 3 has 1 label value, expected 2");
    let f = MetricFamily::gauge("x", "").labels(["a"]).with_sample(&["1", "2"], 0.0);
    assert_eq!(message(&f), "family `x`: sample 0 has 2 label values, expected 1");
    let f = MetricFamily::gauge("x", "").with_sample(&[], 0.0).with_sample(&[], 1.0);
    assert_eq!(message(&f), "family `x`: sample 1 repeats the label values of sample 0");
    let f = MetricFamily::gauge("x", "")
        .labels(["a"])
        .with_sample(&["p"], 0.0)
        .with_sample(&["q"], 0.0)
        .with_sample(&["p"], 1.0);
    assert_eq!(message(&f), "family `x`: sample 2 repeats the label values of sample 0");
}

#[test]
fn values() {
    let f = MetricFamily::gauge("x", "").with_sample(&[], Value::histogram([], 0.0, 0));
    assert_eq!(message(&f), "family `x`: sample 0 has a histogram value in a gauge family");
    let f = MetricFamily::histogram("x", "").with_sample(&[], 1.0);
    assert_eq!(message(&f), "family `x`: sample 0 has a scalar value in a histogram family");
    let f = MetricFamily::counter("x", "").with_sample(&[], -1.0);
    assert_eq!(message(&f), "family `x`: sample 0 has counter value -1; counters must be non-negative numbers");
    let f = MetricFamily::counter("x", "").with_sample(&[], f64::NAN);
    assert_eq!(message(&f), "family `x`: sample 0 has counter value NaN; counters must be non-negative numbers");
    let f = MetricFamily::info("x", "").with_sample(&[], 2.0);
    assert_eq!(message(&f), "family `x`: sample 0 has value 2; info samples must be 1");
}

#[test]
fn histograms() {
    let check = |buckets: &[(f64, u64)], sum: f64, count: u64| {
        let f = MetricFamily::histogram("h", "").with_sample(&[], Value::histogram(buckets, sum, count));
        validate(&f).map_err(|e| (e.to_string(), e.problem))
    };
    let (msg, problem) = check(&[(1.0, 1), (f64::NAN, 2)], 0.0, 2).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: bucket 1 has a NaN upper bound");
    assert_eq!(problem, Problem::Histogram { sample: 0, problem: HistogramProblem::NanBound { bucket: 1 } });
    let (msg, _) = check(&[(1.0, 1), (1.0, 2)], 0.0, 2).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: bucket 1 has upper bound 1, not above the previous 1");
    let (msg, _) = check(&[(1.0, 1), (f64::INFINITY, 2), (5.0, 2)], 0.0, 2).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: bucket 2 has upper bound 5, not above the previous +Inf");
    let (msg, _) = check(&[(1.0, 3), (2.0, 2)], 0.0, 3).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: bucket 1 has count 2, below the previous 3 (counts are cumulative)");
    let (msg, _) = check(&[(1.0, 3), (f64::INFINITY, 4)], 0.0, 5).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: the +Inf bucket has count 4, but the count is 5");
    let (msg, _) = check(&[(1.0, 6)], 0.0, 5).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: the last bucket has count 6, above the count 5");
    let (msg, _) = check(&[(1.0, 1)], f64::NAN, 5).unwrap_err();
    assert_eq!(msg, "family `h`: sample 0: the sum is NaN");
    check(&[(1.0, 1)], -2.0, 5).unwrap();
}

#[test]
fn clashes() {
    let families = [
        MetricFamily::counter("foo", "").with_sample(&[], 1.0),
        MetricFamily::gauge("foo_created", "").with_sample(&[], 1.0),
    ];
    assert_eq!(
        validate_all(&families).unwrap_err().to_string(),
        "family `foo_created`: name `foo_created` clashes with family `foo`"
    );
    let families = [MetricFamily::gauge("x_count", ""), MetricFamily::histogram("x", "")];
    assert_eq!(
        validate_all(&families).unwrap_err().to_string(),
        "family `x`: name `x_count` clashes with family `x_count`"
    );
    let families = [MetricFamily::gauge("x", ""), MetricFamily::counter("x", "")];
    assert_eq!(validate_all(&families).unwrap_err().to_string(), "family `x`: name `x` clashes with family `x`");
    let families = [MetricFamily::info("build", ""), MetricFamily::gauge("build_info", "")];
    assert!(validate_all(&families).is_err());
    let families = [MetricFamily::gauge("a", ""), MetricFamily::gauge("a_total", ""), MetricFamily::gauge("a_sum", "")];
    validate_all(&families).unwrap();
}

#[test]
fn retain_valid_drops_bad_and_clashing_families() {
    let mut families = vec![
        MetricFamily::gauge("ok", ""),
        MetricFamily::gauge("bad name", ""),
        MetricFamily::counter("ok", ""),
        MetricFamily::counter("c", ""),
        MetricFamily::gauge("c_total", ""),
        MetricFamily::gauge("z", ""),
    ];
    let errors = retain_valid(&mut families);
    let kept: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(kept, ["ok", "c", "z"]);
    let dropped: Vec<&str> = errors.iter().map(|e| e.family.as_str()).collect();
    assert_eq!(dropped, ["bad name", "ok", "c_total"]);
}

/// Arbitrary families, valid or not: neither validation nor encoding may panic.
#[test]
fn never_panics() {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let atoms = ["", "a", "_", "__", "le", "quantile", "a b", "\n", "\"", "\\", "é", "_total", "_info", "1", ":", "\0"];
    let floats = [0.0, -0.0, 1.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, f64::MAX, 0.5];
    let kinds = [Kind::Counter, Kind::Gauge, Kind::Histogram, Kind::Info, Kind::Unknown];
    let pick_str = |next: &mut dyn FnMut() -> u64| {
        let n = next() % 3;
        (0..n).map(|_| atoms[(next() % atoms.len() as u64) as usize]).collect::<String>()
    };
    let mut valid = 0;
    for _ in 0..5_000 {
        let mut f = MetricFamily {
            name: pick_str(&mut next),
            help: pick_str(&mut next),
            kind: kinds[(next() % 5) as usize],
            unit: if next() % 4 == 0 { pick_str(&mut next) } else { String::new() },
            label_names: (0..next() % 3).map(|_| pick_str(&mut next)).collect(),
            samples: vec![],
        };
        for _ in 0..next() % 4 {
            let label_values = (0..next() % 4).map(|_| pick_str(&mut next)).collect();
            let value = if next() % 2 == 0 {
                Value::Scalar(floats[(next() % floats.len() as u64) as usize])
            } else {
                let buckets = (0..next() % 4)
                    .map(|_| (floats[(next() % floats.len() as u64) as usize], next() % 5))
                    .collect::<Vec<_>>();
                Value::histogram(buckets, floats[(next() % floats.len() as u64) as usize], next() % 5)
            };
            f.samples.push(Sample { label_values, value });
        }
        let ok = validate(&f).is_ok();
        valid += usize::from(ok);
        let mut families = vec![f];
        let mut out = Vec::new();
        encode_text(&families, &mut out);
        encode_openmetrics(&families, &mut out);
        let _ = retain_valid(&mut families);
        let _ = validate_all(&families);
        assert!(String::from_utf8(out).is_ok());
    }
    assert!(valid > 0, "the generator should produce some valid families");
}
