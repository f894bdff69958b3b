//! The one shared wasmtime `Engine` and its epoch ticker.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::Engine;

include!("engine_config.rs");

/// How often the epoch advances. A call's deadline is a number of ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine ([`engine_config`]: epoch interruption on,
/// conservative memory settings) and the ticker that advances its epoch while guest code runs.
pub fn new_engine() -> anyhow::Result<(Engine, Arc<Ticker>)> {
    let engine = Engine::new(&engine_config()).map_err(|e| anyhow::anyhow!("cannot create the WebAssembly engine: {e:#}"))?;
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
