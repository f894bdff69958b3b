//! Per-device tables: one family per column, one series per row.
//!
//! Block devices, network interfaces and mounts each carry many numbers
//! under the same labels. A probe lists the columns once and hands over
//! the rows with their label values:
//!
//! ```
//! use gomon_probe::{Column, Disk, table};
//!
//! const COLUMNS: &[Column<Disk>] = &[
//!     Column::counter("gomon_disk_read_bytes", "Bytes read.", |d| d.read_bytes as f64),
//!     Column::gauge("gomon_disk_io_now", "I/Os in progress.", |d| d.ios_in_progress as f64),
//! ];
//! # let disks: Vec<Disk> = vec![];
//! let families = table(["device"], COLUMNS, disks.iter().map(|d| ([d.name.as_str()], d)));
//! assert_eq!(families.len(), 2);
//! ```

use crate::{MetricFamily, MetricKind};

/// One column of a table: a family's kind, name and help, and how to read
/// its value from a row.
pub struct Column<R> {
    kind: MetricKind,
    name: &'static str,
    help: &'static str,
    read: fn(&R) -> f64,
}

impl<R> Column<R> {
    /// A counter column (name without `_total`).
    pub const fn counter(name: &'static str, help: &'static str, read: fn(&R) -> f64) -> Self {
        Self { kind: MetricKind::Counter, name, help, read }
    }

    /// A gauge column.
    pub const fn gauge(name: &'static str, help: &'static str, read: fn(&R) -> f64) -> Self {
        Self { kind: MetricKind::Gauge, name, help, read }
    }

    /// An empty family for this column, labelled `label_names`.
    fn family(&self, label_names: &[&str]) -> MetricFamily {
        let family = match self.kind {
            MetricKind::Counter => MetricFamily::counter(self.name, self.help),
            MetricKind::Gauge => MetricFamily::gauge(self.name, self.help),
        };
        family.labels(label_names)
    }
}

/// Builds one family per column, in column order, with one series per row.
///
/// Each row comes with its label values, one per label name (the array
/// lengths make the compiler check that). Families are returned even when
/// there are no rows.
pub fn table<'r, R: 'r, const N: usize>(
    label_names: [&str; N],
    columns: &[Column<R>],
    rows: impl IntoIterator<Item = ([&'r str; N], &'r R)>,
) -> Vec<MetricFamily> {
    let mut families: Vec<MetricFamily> = columns.iter().map(|c| c.family(&label_names)).collect();
    for (labels, row) in rows {
        for (family, column) in families.iter_mut().zip(columns) {
            family.push(&labels, (column.read)(row));
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        name: &'static str,
        a: u64,
    }

    const COLUMNS: &[Column<Row>] = &[
        Column::counter("t_a_bytes", "A.", |r| r.a as f64),
        Column::gauge("t_double", "Twice A.", |r| 2.0 * r.a as f64),
    ];

    #[test]
    fn one_family_per_column_one_series_per_row() {
        let rows = [Row { name: "x", a: 1 }, Row { name: "y", a: 5 }];
        let f = table(["name"], COLUMNS, rows.iter().map(|r| ([r.name], r)));
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].kind, f[0].unit.as_str()), (MetricKind::Counter, "bytes"));
        assert_eq!(f[1].kind, MetricKind::Gauge);
        assert_eq!(f[1].series[1].labels, ["y"]);
        assert_eq!(f[1].series[1].value, 10.0);
    }
}
