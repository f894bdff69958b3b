//! Property tests of probe output validation: arbitrary families never panic
//! validation or the encoders, and whatever validation accepts encodes to text
//! that parses back — with a small parser written here from the format specs,
//! independent of the encoders — to exactly the series that went in, in both
//! formats. When Python's reference parsers are at hand (`prometheus_client`,
//! in the workspace's `.venv`), a batch of accepted families goes through
//! `tests/parse_check.py --compare` too.
//!
//! 256 cases per property (proptest's default); a longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p gomon-sink-prometheus --test validate_props`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gomon_sink_prometheus::{
    Kind, MetricFamily, Sample, Value, encode_openmetrics, encode_text, retain_valid, validate, validate_all,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // cases: 256, or PROPTEST_CASES.
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Counter), Just(Kind::Gauge), Just(Kind::Histogram), Just(Kind::Info), Just(Kind::Unknown)]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(1e16),
        Just(9_999_999_999_999_998.0),
        Just(1e-5),
        any::<f64>(),
        (-1000i32..1000).prop_map(f64::from),
    ]
}

/// Any text, odd characters likely.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,6}",
        Just("__x".to_owned()),
        Just("le".to_owned()),
        Just("x_total".to_owned()),
        Just("x_info".to_owned()),
        Just("a\"b\\c\nd".to_owned()),
        Just("\u{0}\u{7f}\u{85}é€".to_owned()),
        any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        float().prop_map(Value::Scalar),
        (proptest::collection::vec((float(), 0u64..10), 0..5), float(), 0u64..10)
            .prop_map(|(buckets, sum, count)| Value::histogram(buckets, sum, count)),
    ]
}

/// Arbitrary families: mostly invalid.
fn any_family() -> impl Strategy<Value = MetricFamily> {
    (
        text(),
        text(),
        kind(),
        text(),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec((proptest::collection::vec(text(), 0..3), value()), 0..4),
    )
        .prop_map(|(name, help, kind, unit, label_names, samples)| MetricFamily {
            name,
            help,
            kind,
            unit,
            label_names,
            samples: samples.into_iter().map(|(label_values, value)| Sample { label_values, value }).collect(),
        })
}

/// Families built to be valid most of the time (names and shapes right,
/// values and texts anything).
fn likely_valid_family() -> impl Strategy<Value = MetricFamily> {
    let name = "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}";
    let label = "[a-zA-Z][a-zA-Z0-9_]{0,6}";
    (name, any::<String>(), kind(), proptest::collection::vec(label, 0..3), 0usize..4).prop_flat_map(
        |(name, help, kind, label_names, samples)| {
            let n = label_names.len();
            let values = proptest::collection::vec(proptest::collection::vec(any::<String>(), n..=n), samples);
            let scalars = proptest::collection::vec(float(), samples);
            let histograms = proptest::collection::vec(histogram(), samples);
            (Just((name, help, kind, label_names)), values, scalars, histograms).prop_map(
                |((name, help, kind, label_names), values, scalars, histograms)| {
                    let samples = values
                        .into_iter()
                        .zip(scalars.into_iter().zip(histograms))
                        .map(|(label_values, (scalar, histogram))| Sample {
                            label_values,
                            value: match kind {
                                Kind::Histogram => histogram,
                                Kind::Info => Value::Scalar(1.0),
                                Kind::Counter => Value::Scalar(scalar.abs()),
                                _ => Value::Scalar(scalar),
                            },
                        })
                        .collect();
                    let help = help.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect();
                    MetricFamily { name, help, kind, unit: String::new(), label_names, samples }
                },
            )
        },
    )
}

/// A consistent histogram: increasing bounds, cumulative counts.
fn histogram() -> impl Strategy<Value = Value> {
    (
        proptest::collection::btree_set(-1000i32..1000, 0..5),
        proptest::collection::vec(0u64..5, 5),
        any::<bool>(),
        float(),
    )
        .prop_map(|(bounds, steps, inf, sum)| {
            let mut total = 0;
            let mut buckets: Vec<(f64, u64)> = bounds
                .iter()
                .zip(steps)
                .map(|(b, s)| {
                    total += s;
                    (f64::from(*b) / 8.0, total)
                })
                .collect();
            if inf {
                buckets.push((f64::INFINITY, total + 1));
                total += 1;
            }
            Value::histogram(buckets, if sum.is_nan() { 0.0 } else { sum }, total)
        })
}

// ---------------------------------------------------------------------------
// A small parser of both formats, from their specs, for the round trip.

/// (sample name, labels) → value bits (see [`bits`]).
type Series = BTreeMap<(String, Vec<(String, String)>), u64>;

/// A value's bits, with every NaN one NaN and -0 as 0 (the formats write
/// `NaN` and `0` for them).
fn bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// One sample line: `name{a="x",b="y"} value`.
/// A sample line taken apart: name, labels, value.
type ParsedSample = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Result<ParsedSample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(format!("bad sample name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let label = &rest[..eq];
            if !is_name(label) || label.contains(':') {
                return Err(format!("bad label name {label:?}"));
            }
            let mut chars = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        c => return Err(format!("unknown escape \\{c}")),
                    },
                    (_, '\n') => return Err("newline in a label value".into()),
                    (_, c) => value.push(c),
                }
            };
            labels.push((label.to_owned(), value));
            rest = &rest[eq + 1 + 1 + end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let v = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    Ok((name.to_owned(), labels, v))
}

/// Every sample of an exposition; comment lines checked for shape.
fn parse(exposition: &str, openmetrics: bool) -> Result<Series, String> {
    let body = if openmetrics { exposition.strip_suffix("# EOF\n").ok_or("no # EOF at the end")? } else { exposition };
    let mut series = Series::new();
    for line in body.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let (what, rest) = comment.split_once(' ').ok_or("bare comment")?;
            let name = rest.split(' ').next().unwrap_or("");
            if !matches!(what, "HELP" | "TYPE" | "UNIT") || !is_name(name) {
                return Err(format!("bad comment {line:?}"));
            }
            continue;
        }
        let (name, mut labels, value) = parse_sample(line).map_err(|e| format!("{e} in {line:?}"))?;
        // `le` compared as a number: the formats spell it differently.
        for (k, v) in &mut labels {
            if k == "le" {
                *v = match v.as_str() {
                    "+Inf" => "inf".into(),
                    v => v.parse::<f64>().map_err(|e| format!("le {v:?}: {e}"))?.to_string(),
                };
            }
        }
        if series.insert((name, labels), bits(value)).is_some() {
            return Err(format!("series repeated: {line:?}"));
        }
    }
    Ok(series)
}

/// The series a valid family should expose.
fn expected(family: &MetricFamily, openmetrics: bool) -> Series {
    let mut series = Series::new();
    let name = &family.name;
    for sample in &family.samples {
        let labels: Vec<(String, String)> =
            family.label_names.iter().cloned().zip(sample.label_values.iter().cloned()).collect();
        let mut put = |suffix: &str, extra: Option<f64>, v: f64| {
            let mut l = labels.clone();
            if let Some(le) = extra {
                l.push(("le".into(), if le == f64::INFINITY { "inf".into() } else { le.to_string() }));
            }
            series.insert((format!("{name}{suffix}"), l), bits(v));
        };
        match (&sample.value, family.kind) {
            (Value::Scalar(v), Kind::Counter) => put("_total", None, *v),
            (Value::Scalar(_), Kind::Info) => put("_info", None, 1.0),
            (Value::Scalar(v), _) => put("", None, *v),
            (Value::Histogram { buckets, sum, count }, _) => {
                for (bound, n) in buckets {
                    put("_bucket", Some(*bound), *n as f64);
                }
                if buckets.last().is_none_or(|(b, _)| *b != f64::INFINITY) {
                    put("_bucket", Some(f64::INFINITY), *count as f64);
                }
                let negative = *sum < 0.0 || buckets.iter().any(|(b, _)| *b < 0.0);
                if !(openmetrics && negative) {
                    put("_sum", None, *sum);
                    put("_count", None, *count as f64);
                }
            }
        }
    }
    series
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_families_never_panic(families in proptest::collection::vec(any_family(), 0..4)) {
        for f in &families {
            let _ = validate(f);
        }
        let _ = validate_all(&families);
        let mut out = Vec::new();
        encode_text(&families, &mut out);
        encode_openmetrics(&families, &mut out);
        prop_assert!(String::from_utf8(out).is_ok());
        let mut kept = families.clone();
        let errors = retain_valid(&mut kept);
        prop_assert_eq!(kept.len() + errors.len(), families.len());
        prop_assert!(validate_all(&kept).is_ok(), "what retain_valid keeps is valid as a whole");
    }

    #[test]
    fn accepted_families_parse_back_to_what_went_in(families in proptest::collection::vec(likely_valid_family(), 1..4)) {
        let mut families = families;
        retain_valid(&mut families);
        for openmetrics in [false, true] {
            let mut out = Vec::new();
            if openmetrics { encode_openmetrics(&families, &mut out) } else { encode_text(&families, &mut out) }
            let text = String::from_utf8(out).unwrap();
            let got = parse(&text, openmetrics).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let mut want = Series::new();
            for f in &families {
                want.extend(expected(f, openmetrics));
            }
            prop_assert_eq!(got, want, "{}", text);
        }
    }
}

/// The workspace's Python, when it has prometheus_client.
fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [std::env::var_os("GOMON_PYTHON").map(PathBuf::from), Some(root.join(".venv/bin/python"))];
    candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import prometheus_client"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn accepted_families_pass_pythons_parsers() {
    let Some(python) = python() else {
        eprintln!("skipped: no Python with prometheus_client (GOMON_PYTHON, or .venv at the workspace root)");
        return;
    };
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut families = Vec::new();
    for _ in 0..64 {
        families.push(likely_valid_family().new_tree(&mut runner).unwrap().current());
    }
    retain_valid(&mut families);
    assert!(families.len() > 8, "the generator should make valid families");
    let dir = tempfile::tempdir().unwrap();
    let (text, om) = (dir.path().join("x.prom"), dir.path().join("x.om"));
    let mut out = Vec::new();
    encode_text(&families, &mut out);
    std::fs::write(&text, &out).unwrap();
    out.clear();
    encode_openmetrics(&families, &mut out);
    std::fs::write(&om, &out).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/parse_check.py");
    let run = std::process::Command::new(python)
        .arg(script)
        .arg("--text")
        .arg(&text)
        .arg("--openmetrics")
        .arg(&om)
        .arg("--compare")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
}
