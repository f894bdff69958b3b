//! The built-in `io` probe: block device statistics (/proc/diskstats), from
//! the snapshot's `disks` part.
//!
//! Every family is labelled `{device}`; all are counters (named without
//! `_total`) except the gauge `gomon_disk_io_now`:
//!
//! ```text
//! gomon_disk_reads_completed, _reads_merged, _read_bytes, _read_time_seconds,
//! gomon_disk_writes_completed, _writes_merged, _written_bytes, _write_time_seconds,
//! gomon_disk_io_time_seconds, _io_time_weighted_seconds,
//! gomon_disk_discards_completed, _discards_merged, _discarded_bytes, _discard_time_seconds,
//! gomon_disk_flush_requests, _flush_requests_time_seconds, gomon_disk_io_now
//! ```

use gomon_probe::{Capability, Column, Disk, MetricFamily, Probe, ProbeInfo, Snapshot, table};

/// The probe; stateless.
#[derive(Default)]
struct IoProbe;

impl Probe for IoProbe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "io",
            env!("CARGO_PKG_VERSION"),
            "Reads, writes, discards and flushes of block devices.",
            [Capability::Disks],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(families(&now.disks))
    }
}

gomon_probe::export_probe!(IoProbe);

#[rustfmt::skip]
const COLUMNS: &[Column<Disk>] = &[
    Column::counter("gomon_disk_reads_completed", "Reads completed.", |d| d.reads_completed as f64),
    Column::counter("gomon_disk_reads_merged", "Adjacent reads merged.", |d| d.reads_merged as f64),
    Column::counter("gomon_disk_read_bytes", "Bytes read.", |d| d.read_bytes as f64),
    Column::counter("gomon_disk_read_time_seconds", "Seconds spent reading.", |d| d.read_seconds),
    Column::counter("gomon_disk_writes_completed", "Writes completed.", |d| d.writes_completed as f64),
    Column::counter("gomon_disk_writes_merged", "Adjacent writes merged.", |d| d.writes_merged as f64),
    Column::counter("gomon_disk_written_bytes", "Bytes written.", |d| d.written_bytes as f64),
    Column::counter("gomon_disk_write_time_seconds", "Seconds spent writing.", |d| d.write_seconds),
    Column::counter("gomon_disk_io_time_seconds", "Seconds with I/O in progress.", |d| d.io_seconds),
    Column::counter(
        "gomon_disk_io_time_weighted_seconds",
        "Seconds spent on I/O, weighted by the number in progress.",
        |d| d.weighted_io_seconds,
    ),
    Column::counter("gomon_disk_discards_completed", "Discards completed.", |d| d.discards_completed as f64),
    Column::counter("gomon_disk_discards_merged", "Adjacent discards merged.", |d| d.discards_merged as f64),
    Column::counter("gomon_disk_discarded_bytes", "Bytes discarded.", |d| d.discarded_bytes as f64),
    Column::counter("gomon_disk_discard_time_seconds", "Seconds spent discarding.", |d| d.discard_seconds),
    Column::counter("gomon_disk_flush_requests", "Flush requests completed.", |d| d.flushes_completed as f64),
    Column::counter("gomon_disk_flush_requests_time_seconds", "Seconds spent flushing.", |d| d.flush_seconds),
    Column::gauge("gomon_disk_io_now", "I/Os in progress now.", |d| d.ios_in_progress as f64),
];

/// All of the probe's families for these disks.
fn families(disks: &[Disk]) -> Vec<MetricFamily> {
    table(["device"], COLUMNS, disks.iter().map(|d| ([d.name.as_str()], d)))
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn one_series_per_disk_and_family() {
        let f = families(&testing::disks());
        testing::check(&f).unwrap();
        assert_eq!(f.len(), 17);
        assert!(f.iter().all(|f| f.series.len() == 1));
        // testing::disks() counts up from 1 in field order; bytes are × 512.
        assert_eq!(sample(&f, "gomon_disk_reads_merged", &["sda"]), 2.0);
        assert_eq!(sample(&f, "gomon_disk_read_bytes", &["sda"]), 1_536.0);
        assert_eq!(sample(&f, "gomon_disk_io_now", &["sda"]), 9.0);
        assert_eq!(sample(&f, "gomon_disk_io_time_weighted_seconds", &["sda"]), 11.0);
        assert_eq!(sample(&f, "gomon_disk_flush_requests_time_seconds", &["sda"]), 17.0);
    }

    #[test]
    fn family_names() {
        assert_eq!(
            testing::names(&families(&[])),
            [
                "gomon_disk_reads_completed",
                "gomon_disk_reads_merged",
                "gomon_disk_read_bytes",
                "gomon_disk_read_time_seconds",
                "gomon_disk_writes_completed",
                "gomon_disk_writes_merged",
                "gomon_disk_written_bytes",
                "gomon_disk_write_time_seconds",
                "gomon_disk_io_time_seconds",
                "gomon_disk_io_time_weighted_seconds",
                "gomon_disk_discards_completed",
                "gomon_disk_discards_merged",
                "gomon_disk_discarded_bytes",
                "gomon_disk_discard_time_seconds",
                "gomon_disk_flush_requests",
                "gomon_disk_flush_requests_time_seconds",
                "gomon_disk_io_now",
            ]
        );
    }
}
