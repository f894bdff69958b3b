//! Hostile test probe `hostile-spin`: loads fine, then never returns from
//! `measure`. The host's epoch deadline must stop it.

use gomon_probe::{Capability, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe.
#[derive(Default)]
struct Spin;

impl Probe for Spin {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-spin",
            env!("CARGO_PKG_VERSION"),
            "Spins forever in measure.",
            [Capability::System],
        )
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let mut n = 0u64;
        loop {
            // black_box keeps LLVM from proving the loop has no effect.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

gomon_probe::export_probe!(Spin);
