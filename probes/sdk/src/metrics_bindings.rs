//! Bindings for the exported `metrics` interface of the contract's `measure`
//! world; the `types` and `host` interfaces are those of
//! [`bindings`](crate::bindings) (see there why the worlds are generated in
//! parts). Hidden from the documentation, like [`bindings`](crate::bindings).
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../probes-wit/wit",
    inline: "
        package gomon:sdk;
        /// The `measure` world without `probe`.
        world metrics-part {
            import gomon:probe/host@0.2.0;
            export gomon:probe/metrics@0.2.0;
        }
    ",
    world: "metrics-part",
    with: {
        "gomon:probe/types@0.2.0": crate::bindings::gomon::probe::types,
        "gomon:probe/host@0.2.0": crate::bindings::gomon::probe::host,
    },
    pub_export_macro: true,
    default_bindings_module: "gomon_probe::metrics_bindings",
    additional_derives: [PartialEq],
});
