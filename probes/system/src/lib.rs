//! The built-in `system` probe: CPU times, memory, load, kernel counters,
//! limits and host facts, from the snapshot's `system` part.
//!
//! Families (counters are named without `_total`; the host appends it):
//!
//! ```text
//! gomon_cpu_seconds{cpu,mode} counter         gomon_memory_*_bytes gauge
//! gomon_cpu_guest_seconds{cpu,mode} counter   gomon_swap_*_bytes gauge
//! gomon_system_cpu_seconds{mode} counter      gomon_load_average{window} gauge
//! gomon_cpus, gomon_boot_time_seconds, gomon_uptime_seconds gauges
//! gomon_procs_*, gomon_scheduling_entities gauges; gomon_context_switches, gomon_forks,
//! gomon_interrupts, gomon_vm_* counters; gomon_file_descriptors_*, gomon_*_maximum,
//! gomon_rlimit_*{limit} gauges; gomon_host_info{hostname,kernel_release} 1
//! ```

mod cpu;
mod kernel;
mod memory;

use gomon_probe::{Capability, MetricFamily, Probe, ProbeInfo, Snapshot, System};

/// The probe; stateless.
#[derive(Default)]
struct SystemProbe;

impl Probe for SystemProbe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "system",
            env!("CARGO_PKG_VERSION"),
            "CPU, memory, load, kernel counters and limits.",
            [Capability::System],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(families(gomon_probe::require_system(now)?))
    }
}

gomon_probe::export_probe!(SystemProbe);

/// All of the probe's families for one system sample. A part the host
/// could not sample (its file missing or malformed) is `None` in the
/// snapshot: the families it feeds are left out, the others stay.
fn families(system: &System) -> Vec<MetricFamily> {
    let mut out = cpu::families(system);
    if let Some(memory) = &system.memory {
        out.extend(memory::families(memory));
    }
    out.extend(kernel::families(system));
    out.retain(|family| !family.series.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing;

    use super::*;

    #[test]
    fn families_keep_the_contract() {
        testing::check(&families(&testing::system())).unwrap();
    }

    #[test]
    fn family_names() {
        let expected = [
            "gomon_cpu_seconds",
            "gomon_cpu_guest_seconds",
            "gomon_system_cpu_seconds",
            "gomon_cpus",
            "gomon_boot_time_seconds",
            "gomon_uptime_seconds",
            "gomon_memory_total_bytes",
            "gomon_memory_free_bytes",
            "gomon_memory_available_bytes",
            "gomon_memory_used_bytes",
            "gomon_memory_buffers_bytes",
            "gomon_memory_cached_bytes",
            "gomon_memory_shared_bytes",
            "gomon_memory_slab_reclaimable_bytes",
            "gomon_memory_dirty_bytes",
            "gomon_memory_writeback_bytes",
            "gomon_swap_total_bytes",
            "gomon_swap_free_bytes",
            "gomon_swap_used_bytes",
            "gomon_swap_cached_bytes",
            "gomon_load_average",
            "gomon_host_info",
            "gomon_procs_running",
            "gomon_procs_blocked",
            "gomon_scheduling_entities",
            "gomon_file_descriptors_maximum",
            "gomon_file_descriptors_allocated",
            "gomon_pids_maximum",
            "gomon_threads_maximum",
            "gomon_context_switches",
            "gomon_forks",
            "gomon_interrupts",
            "gomon_vm_page_faults",
            "gomon_vm_major_page_faults",
            "gomon_vm_pages_swapped_in",
            "gomon_vm_pages_swapped_out",
            "gomon_vm_paged_in_bytes",
            "gomon_vm_paged_out_bytes",
            "gomon_vm_oom_kills",
            "gomon_rlimit_open_files",
            "gomon_rlimit_processes",
            "gomon_rlimit_address_space_bytes",
        ];
        assert_eq!(testing::names(&families(&testing::system())), expected);
    }

    #[test]
    fn a_part_the_host_could_not_sample_loses_only_its_families() {
        let owned = |f: &[MetricFamily]| -> Vec<String> {
            testing::names(f).into_iter().map(str::to_owned).collect()
        };
        let all = owned(&families(&testing::system()));
        let without = |change: fn(&mut System)| {
            let mut system = testing::system();
            change(&mut system);
            let names = owned(&families(&system));
            all.iter().filter(|n| !names.contains(n)).cloned().collect::<Vec<_>>()
        };
        assert_eq!(without(|s| s.uptime_seconds = None), ["gomon_uptime_seconds"]);
        assert_eq!(without(|s| s.load = None), ["gomon_load_average", "gomon_scheduling_entities"]);
        assert_eq!(without(|s| s.memory = None).len(), 14);
        assert!(
            without(|s| s.memory = None)
                .iter()
                .all(|n| n.starts_with("gomon_memory_") || n.starts_with("gomon_swap_"))
        );
        assert_eq!(without(|s| s.vm = None).len(), 7);
        assert_eq!(without(|s| s.limits.file_max = None), ["gomon_file_descriptors_maximum"]);
        assert_eq!(without(|s| s.context_switches = None), ["gomon_context_switches"]);
        assert_eq!(
            without(|s| s.hostname = None),
            Vec::<String>::new(),
            "host_info keeps the release"
        );
        assert_eq!(
            without(|s| {
                s.cpu_total = None;
                s.cpus.clear();
                s.boot_time_seconds = None;
            }),
            [
                "gomon_cpu_seconds",
                "gomon_cpu_guest_seconds",
                "gomon_system_cpu_seconds",
                "gomon_cpus",
                "gomon_boot_time_seconds"
            ]
        );
        let f = families(&System { hostname: None, ..testing::system() });
        assert_eq!(testing::sample(&f, "gomon_host_info", &["", "6.1.0-test"]), 1.0);
    }

    #[test]
    fn measure_needs_the_system_part() {
        let err = SystemProbe.measure(&testing::empty_snapshot()).unwrap_err();
        assert!(err.contains("system"), "{err}");
        assert!(SystemProbe.measure(&testing::snapshot()).is_ok());
    }
}
