//! /proc/vmstat: virtual-memory event counters.
//!
//! ```text
//! pgpgin 1566001          <- KiB read from block devices
//! pgpgout 2400660         <- KiB written to block devices
//! pswpin 0                <- pages swapped in
//! pswpout 0
//! pgfault 9709305
//! pgmajfault 1241
//! oom_kill 0              <- 4.13+
//! ```
//!
//! A counter a kernel does not print is 0. The kernel prints pgpgin/pgpgout in
//! KiB (it halves its sector count before printing); they are × 1024 here.

use super::error::{ParseError, parse_u64};
use super::model::VmEvents;

/// Parses /proc/vmstat. Lines not read here are ignored; a line read here
/// whose value does not parse is an error.
pub fn parse_vmstat(text: &str) -> Result<VmEvents, ParseError> {
    let mut vm = VmEvents::default();
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let value = fields.next();
        match key {
            // /proc/vmstat pgfault: page faults, minor and major.
            "pgfault" => vm.page_faults = parse_u64(value, n, key)?,
            // /proc/vmstat pgmajfault: faults that needed I/O.
            "pgmajfault" => vm.major_page_faults = parse_u64(value, n, key)?,
            // /proc/vmstat pswpin: pages swapped in.
            "pswpin" => vm.pages_swapped_in = parse_u64(value, n, key)?,
            // /proc/vmstat pswpout: pages swapped out.
            "pswpout" => vm.pages_swapped_out = parse_u64(value, n, key)?,
            // /proc/vmstat pgpgin: KiB paged in from block devices.
            "pgpgin" => vm.paged_in_bytes = kib(parse_u64(value, n, key)?, n, key)?,
            // /proc/vmstat pgpgout: KiB paged out to block devices.
            "pgpgout" => vm.paged_out_bytes = kib(parse_u64(value, n, key)?, n, key)?,
            // /proc/vmstat oom_kill: OOM-killer invocations (4.13+).
            "oom_kill" => vm.oom_kills = parse_u64(value, n, key)?,
            _ => {}
        }
    }
    Ok(vm)
}

/// KiB → bytes; an overflow is an error.
fn kib(value: u64, line: usize, key: &str) -> Result<u64, ParseError> {
    value
        .checked_mul(1024)
        .ok_or_else(|| ParseError::at(line, format!("{key}: {value} KiB overflows 64 bits as bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/vmstat");
    const KERNEL_3_10: &str = include_str!("../tests/fixtures/edge/vmstat-kernel-3.10");

    #[test]
    fn real_capture_from_this_machine() {
        assert_eq!(
            parse_vmstat(REAL).unwrap(),
            VmEvents {
                page_faults: 9_709_305,
                major_page_faults: 1_241,
                pages_swapped_in: 0,
                pages_swapped_out: 0,
                paged_in_bytes: 1_566_001 * 1024,
                paged_out_bytes: 2_400_660 * 1024,
                oom_kills: 0,
            }
        );
    }

    #[test]
    fn old_kernel_without_oom_kill() {
        let vm = parse_vmstat(KERNEL_3_10).unwrap();
        assert_eq!(vm.paged_in_bytes, 2330 * 1024);
        assert_eq!(vm.pages_swapped_out, 2);
        assert_eq!(vm.major_page_faults, 77);
        assert_eq!(vm.oom_kills, 0);
    }

    #[test]
    fn malformed_value_is_named() {
        let e = parse_vmstat("pgfault 1\noom_kill many\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("oom_kill"), "{e}");
        assert!(parse_vmstat("pgpgin 18014398509481984\n").unwrap_err().reason.contains("overflows"));
        // An unread line may hold anything.
        assert!(parse_vmstat("nr_weird ???\n").is_ok());
    }
}
