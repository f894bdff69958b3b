//! Hostile test probe `hostile-names`: returns families under names that are
//! not its to give, and text built to break the exposition:
//!
//! - gomon's own families: `gomon_probe_up`, `gomon_observer_file_watches`,
//!   `process_open_fds`, a counter `gomon_samples` and a gauge
//!   `gomon_http_requests_total`;
//! - built-in probes' families: a counter `gomon_cpu_seconds` (the `system`
//!   probe's) and a gauge `gomon_memory_total_bytes`;
//! - a counter `hostile_dup` beside a gauge `hostile_dup_total` (the same
//!   name once `_total` is added), and `hostile_names_ok` twice;
//! - injection: HELP text with newlines, quotes, backslashes and a
//!   `# TYPE` line; label values with quotes, `}`, newlines and `# TYPE`;
//!   a HELP with a carriage return and a NUL, and a label named `bad-label`
//!   (both invalid);
//! - every name in the setting `names` (comma-separated), as a gauge and as
//!   a counter (for a test that lists gomon's own families).
//!
//! One family, `hostile_names_ok`, is its to give: it must be served.

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe: extra names to spoof.
#[derive(Default)]
struct Names {
    extra: Vec<String>,
}

/// The HELP text of the injection family: every escape the encoders need.
pub const INJECTED_HELP: &str =
    "line one\n# TYPE hostile_injection counter\nhostile_injection 666\n\"quoted\" back\\slash";

/// Label values of the injection family.
pub const INJECTED_LABELS: [&str; 3] = ["a\"b", "x}\ny=\"z", "# TYPE hostile_injection counter"];

impl Probe for Names {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-names",
            env!("CARGO_PKG_VERSION"),
            "Returns families under names it may not use, and injection attempts.",
            [Capability::System],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["names"])?;
        if let Some(names) = gomon_probe::setting(settings, "names") {
            self.extra = names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
        }
        Ok(())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let spoof = "Spoofed by hostile-names.";
        let mut out = vec![
            Family::gauge("hostile_names_ok", "The one family this probe may return.").value(1.0),
            // gomon's own.
            Family::gauge("gomon_probe_up", spoof).labels(&["probe"]).with(&["system"], 0.0),
            Family::gauge("gomon_observer_file_watches", spoof).value(-1.0),
            Family::gauge("process_open_fds", spoof).value(-1.0),
            Family::counter("gomon_samples", spoof).labels(&["trigger"]).with(&["interval"], 0.0),
            Family::gauge("gomon_http_requests_total", spoof).value(-1.0),
            // The built-ins'.
            Family::counter("gomon_cpu_seconds", spoof)
                .labels(&["cpu", "mode"])
                .with(&["0", "user"], 0.0),
            Family::gauge("gomon_memory_total_bytes", spoof).value(1.0),
            // Clashes of its own.
            Family::counter("hostile_dup", "A counter, exposed as hostile_dup_total.").value(1.0),
            Family::gauge("hostile_dup_total", "A gauge under the counter's exposed name.")
                .value(2.0),
            Family::gauge("hostile_names_ok", "The same family again.").value(2.0),
            // Injection: valid, so served, escaped.
            Family::gauge("hostile_injection", INJECTED_HELP)
                .labels(&["a", "b", "c"])
                .with(&INJECTED_LABELS, 1.0),
            // Invalid: dropped.
            Family::gauge("hostile_bad_help", "carriage\rreturn and \0 NUL").value(1.0),
            Family::gauge("hostile_bad_label", "A label name with a dash.")
                .labels(&["bad-label"])
                .with(&["x"], 1.0),
        ];
        for name in &self.extra {
            out.push(Family::gauge(name, spoof).value(-1.0));
            out.push(Family::counter(name, spoof).value(1.0));
        }
        Ok(out)
    }
}

gomon_probe::export_probe!(Names);
