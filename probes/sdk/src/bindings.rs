//! Bindings generated from the probe contract (`probes-wit/wit/probe.wit`).
//!
//! Hidden from the documentation: probes use the re-exports at the crate root
//! and [`export_probe!`](crate::export_probe). The generated code compiles on
//! every target (imports are stubs off wasm32), so probes unit-test natively.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../probes-wit/wit",
    world: "measure",
    // `export_probe!` expands in the probe's crate, so the generated export
    // macro must be reachable from there.
    pub_export_macro: true,
    default_bindings_module: "gomon_probe::bindings",
    additional_derives: [PartialEq],
});
