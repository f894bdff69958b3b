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

/// Parses /proc/sys/fs/file-nr and returns its first field: file handles
/// allocated.
pub fn parse_file_nr(text: &str) -> Result<u64, ParseError> {
    // /proc/sys/fs/file-nr field 1: allocated file handles.
    parse_u64(text.split_ascii_whitespace().next(), 1, "allocated")
}

/// A soft and hard resource limit; `None` is RLIM_INFINITY.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rlimit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

impl Rlimit {
    /// Converts raw getrlimit values, mapping `infinity` to `None`.
    pub fn from_raw(soft: u64, hard: u64, infinity: u64) -> Self {
        let finite = |v: u64| if v == infinity { None } else { Some(v) };
        Rlimit { soft: finite(soft), hard: finite(hard) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_MAX: &str = include_str!("../../tests/fixtures/proc/sys/fs/file-max");
    const FILE_NR: &str = include_str!("../../tests/fixtures/proc/sys/fs/file-nr");
    const PID_MAX: &str = include_str!("../../tests/fixtures/proc/sys/kernel/pid_max");
    const THREADS_MAX: &str = include_str!("../../tests/fixtures/proc/sys/kernel/threads-max");

    #[test]
    fn file_max_with_its_newline_parses() {
        assert!(FILE_MAX.ends_with('\n'));
        assert_eq!(parse_single_u64(FILE_MAX), Ok(2_466_183));
        // 64-bit kernels may say "unlimited" as LONG_MAX.
        assert_eq!(parse_single_u64("9223372036854775807\n"), Ok(9_223_372_036_854_775_807));
    }

    #[test]
    fn real_captures_from_this_machine() {
        assert_eq!(parse_file_nr(FILE_NR), Ok(595));
        assert_eq!(parse_single_u64(PID_MAX), Ok(32_768));
        assert_eq!(parse_single_u64(THREADS_MAX), Ok(192_731));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse_single_u64("").is_err());
        assert!(parse_single_u64("1 2\n").is_err());
        assert!(parse_single_u64("-1\n").is_err());
        assert!(parse_file_nr("\n").is_err());
    }

    #[test]
    fn infinity_is_none() {
        let inf = u64::MAX;
        assert_eq!(Rlimit::from_raw(1024, inf, inf), Rlimit { soft: Some(1024), hard: None });
        assert_eq!(Rlimit::from_raw(inf, inf, inf), Rlimit { soft: None, hard: None });
    }
}
