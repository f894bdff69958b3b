//! /proc/<pid>/io: the process's I/O accounting (CONFIG_TASK_IO_ACCOUNTING).
//!
//! ```text
//! rchar: 1948                  <- bytes passed to read(2)-like syscalls
//! wchar: 0
//! syscr: 7
//! syscw: 0
//! read_bytes: 0                <- bytes fetched from storage
//! write_bytes: 0
//! cancelled_write_bytes: 0
//! ```
//!
//! Readable only by the process's owner (ptrace access) or root; the IO
//! layer leaves all six 0 when it cannot read the file.

use super::num::{parse_u64, show};
use crate::error::ParseError;

/// The six counters of /proc/<pid>/io.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidIo {
    /// `rchar`.
    pub read_chars: u64,
    /// `wchar`.
    pub written_chars: u64,
    /// `syscr`.
    pub read_syscalls: u64,
    /// `syscw`.
    pub write_syscalls: u64,
    /// `read_bytes`.
    pub read_bytes: u64,
    /// `write_bytes`.
    pub written_bytes: u64,
}

/// Parses /proc/<pid>/io. Missing lines are 0; a line gomon reads that does
/// not parse is an error naming the line.
pub fn parse_pid_io(text: &[u8]) -> Result<PidIo, ParseError> {
    let mut io = PidIo::default();
    for (n, key, value) in super::num::key_values(text) {
        let slot = match key {
            b"rchar" => &mut io.read_chars,          // io rchar: bytes read by read-like syscalls
            b"wchar" => &mut io.written_chars,       // io wchar: bytes written by write-like syscalls
            b"syscr" => &mut io.read_syscalls,       // io syscr: read-like syscalls
            b"syscw" => &mut io.write_syscalls,      // io syscw: write-like syscalls
            b"read_bytes" => &mut io.read_bytes,     // io read_bytes: bytes fetched from storage
            b"write_bytes" => &mut io.written_bytes, // io write_bytes: bytes sent toward storage
            _ => continue,
        };
        *slot = parse_u64(value)
            .ok_or_else(|| ParseError::at(n, format!("{}: {:?} is not an unsigned integer", show(key), show(value))))?;
    }
    Ok(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLEEP: &[u8] = include_bytes!("../../tests/fixtures/proc/4242/io");

    #[test]
    fn every_line_maps_to_its_own_name() {
        let text = b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\ncancelled_write_bytes: 7\n";
        let io = parse_pid_io(text).unwrap();
        assert_eq!(
            io,
            PidIo {
                read_chars: 1,
                written_chars: 2,
                read_syscalls: 3,
                write_syscalls: 4,
                read_bytes: 5,
                written_bytes: 6
            }
        );
    }

    #[test]
    fn captured_sleep() {
        let io = parse_pid_io(SLEEP).unwrap();
        assert!(io.read_chars > 0 && io.read_syscalls > 0);
        assert_eq!(io.written_chars, 0);
    }

    #[test]
    fn empty_is_zero_and_bad_lines_are_named() {
        assert_eq!(parse_pid_io(b"").unwrap(), PidIo::default());
        let e = parse_pid_io(b"rchar: 1\nwchar: -2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("wchar"), "{e}");
    }
}
