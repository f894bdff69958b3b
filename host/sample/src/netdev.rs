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
//! When /proc/net/dev is absent (or refused as a whole), the same counters
//! come from `/sys/class/net/<name>/statistics/*`, one value per file,
//! combined as the kernel combines them for net/dev
//! (`dev_seq_printf_stats` in net/core/net-procfs.c; see [`STATISTICS`]).
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

/// The files of `/sys/class/net/<name>/statistics` that make up the net/dev
/// counters, in the order [`from_statistics`] takes their values.
pub const STATISTICS: [&str; 23] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "rx_missed_errors",
    "rx_fifo_errors",
    "rx_length_errors",
    "rx_over_errors",
    "rx_crc_errors",
    "rx_frame_errors",
    "rx_compressed",
    "multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
    "tx_fifo_errors",
    "collisions",
    "tx_carrier_errors",
    "tx_aborted_errors",
    "tx_window_errors",
    "tx_heartbeat_errors",
    "tx_compressed",
];

/// Parses one `/sys/class/net/<name>/statistics/<counter>` file: an
/// unsigned decimal and a newline.
pub fn parse_statistic(text: &str) -> Result<u64, ParseError> {
    parse_u64(Some(text.trim()), 1, "counter")
}

/// The net/dev counters of interface `name` from its sysfs statistics, in
/// [`STATISTICS`] order, summed where net/dev sums them. A sum that would
/// overflow is an error (the kernel would wrap; no real counter gets there).
pub fn from_statistics(name: &str, v: &[u64; 23]) -> Result<NetworkInterface, ParseError> {
    let sum = |parts: &[usize], what: &str| {
        parts
            .iter()
            .try_fold(0u64, |total, &i| total.checked_add(v[i]))
            .ok_or_else(|| ParseError::whole(format!("{name}: {what} overflows 64 bits")))
    };
    Ok(NetworkInterface {
        name: name.to_owned(),
        // statistics/rx_bytes.
        receive_bytes: v[0],
        // statistics/rx_packets.
        receive_packets: v[1],
        // statistics/rx_errors.
        receive_errors: v[2],
        // statistics/rx_dropped + rx_missed_errors (net/dev "drop").
        receive_dropped: sum(&[3, 4], "rx_dropped + rx_missed_errors")?,
        // statistics/rx_fifo_errors.
        receive_fifo_errors: v[5],
        // statistics/rx_length_errors + rx_over_errors + rx_crc_errors + rx_frame_errors (net/dev "frame").
        receive_frame_errors: sum(&[6, 7, 8, 9], "the receive frame errors")?,
        // statistics/rx_compressed.
        receive_compressed: v[10],
        // statistics/multicast.
        receive_multicast: v[11],
        // statistics/tx_bytes.
        transmit_bytes: v[12],
        // statistics/tx_packets.
        transmit_packets: v[13],
        // statistics/tx_errors.
        transmit_errors: v[14],
        // statistics/tx_dropped.
        transmit_dropped: v[15],
        // statistics/tx_fifo_errors.
        transmit_fifo_errors: v[16],
        // statistics/collisions.
        transmit_collisions: v[17],
        // statistics/tx_carrier_errors + tx_aborted_errors + tx_window_errors + tx_heartbeat_errors (net/dev "carrier").
        transmit_carrier_errors: sum(&[18, 19, 20, 21], "the carrier errors")?,
        // statistics/tx_compressed.
        transmit_compressed: v[22],
        ..NetworkInterface::default()
    })
}

/// Whether `name` may be joined to a sysfs path: kernel interface names
/// never hold `/`, but a strange net/dev line must not make us read outside
/// /sys/class/net.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".." && !name.contains('\0')
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
    u64::try_from(mbits).ok().filter(|&m| m > 0).and_then(|m| m.checked_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/net/dev");
    const EDGE: &str = include_str!("../tests/fixtures/edge/net-dev-edge");
    const BAD_HEADER: &str = include_str!("../tests/fixtures/edge/net-dev-bad-header");

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
        assert_eq!(parse_speed("18446744073709551615\n"), None, "overflows as bit/s");
    }

    #[test]
    fn statistics_combine_as_net_dev_does() {
        let mut v = [0u64; 23];
        for (i, slot) in v.iter_mut().enumerate() {
            *slot = i as u64 + 1;
        }
        let nic = from_statistics("eth0", &v).unwrap();
        assert_eq!((nic.receive_bytes, nic.receive_packets, nic.receive_errors), (1, 2, 3));
        assert_eq!(nic.receive_dropped, 4 + 5);
        assert_eq!(nic.receive_fifo_errors, 6);
        assert_eq!(nic.receive_frame_errors, 7 + 8 + 9 + 10);
        assert_eq!((nic.receive_compressed, nic.receive_multicast), (11, 12));
        assert_eq!((nic.transmit_bytes, nic.transmit_packets, nic.transmit_errors), (13, 14, 15));
        assert_eq!((nic.transmit_dropped, nic.transmit_fifo_errors, nic.transmit_collisions), (16, 17, 18));
        assert_eq!(nic.transmit_carrier_errors, 19 + 20 + 21 + 22);
        assert_eq!(nic.transmit_compressed, 23);
        v[3] = u64::MAX;
        assert!(from_statistics("eth0", &v).unwrap_err().reason.contains("overflows"));
        assert_eq!(parse_statistic("42\n"), Ok(42));
        assert!(parse_statistic("-1\n").is_err());
        assert!(parse_statistic("").is_err());
        assert!(is_safe_name("eth0") && !is_safe_name("..") && !is_safe_name("a/b") && !is_safe_name(""));
    }
}
