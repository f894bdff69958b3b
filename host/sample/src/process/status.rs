//! /proc/<pid>/status: `Key:\tvalue` lines; gomon reads the ids, peak and
//! shared memory, and context switches.
//!
//! ```text
//! Uid:  1000  1000  1000  1000          <- real, effective, saved, filesystem
//! Gid:  1000  1000  1000  1000
//! VmHWM:      1752 kB
//! RssFile:      1536 kB                 <- 4.5+
//! RssShmem:         0 kB                 <- 4.5+
//! voluntary_ctxt_switches:  1
//! nonvoluntary_ctxt_switches:  0
//! ```
//!
//! Zombies and kernel threads have no `Vm*`/`Rss*` lines; those are 0.
//! Memory lines are of the whole process (its address space); the context
//! switches are of the main thread only: the kernel counts them per thread.

use super::num::{parse_u64, show, words};
use crate::error::ParseError;

/// The fields of /proc/<pid>/status that gomon reads, in bytes where sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidStatus {
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// VmHWM, bytes.
    pub peak_resident_bytes: u64,
    /// RssFile + RssShmem.
    pub shared_bytes: u64,
    /// `voluntary_ctxt_switches` of the main thread.
    pub voluntary_context_switches: u64,
    /// `nonvoluntary_ctxt_switches` of the main thread.
    pub involuntary_context_switches: u64,
}

/// Parses /proc/<pid>/status. `Uid` and `Gid` are required; a line gomon
/// reads that does not parse is an error naming the line.
pub fn parse_pid_status(text: &[u8]) -> Result<PidStatus, ParseError> {
    let mut status = PidStatus::default();
    let (mut saw_uid, mut saw_gid) = (false, false);
    for (n, key, value) in super::num::key_values(text) {
        match key {
            // status Uid: real, effective, saved, fs; the effective one, as ps and top show.
            b"Uid" => {
                status.uid = effective_id(value, n, "Uid")?;
                saw_uid = true;
            }
            // status Gid: real, effective, saved, fs.
            b"Gid" => {
                status.gid = effective_id(value, n, "Gid")?;
                saw_gid = true;
            }
            // status VmHWM: peak resident set size, kB.
            b"VmHWM" => status.peak_resident_bytes = kilobytes(value, n, "VmHWM")?,
            // status RssFile: resident file mappings, kB (4.5+).
            b"RssFile" => status.shared_bytes = add(status.shared_bytes, kilobytes(value, n, "RssFile")?, n)?,
            // status RssShmem: resident shared memory (shmem, tmpfs, anonymous shared), kB (4.5+).
            b"RssShmem" => status.shared_bytes = add(status.shared_bytes, kilobytes(value, n, "RssShmem")?, n)?,
            // status voluntary_ctxt_switches: the main thread gave up the CPU (blocked).
            b"voluntary_ctxt_switches" => {
                status.voluntary_context_switches = number(value, n, "voluntary_ctxt_switches")?
            }
            // status nonvoluntary_ctxt_switches: the scheduler took the CPU from the main thread.
            b"nonvoluntary_ctxt_switches" => {
                status.involuntary_context_switches = number(value, n, "nonvoluntary_ctxt_switches")?
            }
            _ => {}
        }
    }
    if !saw_uid {
        return Err(ParseError::whole("no \"Uid\" line"));
    }
    if !saw_gid {
        return Err(ParseError::whole("no \"Gid\" line"));
    }
    Ok(status)
}

fn number(value: &[u8], line: usize, name: &str) -> Result<u64, ParseError> {
    parse_u64(value)
        .ok_or_else(|| ParseError::at(line, format!("{name}: {:?} is not an unsigned integer", show(value))))
}

/// `1000\t1000\t1000\t1000`: the second column.
fn effective_id(value: &[u8], line: usize, name: &str) -> Result<u32, ParseError> {
    let second = words(value).nth(1).unwrap_or_default();
    parse_u64(second)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| ParseError::at(line, format!("{name}: no effective id in {:?}", show(value))))
}

/// RssFile + RssShmem; an overflow is an error.
fn add(total: u64, more: u64, line: usize) -> Result<u64, ParseError> {
    total.checked_add(more).ok_or_else(|| ParseError::at(line, "RssFile + RssShmem overflows 64 bits"))
}

/// `    1752 kB`, in bytes.
fn kilobytes(value: &[u8], line: usize, name: &str) -> Result<u64, ParseError> {
    let mut parts = words(value);
    match (parts.next().and_then(parse_u64), parts.next()) {
        (Some(kb), Some(b"kB")) => kb
            .checked_mul(1024)
            .ok_or_else(|| ParseError::at(line, format!("{name}: {kb} kB overflows 64 bits as bytes"))),
        _ => Err(ParseError::at(line, format!("{name}: {:?} is not \"<number> kB\"", show(value)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLEEP: &[u8] = include_bytes!("../../tests/fixtures/proc/4242/status");
    const KTHREADD: &[u8] = include_bytes!("../../tests/fixtures/proc/2/status");
    const ZOMBIE: &[u8] = include_bytes!("../../tests/fixtures/proc/4300/status");

    #[test]
    fn captured_sleep() {
        let s = parse_pid_status(SLEEP).unwrap();
        assert_eq!((s.uid, s.gid), (1000, 1000));
        assert_eq!(s.peak_resident_bytes, 1832 * 1024);
        assert_eq!(s.shared_bytes, 1720 * 1024, "RssFile 1720 kB + RssShmem 0 kB");
        assert_eq!(s.voluntary_context_switches, 7);
        assert_eq!(s.involuntary_context_switches, 1);
    }

    #[test]
    fn kernel_threads_and_zombies_have_no_memory_lines() {
        for text in [KTHREADD, ZOMBIE] {
            let s = parse_pid_status(text).unwrap();
            assert_eq!((s.peak_resident_bytes, s.shared_bytes), (0, 0));
        }
        assert!(parse_pid_status(KTHREADD).unwrap().voluntary_context_switches > 0);
    }

    #[test]
    fn effective_ids_are_the_second_column() {
        let s = parse_pid_status(b"Uid:\t1000\t0\t0\t0\nGid:\t100\t5\t5\t5\n").unwrap();
        assert_eq!((s.uid, s.gid), (0, 5));
    }

    #[test]
    fn old_kernels_without_rss_split_have_no_shared() {
        let s = parse_pid_status(b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmHWM:\t 8 kB\nVmRSS:\t 4 kB\n").unwrap();
        assert_eq!((s.peak_resident_bytes, s.shared_bytes), (8192, 0));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_pid_status(b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmHWM:\t 8 MB\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("VmHWM"), "{e}");
        let e = parse_pid_status(b"Uid:\t0\nGid:\t0\t0\t0\t0\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse_pid_status(b"Gid:\t0\t0\t0\t0\n").unwrap_err().reason.contains("Uid"));
        assert!(parse_pid_status(b"Uid:\t0\t0\t0\t0\n").unwrap_err().reason.contains("Gid"));
        let big =
            b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nRssFile:\t18014398509481983 kB\nRssShmem:\t18014398509481983 kB\n";
        assert!(parse_pid_status(big).unwrap_err().reason.contains("overflows"));
        assert!(parse_pid_status(b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmHWM:\t18014398509481984 kB\n").is_err());
        let e = parse_pid_status(b"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nvoluntary_ctxt_switches:\tmany\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
