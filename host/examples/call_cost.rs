//! Profiling aid: the cost of one probe call through `ProbeSet::measure_all`
//! on an empty snapshot, warm (back to back) and cold (16 MiB of other memory
//! touched and `PAUSE_MS` (default 1) asleep between calls, as between two
//! sampling cycles). Run it under `perf record` to see where the time goes.
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
    let t = Instant::now();
    for _ in 0..calls {
        set.measure_all(&snapshot);
    }
    let per = t.elapsed() / calls;
    println!("{calls} calls of measure_all with one probe, back to back: {per:?} per call");

    // Cold: 16 MiB of other memory touched between calls (as a sampling
    // cycle's other work does), and a pause, so caches and the branch
    // predictor no longer hold the call path.
    let pause = Duration::from_millis(std::env::var("PAUSE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1));
    let mut junk = vec![0u8; 16 << 20];
    let mut total = Duration::ZERO;
    let cold_calls = 2000u32;
    for i in 0..cold_calls {
        for chunk in junk.chunks_mut(64) {
            chunk[0] = chunk[0].wrapping_add(i as u8);
        }
        std::thread::sleep(pause);
        let t = Instant::now();
        set.measure_all(&snapshot);
        total += t.elapsed();
    }
    println!("{cold_calls} calls with 16 MiB touched and {pause:?} asleep between: {:?} per call", total / cold_calls);
    std::hint::black_box(&junk);
}
