//! Hostile test probe `hostile-panic`: loads fine, then panics in
//! `measure`, which traps the instance. The host must recycle it.

use gomon_probe::{Capability, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe.
#[derive(Default)]
struct Panic;

impl Probe for Panic {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-panic",
            env!("CARGO_PKG_VERSION"),
            "Panics in measure.",
            [Capability::System],
        )
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        panic!("hostile-panic panics in measure, as designed")
    }
}

gomon_probe::export_probe!(Panic);
