//! Validation of families before they are exposed.
//!
//! The host runs families from untrusted probes through [`validate`] (one family) or
//! [`retain_valid`] (a whole scrape, name clashes included) and drops what fails, so
//! that one bad probe cannot make the whole exposition unparseable. Every check is
//! linear in the size of the input and nothing here panics, whatever the input.
//!
//! A family is valid when it can be exposed in both formats:
//! - metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__`; a counter name
//!   does not end in `_total`, an info name not in `_info` (the encoders add them);
//! - label names `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, unique, and no
//!   `le` in a histogram;
//! - unit, if any, made of metric-name characters and the suffix `_<unit>` of the
//!   name; info families have none;
//! - help text without control characters other than newline and tab (newlines are
//!   escaped by the encoders);
//! - every sample has one value per label name and a value of the family's shape,
//!   and no two samples have the same label values;
//! - counter values are not NaN and not negative; info values are 1;
//! - histogram bounds are not NaN and strictly increase, cumulative counts do not
//!   decrease, a `+Inf` bucket equals the count and the last finite bucket does not
//!   exceed it, and the sum is not NaN.
//!
//! Samples are numbered from 0 in messages. `quantile` is not reserved: the model
//! has no summaries.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::model::{Kind, MetricFamily, Value};

/// Why a family cannot be exposed. Its `Display` names the family and the problem:
/// ``family `x`: sample 3 has 1 label value, expected 2``.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("family `{}`: {problem}", Shown(.family))]
pub struct InvalidFamily {
    /// The family's name as given (possibly itself the problem).
    pub family: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a family; see [`InvalidFamily`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name")]
    MetricName,
    /// The name starts with `__`.
    #[error("metric names starting with `__` are reserved")]
    ReservedMetricName,
    /// A counter name ends in `_total` or an info name in `_info`.
    #[error("{kind} family names are given without the `{suffix}` suffix, which the encoders add")]
    SuffixInName {
        /// The family's kind.
        kind: Kind,
        /// The suffix found.
        suffix: &'static str,
    },
    /// The help text contains a control character other than newline and tab.
    #[error("help text contains a control character (U+{code:04X})")]
    HelpControlCharacter {
        /// The offending character's code point.
        code: u32,
    },
    /// The unit contains characters not allowed in metric names.
    #[error("invalid unit `{}`", Shown(.unit))]
    Unit {
        /// The unit.
        unit: String,
    },
    /// The name does not end in `_<unit>`.
    #[error("unit `{}` is not a suffix `_{}` of the name", Shown(.unit), Shown(.unit))]
    UnitNotSuffix {
        /// The unit.
        unit: String,
    },
    /// An info family has a unit.
    #[error("info families cannot have a unit")]
    UnitNotAllowed,
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name `{}`", Shown(.label))]
    LabelName {
        /// The label name.
        label: String,
    },
    /// A label name starts with `__`.
    #[error("label name `{}` is reserved (starts with `__`)", Shown(.label))]
    ReservedLabelName {
        /// The label name.
        label: String,
    },
    /// A histogram has a label named `le`.
    #[error("histograms cannot have a label named `le`")]
    LeLabel,
    /// A label name appears twice.
    #[error("label name `{}` appears twice", Shown(.label))]
    DuplicateLabelName {
        /// The label name.
        label: String,
    },
    /// A sample has the wrong number of label values.
    #[error("sample {sample} has {got} label value{}, expected {expected}", if *.got == 1 { "" } else { "s" })]
    LabelValueCount {
        /// Index of the sample.
        sample: usize,
        /// Label values it has.
        got: usize,
        /// Label names of the family.
        expected: usize,
    },
    /// Two samples have the same label values.
    #[error("sample {sample} repeats the label values of sample {first}")]
    DuplicateLabelSet {
        /// Index of the later sample.
        sample: usize,
        /// Index of the first sample with these label values.
        first: usize,
    },
    /// A histogram family has a scalar sample, or another family a histogram one.
    #[error("sample {sample} has a {} value in a {kind} family", if *.kind == Kind::Histogram { "scalar" } else { "histogram" })]
    ValueShape {
        /// Index of the sample.
        sample: usize,
        /// The family's kind.
        kind: Kind,
    },
    /// A counter value is NaN or negative.
    #[error("sample {sample} has counter value {}; counters must be non-negative numbers", Num(*.value))]
    CounterValue {
        /// Index of the sample.
        sample: usize,
        /// The value.
        value: f64,
    },
    /// An info value is not 1.
    #[error("sample {sample} has value {}; info samples must be 1", Num(*.value))]
    InfoValue {
        /// Index of the sample.
        sample: usize,
        /// The value.
        value: f64,
    },
    /// A histogram sample is inconsistent.
    #[error("sample {sample}: {problem}")]
    Histogram {
        /// Index of the sample.
        sample: usize,
        /// What is inconsistent.
        problem: HistogramProblem,
    },
    /// A name the family's samples or metadata would use is already used by an
    /// earlier family of the same exposition (found by [`validate_all`]).
    #[error("name `{}` clashes with family `{}`", Shown(.name), Shown(.other))]
    NameClash {
        /// The clashing name (for example `foo_total`).
        name: String,
        /// The earlier family.
        other: String,
    },
}

/// An inconsistent histogram sample; see [`Problem::Histogram`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HistogramProblem {
    /// A bucket's upper bound is NaN.
    #[error("bucket {bucket} has a NaN upper bound")]
    NanBound {
        /// Index of the bucket.
        bucket: usize,
    },
    /// Upper bounds do not strictly increase.
    #[error("bucket {bucket} has upper bound {}, not above the previous {}", Num(*.bound), Num(*.previous))]
    BoundsNotIncreasing {
        /// Index of the bucket.
        bucket: usize,
        /// Its upper bound.
        bound: f64,
        /// The previous bucket's upper bound.
        previous: f64,
    },
    /// Cumulative counts decrease.
    #[error("bucket {bucket} has count {count}, below the previous {previous} (counts are cumulative)")]
    CountsDecrease {
        /// Index of the bucket.
        bucket: usize,
        /// Its cumulative count.
        count: u64,
        /// The previous bucket's count.
        previous: u64,
    },
    /// The `+Inf` bucket differs from the count.
    #[error("the +Inf bucket has count {bucket}, but the count is {count}")]
    InfBucket {
        /// The `+Inf` bucket's count.
        bucket: u64,
        /// The histogram's count.
        count: u64,
    },
    /// The last bucket exceeds the count.
    #[error("the last bucket has count {bucket}, above the count {count}")]
    CountBelowBuckets {
        /// The last bucket's count.
        bucket: u64,
        /// The histogram's count.
        count: u64,
    },
    /// The sum is NaN.
    #[error("the sum is NaN")]
    NanSum,
}

/// True when `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// True when `name` matches `[a-zA-Z_][a-zA-Z0-9_]*` (reserved `__` names included).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks one family; see the module docs for the rules.
pub fn validate(family: &MetricFamily) -> Result<(), InvalidFamily> {
    check_family(family).map_err(|problem| InvalidFamily { family: family.name.clone(), problem })
}

/// Checks every family with [`validate`], and that no two families claim the same
/// name: their names, and the sample names their kinds may use (`_total`,
/// `_created`; `_bucket`, `_sum`, `_count`, `_created`; `_info`), are all distinct,
/// as OpenMetrics requires. Returns the first problem found.
pub fn validate_all<'a>(families: impl IntoIterator<Item = &'a MetricFamily>) -> Result<(), InvalidFamily> {
    let mut claimed = HashMap::new();
    for family in families {
        validate(family)?;
        claim_names(family, &mut claimed)?;
    }
    Ok(())
}

/// Removes the families that fail [`validate`] or clash with an earlier family (see
/// [`validate_all`]), keeping the order of the others, and returns why each was
/// removed.
pub fn retain_valid(families: &mut Vec<MetricFamily>) -> Vec<InvalidFamily> {
    let mut claimed = HashMap::new();
    let mut errors = Vec::new();
    families.retain(|family| match validate(family).and_then(|()| claim_names(family, &mut claimed)) {
        Ok(()) => true,
        Err(e) => {
            errors.push(e);
            false
        }
    });
    errors
}

/// Records the names `family` uses in `claimed` (name → family), or reports the
/// first that an earlier family already holds; on error nothing is recorded.
fn claim_names(family: &MetricFamily, claimed: &mut HashMap<String, String>) -> Result<(), InvalidFamily> {
    let suffixes: &[&str] = match family.kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        Kind::Info => &["", "_info"],
        Kind::Gauge | Kind::Unknown => &[""],
    };
    let names: Vec<String> = suffixes.iter().map(|s| format!("{}{s}", family.name)).collect();
    if let Some((name, other)) = names.iter().find_map(|n| claimed.get(n).map(|o| (n, o))) {
        return Err(InvalidFamily {
            family: family.name.clone(),
            problem: Problem::NameClash { name: name.clone(), other: other.clone() },
        });
    }
    for name in names {
        claimed.insert(name, family.name.clone());
    }
    Ok(())
}

fn check_family(family: &MetricFamily) -> Result<(), Problem> {
    let name = family.name.as_str();
    if !is_valid_metric_name(name) {
        return Err(Problem::MetricName);
    }
    if name.starts_with("__") {
        return Err(Problem::ReservedMetricName);
    }
    if let Some(suffix) = family.kind.stripped_suffix()
        && name.ends_with(suffix)
    {
        return Err(Problem::SuffixInName { kind: family.kind, suffix });
    }
    if let Some(c) = family.help.chars().find(|&c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Problem::HelpControlCharacter { code: u32::from(c) });
    }
    check_unit(family)?;
    check_label_names(family)?;
    check_samples(family)
}

fn check_unit(family: &MetricFamily) -> Result<(), Problem> {
    let unit = family.unit.as_str();
    if unit.is_empty() {
        return Ok(());
    }
    if family.kind == Kind::Info {
        return Err(Problem::UnitNotAllowed);
    }
    if !unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
        return Err(Problem::Unit { unit: unit.to_owned() });
    }
    let suffixed = family.name.strip_suffix(unit).is_some_and(|rest| rest.ends_with('_'));
    if !suffixed {
        return Err(Problem::UnitNotSuffix { unit: unit.to_owned() });
    }
    Ok(())
}

fn check_label_names(family: &MetricFamily) -> Result<(), Problem> {
    let mut seen = HashSet::with_capacity(family.label_names.len());
    for label in &family.label_names {
        if !is_valid_label_name(label) {
            return Err(Problem::LabelName { label: label.clone() });
        }
        if label.starts_with("__") {
            return Err(Problem::ReservedLabelName { label: label.clone() });
        }
        if family.kind == Kind::Histogram && label == "le" {
            return Err(Problem::LeLabel);
        }
        if !seen.insert(label.as_str()) {
            return Err(Problem::DuplicateLabelName { label: label.clone() });
        }
    }
    Ok(())
}

fn check_samples(family: &MetricFamily) -> Result<(), Problem> {
    let expected = family.label_names.len();
    let mut label_sets: HashMap<&[String], usize> = HashMap::with_capacity(family.samples.len());
    for (i, sample) in family.samples.iter().enumerate() {
        let got = sample.label_values.len();
        if got != expected {
            return Err(Problem::LabelValueCount { sample: i, got, expected });
        }
        match (&sample.value, family.kind) {
            (Value::Scalar(v), Kind::Counter) if v.is_nan() || *v < 0.0 => {
                return Err(Problem::CounterValue { sample: i, value: *v });
            }
            (Value::Scalar(v), Kind::Info) if *v != 1.0 => {
                return Err(Problem::InfoValue { sample: i, value: *v });
            }
            (Value::Scalar(_), Kind::Counter | Kind::Gauge | Kind::Info | Kind::Unknown) => {}
            (Value::Histogram { buckets, sum, count }, Kind::Histogram) => {
                check_histogram(buckets, *sum, *count).map_err(|problem| Problem::Histogram { sample: i, problem })?;
            }
            (Value::Histogram { .. }, _) | (Value::Scalar(_), Kind::Histogram) => {
                return Err(Problem::ValueShape { sample: i, kind: family.kind });
            }
        }
        if let Some(&first) = label_sets.get(sample.label_values.as_slice()) {
            return Err(Problem::DuplicateLabelSet { sample: i, first });
        }
        label_sets.insert(sample.label_values.as_slice(), i);
    }
    Ok(())
}

fn check_histogram(buckets: &[(f64, u64)], sum: f64, count: u64) -> Result<(), HistogramProblem> {
    let mut previous: Option<(f64, u64)> = None;
    for (bucket, &(bound, cumulative)) in buckets.iter().enumerate() {
        if bound.is_nan() {
            return Err(HistogramProblem::NanBound { bucket });
        }
        if let Some((previous_bound, previous_count)) = previous {
            if bound <= previous_bound {
                return Err(HistogramProblem::BoundsNotIncreasing { bucket, bound, previous: previous_bound });
            }
            if cumulative < previous_count {
                return Err(HistogramProblem::CountsDecrease { bucket, count: cumulative, previous: previous_count });
            }
        }
        previous = Some((bound, cumulative));
    }
    match previous {
        Some((bound, bucket)) if bound == f64::INFINITY && bucket != count => {
            return Err(HistogramProblem::InfBucket { bucket, count });
        }
        Some((_, bucket)) if bucket > count => {
            return Err(HistogramProblem::CountBelowBuckets { bucket, count });
        }
        _ => {}
    }
    if sum.is_nan() {
        return Err(HistogramProblem::NanSum);
    }
    Ok(())
}

/// Shows a float as the expositions do: `NaN`, `+Inf`, `-Inf`, else Rust's shortest.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// Shows an untrusted string in a message: escaped (one line) and cut at 100 chars.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 100;
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX {
                return f.write_str("…");
            }
            write!(f, "{}", c.escape_debug())?;
        }
        Ok(())
    }
}
