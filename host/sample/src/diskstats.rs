//! /proc/diskstats: one line per block device and partition.
//!
//! ```text
//!  254       0 vda 33766 7149 3132002 19755 9954 33917 4801320 39684 0 14152 60168 4606 39 779888 678 1255 50
//! ```
//!
//! Columns (Documentation/admin-guide/iostats.rst): major, minor, name, then
//! reads completed, reads merged, sectors read, ms reading, writes completed,
//! writes merged, sectors written, ms writing, I/Os in progress, ms doing I/O,
//! weighted ms doing I/O (14 columns); discards completed, merged, sectors,
//! ms discarding (18 columns, 4.18+); flushes completed, ms flushing
//! (20 columns, 5.5+). Kernels before 2.6.25 printed partitions with 7
//! columns: reads, sectors read, writes, sectors written. Columns beyond 20
//! are ignored; any other count skips the line.
//!
//! Sectors are always 512 bytes in this file; times are ms ÷ 1000.

use super::error::{ParseError, Parsed, parse_u32, parse_u64};
use super::model::Disk;

/// Bytes per sector in /proc/diskstats, whatever the device's sector size.
const SECTOR_BYTES: u64 = 512;

/// Parses /proc/diskstats; a malformed line is skipped and reported.
pub fn parse_diskstats(text: &str) -> Parsed<Disk> {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, index + 1) {
            Ok(disk) => parsed.items.push(disk),
            Err(e) => parsed.skipped.push(e),
        }
    }
    parsed
}

fn parse_line(line: &str, n: usize) -> Result<Disk, ParseError> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let columns = fields.len();
    if !matches!(columns, 7 | 14 | 18) && columns < 20 {
        return Err(ParseError::at(n, format!("{columns} columns, expected 7, 14, 18 or 20")));
    }
    // /proc/diskstats column 1: major number.
    let major = parse_u32(Some(fields[0]), n, "major")?;
    // /proc/diskstats column 2: minor number.
    let minor = parse_u32(Some(fields[1]), n, "minor")?;
    // /proc/diskstats column 3: device name.
    let name = fields[2].to_owned();
    let count = |i: usize, what: &str| parse_u64(Some(fields[i]), n, what);
    let seconds = |i: usize, what: &str| Ok::<f64, ParseError>(count(i, what)? as f64 / 1000.0);
    let bytes = |i: usize, what: &str| {
        let sectors = count(i, what)?;
        sectors
            .checked_mul(SECTOR_BYTES)
            .ok_or_else(|| ParseError::at(n, format!("{what}: {sectors} overflows 64 bits as bytes")))
    };

    let mut disk = Disk { name, major, minor, ..Disk::default() };
    if columns == 7 {
        // Pre-2.6.25 partition line.
        // /proc/diskstats (7 columns) column 4: reads issued.
        disk.reads_completed = count(3, "reads completed")?;
        // /proc/diskstats (7 columns) column 5: sectors read.
        disk.read_bytes = bytes(4, "sectors read")?;
        // /proc/diskstats (7 columns) column 6: writes issued.
        disk.writes_completed = count(5, "writes completed")?;
        // /proc/diskstats (7 columns) column 7: sectors written.
        disk.written_bytes = bytes(6, "sectors written")?;
        return Ok(disk);
    }
    // /proc/diskstats column 4: reads completed.
    disk.reads_completed = count(3, "reads completed")?;
    // /proc/diskstats column 5: reads merged.
    disk.reads_merged = count(4, "reads merged")?;
    // /proc/diskstats column 6: sectors read.
    disk.read_bytes = bytes(5, "sectors read")?;
    // /proc/diskstats column 7: ms spent reading.
    disk.read_seconds = seconds(6, "ms reading")?;
    // /proc/diskstats column 8: writes completed.
    disk.writes_completed = count(7, "writes completed")?;
    // /proc/diskstats column 9: writes merged.
    disk.writes_merged = count(8, "writes merged")?;
    // /proc/diskstats column 10: sectors written.
    disk.written_bytes = bytes(9, "sectors written")?;
    // /proc/diskstats column 11: ms spent writing.
    disk.write_seconds = seconds(10, "ms writing")?;
    // /proc/diskstats column 12: I/Os currently in progress.
    disk.ios_in_progress = count(11, "I/Os in progress")?;
    // /proc/diskstats column 13: ms spent doing I/Os.
    disk.io_seconds = seconds(12, "ms doing I/O")?;
    // /proc/diskstats column 14: weighted ms spent doing I/Os.
    disk.weighted_io_seconds = seconds(13, "weighted ms doing I/O")?;
    if columns >= 18 {
        // /proc/diskstats column 15: discards completed.
        disk.discards_completed = count(14, "discards completed")?;
        // /proc/diskstats column 16: discards merged.
        disk.discards_merged = count(15, "discards merged")?;
        // /proc/diskstats column 17: sectors discarded.
        disk.discarded_bytes = bytes(16, "sectors discarded")?;
        // /proc/diskstats column 18: ms spent discarding.
        disk.discard_seconds = seconds(17, "ms discarding")?;
    }
    if columns >= 20 {
        // /proc/diskstats column 19: flush requests completed.
        disk.flushes_completed = count(18, "flushes completed")?;
        // /proc/diskstats column 20: ms spent flushing.
        disk.flush_seconds = seconds(19, "ms flushing")?;
    }
    Ok(disk)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/diskstats");
    const MIXED: &str = include_str!("../tests/fixtures/edge/diskstats-mixed");

    #[test]
    fn real_capture_from_this_machine() {
        let parsed = parse_diskstats(REAL);
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert_eq!(parsed.items.len(), 10);
        let vda = parsed.items.iter().find(|d| d.name == "vda").unwrap();
        assert_eq!(
            *vda,
            Disk {
                name: "vda".into(),
                major: 254,
                minor: 0,
                reads_completed: 33_766,
                reads_merged: 7_149,
                read_bytes: 3_132_002 * 512,
                read_seconds: 19.755,
                writes_completed: 9_954,
                writes_merged: 33_917,
                written_bytes: 4_801_320 * 512,
                write_seconds: 39.684,
                ios_in_progress: 0,
                io_seconds: 14.152,
                weighted_io_seconds: 60.168,
                discards_completed: 4_606,
                discards_merged: 39,
                discarded_bytes: 779_888 * 512,
                discard_seconds: 0.678,
                flushes_completed: 1_255,
                flush_seconds: 0.05,
            }
        );
        assert_eq!(parsed.items[0].name, "loop0");
        assert_eq!((parsed.items[0].major, parsed.items[0].minor), (7, 0));
    }

    #[test]
    fn fourteen_eighteen_twenty_and_seven_columns() {
        let parsed = parse_diskstats(MIXED);
        let names: Vec<_> = parsed.items.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sda", "sda1", "nvme0n1", "nvme0n1p1", "loop0"]);

        // 14 columns (kernel < 4.18): no discard or flush fields.
        let sda = &parsed.items[0];
        assert_eq!(sda.reads_completed, 1000);
        assert_eq!(sda.reads_merged, 20);
        assert_eq!(sda.read_bytes, 30_000 * 512);
        assert_eq!(sda.read_seconds, 0.4);
        assert_eq!(sda.writes_completed, 500);
        assert_eq!(sda.writes_merged, 60);
        assert_eq!(sda.written_bytes, 7_000 * 512);
        assert_eq!(sda.write_seconds, 0.8);
        assert_eq!(sda.ios_in_progress, 0);
        assert_eq!(sda.io_seconds, 0.9);
        assert_eq!(sda.weighted_io_seconds, 1.2);
        assert_eq!(sda.discards_completed, 0);
        assert_eq!(sda.flushes_completed, 0);

        // 7 columns (partition, kernel < 2.6.25).
        let sda1 = &parsed.items[1];
        assert_eq!((sda1.reads_completed, sda1.read_bytes), (10, 2000 * 512));
        assert_eq!((sda1.writes_completed, sda1.written_bytes), (30, 4000 * 512));

        // 18 columns (4.18 ≤ kernel < 5.5).
        let nvme = &parsed.items[2];
        assert_eq!(nvme.ios_in_progress, 3);
        assert_eq!(nvme.discards_completed, 11);
        assert_eq!(nvme.discards_merged, 12);
        assert_eq!(nvme.discarded_bytes, 13_000 * 512);
        assert_eq!(nvme.discard_seconds, 0.014);
        assert_eq!(nvme.flushes_completed, 0);

        // 20 columns.
        let p1 = &parsed.items[3];
        assert_eq!(p1.flushes_completed, 15);
        assert_eq!(p1.flush_seconds, 1.6);

        // The 13-column dm-0 line is skipped and named.
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].line, 5);
        assert!(parsed.skipped[0].reason.contains("13 columns"), "{:?}", parsed.skipped);
    }

    #[test]
    fn bad_numbers_skip_only_their_line() {
        let text =
            " 8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n 8 x sdb 1 2 3 4 5 6 7 8 9 10 11\n 8 32 sdc 1 2 3 -4 5 6 7 8 9 10 11\n";
        let parsed = parse_diskstats(text);
        assert_eq!(parsed.items.len(), 1);
        assert_eq!(parsed.skipped.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
        assert!(parsed.skipped[0].reason.contains("minor"));
        assert!(parsed.skipped[1].reason.contains("ms reading"));
    }

    #[test]
    fn sector_counts_that_overflow_as_bytes_skip_the_line() {
        let parsed = parse_diskstats(" 8 0 sda 1 2 36028797018963968 4 5 6 7 8 9 10 11\n");
        assert!(parsed.items.is_empty());
        assert!(parsed.skipped[0].reason.contains("overflows"), "{:?}", parsed.skipped);
    }

    #[test]
    fn future_columns_are_ignored() {
        let text = " 8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 99 99\n";
        let parsed = parse_diskstats(text);
        assert!(parsed.skipped.is_empty());
        assert_eq!(parsed.items[0].flush_seconds, 0.017);
    }
}
