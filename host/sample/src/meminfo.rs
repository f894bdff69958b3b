//! /proc/meminfo, converted to bytes.
//!
//! ```text
//! MemTotal:       24684096 kB
//! MemFree:        20259140 kB
//! MemAvailable:   22227720 kB
//! HugePages_Total:       0          <- no unit: a count, not read here
//! ```
//!
//! Values marked `kB` are KiB and are multiplied by 1024 (the original gomon
//! reported them as bytes unscaled). MemTotal and MemFree are required; any
//! other field a kernel lacks is 0, except MemAvailable (3.14+), which falls
//! back to MemFree + Buffers + Cached.

use super::error::ParseError;
use super::model::Memory;

/// Parses /proc/meminfo.
pub fn parse_meminfo(text: &str) -> Result<Memory, ParseError> {
    let mut memory = Memory::default();
    let mut total = None;
    let mut free = None;
    let mut available = None;
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let Some((key, rest)) = line.split_once(':') else { continue };
        let slot: &mut u64 = match key {
            // /proc/meminfo MemTotal: usable RAM.
            "MemTotal" => total.insert(0),
            // /proc/meminfo MemFree: unused RAM.
            "MemFree" => free.insert(0),
            // /proc/meminfo MemAvailable: estimate of RAM available without swapping.
            "MemAvailable" => available.insert(0),
            // /proc/meminfo Buffers: raw block-device buffers.
            "Buffers" => &mut memory.buffers_bytes,
            // /proc/meminfo Cached: page cache (without swap cache).
            "Cached" => &mut memory.cached_bytes,
            // /proc/meminfo Shmem: shared memory and tmpfs.
            "Shmem" => &mut memory.shared_bytes,
            // /proc/meminfo SReclaimable: reclaimable slab.
            "SReclaimable" => &mut memory.slab_reclaimable_bytes,
            // /proc/meminfo Dirty: waiting to be written back.
            "Dirty" => &mut memory.dirty_bytes,
            // /proc/meminfo Writeback: being written back now.
            "Writeback" => &mut memory.writeback_bytes,
            // /proc/meminfo SwapTotal: swap space.
            "SwapTotal" => &mut memory.swap_total_bytes,
            // /proc/meminfo SwapFree: unused swap space.
            "SwapFree" => &mut memory.swap_free_bytes,
            // /proc/meminfo SwapCached: swapped out and back in, still in swap.
            "SwapCached" => &mut memory.swap_cached_bytes,
            _ => continue,
        };
        *slot = parse_value(key, rest, n)?;
    }
    memory.total_bytes = total.ok_or_else(|| ParseError::whole("no MemTotal line"))?;
    memory.free_bytes = free.ok_or_else(|| ParseError::whole("no MemFree line"))?;
    // Without MemAvailable (< 3.14): an estimate, so saturating is fine.
    memory.available_bytes = available
        .unwrap_or_else(|| memory.free_bytes.saturating_add(memory.buffers_bytes).saturating_add(memory.cached_bytes));
    Ok(memory)
}

/// `"   16318052 kB"` → bytes; a value without a unit is returned as is.
fn parse_value(key: &str, rest: &str, line: usize) -> Result<u64, ParseError> {
    let mut parts = rest.split_ascii_whitespace();
    let number = parts.next().ok_or_else(|| ParseError::at(line, format!("{key}: no value")))?;
    let value = number
        .parse::<u64>()
        .map_err(|e| ParseError::at(line, format!("{key}: {number:?} is not an unsigned integer ({e})")))?;
    match parts.next() {
        None => Ok(value),
        Some("kB") => value
            .checked_mul(1024)
            .ok_or_else(|| ParseError::at(line, format!("{key}: {value} kB overflows 64 bits as bytes"))),
        Some(unit) => Err(ParseError::at(line, format!("{key}: unknown unit {unit:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/meminfo");
    const KERNEL_3_10: &str = include_str!("../tests/fixtures/edge/meminfo-kernel-3.10");
    const MALFORMED: &str = include_str!("../tests/fixtures/edge/meminfo-malformed");

    #[test]
    fn kilobytes_become_bytes() {
        let m = parse_meminfo("MemTotal:       16318052 kB\nMemFree: 1 kB\n").unwrap();
        assert_eq!(m.total_bytes, 16_709_685_248);
        assert_eq!(m.free_bytes, 1024);
    }

    #[test]
    fn real_capture_from_this_machine() {
        let m = parse_meminfo(REAL).unwrap();
        assert_eq!(
            m,
            Memory {
                total_bytes: 24_684_096 * 1024,
                free_bytes: 20_259_140 * 1024,
                available_bytes: 22_227_720 * 1024,
                buffers_bytes: 18_540 * 1024,
                cached_bytes: 2_109_568 * 1024,
                shared_bytes: 8_788 * 1024,
                slab_reclaimable_bytes: 137_620 * 1024,
                dirty_bytes: 131_996 * 1024,
                writeback_bytes: 0,
                swap_total_bytes: 0,
                swap_free_bytes: 0,
                swap_cached_bytes: 0,
            }
        );
    }

    #[test]
    fn old_kernel_without_memavailable_estimates_it() {
        let m = parse_meminfo(KERNEL_3_10).unwrap();
        // MemFree 118236 + Buffers 61868 + Cached 431216 kB.
        assert_eq!(m.available_bytes, (118_236 + 61_868 + 431_216) * 1024);
        assert_eq!(m.swap_total_bytes, 1_048_572 * 1024);
        assert_eq!(m.swap_free_bytes, 1_031_196 * 1024);
        assert_eq!(m.swap_cached_bytes, 2_080 * 1024);
        // "WritebackTmp" and "ShmemHugePages" must not be mistaken for Writeback or Shmem.
        assert_eq!(m.writeback_bytes, 0);
        assert_eq!(m.shared_bytes, 6_716 * 1024);
    }

    #[test]
    fn lookalike_keys_are_not_confused() {
        let text = "MemTotal: 10 kB\nMemFree: 1 kB\nShmem: 2 kB\nShmemHugePages: 999 kB\nWritebackTmp: 999 kB\nWriteback: 3 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.shared_bytes, 2048);
        assert_eq!(m.writeback_bytes, 3072);
    }

    #[test]
    fn malformed_and_missing_are_errors() {
        let e = parse_meminfo(MALFORMED).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("MemFree"), "{e}");
        assert!(parse_meminfo("MemFree: 1 kB\n").unwrap_err().reason.contains("MemTotal"));
        assert!(parse_meminfo("MemTotal: 1 MB\nMemFree: 1 kB\n").unwrap_err().reason.contains("unit"));
        let e = parse_meminfo("MemTotal: 18014398509481984 kB\nMemFree: 1 kB\n").unwrap_err();
        assert!(e.reason.contains("overflows"), "{e}");
    }
}
