//! Load, scheduler and VM counters, system-wide limits, gomon's rlimits and
//! host facts.

use gomon_probe::{Family, MetricFamily, System, value};

/// Kernel families for `s`.
pub fn families(s: &System) -> Vec<MetricFamily> {
    let mut load = Family::gauge("gomon_load_average", "Run-queue length averaged over a window.")
        .labels(&["window"]);
    if let Some(l) = &s.load {
        load.push(&["1m"], l.one_minute)
            .push(&["5m"], l.five_minutes)
            .push(&["15m"], l.fifteen_minutes);
    }
    let mut info = Family::gauge("gomon_host_info", "Host facts as labels; the value is 1.")
        .labels(&["hostname", "kernel_release"]);
    if s.hostname.is_some() || s.kernel_release.is_some() {
        let (host, release) = (s.hostname.as_deref(), s.kernel_release.as_deref());
        info.push(&[host.unwrap_or_default(), release.unwrap_or_default()], 1.0);
    }
    let mut out = vec![load, info];

    let (l, vm) = (&s.limits, s.vm.as_ref());
    let gauges = [
        ("gomon_procs_running", "Processes runnable now.", s.procs_running.map(u64::from)),
        ("gomon_procs_blocked", "Processes blocked on I/O.", s.procs_blocked.map(u64::from)),
        (
            "gomon_scheduling_entities",
            "Processes and threads that exist.",
            s.load.as_ref().map(|l| l.entities.into()),
        ),
        ("gomon_file_descriptors_maximum", "System-wide limit on open files.", l.file_max),
        ("gomon_file_descriptors_allocated", "File handles allocated now.", l.files_allocated),
        ("gomon_pids_maximum", "Process IDs wrap at this value.", l.pid_max),
        ("gomon_threads_maximum", "System-wide limit on threads.", l.threads_max),
    ];
    out.extend(
        gauges.map(|(name, help, v)| Family::gauge(name, help).optional(v.map(|v| v as f64))),
    );

    let counters = [
        ("gomon_context_switches", "Context switches since boot.", s.context_switches),
        ("gomon_forks", "Processes and threads created since boot.", s.forks),
        ("gomon_interrupts", "Interrupts serviced since boot.", s.interrupts),
        ("gomon_vm_page_faults", "Page faults since boot.", vm.map(|v| v.page_faults)),
        (
            "gomon_vm_major_page_faults",
            "Page faults that needed I/O.",
            vm.map(|v| v.major_page_faults),
        ),
        (
            "gomon_vm_pages_swapped_in",
            "Pages swapped in since boot.",
            vm.map(|v| v.pages_swapped_in),
        ),
        (
            "gomon_vm_pages_swapped_out",
            "Pages swapped out since boot.",
            vm.map(|v| v.pages_swapped_out),
        ),
        (
            "gomon_vm_paged_in_bytes",
            "Bytes paged in from disk since boot.",
            vm.map(|v| v.paged_in_bytes),
        ),
        (
            "gomon_vm_paged_out_bytes",
            "Bytes paged out to disk since boot.",
            vm.map(|v| v.paged_out_bytes),
        ),
        ("gomon_vm_oom_kills", "Processes killed by the OOM killer.", vm.map(|v| v.oom_kills)),
    ];
    out.extend(
        counters.map(|(name, help, v)| Family::counter(name, help).optional(v.map(|v| v as f64))),
    );

    let rlimits = [
        ("gomon_rlimit_open_files", "gomon's RLIMIT_NOFILE.", l.open_files_soft, l.open_files_hard),
        ("gomon_rlimit_processes", "gomon's RLIMIT_NPROC.", l.processes_soft, l.processes_hard),
        (
            "gomon_rlimit_address_space_bytes",
            "gomon's RLIMIT_AS.",
            l.address_space_soft_bytes,
            l.address_space_hard_bytes,
        ),
    ];
    out.extend(rlimits.map(|(name, help, soft, hard)| {
        Family::gauge(name, help)
            .labels(&["limit"])
            .with(&["soft"], value::limit(soft))
            .with(&["hard"], value::limit(hard))
    }));
    out
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn load_counters_and_limits() {
        let f = families(&testing::system());
        assert_eq!(sample(&f, "gomon_load_average", &["15m"]), 0.125);
        assert_eq!(sample(&f, "gomon_scheduling_entities", &[]), 400.0);
        assert_eq!(sample(&f, "gomon_vm_oom_kills", &[]), 1.0);
        assert_eq!(sample(&f, "gomon_rlimit_open_files", &["hard"]), 524_288.0);
        assert_eq!(sample(&f, "gomon_rlimit_processes", &["hard"]), f64::INFINITY);
        assert_eq!(sample(&f, "gomon_rlimit_address_space_bytes", &["soft"]), f64::INFINITY);
        assert_eq!(sample(&f, "gomon_host_info", &["testhost", "6.1.0-test"]), 1.0);
        assert_eq!(testing::family(&f, "gomon_vm_paged_in_bytes").unit, "bytes");
        assert_eq!(testing::family(&f, "gomon_forks").unit, "");
    }
}
