//! The built-in probes, compiled from `probes/` by `host/build.rs` and
//! embedded in the binary.

/// One embedded probe component.
pub struct BuiltinProbe {
    /// The name the probe is known by (and can be disabled or overridden by).
    pub name: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_probes.rs"));
