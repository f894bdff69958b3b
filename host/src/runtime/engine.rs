//! The one shared wasmtime `Engine` and its epoch ticker.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::Engine;

include!("engine_config.rs");

/// How often the epoch advances. A call's deadline is a number of ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine ([`engine_config`]: epoch interruption on,
/// conservative memory settings) and the ticker that advances its epoch while guest code runs.
pub fn new_engine() -> anyhow::Result<(Engine, Arc<Ticker>)> {
    let engine =
        Engine::new(&engine_config()).map_err(|e| anyhow::anyhow!("cannot create the WebAssembly engine: {e:#}"))?;
    let ticker = Arc::new(Ticker::default());
    ticker.clone().start(Engine::weak(&engine));
    Ok((engine, ticker))
}

/// Advances the engine's epoch every [`EPOCH_TICK`], but only while some
/// guest call is running: an idle gomon does not wake up 100 times a second.
///
/// Entering is an atomic increment; only a guard that finds the ticker
/// asleep wakes it (a futex wake, a few microseconds). The probe set takes
/// one guard around a whole cycle of calls, so that wake happens once per
/// cycle and outside any one probe's measured call.
#[derive(Default)]
pub struct Ticker {
    busy: AtomicUsize,
    /// Set by the ticker (under `lock`) before it checks `busy` and waits.
    asleep: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// Marks guest calls in progress; the ticker runs until every guard is gone.
pub struct Busy<'a>(&'a Ticker);

impl Ticker {
    /// Marks the start of guest calls.
    pub fn enter(&self) -> Busy<'_> {
        // Only the guard that makes the count non-zero may need to wake the
        // ticker; the others find it woken (or being woken) already. The
        // ticker sets `asleep` before it reads `busy` (both SeqCst): if it
        // read 0 it is waiting or about to, and holds the lock until it waits,
        // so a notification under the lock cannot be lost.
        if self.busy.fetch_add(1, Ordering::SeqCst) == 0 && self.asleep.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
        Busy(self)
    }

    fn start(self: Arc<Self>, engine: wasmtime::EngineWeak) {
        std::thread::Builder::new()
            .name("gomon-epoch".into())
            .spawn(move || {
                loop {
                    {
                        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                        self.asleep.store(true, Ordering::SeqCst);
                        while self.busy.load(Ordering::SeqCst) == 0 {
                            // Wake now and then to notice the engine is gone.
                            guard = self
                                .wake
                                .wait_timeout(guard, Duration::from_secs(1))
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                            if self.busy.load(Ordering::SeqCst) == 0 && engine.upgrade().is_none() {
                                return;
                            }
                        }
                        self.asleep.store(false, Ordering::SeqCst);
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
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}
