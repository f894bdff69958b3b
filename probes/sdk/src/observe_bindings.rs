//! Bindings for the exported `observations` interface of the contract's `observe`
//! world; the `types` and `host` interfaces are those of
//! [`bindings`](crate::bindings) (see there why the worlds are generated in
//! parts), so an [`Observation`](crate::Observation) is one type whichever
//! world a probe targets. Hidden from the documentation, like
//! [`bindings`](crate::bindings).
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../probes-wit/wit",
    inline: "
        package gomon:sdk;
        /// The `observe` world without `probe`.
        world observations-part {
            import gomon:probe/host@0.2.0;
            export gomon:probe/observations@0.2.0;
        }
    ",
    world: "observations-part",
    with: {
        "gomon:probe/types@0.2.0": crate::bindings::gomon::probe::types,
        "gomon:probe/host@0.2.0": crate::bindings::gomon::probe::host,
    },
    pub_export_macro: true,
    default_bindings_module: "gomon_probe::observe_bindings",
    additional_derives: [PartialEq],
});
