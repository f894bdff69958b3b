//! The metric model both encoders read: families of samples whose names are only
//! known at run time (they come from WASM probes).
//!
//! Names in the model are *family* names, without the suffixes the wire formats add:
//! a counter `gomon_cpu_seconds` is exposed as `gomon_cpu_seconds_total`, an info
//! family `gomon_build` as `gomon_build_info`. The constructors strip a trailing
//! `_total` (counters) or `_info` (info families) so that callers may pass either
//! form; [`crate::validate()`] rejects a family built by hand that still carries one.

/// One metric family: a name, its metadata and the samples (one per label set).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name, without `_total` (counters) or `_info` (info families).
    pub name: String,
    /// Help text, unescaped; the encoders escape it. Empty means "no HELP line".
    pub help: String,
    /// Metric type.
    pub kind: Kind,
    /// OpenMetrics unit (for example `seconds`); empty for none. If set, the name
    /// must end in `_<unit>`. Text 0.0.4 has no UNIT line and ignores it.
    pub unit: String,
    /// Label names shared by every sample of the family, in exposition order.
    pub label_names: Vec<String>,
    /// The samples, one per distinct label set, in exposition order.
    pub samples: Vec<Sample>,
}

/// The metric types the model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Monotonic total; exposed as `<name>_total`.
    Counter,
    /// A value that may go up and down.
    Gauge,
    /// Cumulative buckets plus sum and count.
    Histogram,
    /// Textual information carried in labels; value always 1. Exposed as
    /// `<name>_info` (OpenMetrics type `info`, text 0.0.4 type `gauge`).
    Info,
    /// Type not known (OpenMetrics `unknown`, text 0.0.4 `untyped`).
    Unknown,
}

/// One metric of a family: its label values (parallel to
/// [`MetricFamily::label_names`]) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label values, one per label name of the family, unescaped.
    pub label_values: Vec<String>,
    /// The value.
    pub value: Value,
}

/// A sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The value of a counter, gauge, info (always 1) or unknown sample.
    Scalar(f64),
    /// A histogram.
    Histogram {
        /// `(upper bound, cumulative count)` in increasing bound order. The
        /// `+Inf` bucket may be omitted: the encoders then emit it with `count`.
        buckets: Vec<(f64, u64)>,
        /// Sum of all observations.
        sum: f64,
        /// Number of observations (the `+Inf` bucket).
        count: u64,
    },
}

impl Value {
    /// A histogram value; see [`Value::Histogram`].
    pub fn histogram(buckets: impl Into<Vec<(f64, u64)>>, sum: f64, count: u64) -> Self {
        Value::Histogram { buckets: buckets.into(), sum, count }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Scalar(v)
    }
}

impl Sample {
    /// A sample with the given label values.
    pub fn new<I, S>(label_values: I, value: impl Into<Value>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Sample { label_values: label_values.into_iter().map(Into::into).collect(), value: value.into() }
    }
}

impl Kind {
    /// The suffix the model leaves out of family names of this kind (and that the
    /// constructors strip), if any.
    pub fn stripped_suffix(self) -> Option<&'static str> {
        match self {
            Kind::Counter => Some("_total"),
            Kind::Info => Some("_info"),
            Kind::Gauge | Kind::Histogram | Kind::Unknown => None,
        }
    }
}

impl std::fmt::Display for Kind {
    /// The OpenMetrics type name: `counter`, `gauge`, `histogram`, `info`, `unknown`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Info => "info",
            Kind::Unknown => "unknown",
        })
    }
}

impl MetricFamily {
    /// A family with no labels and no samples.
    ///
    /// A counter name ending in `_total` and an info name ending in `_info` lose
    /// that suffix (once): `MetricFamily::new("x_total", "", Kind::Counter)` has
    /// the name `x` and is exposed as `x_total`.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind) -> Self {
        let mut name = name.into();
        if let Some(suffix) = kind.stripped_suffix()
            && let Some(base) = name.strip_suffix(suffix)
        {
            name.truncate(base.len());
        }
        MetricFamily {
            name,
            help: help.into(),
            kind,
            unit: String::new(),
            label_names: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// A counter family; a trailing `_total` in `name` is stripped.
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Counter)
    }

    /// A gauge family.
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Gauge)
    }

    /// A histogram family.
    pub fn histogram(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Histogram)
    }

    /// An info family; a trailing `_info` in `name` is stripped.
    pub fn info(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Info)
    }

    /// A family of unknown type.
    pub fn unknown(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Unknown)
    }

    /// Sets the OpenMetrics unit (the name must end in `_<unit>`).
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Sets the label names: `.labels(["cpu", "mode"])`, `.labels(&["probe"])`.
    pub fn labels<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.label_names = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        self
    }

    /// Appends a sample with these label values (one per label name) and value.
    pub fn push(&mut self, label_values: &[&str], value: impl Into<Value>) {
        self.samples.push(Sample::new(label_values.iter().copied(), value));
    }

    /// Appends a histogram sample; see [`Value::Histogram`].
    pub fn push_histogram(&mut self, label_values: &[&str], buckets: impl Into<Vec<(f64, u64)>>, sum: f64, count: u64) {
        self.push(label_values, Value::histogram(buckets, sum, count));
    }

    /// [`MetricFamily::push`] for chaining: `.with_sample(&["0", "user"], 1.5)`.
    pub fn with_sample(mut self, label_values: &[&str], value: impl Into<Value>) -> Self {
        self.push(label_values, value);
        self
    }
}
