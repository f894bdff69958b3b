//! System-wide limits from /proc/sys and gomon's own resource limits.
//!
//! ```text
//! /proc/sys/fs/file-max        2466183\n
//! /proc/sys/fs/file-nr         595\t0\t2466183\n   <- allocated, unused (always 0), max
//! /proc/sys/kernel/pid_max     32768\n
//! /proc/sys/kernel/threads-max 192731\n
//! ```
//!
//! Every value ends in a newline, which is trimmed before parsing (the
//! original gomon did not, so its file-max was always 0).

use super::error::{ParseError, parse_u64};

/// Parses a /proc/sys file holding one unsigned integer (file-max, pid_max,
/// threads-max). Surrounding whitespace, including the newline, is trimmed.
pub fn parse_single_u64(text: &str) -> Result<u64, ParseError> {
    let trimmed = text.trim();
    if trimmed.contains(char::is_whitespace) {
        return Err(ParseError::at(1, format!("{trimmed:?} is not a single number")));
    }
    parse_u64(Some(trimmed), 1, "value")
}

/// What /proc/sys/fs/file-nr holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileNr {
    /// Field 1: file handles allocated.
    pub allocated: u64,
    /// Field 3: the system-wide maximum, as file-max says (absent on a
    /// malformed line).
    pub maximum: Option<u64>,
}

/// Parses /proc/sys/fs/file-nr: allocated, unused (always 0 since 2.6), and
/// the maximum. The allocated count is required; a maximum that is absent
/// or not a number is `None`.
pub fn parse_file_nr(text: &str) -> Result<FileNr, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    // /proc/sys/fs/file-nr field 1: allocated file handles.
    let allocated = parse_u64(fields.next(), 1, "allocated")?;
    // /proc/sys/fs/file-nr field 3: maximum file handles (file-max).
    let maximum = fields.nth(1).and_then(|f| f.parse::<u64>().ok());
    Ok(FileNr { allocated, maximum })
}

/// A soft and hard resource limit; `None` is RLIM_INFINITY.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft (current) limit.
    pub soft: Option<u64>,
    /// The hard (maximum) limit.
    pub hard: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_MAX: &str = include_str!("../tests/fixtures/proc/sys/fs/file-max");
    const FILE_NR: &str = include_str!("../tests/fixtures/proc/sys/fs/file-nr");
    const PID_MAX: &str = include_str!("../tests/fixtures/proc/sys/kernel/pid_max");
    const THREADS_MAX: &str = include_str!("../tests/fixtures/proc/sys/kernel/threads-max");

    #[test]
    fn file_max_with_its_newline_parses() {
        assert!(FILE_MAX.ends_with('\n'));
        assert_eq!(parse_single_u64(FILE_MAX), Ok(2_466_183));
        // 64-bit kernels may say "unlimited" as LONG_MAX.
        assert_eq!(parse_single_u64("9223372036854775807\n"), Ok(9_223_372_036_854_775_807));
    }

    #[test]
    fn real_captures_from_this_machine() {
        assert_eq!(parse_file_nr(FILE_NR), Ok(FileNr { allocated: 595, maximum: Some(2_466_183) }));
        assert_eq!(parse_single_u64(PID_MAX), Ok(32_768));
        assert_eq!(parse_single_u64(THREADS_MAX), Ok(192_731));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse_single_u64("").is_err());
        assert!(parse_single_u64("1 2\n").is_err());
        assert!(parse_single_u64("-1\n").is_err());
        assert!(parse_file_nr("\n").is_err());
        assert_eq!(parse_file_nr("12\n"), Ok(FileNr { allocated: 12, maximum: None }));
        assert_eq!(parse_file_nr("12 0 x\n"), Ok(FileNr { allocated: 12, maximum: None }));
    }
}
