//! /proc/net/dev counters and /sys/class/net/<name> attributes.
//!
//! ```text
//! Inter-|   Receive                                                |  Transmit
//!  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
//!   eth0: 197665564    9164    0    0    0     0          0         0   567029    5763    0    0    0     0       0          0
//! ```
//!
//! Two header lines, then `name:` and 16 counters: 8 receive (bytes, packets,
//! errs, drop, fifo, frame, compressed, multicast) and 8 transmit (bytes,
//! packets, errs, drop, fifo, colls, carrier, compressed). The kernel prints
//! the name right-aligned in 6 columns and the first counter without a
//! leading space once it is wide, so `eth0:18446744073709551615` happens. The
//! name ends at the last `:` before the counters (current kernels refuse `:`
//! in names; 2.2-era alias lines like `eth0:1:` keep `eth0:1`).
//!
//! From sysfs: `operstate` (text), `mtu`, `address` (empty or all zeros →
//! none) and `speed` in Mbit/s (−1, 0 or an EINVAL read → none).

use super::error::{ParseError, Parsed, parse_u64};
use super::model::NetworkInterface;

/// Receive columns, then transmit columns, as the second header line names them.
const RECEIVE: [&str; 8] = ["bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"];
const TRANSMIT: [&str; 8] = ["bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"];

/// Parses /proc/net/dev. The header must name the 16 known columns (else the
/// whole file is refused, rather than mislabel counters); a malformed
/// interface line is skipped and reported. The sysfs fields are left empty.
pub fn parse_net_dev(text: &str) -> Result<Parsed<NetworkInterface>, ParseError> {
    let mut lines = text.lines();
    check_header(lines.next(), lines.next())?;
    let mut parsed = Parsed::default();
    for (index, line) in lines.enumerate() {
        let n = index + 3;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, n) {
            Ok(interface) => parsed.items.push(interface),
            Err(e) => parsed.skipped.push(e),
        }
    }
    Ok(parsed)
}

fn check_header(first: Option<&str>, second: Option<&str>) -> Result<(), ParseError> {
    if first.is_none_or(|l| !l.contains("Receive") || !l.contains("Transmit")) {
        return Err(ParseError::at(1, "not the /proc/net/dev header (Receive | Transmit)"));
    }
    let second = second.ok_or_else(|| ParseError::at(2, "missing column header"))?;
    let groups: Vec<&str> = second.split('|').collect();
    let same = |group: Option<&&str>, want: &[&str; 8]| {
        group.is_some_and(|g| g.split_ascii_whitespace().eq(want.iter().copied()))
    };
    if groups.len() != 3 || !same(groups.get(1), &RECEIVE) || !same(groups.get(2), &TRANSMIT) {
        return Err(ParseError::at(2, format!("unexpected columns {second:?}")));
    }
    Ok(())
}

fn parse_line(line: &str, n: usize) -> Result<NetworkInterface, ParseError> {
    let (name, counters) =
        line.rsplit_once(':').ok_or_else(|| ParseError::at(n, "no \"name:\" before the counters"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(ParseError::at(n, format!("bad interface name {name:?}")));
    }
    let values: Vec<&str> = counters.split_ascii_whitespace().collect();
    if values.len() < 16 {
        return Err(ParseError::at(n, format!("{name}: {} counters, expected 16", values.len())));
    }
    let c = |i: usize, what: &str| parse_u64(Some(values[i]), n, what);
    Ok(NetworkInterface {
        name: name.to_owned(),
        // /proc/net/dev receive bytes.
        receive_bytes: c(0, "receive bytes")?,
        // /proc/net/dev receive packets.
        receive_packets: c(1, "receive packets")?,
        // /proc/net/dev receive errs.
        receive_errors: c(2, "receive errs")?,
        // /proc/net/dev receive drop.
        receive_dropped: c(3, "receive drop")?,
        // /proc/net/dev receive fifo (overruns).
        receive_fifo_errors: c(4, "receive fifo")?,
        // /proc/net/dev receive frame.
        receive_frame_errors: c(5, "receive frame")?,
        // /proc/net/dev receive compressed.
        receive_compressed: c(6, "receive compressed")?,
        // /proc/net/dev receive multicast.
        receive_multicast: c(7, "receive multicast")?,
        // /proc/net/dev transmit bytes.
        transmit_bytes: c(8, "transmit bytes")?,
        // /proc/net/dev transmit packets.
        transmit_packets: c(9, "transmit packets")?,
        // /proc/net/dev transmit errs.
        transmit_errors: c(10, "transmit errs")?,
        // /proc/net/dev transmit drop.
        transmit_dropped: c(11, "transmit drop")?,
        // /proc/net/dev transmit fifo (overruns).
        transmit_fifo_errors: c(12, "transmit fifo")?,
        // /proc/net/dev transmit colls.
        transmit_collisions: c(13, "transmit colls")?,
        // /proc/net/dev transmit carrier.
        transmit_carrier_errors: c(14, "transmit carrier")?,
        // /proc/net/dev transmit compressed.
        transmit_compressed: c(15, "transmit compressed")?,
        ..NetworkInterface::default()
    })
}

/// /sys/class/net/<name>/operstate: `up`, `down`, `unknown`, `dormant`, …
/// Empty text (a vanished interface) is `unknown`.
pub fn parse_operstate(text: &str) -> String {
    let state = text.trim();
    if state.is_empty() { "unknown".to_owned() } else { state.to_owned() }
}

/// /sys/class/net/<name>/mtu, in bytes.
pub fn parse_mtu(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

/// /sys/class/net/<name>/address: none when empty (tunnels) or all zeros
/// (loopback), which are not hardware addresses.
pub fn parse_address(text: &str) -> Option<String> {
    let address = text.trim();
    if address.is_empty() || address.chars().all(|c| c == '0' || c == ':') { None } else { Some(address.to_owned()) }
}

/// /sys/class/net/<name>/speed, Mbit/s → bit/s; none for −1 (SPEED_UNKNOWN),
/// 0, or text that is not a number.
pub fn parse_speed(text: &str) -> Option<u64> {
    let mbits: i64 = text.trim().parse().ok()?;
    u64::try_from(mbits).ok().filter(|&m| m > 0).map(|m| m.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../tests/fixtures/proc/net/dev");
    const EDGE: &str = include_str!("../../tests/fixtures/edge/net-dev-edge");
    const BAD_HEADER: &str = include_str!("../../tests/fixtures/edge/net-dev-bad-header");

    #[test]
    fn real_capture_from_this_machine() {
        let parsed = parse_net_dev(REAL).unwrap();
        assert!(parsed.skipped.is_empty());
        let names: Vec<_> = parsed.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        let eth0 = &parsed.items[3];
        assert_eq!(eth0.receive_bytes, 197_665_564);
        assert_eq!(eth0.receive_packets, 9_164);
        assert_eq!(eth0.transmit_bytes, 567_029);
        assert_eq!(eth0.transmit_packets, 5_763);
        assert_eq!(eth0.oper_state, "");
    }

    #[test]
    fn every_column_maps_to_its_own_name_even_when_glued_to_the_colon() {
        let parsed = parse_net_dev(EDGE).unwrap();
        let eth0 = parsed.items.iter().find(|i| i.name == "eth0").unwrap();
        assert_eq!(
            *eth0,
            NetworkInterface {
                name: "eth0".into(),
                receive_bytes: u64::MAX,
                receive_packets: 1,
                receive_errors: 2,
                receive_dropped: 3,
                receive_fifo_errors: 4,
                receive_frame_errors: 5,
                receive_compressed: 6,
                receive_multicast: 7,
                transmit_bytes: 8,
                transmit_packets: 9,
                transmit_errors: 10,
                transmit_dropped: 11,
                transmit_fifo_errors: 12,
                transmit_collisions: 13,
                transmit_carrier_errors: 14,
                transmit_compressed: 15,
                ..NetworkInterface::default()
            }
        );
    }

    #[test]
    fn alias_names_and_short_lines() {
        let parsed = parse_net_dev(EDGE).unwrap();
        let names: Vec<_> = parsed.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "eth0:1", "br-1a2b3c4d5e6f"]);
        assert_eq!(parsed.items[2].receive_bytes, 100);
        assert_eq!(parsed.items[2].transmit_bytes, 200);
        assert_eq!(parsed.items[3].transmit_compressed, 28);
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].line, 6);
        assert!(parsed.skipped[0].reason.contains("wlan0: 3 counters"), "{:?}", parsed.skipped);
    }

    #[test]
    fn unknown_header_is_refused() {
        let e = parse_net_dev(BAD_HEADER).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_net_dev("").is_err());
        assert!(parse_net_dev("lo: 1 2 3\n").is_err());
    }

    #[test]
    fn sysfs_attributes() {
        assert_eq!(parse_operstate("up\n"), "up");
        assert_eq!(parse_operstate(""), "unknown");
        assert_eq!(parse_mtu("1400\n"), Some(1400));
        assert_eq!(parse_mtu("\n"), None);
        assert_eq!(parse_address("02:fc:00:00:00:01\n"), Some("02:fc:00:00:00:01".into()));
        assert_eq!(parse_address("00:00:00:00:00:00\n"), None);
        assert_eq!(parse_address("\n"), None);
        assert_eq!(parse_speed("10000\n"), Some(10_000_000_000));
        assert_eq!(parse_speed("-1\n"), None);
        assert_eq!(parse_speed("0\n"), None);
        assert_eq!(parse_speed(""), None);
    }
}
