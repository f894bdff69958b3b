//! Bindings for the exported `topology` interface of the contract's `graph`
//! world; the `types` and `host` interfaces are those of
//! [`bindings`](crate::bindings) (see there why the worlds are generated in
//! parts), so a [`Snapshot`](crate::Snapshot) is one type whichever world a
//! probe targets. Hidden from the documentation, like
//! [`bindings`](crate::bindings).
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../../probes-wit/wit",
    inline: "
        package gomon:sdk;
        /// The `graph` world without `probe`.
        world topology-part {
            import gomon:probe/host@0.2.0;
            export gomon:probe/topology@0.2.0;
        }
    ",
    world: "topology-part",
    with: {
        "gomon:probe/types@0.2.0": crate::bindings::gomon::probe::types,
        "gomon:probe/host@0.2.0": crate::bindings::gomon::probe::host,
    },
    pub_export_macro: true,
    default_bindings_module: "gomon_probe::graph_bindings",
    additional_derives: [PartialEq],
});
