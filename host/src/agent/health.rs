//! The agent's health checks, as `/api/health` and Grafana's "Save & test" show them:
//!
//! | check | fails when |
//! |---|---|
//! | `sampler` | no sample for two intervals (plus 5 s) — "starting" (not failed) until the first sample, for as long as a first sample may take |
//! | `probes` | no probe is loaded, one is failing or backed off, or no graph probe works |
//! | `observations` | the pipeline could not start (its reason), or an explicit Loki does not answer |
//! | `loki` | a configured Loki's `/ready` does not answer (no check without a URL) |
//! | `privileges` | never: it says what missing capabilities cost |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gomon_sink_loki::{LokiConfig, LokiTarget};

use super::source::Check;
use crate::collect::Exposition;
use crate::observations::OutletState;
use crate::runtime::ProbeSummary;

/// How long a health check waits for the first sample before it answers "starting".
pub const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(5);
/// How long after start a missing first sample is "starting" rather than failed.
const STARTING_GRACE: Duration = Duration::from_secs(60);

/// The sampler: starting, stuck, or sampling.
pub fn sampler(exposition: &Exposition, interval: Duration, since_start: Duration) -> Check {
    let stale_after = interval * 2 + Duration::from_secs(5);
    match exposition.taken {
        None if since_start < STARTING_GRACE.max(stale_after) => Check::starting(
            "sampler",
            format!("no sample yet: the collector is starting ({:.0} s since start)", since_start.as_secs_f64()),
        ),
        None => Check::fail(
            "sampler",
            format!("no sample in the {:.0} s since start: the collector is stuck", since_start.as_secs_f64()),
        ),
        Some(taken) if taken.elapsed() > stale_after => Check::fail(
            "sampler",
            format!(
                "the last sample is {:.0} s old, though sampling runs every {} s: the sampler is stuck",
                taken.elapsed().as_secs_f64(),
                interval.as_secs_f64()
            ),
        ),
        Some(taken) => Check::pass(
            "sampler",
            format!(
                "sampling every {} s, last sample {:.1} s ago ({} families)",
                interval.as_secs_f64(),
                taken.elapsed().as_secs_f64(),
                exposition.families.len()
            ),
        ),
    }
}

/// The probes of the latest cycle; "starting" before the first.
pub fn probes(exposition: &Exposition) -> Check {
    if exposition.taken.is_none() {
        return Check::starting("probes", "no cycle has run yet");
    }
    probes_check(&exposition.probes)
}

/// Where observations go, or why they do not.
pub fn observations(state: &Result<Arc<Mutex<OutletState>>, String>) -> Check {
    match state {
        Err(why) => Check::fail("observations", format!("observations are off: {why}")),
        Ok(state) => {
            let state = state.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if state.failing {
                Check::fail("observations", state.message)
            } else {
                Check::pass("observations", state.message)
            }
        }
    }
}

/// An explicitly configured Loki answers `/ready`; `None` without one (the local Loki
/// the default outlet follows is reported by [`observations`]).
pub async fn loki(config: &LokiConfig) -> Option<Check> {
    let LokiTarget::Explicit(url) = config.target() else { return None };
    Some(match crate::observations::ready::ready(config, url).await {
        Ok(message) => Check::pass("loki", message),
        Err(message) => Check::fail("loki", message),
    })
}

/// What missing privileges cost (never a failure).
pub fn privileges(degraded: Option<String>) -> Check {
    match degraded {
        None => Check::pass("privileges", "the collector can see every process"),
        Some(degraded) => Check::pass("privileges", degraded),
    }
}

/// Probes loaded; the failing ones named. Fails without any probe or without a working
/// graph probe (the node graph needs it).
fn probes_check(probes: &[ProbeSummary]) -> Check {
    if probes.is_empty() {
        return Check::fail("probes", "no probe is loaded");
    }
    let failing: Vec<String> = probes
        .iter()
        .filter(|p| p.state != "ok")
        .map(|p| match &p.last_error {
            Some(error) => format!("{} ({}: {error})", p.name, p.state),
            None => format!("{} ({})", p.name, p.state),
        })
        .collect();
    let names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    let graph_ok = probes.iter().any(|p| p.name == "graph" && p.state == "ok")
        || probes.iter().any(|p| p.needs.iter().any(|n| n == "connections") && p.state == "ok");
    let loaded = format!("{} probes loaded ({})", probes.len(), names.join(", "));
    match (failing.is_empty(), graph_ok) {
        (true, true) => Check::pass("probes", loaded),
        (true, false) => Check::fail("probes", format!("{loaded}, but no graph probe: the node graph cannot be drawn")),
        (false, _) => Check::fail("probes", format!("{loaded}; failing: {}", failing.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn probe(name: &str, state: &str, needs: &[&str]) -> ProbeSummary {
        ProbeSummary {
            name: name.into(),
            version: "0.1.0".into(),
            description: String::new(),
            source: "built-in".into(),
            state: state.into(),
            needs: needs.iter().map(|n| (*n).to_owned()).collect(),
            grants: Vec::new(),
            calls: 1,
            errors: Default::default(),
            last_error: (state != "ok").then(|| "trap: unreachable".to_owned()),
            mean_call_seconds: 0.0,
            memory_bytes: 0,
            series: 0,
            load_seconds: 0.0,
            cached: false,
        }
    }

    #[test]
    fn the_probes_check_names_failing_probes_and_a_missing_graph() {
        assert!(!probes_check(&[]).ok);
        let good = probes_check(&[probe("system", "ok", &[]), probe("graph", "ok", &["connections"])]);
        assert!(good.ok, "{good:?}");
        assert!(good.message.contains("2 probes loaded (system, graph)"));
        let bad = probes_check(&[probe("system", "failing", &[]), probe("graph", "ok", &["connections"])]);
        assert!(!bad.ok && bad.message.contains("system (failing: trap: unreachable)"), "{bad:?}");
        let no_graph = probes_check(&[probe("system", "ok", &[])]);
        assert!(!no_graph.ok && no_graph.message.contains("no graph probe"), "{no_graph:?}");
    }

    #[test]
    fn the_sampler_is_starting_then_stuck_then_sampling() {
        let interval = Duration::from_secs(1);
        let none = Exposition::default();
        let starting = sampler(&none, interval, Duration::from_secs(2));
        assert!(!starting.ok && starting.starting, "{starting:?}");
        let stuck = sampler(&none, interval, Duration::from_secs(600));
        assert!(!stuck.ok && !stuck.starting, "{stuck:?}");
        let fresh = Exposition { taken: Some(Instant::now()), ..Default::default() };
        assert!(sampler(&fresh, interval, Duration::from_secs(600)).ok);
        assert!(probes(&none).starting);
    }
}
