// The settings of gomon's one wasmtime engine.
//
// Included (`include!`) by `host/src/runtime/engine.rs` and by
// `host/build.rs`, which precompiles the built-in probes at build time: an
// artifact loads only into an engine with the same settings, so both must
// use exactly this function. Keep it free of crate paths and imports.

/// The engine's configuration: component model, epoch interruption (the
/// per-call deadline), and conservative memory settings.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Probes are small: reserve 64 MiB of address space up front instead of
    // wasmtime's default 4 GiB per memory, and let memories move if a probe
    // grows beyond (up to its configured limit).
    config.memory_reservation(64 << 20);
    config.memory_guard_size(2 << 20);
    config.memory_may_move(true);
    config
}
