//! Builders for [`MetricFamily`], so a probe's families read like a table.
//!
//! ```
//! use gomon_probe::Family;
//!
//! let mut cpu = Family::counter("gomon_cpu_seconds", "Seconds the CPUs spent in each mode.")
//!     .labels(&["cpu", "mode"]);
//! cpu.push(&["0", "user"], 1.5);
//! cpu.push(&["0", "idle"], 98.0);
//! assert_eq!(cpu.unit, "seconds"); // from the name's suffix
//!
//! let cpus = Family::gauge("gomon_cpus", "Logical CPUs.").value(1.0);
//! assert_eq!(cpus.series[0].labels.len(), 0);
//! ```

use crate::{MetricFamily, MetricKind, Series};

/// Short name for [`MetricFamily`], whose builders are defined here.
pub type Family = MetricFamily;

/// The Prometheus base units a family name may end in; the builders set
/// [`MetricFamily::unit`] from this suffix.
pub const BASE_UNITS: &[&str] =
    &["seconds", "bytes", "ratio", "celsius", "meters", "volts", "amperes", "joules", "grams"];

impl MetricFamily {
    /// A gauge: a value that can go up and down.
    ///
    /// The unit is taken from the name's suffix (`_bytes` → `bytes`, see
    /// [`BASE_UNITS`]); the family has no labels until [`labels`](Self::labels).
    pub fn gauge(name: &str, help: &str) -> Self {
        Self::new(name, help, MetricKind::Gauge)
    }

    /// A counter: a total that only grows (since boot, for kernel counters).
    ///
    /// Give the name without `_total`: the host appends it. The unit is taken
    /// from the name's suffix, as for [`gauge`](Self::gauge).
    pub fn counter(name: &str, help: &str) -> Self {
        Self::new(name, help, MetricKind::Counter)
    }

    fn new(name: &str, help: &str, kind: MetricKind) -> Self {
        Self {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            unit: unit_of(name).to_owned(),
            label_names: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Sets the unit explicitly (the name must end in `_<unit>`); empty for none.
    pub fn unit(mut self, unit: &str) -> Self {
        unit.clone_into(&mut self.unit);
        self
    }

    /// Sets the label names; every series then gives one value per name, in
    /// this order.
    pub fn labels(mut self, names: &[&str]) -> Self {
        self.label_names = names.iter().map(|&n| n.to_owned()).collect();
        self
    }

    /// Adds a series: its label values (in [`labels`](Self::labels) order)
    /// and its value.
    ///
    /// The number of values must match the label names; debug builds check.
    pub fn push(&mut self, labels: &[&str], value: f64) -> &mut Self {
        debug_assert_eq!(
            labels.len(),
            self.label_names.len(),
            "{}: label values {labels:?} for names {:?}",
            self.name,
            self.label_names
        );
        self.series.push(Series { labels: labels.iter().map(|&l| l.to_owned()).collect(), value });
        self
    }

    /// [`push`](Self::push) for chains: adds a series and returns the family.
    pub fn with(mut self, labels: &[&str], value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// Adds the one series of an unlabelled family and returns the family.
    pub fn value(self, value: f64) -> Self {
        self.with(&[], value)
    }

    /// [`value`](Self::value) when there is one; with `None` (a value the
    /// host could not sample: its file was missing or malformed) the family
    /// keeps no series, and a probe leaves such families out.
    pub fn optional(self, value: Option<f64>) -> Self {
        match value {
            Some(value) => self.value(value),
            None => self,
        }
    }
}

/// The base unit a metric name ends with (`gomon_uptime_seconds` →
/// `seconds`), or `""`.
fn unit_of(name: &str) -> &'static str {
    let suffix = name.rsplit_once('_').map_or("", |(_, s)| s);
    BASE_UNITS.iter().copied().find(|&u| u == suffix).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_comes_from_the_suffix() {
        assert_eq!(unit_of("gomon_boot_time_seconds"), "seconds");
        assert_eq!(unit_of("gomon_memory_total_bytes"), "bytes");
        assert_eq!(unit_of("gomon_load_average"), "");
        assert_eq!(unit_of("gomon_filesystem_files"), "");
        assert_eq!(unit_of("seconds"), "");
        assert_eq!(unit_of("gomon_mybytes"), "");
    }

    #[test]
    fn builders_fill_every_field() {
        let f = Family::counter("gomon_disk_read_bytes", "Bytes read.")
            .labels(&["device"])
            .with(&["sda"], 512.0)
            .with(&["sdb"], 0.0);
        assert_eq!(f.kind, MetricKind::Counter);
        assert_eq!(f.unit, "bytes");
        assert_eq!(f.help, "Bytes read.");
        assert_eq!(f.label_names, ["device"]);
        assert_eq!(f.series.len(), 2);
        assert_eq!(f.series[0].labels, ["sda"]);
        assert_eq!(f.series[1].value, 0.0);
    }

    #[test]
    fn unit_can_be_overridden() {
        assert_eq!(Family::gauge("x_ratio", "").unit("").unit, "");
    }

    #[test]
    #[should_panic(expected = "label values")]
    #[cfg(debug_assertions)]
    fn label_arity_is_checked_in_debug_builds() {
        Family::gauge("x", "").labels(&["a", "b"]).with(&["1"], 0.0);
    }
}
