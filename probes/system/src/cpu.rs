//! CPU families: per-CPU and aggregate mode times, guest times, CPU count,
//! boot time and uptime.

use gomon_probe::{CpuTimes, Family, MetricFamily, System};

/// The modes of `gomon_cpu_seconds`, with their times (/proc/stat columns).
fn modes(t: &CpuTimes) -> [(&'static str, f64); 8] {
    [
        ("user", t.user_seconds),
        ("nice", t.nice_seconds),
        ("system", t.system_seconds),
        ("idle", t.idle_seconds),
        ("iowait", t.iowait_seconds),
        ("irq", t.irq_seconds),
        ("softirq", t.softirq_seconds),
        ("steal", t.steal_seconds),
    ]
}

/// CPU time families for `system`.
pub fn families(system: &System) -> Vec<MetricFamily> {
    let mut per_cpu = Family::counter("gomon_cpu_seconds", "Seconds each CPU spent in each mode.")
        .labels(&["cpu", "mode"]);
    let mut guest = Family::counter(
        "gomon_cpu_guest_seconds",
        "Seconds each CPU spent running guests, also counted in user and nice.",
    )
    .labels(&["cpu", "mode"]);
    for cpu in &system.cpus {
        let id = cpu.id.to_string();
        for (mode, seconds) in modes(&cpu.times) {
            per_cpu.push(&[&id, mode], seconds);
        }
        guest.push(&[&id, "user"], cpu.times.guest_seconds);
        guest.push(&[&id, "nice"], cpu.times.guest_nice_seconds);
    }

    let mut total = Family::counter(
        "gomon_system_cpu_seconds",
        "Seconds all CPUs together spent in each mode.",
    )
    .labels(&["mode"]);
    if let Some(cpu_total) = &system.cpu_total {
        for (mode, seconds) in modes(cpu_total) {
            total.push(&[mode], seconds);
        }
    }
    // No CPU lines (no /proc/stat): no count rather than 0.
    let cpus = (!system.cpus.is_empty()).then_some(system.cpus.len() as f64);

    vec![
        per_cpu,
        guest,
        total,
        Family::gauge("gomon_cpus", "Logical CPUs online.").optional(cpus),
        Family::gauge("gomon_boot_time_seconds", "Unix time the system booted.")
            .optional(system.boot_time_seconds),
        Family::gauge("gomon_uptime_seconds", "Seconds since the system booted.")
            .optional(system.uptime_seconds),
    ]
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn per_cpu_and_aggregate_modes() {
        let f = families(&testing::system());
        // cpu_times(base) counts up from base + 1 in field order.
        assert_eq!(sample(&f, "gomon_cpu_seconds", &["0", "user"]), 11.0);
        assert_eq!(sample(&f, "gomon_cpu_seconds", &["1", "steal"]), 28.0);
        assert_eq!(testing::family(&f, "gomon_cpu_seconds").series.len(), 16);
        assert_eq!(sample(&f, "gomon_cpu_guest_seconds", &["1", "nice"]), 30.0);
        assert_eq!(sample(&f, "gomon_system_cpu_seconds", &["iowait"]), 105.0);
        assert_eq!(testing::family(&f, "gomon_system_cpu_seconds").series.len(), 8);
        assert_eq!(sample(&f, "gomon_cpus", &[]), 2.0);
        assert_eq!(sample(&f, "gomon_uptime_seconds", &[]), 3600.5);
        assert_eq!(testing::family(&f, "gomon_boot_time_seconds").unit, "seconds");
    }
}
