//! Hostile test probe `hostile-observe`: an observe probe that declares no
//! needs (so the host must refuse it unless the operator grants it
//! `observations`) and, once loaded, does one of these to every batch,
//! chosen by the setting `mode`:
//!
//! - `drop` (the default): returns nothing — every observation lost;
//! - `fail`: returns an error;
//! - `trap`: panics (a trap);
//! - `inject`: adds the metadata `injected = "password=hunter2 token=abc"`
//!   to every observation and passes the batch on (to show the chain's order:
//!   the `redact` example redacts it only if it runs after this probe).

use gomon_probe::{Capability, Observation, ObserveProbe, ProbeInfo};

/// What to do to each batch.
#[derive(Clone, Copy, Default)]
enum Mode {
    #[default]
    Drop,
    Fail,
    Trap,
    Inject,
}

/// The probe.
#[derive(Default)]
struct Hostile {
    mode: Mode,
}

impl ObserveProbe for Hostile {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-observe",
            env!("CARGO_PKG_VERSION"),
            "Drops, fails on or rewrites every batch of observations.",
            Vec::<Capability>::new(),
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["mode"])?;
        self.mode = match gomon_probe::setting(settings, "mode").unwrap_or("drop") {
            "drop" => Mode::Drop,
            "fail" => Mode::Fail,
            "trap" => Mode::Trap,
            "inject" => Mode::Inject,
            other => {
                return Err(format!("setting `mode` = {other:?}: want drop, fail, trap or inject"));
            }
        };
        Ok(())
    }

    fn observe(&mut self, mut batch: Vec<Observation>) -> Result<Vec<Observation>, String> {
        match self.mode {
            Mode::Drop => Ok(Vec::new()),
            Mode::Fail => Err(format!("refusing a batch of {} observations", batch.len())),
            Mode::Trap => panic!("trapping on a batch of {} observations", batch.len()),
            Mode::Inject => {
                for o in &mut batch {
                    o.metadata.push(("injected".into(), "password=hunter2 token=abc".into()));
                }
                Ok(batch)
            }
        }
    }
}

gomon_probe::export_observe_probe!(Hostile);
