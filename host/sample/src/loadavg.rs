//! /proc/loadavg.
//!
//! ```text
//! 2.18 1.22 0.51 3/105 8664
//! ```
//!
//! Load averages over 1, 5 and 15 minutes; runnable/existing scheduling
//! entities; the last pid handed out (not read).

use super::error::{ParseError, parse_f64, parse_u32};
use super::model::Load;

/// Parses /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Result<Load, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    // /proc/loadavg field 1: load average over 1 minute.
    let one_minute = parse_f64(fields.next(), 1, "1-minute load")?;
    // /proc/loadavg field 2: load average over 5 minutes.
    let five_minutes = parse_f64(fields.next(), 1, "5-minute load")?;
    // /proc/loadavg field 3: load average over 15 minutes.
    let fifteen_minutes = parse_f64(fields.next(), 1, "15-minute load")?;
    // /proc/loadavg field 4: runnable/total scheduling entities.
    let entities_field = fields.next();
    let (runnable, entities) = entities_field
        .and_then(|f| f.split_once('/'))
        .ok_or_else(|| ParseError::at(1, format!("field 4: {entities_field:?} is not runnable/total")))?;
    let runnable = parse_u32(Some(runnable), 1, "runnable")?;
    let entities = parse_u32(Some(entities), 1, "entities")?;
    Ok(Load { one_minute, five_minutes, fifteen_minutes, runnable, entities })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/loadavg");

    #[test]
    fn real_capture_from_this_machine() {
        assert_eq!(
            parse_loadavg(REAL).unwrap(),
            Load { one_minute: 2.18, five_minutes: 1.22, fifteen_minutes: 0.51, runnable: 3, entities: 105 }
        );
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse_loadavg("").is_err());
        assert!(parse_loadavg("0.1 0.2 0.3 3 100\n").unwrap_err().reason.contains("runnable/total"));
        assert!(parse_loadavg("0.1 0.2 zero 3/100 1\n").unwrap_err().reason.contains("15-minute"));
        assert!(parse_loadavg("0.1 0.2 0.3 3/x 1\n").unwrap_err().reason.contains("entities"));
    }
}
