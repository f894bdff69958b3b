//! The `[sample]` section of the configuration file.
//!
//! ```toml
//! [sample]
//! proc_root = "/proc"
//! sys_root = "/sys"
//! statfs_timeout = "5s"
//! include_fs_types = []
//! exclude_fs_types = ["proc", "sysfs", …]          # DEFAULT_EXCLUDE_FS_TYPES
//! exclude_mount_points = ["/proc", "/sys", …]      # DEFAULT_EXCLUDE_MOUNT_POINTS
//! resolve_hosts = true
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Filesystem types skipped by default: kernel pseudo filesystems with no
/// capacity to speak of, automounters (a statfs would trigger the mount), and
/// read-only images that are always 100 % full (snap and AppImage squashfs,
/// erofs), which would otherwise add a series per package.
///
/// Kept on purpose: `tmpfs` (it spends RAM and can fill), `overlay`
/// (container root filesystems), every disk and network filesystem
/// (`ext4`, `xfs`, `btrfs`, `zfs`, `vfat`, `nfs*`, `cifs`, `fuse.sshfs`, …),
/// and optical media (`iso9660`, `udf`).
pub const DEFAULT_EXCLUDE_FS_TYPES: &[&str] = &[
    "autofs",
    "binder",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "cpuset",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "erofs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nfsd",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "smackfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// Mount points skipped by default, with everything beneath them: the kernel's
/// own trees, systemd's per-service credential mounts, and container
/// runtimes' per-container layers (which come and go with every container).
/// `/dev` is not listed: its pseudo filesystems are skipped by type, and
/// `/dev/shm` is a tmpfs worth watching.
pub const DEFAULT_EXCLUDE_MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/run/credentials", "/var/lib/docker", "/var/lib/containers/storage"];

/// How the host samples the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Where procfs is mounted. Point it at the host's /proc (mounted, say,
    /// at /host/proc) when gomon runs in a container.
    pub proc_root: PathBuf,
    /// Where sysfs is mounted (for /sys/class/net).
    pub sys_root: PathBuf,
    /// How long to wait for statfs on each mount before reporting it as timed
    /// out, e.g. "5s" or "500ms". A mount whose statfs is still stuck from an
    /// earlier cycle is not asked again until that call returns.
    #[serde(with = "humantime_serde")]
    pub statfs_timeout: Duration,
    /// Filesystem types to report even when `exclude_fs_types` lists them.
    pub include_fs_types: Vec<String>,
    /// Filesystem types (exact, as in mountinfo, e.g. "fuse.sshfs") not to report.
    pub exclude_fs_types: Vec<String>,
    /// Mount points not to report, each with everything beneath it
    /// ("/sys" skips "/sys/fs/cgroup" but not "/sysroot").
    pub exclude_mount_points: Vec<String>,
    /// Look up the reverse DNS names of remote hosts (the connection graph's
    /// host titles), on one background thread with a cache; `false` makes
    /// gomon send no DNS queries of its own.
    pub resolve_hosts: bool,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            statfs_timeout: Duration::from_secs(5),
            include_fs_types: Vec::new(),
            exclude_fs_types: DEFAULT_EXCLUDE_FS_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            exclude_mount_points: DEFAULT_EXCLUDE_MOUNT_POINTS.iter().map(|s| (*s).to_owned()).collect(),
            resolve_hosts: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_is_the_default() {
        let config: SampleConfig = toml::from_str("").unwrap();
        assert_eq!(config, SampleConfig::default());
        assert_eq!(config.statfs_timeout, Duration::from_secs(5));
        assert!(config.exclude_fs_types.iter().any(|t| t == "proc"));
        assert!(!config.exclude_fs_types.iter().any(|t| t == "tmpfs" || t == "overlay"));
    }

    #[test]
    fn durations_are_human_and_unknown_fields_refused() {
        let config: SampleConfig = toml::from_str("statfs_timeout = \"750ms\"\nproc_root = \"/host/proc\"\n").unwrap();
        assert_eq!(config.statfs_timeout, Duration::from_millis(750));
        assert_eq!(config.proc_root, PathBuf::from("/host/proc"));
        assert_eq!(config.sys_root, PathBuf::from("/sys"));
        let err = toml::from_str::<SampleConfig>("statfs_timeot = \"1s\"\n").unwrap_err();
        assert!(err.to_string().contains("statfs_timeot"), "{err}");
    }

    #[test]
    fn round_trips_through_toml() {
        let text = toml::to_string(&SampleConfig::default()).unwrap();
        assert!(text.contains("statfs_timeout = \"5s\""), "{text}");
        assert_eq!(toml::from_str::<SampleConfig>(&text).unwrap(), SampleConfig::default());
    }
}
