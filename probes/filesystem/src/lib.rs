//! The built-in `filesystem` probe: capacity and state of each mount, from
//! the snapshot's `filesystems` part.
//!
//! Every family is a gauge labelled `{device, mountpoint, fstype}`:
//!
//! ```text
//! gomon_filesystem_size_bytes, _free_bytes, _available_bytes, _used_bytes (size − free),
//! gomon_filesystem_files, _files_free      only for mounts whose statfs succeeded
//! gomon_filesystem_readonly                0 or 1
//! gomon_filesystem_device_error            1 when statfs failed or timed out, else 0
//! ```

use gomon_probe::{
    Capability, Column, Filesystem, FilesystemUsage, MetricFamily, Probe, ProbeInfo, Snapshot,
    table, value,
};

/// The probe; stateless.
#[derive(Default)]
struct FilesystemProbe;

impl Probe for FilesystemProbe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "filesystem",
            env!("CARGO_PKG_VERSION"),
            "Size, free space and inodes of mounted filesystems.",
            [Capability::Filesystems],
        )
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(families(&now.filesystems))
    }
}

gomon_probe::export_probe!(FilesystemProbe);

const LABELS: [&str; 3] = ["device", "mountpoint", "fstype"];

/// The families of mounts whose statfs succeeded.
#[rustfmt::skip]
const USAGE: &[Column<FilesystemUsage>] = &[
    Column::gauge("gomon_filesystem_size_bytes", "Size of the filesystem.", |u| u.size_bytes as f64),
    Column::gauge("gomon_filesystem_free_bytes", "Free space, reserved blocks included.", |u| u.free_bytes as f64),
    Column::gauge("gomon_filesystem_available_bytes", "Free space for unprivileged users.", |u| u.available_bytes as f64),
    Column::gauge("gomon_filesystem_used_bytes", "Space in use: size minus free.", |u| {
        u.size_bytes.saturating_sub(u.free_bytes) as f64
    }),
    Column::gauge("gomon_filesystem_files", "Inodes, used and free.", |u| u.files as f64),
    Column::gauge("gomon_filesystem_files_free", "Free inodes.", |u| u.files_free as f64),
];

/// The families of every mount.
#[rustfmt::skip]
const STATE: &[Column<Filesystem>] = &[
    Column::gauge("gomon_filesystem_readonly", "1 when mounted read-only.", |m| value::flag(m.read_only)),
    Column::gauge(
        "gomon_filesystem_device_error",
        "1 when statfs failed or missed its deadline; usage is then not reported.",
        |m| value::flag(m.usage.is_err()),
    ),
];

/// The label values of a mount.
fn labels(m: &Filesystem) -> [&str; 3] {
    [&m.device, &m.mount_point, &m.fs_type]
}

/// All of the probe's families for these mounts.
fn families(mounts: &[Filesystem]) -> Vec<MetricFamily> {
    let healthy = mounts.iter().filter_map(|m| Some((labels(m), m.usage.as_ref().ok()?)));
    let mut out = table(LABELS, USAGE, healthy);
    out.extend(table(LABELS, STATE, mounts.iter().map(|m| (labels(m), m))));
    out
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::{self, sample};

    use super::*;

    #[test]
    fn healthy_and_failed_mounts() {
        let f = families(&testing::filesystems());
        testing::check(&f).unwrap();
        let root = ["/dev/sda1", "/", "ext4"];
        let nfs = ["server:/export", "/mnt/nfs", "nfs4"];
        assert_eq!(sample(&f, "gomon_filesystem_used_bytes", &root), 6_000.0);
        assert_eq!(sample(&f, "gomon_filesystem_available_bytes", &root), 3_500.0);
        assert_eq!(sample(&f, "gomon_filesystem_files_free", &root), 600.0);
        assert_eq!(sample(&f, "gomon_filesystem_readonly", &root), 0.0);
        assert_eq!(sample(&f, "gomon_filesystem_readonly", &nfs), 1.0);
        assert_eq!(sample(&f, "gomon_filesystem_device_error", &root), 0.0);
        assert_eq!(sample(&f, "gomon_filesystem_device_error", &nfs), 1.0);
        // The failed mount has no usage series.
        assert_eq!(testing::family(&f, "gomon_filesystem_size_bytes").series.len(), 1);
        assert_eq!(testing::family(&f, "gomon_filesystem_files").series.len(), 1);
    }

    #[test]
    fn family_names() {
        assert_eq!(
            testing::names(&families(&[])),
            [
                "gomon_filesystem_size_bytes",
                "gomon_filesystem_free_bytes",
                "gomon_filesystem_available_bytes",
                "gomon_filesystem_used_bytes",
                "gomon_filesystem_files",
                "gomon_filesystem_files_free",
                "gomon_filesystem_readonly",
                "gomon_filesystem_device_error",
            ]
        );
    }
}
