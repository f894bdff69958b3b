//! Hostile test probe `hostile-utf8`: returns a metric family whose label
//! value is not UTF-8 (bytes `ff fe`, smuggled past Rust's `String` with
//! `from_utf8_unchecked`). The component model's lifting of a `string`
//! must refuse it: the call traps, the host counts a `trap`, and nothing of
//! it reaches `/metrics`.
//!
//! The setting `where` puts the bytes in the family's `name`, `help` or a
//! `label` value (the default).

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};

/// The probe: which string to spoil.
#[derive(Default)]
struct Utf8 {
    place: String,
}

/// A `String` holding bytes that are not UTF-8.
fn not_utf8() -> String {
    let bytes = std::hint::black_box(vec![b'x', 0xff, 0xfe, b'y']);
    // SAFETY: deliberately unsound: the point of this probe is to hand the
    // host a string that breaks the canonical ABI's UTF-8 rule. The value is
    // never used as a `str` inside the guest; it is only lowered.
    unsafe { String::from_utf8_unchecked(bytes) }
}

impl Probe for Utf8 {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-utf8",
            env!("CARGO_PKG_VERSION"),
            "Returns a string that is not UTF-8.",
            [Capability::System],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["where"])?;
        self.place = gomon_probe::setting(settings, "where").unwrap_or("label").to_owned();
        Ok(())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let mut family = Family::gauge("hostile_utf8", "A family with a string that is not UTF-8.")
            .labels(&["value"])
            .with(&["ok"], 1.0);
        match self.place.as_str() {
            "name" => family.name = not_utf8(),
            "help" => family.help = not_utf8(),
            _ => family.series[0].labels[0] = not_utf8(),
        }
        Ok(vec![family])
    }
}

gomon_probe::export_probe!(Utf8);
