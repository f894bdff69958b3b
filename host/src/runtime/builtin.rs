//! The built-in probes, compiled from `probes/` by `host/build.rs` and
//! embedded in the binary, each with its precompiled form.

/// One embedded probe component.
pub struct BuiltinProbe {
    /// The name the probe is known by (and can be disabled or overridden by).
    pub name: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
    /// The component compiled at build time for the build machine with the
    /// runtime engine's settings (`engine_config.rs`); `None` when gomon was
    /// cross-compiled. Loaded only if it matches the running engine.
    pub precompiled: Option<&'static [u8]>,
}

// `$OUT_DIR/builtin_probes.rs`, written by host/build.rs.
#[allow(missing_docs)] // generated code, without docs
mod generated {
    use super::BuiltinProbe;
    include!(concat!(env!("OUT_DIR"), "/builtin_probes.rs"));
}

/// Every built-in probe, in the order of `BUILTINS` in host/build.rs.
pub use generated::BUILTIN_PROBES;
