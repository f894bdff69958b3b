//! The one shared wasmtime `Engine`, its epoch ticker and the on-disk cache
//! of compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances. A call's deadline is a number of ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine (epoch interruption on, conservative memory settings)
/// and the ticker that advances its epoch while guest code runs.
pub fn new_engine() -> anyhow::Result<(Engine, Arc<Ticker>)> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Probes are small: reserve 64 MiB of address space up front instead of
    // wasmtime's default 4 GiB per memory, and let memories move if a probe
    // grows beyond (up to its configured limit).
    config.memory_reservation(64 << 20);
    config.memory_guard_size(2 << 20);
    config.memory_may_move(true);
    let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("cannot create the WebAssembly engine: {e:#}"))?;
    let ticker = Arc::new(Ticker::default());
    ticker.clone().start(Engine::weak(&engine));
    Ok((engine, ticker))
}

/// Advances the engine's epoch every [`EPOCH_TICK`], but only while some
/// guest call is running: an idle gomon does not wake up 100 times a second.
#[derive(Default)]
pub struct Ticker {
    busy: Mutex<usize>,
    wake: Condvar,
}

/// Marks a guest call in progress; the ticker runs until every guard is gone.
pub struct Busy<'a>(&'a Ticker);

impl Ticker {
    /// Marks the start of a guest call.
    pub fn enter(&self) -> Busy<'_> {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.wake.notify_one();
        Busy(self)
    }

    fn start(self: Arc<Self>, engine: wasmtime::EngineWeak) {
        std::thread::Builder::new()
            .name("gomon-epoch".into())
            .spawn(move || {
                loop {
                    {
                        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
                        while *busy == 0 {
                            // Wake now and then to notice the engine is gone.
                            busy = self
                                .wake
                                .wait_timeout(busy, Duration::from_secs(1))
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                            if *busy == 0 && engine.upgrade().is_none() {
                                return;
                            }
                        }
                    }
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("cannot start the epoch ticker thread");
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

/// Compiled components on disk, keyed by the component's bytes and by
/// everything about the engine that makes compiled code incompatible
/// (wasmtime version, settings, CPU features).
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Loaded from the cache.
    Cached,
    /// Compiled now (and written to the cache when possible).
    Compiled,
}

impl ComponentCache {
    /// A cache in `dir` (created on first write). `None` disables it.
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir }
    }

    /// Returns the compiled component, from the cache when present.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<(Component, Origin)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, Origin::Compiled));
        };
        let path = dir.join(format!("{}.cwasm", cache_key(engine, bytes)));
        // Read into memory rather than map the file: a cache file truncated
        // under a mapping would kill the process with SIGBUS.
        if let Ok(compiled) = std::fs::read(&path) {
            // SAFETY: the file was written by `Component::serialize` of this
            // same engine configuration (the key covers it) into gomon's
            // private state directory; wasmtime also checks its header.
            match unsafe { Component::deserialize(engine, &compiled) } {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "Discarding unreadable compiled probe."),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = write_atomically(dir, &path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "Cannot cache the compiled probe.");
        }
        Ok((component, Origin::Compiled))
    }
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.update(engine_hash.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(&digest.finalize()[..16])
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
