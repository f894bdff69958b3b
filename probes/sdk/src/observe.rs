//! The [`ObserveProbe`] trait and the adapter that exports it through the
//! contract's `observe` world.

use std::marker::PhantomData;

use crate::bindings::exports::gomon::probe::probe;
use crate::observe_bindings::exports::gomon::probe::observations;
use crate::{Observation, ProbeInfo, Settings, check_settings};

/// An observe probe: describes itself, takes the operator's settings, and
/// filters and shapes batches of observations (process, file and log events)
/// on their way to Loki or the local observations file.
///
/// Observe probes form a chain: the first gets one [`Observation`] per event
/// (an empty `line`, no `metadata`, the typed `event`), each next one gets
/// what the previous one returned. Return fewer to drop, change `line`,
/// `event_name` or `metadata` to reshape, or return more. The built-in
/// `observe` probe formats the line; probes placed after it see formatted
/// lines (to redact), probes before it see raw events only.
///
/// Same life cycle as [`Probe`](crate::Probe): one value made with
/// [`Default`], kept between calls, thrown away after a failed call.
pub trait ObserveProbe: Default + 'static {
    /// What the probe is; `needs` must include
    /// [`Capability::Observations`](crate::Capability::Observations).
    fn info() -> ProbeInfo;

    /// Takes the operator's settings. The default refuses any key.
    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        check_settings(settings, &[])
    }

    /// Filters and shapes one batch. An `Err` (or a trap) makes the host
    /// pass this batch on unchanged and count the failure.
    fn observe(&mut self, batch: Vec<Observation>) -> Result<Vec<Observation>, String>;
}

/// Implements the `observe` world's exported interfaces for an
/// [`ObserveProbe`]; used by [`export_observe_probe!`](crate::export_observe_probe).
#[doc(hidden)]
pub struct ObserveAdapter<P>(PhantomData<P>);

impl<P: ObserveProbe> probe::Guest for ObserveAdapter<P> {
    fn describe() -> ProbeInfo {
        P::info()
    }

    fn configure(settings: Settings) -> Result<(), String> {
        crate::instance::with::<P, _>(|p| ObserveProbe::configure(p, &settings))
    }
}

impl<P: ObserveProbe> observations::Guest for ObserveAdapter<P> {
    fn observe(batch: Vec<Observation>) -> Result<Vec<Observation>, String> {
        crate::instance::with::<P, _>(|p| p.observe(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capability, Event, LogEvent, ObservationSource, Severity};
    use observations::Guest as _;
    use probe::Guest as _;

    /// Drops debug lines and numbers the rest, to show state persists.
    #[derive(Default)]
    struct Numbering {
        seen: u64,
    }

    impl ObserveProbe for Numbering {
        fn info() -> ProbeInfo {
            ProbeInfo::new("numbering", "1.0.0", "Numbers lines.", [Capability::Observations])
        }
        fn observe(&mut self, mut batch: Vec<Observation>) -> Result<Vec<Observation>, String> {
            batch.retain(|o| !matches!(&o.event, Event::Log(l) if l.level == Severity::Debug));
            for o in &mut batch {
                self.seen += 1;
                o.line = format!("{} {}", self.seen, o.line);
            }
            Ok(batch)
        }
    }

    fn log(level: Severity, message: &str) -> Observation {
        Observation {
            time_nanos: 1,
            source: ObservationSource::Logs,
            event_name: String::new(),
            line: message.to_owned(),
            metadata: vec![],
            event: Event::Log(LogEvent {
                origin: "kmsg".into(),
                level,
                process: String::new(),
                pid: None,
                message: message.to_owned(),
            }),
        }
    }

    #[test]
    fn adapter_filters_and_keeps_state() {
        type A = ObserveAdapter<Numbering>;
        assert_eq!(A::describe().name, "numbering");
        A::configure(vec![]).unwrap();
        let out = A::observe(vec![log(Severity::Info, "a"), log(Severity::Debug, "b")]).unwrap();
        assert_eq!(out.iter().map(|o| o.line.as_str()).collect::<Vec<_>>(), ["1 a"]);
        let out = A::observe(vec![log(Severity::Warn, "c")]).unwrap();
        assert_eq!(out[0].line, "2 c");
    }
}
