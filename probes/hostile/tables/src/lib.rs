//! Hostile test probe `hostile-tables`: an ordinary probe whose function
//! table starts 9 million slots long (the linker's `--table-base`, see
//! build.rs): 72 MB of table that the host counts against the probe's memory
//! limit with its linear memory. Under the default 64 MiB limit it is
//! refused at instantiation (a `memory` error); under a larger limit it runs
//! and `gomon_probe_memory_bytes` shows the table.
//!
//! `measure` calls through a function pointer, so the table is really used.

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe.
#[derive(Default)]
struct Tables;

fn one() -> f64 {
    1.0
}

fn two() -> f64 {
    2.0
}

impl Probe for Tables {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-tables",
            env!("CARGO_PKG_VERSION"),
            "Has a function table of 9 million slots.",
            [Capability::System],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        // An indirect call, through a table slot past the 9 millionth.
        let pick: fn() -> f64 =
            if std::hint::black_box(now.taken_at_seconds) > 0.0 { one } else { two };
        let value = std::hint::black_box(pick)();
        Ok(vec![
            Family::gauge("hostile_tables_calls", "Indirect calls made through the big table.")
                .value(value),
        ])
    }
}

gomon_probe::export_probe!(Tables);
