//! An example probe, `cpu-ratios`: utilisation ratios derived from the
//! snapshot's raw counters, keeping the previous CPU times in the instance.
//!
//! Families (all gauges, unit `ratio`, between 0 and 1):
//!
//! ```text
//! gomon_cpu_utilisation_ratio{cpu}     per CPU: 1 − Δ(idle + iowait) / Δtotal since the last call
//! gomon_system_cpu_utilisation_ratio   the same for all CPUs together (the aggregate `cpu` line)
//! gomon_memory_pressure_ratio          1 − available / total memory
//! gomon_swap_used_ratio                (total − free) / total swap; 0 without swap
//! ```
//!
//! Δtotal is the change of the sum of user, nice, system, idle, iowait, irq,
//! softirq and steal (guest time is already part of user and nice). The CPU
//! families need two snapshots: the first call after the instance starts
//! (after a load, or after the host recycled it) omits them rather than report
//! a made-up value.
//! A CPU that was not in the previous snapshot (hot-plugged), or whose counters
//! did not advance, has no series in that call; a family left without series is
//! omitted. The split mirrors the `system` probe's `gomon_cpu_seconds{cpu,mode}`
//! and `gomon_system_cpu_seconds{mode}`, so per-CPU and machine-wide values are
//! never mixed in one family.
//!
//! Needs the `system` part; it takes no settings.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 --manifest-path probes/Cargo.toml -p example-cpu-ratios
//! # → probes/target/wasm32-wasip2/release/example_cpu_ratios.wasm
//! ```

use gomon_probe::{
    Capability, CpuTimes, Family, Memory, MetricFamily, Probe, ProbeInfo, Snapshot, System,
};

/// The probe; its state is the CPU times of the previous call.
#[derive(Default)]
struct CpuRatios {
    previous: Option<CpuSample>,
}

impl Probe for CpuRatios {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "cpu-ratios",
            env!("CARGO_PKG_VERSION"),
            "CPU utilisation, memory pressure and swap use as ratios.",
            [Capability::System],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let system = gomon_probe::require_system(now)?;
        let sample = CpuSample::of(system);
        let mut out = cpu_families(self.previous.as_ref(), &sample);
        // `None` when the host could not read /proc/meminfo: no memory families.
        if let Some(memory) = &system.memory {
            out.extend(memory_families(memory));
        }
        self.previous = Some(sample);
        Ok(out)
    }
}

gomon_probe::export_probe!(CpuRatios);

/// The CPU times of one snapshot: the aggregate line and each CPU by id.
#[derive(Debug, Clone, PartialEq)]
struct CpuSample {
    /// `None` when /proc/stat's aggregate line could not be read.
    total: Option<CpuTimes>,
    cpus: Vec<(u32, CpuTimes)>,
}

impl CpuSample {
    fn of(system: &System) -> Self {
        CpuSample {
            total: system.cpu_total,
            cpus: system.cpus.iter().map(|c| (c.id, c.times)).collect(),
        }
    }
}

/// Seconds a CPU was idle (idle and waiting for I/O) and seconds in all
/// modes. Guest time is left out: the kernel already counts it in user and nice.
fn idle_and_total(t: &CpuTimes) -> (f64, f64) {
    let idle = t.idle_seconds + t.iowait_seconds;
    let busy = t.user_seconds
        + t.nice_seconds
        + t.system_seconds
        + t.irq_seconds
        + t.softirq_seconds
        + t.steal_seconds;
    (idle, idle + busy)
}

/// The share of time a CPU was busy between two samples, or `None` when its
/// counters did not advance (or went back: a reset).
///
/// Clamped to [0, 1]: iowait may decrease on some kernels, which would
/// otherwise push the ratio past 1.
fn utilisation(previous: &CpuTimes, now: &CpuTimes) -> Option<f64> {
    let (idle_before, total_before) = idle_and_total(previous);
    let (idle_now, total_now) = idle_and_total(now);
    let elapsed = total_now - total_before;
    if elapsed.is_nan() || elapsed <= 0.0 {
        return None;
    }
    Some((1.0 - (idle_now - idle_before) / elapsed).clamp(0.0, 1.0))
}

/// The CPU families between `previous` and `now`; none without a previous
/// sample.
fn cpu_families(previous: Option<&CpuSample>, now: &CpuSample) -> Vec<MetricFamily> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let mut per_cpu = Family::gauge(
        "gomon_cpu_utilisation_ratio",
        "Share of time each CPU was busy (not idle or waiting for I/O) since the last sample.",
    )
    .labels(&["cpu"]);
    for (id, times) in &now.cpus {
        let before = previous.cpus.iter().find(|(p, _)| p == id).map(|(_, t)| t);
        if let Some(ratio) = before.and_then(|before| utilisation(before, times)) {
            per_cpu.push(&[&id.to_string()], ratio);
        }
    }
    let mut system = Family::gauge(
        "gomon_system_cpu_utilisation_ratio",
        "Share of time all CPUs together were busy (not idle or waiting for I/O) since the last sample.",
    );
    let total = previous.total.as_ref().zip(now.total.as_ref());
    if let Some(ratio) = total.and_then(|(before, now)| utilisation(before, now)) {
        system.push(&[], ratio);
    }
    [per_cpu, system].into_iter().filter(|f| !f.series.is_empty()).collect()
}

/// Memory pressure and swap use. Memory pressure is omitted when the
/// snapshot reports no memory at all.
fn memory_families(m: &Memory) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    if m.total_bytes > 0 {
        let available = m.available_bytes.min(m.total_bytes) as f64;
        out.push(
            Family::gauge(
                "gomon_memory_pressure_ratio",
                "Share of memory not available for new allocations: 1 - available / total.",
            )
            .value(1.0 - available / m.total_bytes as f64),
        );
    }
    let swap_used = if m.swap_total_bytes == 0 {
        0.0
    } else {
        m.swap_total_bytes.saturating_sub(m.swap_free_bytes) as f64 / m.swap_total_bytes as f64
    };
    out.push(
        Family::gauge("gomon_swap_used_ratio", "Share of swap in use; 0 without swap.")
            .value(swap_used),
    );
    out
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};
    use gomon_probe::{Cpu, Snapshot};

    use super::*;

    /// The test machine, `seconds` later: every CPU spent `busy` seconds in
    /// user mode and `idle` idle, per CPU (the aggregate line sums them).
    fn later(system: &System, busy: f64, idle: f64) -> System {
        let advance = |t: &CpuTimes, n: f64| CpuTimes {
            user_seconds: t.user_seconds + busy * n,
            idle_seconds: t.idle_seconds + idle * n,
            ..*t
        };
        System {
            cpu_total: system.cpu_total.as_ref().map(|t| advance(t, system.cpus.len() as f64)),
            cpus: system
                .cpus
                .iter()
                .map(|c| Cpu { id: c.id, times: advance(&c.times, 1.0) })
                .collect(),
            ..system.clone()
        }
    }

    fn snapshot(system: System) -> Snapshot {
        Snapshot { system: Some(system), ..testing::snapshot() }
    }

    #[test]
    fn first_call_omits_the_cpu_families() {
        let mut probe = CpuRatios::default();
        let first = probe.measure(&testing::snapshot()).unwrap();
        testing::check(&first).unwrap();
        assert_eq!(
            testing::names(&first),
            ["gomon_memory_pressure_ratio", "gomon_swap_used_ratio"]
        );
    }

    #[test]
    fn second_call_derives_utilisation_from_the_deltas() {
        let mut probe = CpuRatios::default();
        let before = testing::system();
        probe.measure(&snapshot(before.clone())).unwrap();
        let second = probe.measure(&snapshot(later(&before, 3.0, 1.0))).unwrap();
        testing::check(&second).unwrap();
        assert_eq!(
            testing::names(&second),
            [
                "gomon_cpu_utilisation_ratio",
                "gomon_system_cpu_utilisation_ratio",
                "gomon_memory_pressure_ratio",
                "gomon_swap_used_ratio",
            ]
        );
        assert_eq!(sample(&second, "gomon_cpu_utilisation_ratio", &["0"]), 0.75);
        assert_eq!(sample(&second, "gomon_cpu_utilisation_ratio", &["1"]), 0.75);
        assert_eq!(sample(&second, "gomon_system_cpu_utilisation_ratio", &[]), 0.75);
        assert_eq!(testing::family(&second, "gomon_cpu_utilisation_ratio").unit, "ratio");
    }

    #[test]
    fn iowait_counts_as_idle_and_guest_is_not_counted_twice() {
        let before = testing::cpu_times(0.0);
        let now = CpuTimes {
            system_seconds: before.system_seconds + 1.0,
            iowait_seconds: before.iowait_seconds + 3.0,
            guest_seconds: before.guest_seconds + 50.0,
            ..before
        };
        assert_eq!(utilisation(&before, &now), Some(0.25));
    }

    #[test]
    fn cpus_are_matched_by_id_and_new_ones_wait_a_call() {
        let before = testing::system();
        let mut after = later(&before, 1.0, 1.0);
        // CPU 0 went offline, CPU 7 came online; CPU 1 is listed first now.
        after.cpus.retain(|c| c.id == 1);
        after.cpus.push(Cpu { id: 7, times: testing::cpu_times(500.0) });
        let f = cpu_families(Some(&CpuSample::of(&before)), &CpuSample::of(&after));
        let per_cpu = testing::family(&f, "gomon_cpu_utilisation_ratio");
        assert_eq!(per_cpu.series.len(), 1);
        assert_eq!(sample(&f, "gomon_cpu_utilisation_ratio", &["1"]), 0.5);
    }

    #[test]
    fn counters_that_do_not_advance_give_no_series() {
        let same = CpuSample::of(&testing::system());
        assert!(cpu_families(Some(&same), &same).is_empty());
        // A reset (counters going back) is no sample either.
        let mut reset = same.clone();
        reset.total = Some(testing::cpu_times(0.0));
        reset.cpus[0].1 = testing::cpu_times(0.0);
        reset.cpus[1].1.user_seconds += 1.0;
        let f = cpu_families(Some(&same), &reset);
        assert_eq!(testing::names(&f), ["gomon_cpu_utilisation_ratio"]);
        assert_eq!(testing::family(&f, "gomon_cpu_utilisation_ratio").series.len(), 1);
        assert_eq!(sample(&f, "gomon_cpu_utilisation_ratio", &["1"]), 1.0);
    }

    #[test]
    fn utilisation_is_clamped() {
        let before = testing::cpu_times(0.0);
        // iowait went back by more than the CPU was busy.
        let now = CpuTimes {
            user_seconds: before.user_seconds + 2.0,
            iowait_seconds: before.iowait_seconds - 1.0,
            idle_seconds: before.idle_seconds + 0.5,
            ..before
        };
        assert_eq!(utilisation(&before, &now), Some(1.0));
    }

    #[test]
    fn memory_and_swap_ratios() {
        // The fixture: 8000 total, 5000 available; 4000 swap, 3500 free.
        let f = memory_families(&testing::system().memory.unwrap());
        assert_eq!(sample(&f, "gomon_memory_pressure_ratio", &[]), 0.375);
        assert_eq!(sample(&f, "gomon_swap_used_ratio", &[]), 0.125);

        let no_swap =
            Memory { swap_total_bytes: 0, swap_free_bytes: 0, ..testing::system().memory.unwrap() };
        assert_eq!(sample(&memory_families(&no_swap), "gomon_swap_used_ratio", &[]), 0.0);

        let no_memory =
            Memory { total_bytes: 0, available_bytes: 0, ..testing::system().memory.unwrap() };
        assert_eq!(testing::names(&memory_families(&no_memory)), ["gomon_swap_used_ratio"]);
    }

    #[test]
    fn needs_the_system_part() {
        let err = CpuRatios::default().measure(&testing::empty_snapshot()).unwrap_err();
        assert!(err.contains("system"), "{err}");
    }
}
