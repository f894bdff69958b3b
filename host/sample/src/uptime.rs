//! /proc/uptime.
//!
//! ```text
//! 400.18 341.33
//! ```
//!
//! Seconds since boot; the second field (idle seconds summed over CPUs) is
//! not read.

use super::error::{ParseError, parse_f64};

/// Parses /proc/uptime into seconds since boot.
pub fn parse_uptime(text: &str) -> Result<f64, ParseError> {
    // /proc/uptime field 1: seconds since boot.
    parse_f64(text.split_ascii_whitespace().next(), 1, "uptime")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/uptime");

    #[test]
    fn real_capture_from_this_machine() {
        assert_eq!(parse_uptime(REAL), Ok(400.18));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse_uptime("").is_err());
        assert!(parse_uptime("up 1\n").is_err());
    }
}
