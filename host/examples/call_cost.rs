//! Profiling aid and benchmark: the cost of one probe call.
//!
//! 1. One probe called through `ProbeSet::measure_all` on an empty snapshot,
//!    warm (back to back), with the wall-time guard (epoch ticker, guest and
//!    WASI deadlines) on and off, alternating rounds; the ratio is the
//!    guard's cost.
//! 2. The same, cold: 16 MiB of other memory touched and `PAUSE_MS` (default
//!    1) asleep between calls, as between two sampling cycles.
//! 3. The alternative guard: calls run asynchronously (on a fiber) under a
//!    Tokio timeout, the watchdog. A core module's empty function called
//!    with `call` and with `call_async` + `tokio::time::timeout`, in the
//!    same engine: the ratio is what that design would add to every call.
//!
//! Run it under `perf record` to see where the time goes.
//!
//! ```sh
//! cargo run --release -p gomon --example call_cost -- PROBE.wasm [CALLS]
//! PAUSE_MS=20 cargo run --release -p gomon --example call_cost -- PROBE.wasm
//! ```
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gomon::runtime::probe::Limits;
use gomon::runtime::{ProbeSet, RuntimeOptions, Source};

/// A core module exporting `nop: func()`, by hand (no `wat` needed).
const NOP_MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x07, 0x07, 0x01, 0x03, b'n', b'o', b'p', 0x00, 0x00, // export "nop" = func 0
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("a probe .wasm"));
    let calls: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let options = RuntimeOptions {
        cache_dir: None,
        limits: Limits { memory_bytes: 64 << 20, call_timeout: Duration::from_millis(500), max_series: 100_000 },
        interval: Duration::from_secs(15),
        probe_config: BTreeMap::new(),
    };
    let mut set = ProbeSet::new(options).expect("runtime");
    let bytes = std::fs::read(&path).expect("reading the probe");
    let prepared = set.loader().prepare(&bytes, Source::File(path.clone()), "probe").expect("loading");
    set.insert_file(prepared).expect("inserting");
    let snapshot = gomon::snapshot::build(0.0, None, Vec::new(), None, None);
    for _ in 0..1000 {
        set.measure_all(&snapshot);
    }

    let summary = &set.summaries()[0];
    assert!(
        summary.calls >= 1000 && summary.errors.values().all(|&n| n == 0),
        "the probe is not being called: {summary:?}"
    );

    // 1. Warm, guard on and off, alternating rounds (the minimum over rounds
    // is the cost without interference from other load; the median is shown too).
    let rounds = 20;
    let per_round = (calls / rounds).max(1);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (guard, out) in [(true, &mut on), (false, &mut off)] {
            set.set_wall_guard(guard);
            let t = Instant::now();
            for _ in 0..per_round {
                set.measure_all(&snapshot);
            }
            out.push(t.elapsed() / per_round);
        }
    }
    set.set_wall_guard(true);
    println!("measure_all, one probe, back to back ({rounds} rounds of {per_round} calls; min and median per round):");
    let (on_min, off_min) = (*on.iter().min().expect("rounds"), *off.iter().min().expect("rounds"));
    let (on_med, off_med) = (median(on), median(off));
    println!("  with the wall-time guard:    {on_min:?} min, {on_med:?} median per call");
    println!("  without it:                  {off_min:?} min, {off_med:?} median per call");
    println!(
        "  guard cost: {:?} per call (min), ratio {:.2} (min) / {:.2} (median)",
        on_min.saturating_sub(off_min),
        on_min.as_secs_f64() / off_min.as_secs_f64(),
        on_med.as_secs_f64() / off_med.as_secs_f64()
    );

    // 2. Cold: 16 MiB of other memory touched between calls (as a sampling
    // cycle's other work does), and a pause, so caches and the branch
    // predictor no longer hold the call path; and each alone.
    let pause = Duration::from_millis(std::env::var("PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1));
    let mut junk = vec![0u8; 16 << 20];
    let cold_calls = 2000u32;
    for (touch, sleep, guard, what) in [
        (true, true, true, format!("16 MiB touched and {pause:?} asleep between calls")),
        (true, false, true, "16 MiB touched between calls".to_owned()),
        (false, true, true, format!("{pause:?} asleep between calls")),
        (false, true, false, format!("{pause:?} asleep between calls, without the guard")),
    ] {
        set.set_wall_guard(guard);
        let mut times = Vec::with_capacity(cold_calls as usize);
        for i in 0..cold_calls {
            if touch {
                for chunk in junk.chunks_mut(64) {
                    chunk[0] = chunk[0].wrapping_add(i as u8);
                }
            }
            if sleep {
                std::thread::sleep(pause);
            }
            let t = Instant::now();
            set.measure_all(&snapshot);
            times.push(t.elapsed());
        }
        println!("{cold_calls} calls, {what}: {:?} median per call", median(times));
    }
    set.set_wall_guard(true);
    let summary = &set.summaries()[0];
    assert!(summary.errors.values().all(|&n| n == 0), "the probe failed: {summary:?}");
    println!("({} calls of {} made, none failed)", summary.calls, summary.name);
    std::hint::black_box(&junk);

    // 3. The alternative: async calls under a watchdog timeout.
    let engine = wasmtime::Engine::new(&gomon::runtime::engine::engine_config()).expect("engine");
    let module = wasmtime::Module::new(&engine, NOP_MODULE).expect("nop module");
    let mut store = wasmtime::Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
    let nop = instance.get_typed_func::<(), ()>(&mut store, "nop").expect("nop");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio");
    let n = calls.max(1000);
    let (mut sync, mut watched) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..n / rounds {
            store.set_epoch_deadline(u64::MAX / 2);
            nop.call(&mut store, ()).expect("call");
        }
        sync.push(t.elapsed() / (n / rounds));
        let t = Instant::now();
        runtime.block_on(async {
            for _ in 0..n / rounds {
                tokio::time::timeout(Duration::from_millis(500), nop.call_async(&mut store, ()))
                    .await
                    .expect("in time")
                    .expect("call");
            }
        });
        watched.push(t.elapsed() / (n / rounds));
    }
    let (sync, watched) = (*sync.iter().min().expect("rounds"), *watched.iter().min().expect("rounds"));
    println!("an empty core function, same engine (min per round):");
    println!("  call (what gomon does):                 {sync:?} per call");
    println!(
        "  call_async under a timeout (watchdog):  {watched:?} per call, +{:?}, ratio {:.1}",
        watched.saturating_sub(sync),
        watched.as_secs_f64() / sync.as_secs_f64()
    );
}
