//! Hostile test probe `hostile-wrong-version`: built against its own copy of
//! the contract, `gomon:probe@0.3.0` (wit/probe.wit), with the same interface
//! names. The host must refuse to load it with a message naming both
//! versions. Should it load anyway, it behaves: no metrics, no errors.

mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "measure" });
}

use bindings::exports::gomon::probe::{metrics, probe};
use bindings::gomon::probe::types::{Capability, MetricFamily, ProbeInfo, Settings, Snapshot};

/// The probe.
struct WrongVersion;

impl probe::Guest for WrongVersion {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "hostile-wrong-version".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Targets contract version 0.3.0.".into(),
            needs: vec![Capability::System],
        }
    }

    fn configure(_settings: Settings) -> Result<(), String> {
        Ok(())
    }
}

impl metrics::Guest for WrongVersion {
    fn measure(_now: Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(Vec::new())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(WrongVersion with_types_in bindings);
