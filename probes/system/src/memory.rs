//! Memory and swap gauges (/proc/meminfo).

use gomon_probe::{Family, Memory, MetricFamily};

/// Memory and swap families for `m`.
pub fn families(m: &Memory) -> Vec<MetricFamily> {
    let used = m.total_bytes.saturating_sub(m.available_bytes);
    let swap_used = m.swap_total_bytes.saturating_sub(m.swap_free_bytes);
    [
        ("gomon_memory_total_bytes", "Usable physical memory (MemTotal).", m.total_bytes),
        ("gomon_memory_free_bytes", "Memory not used at all (MemFree).", m.free_bytes),
        (
            "gomon_memory_available_bytes",
            "Memory available without swapping (MemAvailable).",
            m.available_bytes,
        ),
        ("gomon_memory_used_bytes", "Memory in use: total minus available.", used),
        ("gomon_memory_buffers_bytes", "Block device buffers (Buffers).", m.buffers_bytes),
        ("gomon_memory_cached_bytes", "Memory in the page cache (Cached).", m.cached_bytes),
        ("gomon_memory_shared_bytes", "Memory in shmem and tmpfs (Shmem).", m.shared_bytes),
        (
            "gomon_memory_slab_reclaimable_bytes",
            "Reclaimable kernel slab (SReclaimable).",
            m.slab_reclaimable_bytes,
        ),
        ("gomon_memory_dirty_bytes", "Memory waiting to be written back (Dirty).", m.dirty_bytes),
        (
            "gomon_memory_writeback_bytes",
            "Memory being written back (Writeback).",
            m.writeback_bytes,
        ),
        ("gomon_swap_total_bytes", "Swap space (SwapTotal).", m.swap_total_bytes),
        ("gomon_swap_free_bytes", "Unused swap space (SwapFree).", m.swap_free_bytes),
        ("gomon_swap_used_bytes", "Swap in use: total minus free.", swap_used),
        (
            "gomon_swap_cached_bytes",
            "Swapped-in memory still in swap (SwapCached).",
            m.swap_cached_bytes,
        ),
    ]
    .into_iter()
    .map(|(name, help, bytes)| Family::gauge(name, help).value(bytes as f64))
    .collect()
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn used_is_derived() {
        let f = families(&testing::system().memory.unwrap());
        assert_eq!(f.len(), 14);
        assert_eq!(sample(&f, "gomon_memory_used_bytes", &[]), 3_000.0);
        assert_eq!(sample(&f, "gomon_swap_used_bytes", &[]), 500.0);
        assert_eq!(sample(&f, "gomon_memory_slab_reclaimable_bytes", &[]), 300.0);
    }

    #[test]
    fn used_never_goes_negative() {
        let m = Memory {
            available_bytes: 9_000,
            swap_free_bytes: 5_000,
            ..testing::system().memory.unwrap()
        };
        let f = families(&m);
        assert_eq!(sample(&f, "gomon_memory_used_bytes", &[]), 0.0);
        assert_eq!(sample(&f, "gomon_swap_used_bytes", &[]), 0.0);
    }
}
