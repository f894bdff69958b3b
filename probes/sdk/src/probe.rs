//! The [`Probe`] trait and the adapter that exports it through the contract.

use std::marker::PhantomData;

use crate::bindings::exports::gomon::probe::probe;
use crate::metrics_bindings::exports::gomon::probe::metrics;
use crate::{MetricFamily, ProbeInfo, Settings, Snapshot, System};

/// A probe: describes itself, takes the operator's settings, and turns each
/// snapshot into metric families.
///
/// The host makes one component instance per probe and keeps it between
/// calls, so `self` is where a probe keeps state (the previous snapshot, a
/// parsed setting). The instance is created with [`Default`] on the first
/// call after `describe`. When a call fails (an `Err`, a trap, a timeout) the
/// host may throw the instance away and start a fresh one, so state is a
/// cache, never the only copy of anything.
pub trait Probe: Default + 'static {
    /// What the probe is: name, version, description and the snapshot parts
    /// it needs (see [`ProbeInfo::new`]).
    fn info() -> ProbeInfo;

    /// Takes the operator's settings for this probe (key/value text from the
    /// configuration). Called once, before the first [`measure`](Probe::measure);
    /// an `Err` refuses the load with that message. The default accepts no
    /// settings: it refuses any key, so a typo in the configuration is seen.
    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        check_settings(settings, &[])
    }

    /// Derives metric families from one snapshot. Called once per sampling
    /// cycle. An `Err` fails this cycle for this probe only; the host logs it.
    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String>;
}

/// The snapshot's `system` part, or an error naming the missing grant.
///
/// ```
/// # fn f(now: &gomon_probe::Snapshot) -> Result<(), String> {
/// let system = gomon_probe::require_system(now)?;
/// # let _ = system; Ok(()) }
/// ```
pub fn require_system(now: &Snapshot) -> Result<&System, String> {
    now.system.as_ref().ok_or_else(|| {
        "the snapshot has no `system` part: is the `system` capability granted?".into()
    })
}

/// The value of setting `key`, if the operator gave one (the last one wins).
///
/// ```
/// let settings = vec![("series".to_string(), "10".to_string())];
/// assert_eq!(gomon_probe::setting(&settings, "series"), Some("10"));
/// assert_eq!(gomon_probe::setting(&settings, "other"), None);
/// ```
pub fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The value of setting `key`, or an error naming the setting when the
/// operator gave none.
///
/// ```
/// let settings = vec![("above".to_string(), "2.5".to_string())];
/// assert_eq!(gomon_probe::require_setting(&settings, "above"), Ok("2.5"));
/// assert_eq!(gomon_probe::require_setting(&settings, "metric").unwrap_err(), "setting `metric` is missing");
/// ```
pub fn require_setting<'a>(settings: &'a [(String, String)], key: &str) -> Result<&'a str, String> {
    setting(settings, key).ok_or_else(|| format!("setting `{key}` is missing"))
}

/// Refuses settings whose key is not in `known`, naming the first unknown
/// key and the known ones, so that a typo in the configuration is seen
/// instead of silently ignored.
///
/// ```
/// let settings = vec![("abvoe".to_string(), "2".to_string())];
/// let err = gomon_probe::check_settings(&settings, &["metric", "above"]).unwrap_err();
/// assert_eq!(err, "unknown setting `abvoe`: this probe takes `metric`, `above`");
/// assert!(gomon_probe::check_settings(&[], &["metric"]).is_ok());
/// ```
pub fn check_settings(settings: &[(String, String)], known: &[&str]) -> Result<(), String> {
    let Some((key, _)) = settings.iter().find(|(k, _)| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    if known.is_empty() {
        return Err(format!("unknown setting `{key}`: this probe takes none"));
    }
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    Err(format!("unknown setting `{key}`: this probe takes {}", known.join(", ")))
}

/// Implements the contract's exported interfaces for a [`Probe`]; used by
/// [`export_probe!`](crate::export_probe).
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Probe> probe::Guest for Adapter<P> {
    fn describe() -> ProbeInfo {
        P::info()
    }

    fn configure(settings: Settings) -> Result<(), String> {
        crate::instance::with::<P, _>(|p| Probe::configure(p, &settings))
    }
}

impl<P: Probe> metrics::Guest for Adapter<P> {
    fn measure(now: Snapshot) -> Result<Vec<MetricFamily>, String> {
        crate::instance::with::<P, _>(|p| p.measure(&now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capability, Family};
    use metrics::Guest as _;
    use probe::Guest as _;

    /// Counts calls, to show that state persists between them.
    #[derive(Default)]
    struct Counting {
        calls: u32,
        step: u32,
    }

    impl Probe for Counting {
        fn info() -> ProbeInfo {
            ProbeInfo::new("counting", "1.0.0", "Counts its calls.", [Capability::System])
        }
        fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
            let step = setting(settings, "step").unwrap_or("1");
            self.step = step.parse().map_err(|e| format!("setting `step`: {e}"))?;
            Ok(())
        }
        fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
            self.calls += self.step;
            Ok(vec![Family::counter("calls", "Calls so far.").value(self.calls.into())])
        }
    }

    #[test]
    fn adapter_keeps_state_between_calls() {
        type A = Adapter<Counting>;
        assert_eq!(A::describe().name, "counting");
        assert!(A::configure(vec![("step".into(), "x".into())]).is_err());
        A::configure(vec![("step".into(), "2".into())]).unwrap();
        A::measure(crate::testing::empty_snapshot()).unwrap();
        let second = A::measure(crate::testing::empty_snapshot()).unwrap();
        assert_eq!(second[0].series[0].value, 4.0);
    }

    #[test]
    fn default_configure_refuses_unknown_settings() {
        #[derive(Default)]
        struct Plain;
        impl Probe for Plain {
            fn info() -> ProbeInfo {
                ProbeInfo::new("plain", "1", "", [])
            }
            fn measure(&mut self, _: &Snapshot) -> Result<Vec<MetricFamily>, String> {
                Ok(vec![])
            }
        }
        assert!(Probe::configure(&mut Plain, &[]).is_ok());
        let err = Probe::configure(&mut Plain, &[("speed".into(), "1".into())]).unwrap_err();
        assert!(err.contains("speed"), "{err}");
    }

    #[test]
    fn settings_helpers_name_the_setting() {
        let settings: Vec<(String, String)> =
            vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("a".into(), "3".into())];
        assert_eq!(require_setting(&settings, "a"), Ok("3"));
        assert_eq!(require_setting(&settings, "c").unwrap_err(), "setting `c` is missing");
        assert!(check_settings(&settings, &["a", "b"]).is_ok());
        let err = check_settings(&settings, &["a"]).unwrap_err();
        assert_eq!(err, "unknown setting `b`: this probe takes `a`");
        let err = check_settings(&settings, &[]).unwrap_err();
        assert_eq!(err, "unknown setting `a`: this probe takes none");
    }

    #[test]
    fn require_system_names_the_capability() {
        assert!(require_system(&crate::testing::empty_snapshot()).unwrap_err().contains("system"));
    }
}
