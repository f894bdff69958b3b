//! Hostile test probe `hostile-hog`: loads fine, then allocates memory
//! without end in `measure`, 1 MiB at a time. The host's memory limit must
//! stop it.

use gomon_probe::{Capability, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe.
#[derive(Default)]
struct Hog;

const MIB: usize = 1 << 20;

impl Probe for Hog {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-hog",
            env!("CARGO_PKG_VERSION"),
            "Allocates without end in measure.",
            [Capability::System],
        )
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Touch every chunk and hide it from the optimizer, which would
            // otherwise delete allocations that are never read.
            chunks.push(std::hint::black_box(vec![1u8; MIB]));
            std::hint::black_box(&mut chunks);
        }
    }
}

gomon_probe::export_probe!(Hog);
