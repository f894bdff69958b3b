//! Process sampling costs (`Sampler::processes`) with this machine's
//! processes plus N `sleep 600` children that the bench starts (and kills).
//!
//! ```sh
//! cargo bench -p gomon --bench processes            # default: 1000 children, 31 rounds
//! cargo bench -p gomon --bench processes -- 0 51    # children, rounds
//! ```
//!
//! Prints the median (and min, max) of one scan in each mode:
//!
//! - the first scan, with details: every process new (opens, full reads,
//!   exe/cwd/cmdline);
//! - steady state at the default full-read period, without and with
//!   details (details come from the cache);
//! - every process read in full on every scan (`set_process_full_read_every(1)`);
//! - `stat` only (a full-read period longer than the run): the floor.
//!
//! Not a test: timings live in benches.

use std::time::Instant;

#[path = "support/load.rs"]
mod load;

use gomon::sample::process::DEFAULT_FULL_READ_EVERY;
use gomon::sample::{SampleConfig, Sampler};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let children: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(31).max(1);

    // Every child has exec'd sleep before the first scan.
    let sleepers = load::spawn_sleepers(children);

    let mut sampler = Sampler::new(SampleConfig::default());
    let t = Instant::now();
    let first = sampler.processes(true).expect("scanning /proc");
    let first_time = t.elapsed();
    println!(
        "process sampling bench: {} processes ({children} sleep children), {rounds} rounds each, medians (min … max)\n",
        first.processes.len()
    );
    println!("{:58} {:>10}", "first scan, with details (every process new)", format!("{first_time:.2?}"));

    let modes: [(&str, bool, u32); 5] = [
        ("steady, full read every 4 scans (default), no details", false, DEFAULT_FULL_READ_EVERY),
        ("steady, full read every 4 scans (default), details", true, DEFAULT_FULL_READ_EVERY),
        ("everything read every scan, no details", false, 1),
        ("everything read every scan, details", true, 1),
        ("stat only (no full read due): the floor", false, u32::MAX),
    ];
    for (name, details, every) in modes {
        sampler.set_process_full_read_every(every);
        sampler.processes(details).expect("scanning /proc");
        let mut times = Vec::with_capacity(rounds);
        let mut full_reads = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let sample = sampler.processes(details).expect("scanning /proc");
            times.push(t.elapsed());
            full_reads += sample.full_reads as usize;
        }
        times.sort();
        println!(
            "{name:58} {:>10} ({:.2?} … {:.2?}), {} full reads per scan",
            format!("{:.2?}", times[rounds / 2]),
            times[0],
            times[rounds - 1],
            full_reads / rounds
        );
    }
    let warnings = sampler.take_warnings();
    if !warnings.is_empty() {
        println!("\n{} warnings, first: {}", warnings.len(), warnings[0]);
    }

    drop(sleepers);
}
