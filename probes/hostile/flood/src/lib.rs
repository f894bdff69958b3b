//! Hostile test probe `hostile-flood`: loads fine, then returns one gauge
//! family, `hostile_flood`, with 1,000,000 unlabelled series from `measure`.
//! The host must bound what it accepts.
//!
//! The setting `series` changes the count (for tests that want a smaller
//! flood). The guest needs about 16 bytes per series for the Rust vector
//! plus 16 for the lowered list: ~32 MB at the default.

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Series, Snapshot};

/// The probe: how many series to return.
struct Flood {
    series: usize,
}

impl Default for Flood {
    fn default() -> Self {
        Self { series: 1_000_000 }
    }
}

impl Probe for Flood {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-flood",
            env!("CARGO_PKG_VERSION"),
            "Returns a million series.",
            [Capability::System],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        if let Some(n) = gomon_probe::setting(settings, "series") {
            self.series = n.parse().map_err(|e| format!("setting `series` = {n:?}: {e}"))?;
        }
        gomon_probe::log::info!("will return {} series per call", self.series);
        Ok(())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let mut family = Family::gauge("hostile_flood", "One of very many series.");
        family.series =
            (0..self.series).map(|i| Series { labels: Vec::new(), value: i as f64 }).collect();
        Ok(vec![family])
    }
}

gomon_probe::export_probe!(Flood);
