//! An example probe, `threshold-alert`: watches one value of the snapshot's
//! `system` part and reports it only while it is above a threshold.
//!
//! Settings (`[probe.threshold-alert] settings = { … }` in gomon's
//! configuration; every value is text):
//!
//! | key      | required | meaning |
//! |----------|----------|---------|
//! | `metric` | yes      | the value to watch, one of [`METRICS`] |
//! | `above`  | yes      | the threshold, a number; the alert fires while the value is strictly above it |
//! | `name`   | no       | the `alert` label value; default: the value of `metric` |
//!
//! The metrics it can watch:
//!
//! | `metric`            | value |
//! |---------------------|-------|
//! | `load1`             | load average over 1 minute |
//! | `load5`             | load average over 5 minutes |
//! | `load15`            | load average over 15 minutes |
//! | `memory_used_ratio` | 1 − available / total memory |
//! | `swap_used_ratio`   | (total − free) / total swap; 0 without swap |
//! | `procs_running`     | runnable processes |
//! | `procs_blocked`     | processes blocked on I/O |
//! | `cpus`              | logical CPUs online |
//!
//! While the value is above the threshold it emits (both gauges):
//!
//! ```text
//! gomon_threshold_exceeded{alert,metric} 1
//! gomon_threshold_value{alert,metric}    the value
//! ```
//!
//! and nothing at all otherwise, so an alerting rule can be just
//! `gomon_threshold_exceeded == 1` (or the series' presence). `configure`
//! refuses a missing or invalid setting, and unknown keys, with a message
//! naming the setting, so the host refuses the load and logs why.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 --manifest-path probes/Cargo.toml -p example-threshold-alert
//! # → probes/target/wasm32-wasip2/release/example_threshold_alert.wasm
//! ```

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot, System};

/// The values the probe can watch, by their `metric` setting.
pub const METRICS: &[&str] = &[
    "load1",
    "load5",
    "load15",
    "memory_used_ratio",
    "swap_used_ratio",
    "procs_running",
    "procs_blocked",
    "cpus",
];

/// Reads the watched value from a system sample; `None` when the sample
/// cannot give it (no memory reported, or the host could not read the file).
fn read(metric: &str, s: &System) -> Option<f64> {
    let ratio = |part: u64, whole: u64| (whole > 0).then(|| part.min(whole) as f64 / whole as f64);
    match metric {
        "load1" => s.load.as_ref().map(|l| l.one_minute),
        "load5" => s.load.as_ref().map(|l| l.five_minutes),
        "load15" => s.load.as_ref().map(|l| l.fifteen_minutes),
        "memory_used_ratio" => {
            let m = s.memory.as_ref()?;
            ratio(m.total_bytes.saturating_sub(m.available_bytes), m.total_bytes)
        }
        "swap_used_ratio" => {
            let m = s.memory.as_ref()?;
            Some(
                ratio(m.swap_total_bytes.saturating_sub(m.swap_free_bytes), m.swap_total_bytes)
                    .unwrap_or(0.0),
            )
        }
        "procs_running" => s.procs_running.map(f64::from),
        "procs_blocked" => s.procs_blocked.map(f64::from),
        "cpus" => Some(s.cpus.len() as f64),
        _ => None,
    }
}

/// One configured alert.
#[derive(Debug, Clone, PartialEq)]
struct Alert {
    /// The `alert` label value.
    name: String,
    /// One of [`METRICS`].
    metric: &'static str,
    /// The threshold.
    above: f64,
}

impl Alert {
    /// Parses the operator's settings; errors name the setting.
    fn parse(settings: &[(String, String)]) -> Result<Alert, String> {
        gomon_probe::check_settings(settings, &["metric", "above", "name"])?;
        let metric_text = gomon_probe::require_setting(settings, "metric")
            .map_err(|e| format!("{e}: give one of {}", METRICS.join(", ")))?;
        let metric = METRICS.iter().copied().find(|&m| m == metric_text).ok_or_else(|| {
            format!("setting `metric`: {metric_text:?} is not one of {}", METRICS.join(", "))
        })?;
        let above_text = gomon_probe::require_setting(settings, "above")?;
        let above = above_text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|a| a.is_finite())
            .ok_or_else(|| format!("setting `above`: {above_text:?} is not a number"))?;
        let name = gomon_probe::setting(settings, "name").unwrap_or(metric);
        if name.is_empty() {
            return Err(
                "setting `name`: must not be empty (leave it out to use the metric's name)".into(),
            );
        }
        Ok(Alert { name: name.to_owned(), metric, above })
    }

    /// The alert's families for one sample: two while the value is above the
    /// threshold, none otherwise.
    fn families(&self, system: &System) -> Vec<MetricFamily> {
        let Some(value) = read(self.metric, system).filter(|&v| v > self.above) else {
            return Vec::new();
        };
        let labels = [self.name.as_str(), self.metric];
        vec![
            Family::gauge(
                "gomon_threshold_exceeded",
                "1 while the watched value is above the alert's threshold.",
            )
            .labels(&["alert", "metric"])
            .with(&labels, 1.0),
            Family::gauge(
                "gomon_threshold_value",
                "The watched value, while it is above the alert's threshold.",
            )
            .labels(&["alert", "metric"])
            .with(&labels, value),
        ]
    }
}

/// The probe; its state is the parsed settings.
#[derive(Default)]
struct ThresholdAlert {
    alert: Option<Alert>,
}

impl Probe for ThresholdAlert {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "threshold-alert",
            env!("CARGO_PKG_VERSION"),
            "Reports a system value while it is above a configured threshold.",
            [Capability::System],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        self.alert = Some(Alert::parse(settings)?);
        Ok(())
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let alert = self.alert.as_ref().ok_or(
            "not configured: the host did not call `configure`; set `metric` and `above` in [probe.threshold-alert] settings",
        )?;
        Ok(alert.families(gomon_probe::require_system(now)?))
    }
}

gomon_probe::export_probe!(ThresholdAlert);

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn configured(pairs: &[(&str, &str)]) -> ThresholdAlert {
        let mut probe = ThresholdAlert::default();
        probe.configure(&settings(pairs)).unwrap();
        probe
    }

    fn refusal(pairs: &[(&str, &str)]) -> String {
        ThresholdAlert::default().configure(&settings(pairs)).unwrap_err()
    }

    #[test]
    fn parses_settings_with_the_name_defaulting_to_the_metric() {
        let alert = Alert::parse(&settings(&[("metric", "load1"), ("above", "2.0")])).unwrap();
        assert_eq!(alert, Alert { name: "load1".into(), metric: "load1", above: 2.0 });
        let alert =
            Alert::parse(&settings(&[("metric", "cpus"), ("above", " 4 "), ("name", "big")]))
                .unwrap();
        assert_eq!(alert, Alert { name: "big".into(), metric: "cpus", above: 4.0 });
    }

    #[test]
    fn refuses_bad_settings_naming_the_setting() {
        assert_eq!(
            refusal(&[("metric", "load1"), ("above", "x")]),
            r#"setting `above`: "x" is not a number"#
        );
        assert_eq!(
            refusal(&[("metric", "load1"), ("above", "NaN")]),
            r#"setting `above`: "NaN" is not a number"#
        );
        assert_eq!(
            refusal(&[("metric", "load1"), ("above", "inf")]),
            r#"setting `above`: "inf" is not a number"#
        );
        assert_eq!(refusal(&[("metric", "load1")]), "setting `above` is missing");
        let err = refusal(&[("above", "1")]);
        assert!(err.starts_with("setting `metric` is missing: give one of load1, load5"), "{err}");
        let err = refusal(&[("metric", "load2"), ("above", "1")]);
        assert!(err.starts_with(r#"setting `metric`: "load2" is not one of load1, "#), "{err}");
        let err = refusal(&[("metric", "load1"), ("above", "1"), ("abvoe", "2")]);
        assert_eq!(err, "unknown setting `abvoe`: this probe takes `metric`, `above`, `name`");
        let err = refusal(&[("metric", "load1"), ("above", "1"), ("name", "")]);
        assert!(err.starts_with("setting `name`"), "{err}");
        // The host passes no settings when the operator configured none.
        assert!(refusal(&[]).contains("`metric` is missing"));
    }

    #[test]
    fn every_metric_reads_a_value() {
        let system = testing::system();
        for metric in METRICS {
            assert!(read(metric, &system).is_some(), "{metric}");
        }
        // The fixture: load 0.5 / 0.25 / 0.125, 8000 total and 5000 available
        // memory, 4000 swap with 3500 free, 3 running and 1 blocked, 2 CPUs.
        let values: Vec<f64> = METRICS.iter().map(|m| read(m, &system).unwrap()).collect();
        assert_eq!(values, [0.5, 0.25, 0.125, 0.375, 0.125, 3.0, 1.0, 2.0]);
    }

    #[test]
    fn emits_only_while_above_the_threshold() {
        let snapshot = testing::snapshot(); // load1 = 0.5
        let mut quiet = configured(&[("metric", "load1"), ("above", "0.5")]);
        assert!(quiet.measure(&snapshot).unwrap().is_empty(), "equal is not above");

        let mut firing = configured(&[("metric", "load1"), ("above", "0.4"), ("name", "busy")]);
        let f = firing.measure(&snapshot).unwrap();
        testing::check(&f).unwrap();
        assert_eq!(testing::names(&f), ["gomon_threshold_exceeded", "gomon_threshold_value"]);
        assert_eq!(sample(&f, "gomon_threshold_exceeded", &["busy", "load1"]), 1.0);
        assert_eq!(sample(&f, "gomon_threshold_value", &["busy", "load1"]), 0.5);
    }

    #[test]
    fn swap_and_memory_edge_cases() {
        let mut system = testing::system();
        let memory = system.memory.as_mut().unwrap();
        memory.swap_total_bytes = 0;
        memory.swap_free_bytes = 0;
        assert_eq!(read("swap_used_ratio", &system), Some(0.0));
        system.memory.as_mut().unwrap().total_bytes = 0;
        assert_eq!(read("memory_used_ratio", &system), None);
        system.memory = None;
        assert_eq!(read("swap_used_ratio", &system), None);
        system.load = None;
        assert_eq!(read("load1", &system), None);
        let alert = Alert { name: "m".into(), metric: "memory_used_ratio", above: -1.0 };
        assert!(alert.families(&system).is_empty());
    }

    #[test]
    fn measure_needs_configuration_and_the_system_part() {
        let err = ThresholdAlert::default().measure(&testing::snapshot()).unwrap_err();
        assert!(err.contains("not configured"), "{err}");
        let mut probe = configured(&[("metric", "cpus"), ("above", "0")]);
        let err = probe.measure(&testing::empty_snapshot()).unwrap_err();
        assert!(err.contains("system"), "{err}");
    }
}
