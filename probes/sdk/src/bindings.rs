//! Bindings generated from the probe contract (`probes-wit/wit/probe.wit`):
//! the `types` and `host` interfaces and the exported `probe` interface.
//!
//! Hidden from the documentation: probes use the re-exports at the crate root
//! and [`export_probe!`](crate::export_probe) or
//! [`export_graph_probe!`](crate::export_graph_probe). The generated code
//! compiles on every target (imports are stubs off wasm32), so probes
//! unit-test natively.
//!
//! # Why four `generate!` calls, and why these worlds
//!
//! The contract has three worlds, `measure` (exports `probe` and `metrics`),
//! `graph` (exports `probe` and `topology`) and `observe` (exports `probe` and
//! `observations`). wit-bindgen gives every exported
//! interface a `#[macro_export]` macro named after the interface, so two
//! `generate!` calls that both export `probe` cannot live in one crate. The
//! SDK therefore generates one part per exported interface, each from a
//! world of its own that mirrors the contract's worlds (`import host`):
//!
//! * this module: `probe` (and the shared `types` and `host`);
//! * [`metrics_bindings`](crate::metrics_bindings): `metrics`;
//! * [`graph_bindings`](crate::graph_bindings): `topology`;
//! * [`observe_bindings`](crate::observe_bindings): `observations`.
//!
//! Each part's `export!` macro, expanded in the probe's crate, embeds the
//! part's world (its exports) for `wit-component`, which unions the parts:
//! `export_probe!` exports `probe` + `metrics` (the `measure` world),
//! `export_graph_probe!` exports `probe` + `topology` (the `graph` world),
//! `export_observe_probe!` exports `probe` + `observations` (`observe`).
//! If the contract's worlds gain an import, add it to the four worlds here.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../probes-wit/wit",
    inline: "
        package gomon:sdk;
        /// What every probe exports, whatever its world.
        world probe-part {
            import gomon:probe/host@0.2.0;
            export gomon:probe/probe@0.2.0;
        }
    ",
    world: "probe-part",
    // The contract's shared interfaces are generated here (the other parts
    // use these).
    with: {
        "gomon:probe/types@0.2.0": generate,
        "gomon:probe/host@0.2.0": generate,
    },
    // The export macros expand in the probe's crate, so the generated export
    // macros must be reachable from there.
    pub_export_macro: true,
    default_bindings_module: "gomon_probe::bindings",
    additional_derives: [PartialEq],
});
