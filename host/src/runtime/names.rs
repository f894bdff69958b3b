//! Who may expose which metric names.
//!
//! Names are the host's to give. A family occupies every name it shows in
//! either exposition format: a gauge `x` occupies `x`; a counter `x`
//! (exposed as `x_total`) occupies `x`, `x_total` and `x_created`. So a
//! counter `dup` and a gauge `dup_total` clash, as OpenMetrics says they do.
//!
//! - gomon's own families are reserved for the host: every name under one
//!   of [`HOST_PREFIXES`] (`gomon_probe_`, `gomon_http_`, `process_`, …);
//! - a built-in probe's families are reserved for it (and for a probe from
//!   the probe directory that replaces it under its name): a built-in takes
//!   a name back from another probe that showed it first;
//! - any other name belongs to the first probe that shows it, for as long
//!   as that probe stays loaded (a reload of the same probe keeps it);
//! - a probe holds at most [`MAX_NAMES_PER_PROBE`] names.
//!
//! A family that breaks these rules is dropped from the exposition — the
//! rest of the probe's output stays — counted in
//! `gomon_probe_families_dropped_total{probe,reason}` and logged once.

use std::collections::{HashMap, HashSet};
use std::fmt;

use gomon_sink_prometheus::{Kind, MetricFamily};

/// Names only the host may expose (prefixes of gomon's own families).
pub const HOST_PREFIXES: &[&str] = &[
    "gomon_probe_",
    "gomon_collector_",
    "gomon_http_",
    "gomon_build_",
    "gomon_sample",
    "gomon_observer_",
    "gomon_observation",
    "gomon_loki_",
    "gomon_capability_",
    // The fleet export (`[fleet] export`): this host's endpoints and addresses.
    "gomon_endpoint_",
    "gomon_host_address_info",
    "process_",
];

/// Most names one probe may hold; a probe that invents new names every
/// cycle would otherwise grow the registry without end.
pub const MAX_NAMES_PER_PROBE: usize = 10_000;

/// Most distinct (probe, family, reason) refusals logged; the rest are
/// only counted.
const MAX_LOGGED: usize = 10_000;

/// Why a family was dropped; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A name of the host's or a built-in probe's.
    Reserved,
    /// A name another probe (or another of this probe's families) holds.
    Taken,
    /// Not a valid family (name, labels, values).
    Invalid,
    /// The probe holds [`MAX_NAMES_PER_PROBE`] names already.
    Limit,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 4] = [Reason::Reserved, Reason::Taken, Reason::Invalid, Reason::Limit];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Reserved => "reserved",
            Reason::Taken => "taken",
            Reason::Invalid => "invalid",
            Reason::Limit => "limit",
        }
    }
}

/// A dropped family: why, and the detail for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `reason` label.
    pub reason: Reason,
    /// One line, naming the family and what holds the name.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone)]
struct Owner {
    probe: String,
    family: String,
    builtin: bool,
}

/// The names every probe holds, kept across cycles.
#[derive(Debug, Default)]
pub struct Names {
    /// Exposed name → holder.
    owners: HashMap<String, Owner>,
    /// Names per probe, for the limit.
    held: HashMap<String, usize>,
    /// Refusals already logged.
    logged: HashSet<(String, String, Reason)>,
}

/// The names a family shows in either format (the sink's rules:
/// `gomon_sink_prometheus::validate_all`).
pub fn exposed_names(family: &MetricFamily) -> Vec<String> {
    let suffixes: &[&str] = match family.kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        Kind::Info => &["", "_info"],
        Kind::Gauge | Kind::Unknown => &[""],
    };
    suffixes.iter().map(|s| format!("{}{s}", family.name)).collect()
}

/// Whether `name` is one of the host's own.
pub fn is_host_name(name: &str) -> bool {
    HOST_PREFIXES.iter().any(|p| name.starts_with(p))
}

impl Names {
    /// An empty registry.
    pub fn new() -> Self {
        Names::default()
    }

    /// Decides whether `probe` (a built-in, or a probe with a built-in's
    /// name, when `builtin`) may expose `family`; on success the names are
    /// its from now on. `this_cycle` holds the family names already exposed
    /// in this cycle (a family shown twice in one exposition is refused).
    pub fn claim(
        &mut self,
        probe: &str,
        builtin: bool,
        family: &MetricFamily,
        this_cycle: &mut HashSet<String>,
    ) -> Result<(), Refusal> {
        let refuse = |reason, message: String| Err(Refusal { reason, message });
        let names = exposed_names(family);
        if let Some(name) = names.iter().find(|n| is_host_name(n)) {
            let prefix = HOST_PREFIXES.iter().find(|p| name.starts_with(*p)).copied().unwrap_or_default();
            return refuse(
                Reason::Reserved,
                format!("family `{}`: names starting with `{prefix}` are gomon's own", family.name),
            );
        }
        let mut new = 0;
        for name in &names {
            match self.owners.get(name) {
                None => new += 1,
                Some(owner) if owner.probe == probe && owner.family == family.name => {}
                Some(owner) if owner.probe == probe => {
                    return refuse(
                        Reason::Taken,
                        format!(
                            "family `{}`: the name `{name}` belongs to its own family `{}`",
                            family.name, owner.family
                        ),
                    );
                }
                // A built-in's names are reserved for it: it takes them back.
                Some(owner) if builtin && !owner.builtin => new += 1,
                Some(owner) => {
                    let (reason, whose) =
                        if owner.builtin { (Reason::Reserved, "the built-in probe") } else { (Reason::Taken, "probe") };
                    return refuse(
                        reason,
                        format!("family `{}`: the name `{name}` belongs to {whose} `{}`", family.name, owner.probe),
                    );
                }
            }
        }
        if this_cycle.contains(&family.name) {
            return refuse(Reason::Taken, format!("family `{}` is returned twice", family.name));
        }
        let held = self.held.get(probe).copied().unwrap_or(0);
        if new > 0 && held + new > MAX_NAMES_PER_PROBE {
            return refuse(
                Reason::Limit,
                format!("family `{}`: the probe already holds {held} names, the most one probe may", family.name),
            );
        }
        for name in names {
            let owner = Owner { probe: probe.to_owned(), family: family.name.clone(), builtin };
            if let Some(previous) = self.owners.insert(name.clone(), owner)
                && previous.probe != probe
            {
                // Taken back by a built-in (counted in `new` above).
                tracing::warn!(
                    probe = %previous.probe,
                    "The built-in probe `{probe}` takes back the name `{name}`; `{}` loses that family.",
                    previous.probe
                );
                if let Some(n) = self.held.get_mut(&previous.probe) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        *self.held.entry(probe.to_owned()).or_default() += new;
        this_cycle.insert(family.name.clone());
        Ok(())
    }

    /// Whether this refusal is the first of its kind for this probe and
    /// family (to log it once).
    pub fn first_time(&mut self, probe: &str, family: &str, reason: Reason) -> bool {
        if self.logged.len() >= MAX_LOGGED {
            return false;
        }
        self.logged.insert((probe.to_owned(), family.to_owned(), reason))
    }

    /// Frees the names of a probe that is gone (not when a probe of the same
    /// name takes its place).
    pub fn release(&mut self, probe: &str) {
        self.owners.retain(|_, owner| owner.probe != probe);
        self.held.remove(probe);
        self.logged.retain(|(p, _, _)| p != probe);
    }

    /// The probe holding an exposed name, if any.
    pub fn owner(&self, name: &str) -> Option<&str> {
        self.owners.get(name).map(|o| o.probe.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(name: &str) -> MetricFamily {
        MetricFamily::gauge(name, "h")
    }

    fn counter(name: &str) -> MetricFamily {
        MetricFamily::counter(name, "h")
    }

    fn claim(names: &mut Names, probe: &str, builtin: bool, family: &MetricFamily) -> Result<(), Reason> {
        names.claim(probe, builtin, family, &mut HashSet::new()).map_err(|r| r.reason)
    }

    #[test]
    fn host_names_are_reserved_for_everyone() {
        let mut names = Names::new();
        for name in ["gomon_probe_up", "gomon_observer_file_watches", "process_open_fds", "gomon_samples"] {
            assert_eq!(claim(&mut names, "p", false, &gauge(name)), Err(Reason::Reserved), "{name}");
            assert_eq!(claim(&mut names, "system", true, &gauge(name)), Err(Reason::Reserved), "{name}");
        }
        // A counter whose exposed `_total` name is the host's.
        assert_eq!(claim(&mut names, "p", false, &counter("gomon_sample")), Err(Reason::Reserved));
        assert_eq!(claim(&mut names, "p", false, &gauge("gomon_cpu_ratio")), Ok(()));
    }

    #[test]
    fn a_counter_and_a_gauge_named_like_its_total_clash() {
        let mut names = Names::new();
        assert_eq!(claim(&mut names, "a", false, &counter("dup")), Ok(()));
        assert_eq!(claim(&mut names, "b", false, &gauge("dup_total")), Err(Reason::Taken));
        // Within one probe too.
        assert_eq!(claim(&mut names, "a", false, &gauge("dup_total")), Err(Reason::Taken));
        assert_eq!(claim(&mut names, "a", false, &gauge("dup_created")), Err(Reason::Taken));
        // The first owner keeps it, cycle after cycle.
        assert_eq!(claim(&mut names, "a", false, &counter("dup")), Ok(()));
        assert_eq!(names.owner("dup_total"), Some("a"));
    }

    #[test]
    fn a_family_shown_twice_in_one_cycle_is_refused() {
        let mut names = Names::new();
        let mut cycle = HashSet::new();
        assert!(names.claim("a", false, &gauge("x"), &mut cycle).is_ok());
        assert_eq!(names.claim("a", false, &gauge("x"), &mut cycle).unwrap_err().reason, Reason::Taken);
    }

    #[test]
    fn built_in_names_are_reserved_and_taken_back() {
        let mut names = Names::new();
        // A file probe shows a built-in's family first (the built-in had no disks yet)...
        assert_eq!(claim(&mut names, "spoof", false, &counter("gomon_disk_reads_completed")), Ok(()));
        // ...the built-in takes it back, and the file probe loses it.
        assert_eq!(claim(&mut names, "io", true, &counter("gomon_disk_reads_completed")), Ok(()));
        assert_eq!(claim(&mut names, "spoof", false, &counter("gomon_disk_reads_completed")), Err(Reason::Reserved));
        assert_eq!(
            claim(&mut names, "spoof", false, &gauge("gomon_disk_reads_completed_total")),
            Err(Reason::Reserved)
        );
        // A probe replacing the built-in under its name keeps its names.
        assert_eq!(claim(&mut names, "io", true, &counter("gomon_disk_reads_completed")), Ok(()));
    }

    #[test]
    fn names_of_a_removed_probe_are_freed() {
        let mut names = Names::new();
        assert_eq!(claim(&mut names, "a", false, &gauge("x")), Ok(()));
        assert_eq!(claim(&mut names, "b", false, &gauge("x")), Err(Reason::Taken));
        names.release("a");
        assert_eq!(claim(&mut names, "b", false, &gauge("x")), Ok(()));
    }

    #[test]
    fn a_probe_holds_a_bounded_number_of_names() {
        let mut names = Names::new();
        for i in 0..MAX_NAMES_PER_PROBE {
            assert_eq!(claim(&mut names, "churn", false, &gauge(&format!("n{i}"))), Ok(()));
        }
        assert_eq!(claim(&mut names, "churn", false, &gauge("one_more")), Err(Reason::Limit));
        assert_eq!(claim(&mut names, "churn", false, &gauge("n0")), Ok(()));
        assert_eq!(claim(&mut names, "other", false, &gauge("one_more")), Ok(()));
    }

    #[test]
    fn refusals_are_logged_once() {
        let mut names = Names::new();
        assert!(names.first_time("a", "x", Reason::Taken));
        assert!(!names.first_time("a", "x", Reason::Taken));
        assert!(names.first_time("a", "x", Reason::Reserved));
    }

    /// Two families clash here exactly when the sink's own check says so.
    #[test]
    fn agrees_with_the_sinks_clash_check() {
        let names = ["x", "x_total", "x_created", "x_count", "x_sum", "x_bucket", "y"];
        let kinds = [Kind::Gauge, Kind::Counter];
        for a in names {
            for b in names {
                for ka in kinds {
                    for kb in kinds {
                        let fa = MetricFamily::new(a, "h", ka);
                        let fb = MetricFamily::new(b, "h", kb);
                        if gomon_sink_prometheus::validate(&fa).is_err()
                            || gomon_sink_prometheus::validate(&fb).is_err()
                        {
                            continue;
                        }
                        let sink = gomon_sink_prometheus::validate_all([&fa, &fb]).is_err();
                        let mut reg = Names::new();
                        let ours =
                            claim(&mut reg, "a", false, &fa).is_err() || claim(&mut reg, "b", false, &fb).is_err();
                        assert_eq!(ours, sink, "{a} ({ka:?}) and {b} ({kb:?})");
                    }
                }
            }
        }
    }
}
