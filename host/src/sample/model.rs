//! The sampled records: plain Rust mirrors of the WIT records in
//! `probes-wit/wit/probe.wit` (interface `types`), field for field, with the
//! same units. WIT `kebab-case` names are `snake_case` here
//! (`user-seconds` → `user_seconds`); `option<T>` is `Option<T>`,
//! `result<T, string>` is `Result<T, String>`.
//!
//! Serialized with serde (for JSON output and golden tests), a filesystem's
//! usage is `{"ok": {…}}` or `{"error": "…"}`; everything else is the plain
//! field names, e.g.
//!
//! ```json
//! {"device":"/dev/vda","mount_point":"/","fs_type":"ext4","read_only":false,
//!  "usage":{"ok":{"size_bytes":1073741824,"free_bytes":…,"available_bytes":…,"files":…,"files_free":…}}}
//! ```

use serde::Serialize;

/// Seconds spent in each mode since boot (/proc/stat, USER_HZ converted).
/// `user_seconds` and `nice_seconds` include `guest_seconds` and
/// `guest_nice_seconds`, as the kernel counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuTimes {
    pub user_seconds: f64,
    pub nice_seconds: f64,
    pub system_seconds: f64,
    pub idle_seconds: f64,
    pub iowait_seconds: f64,
    pub irq_seconds: f64,
    pub softirq_seconds: f64,
    pub steal_seconds: f64,
    pub guest_seconds: f64,
    pub guest_nice_seconds: f64,
}

/// One logical CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// The kernel's CPU number (`cpuN` in /proc/stat); offline CPUs are absent,
    /// so numbers may have gaps.
    pub id: u32,
    pub times: CpuTimes,
}

/// /proc/meminfo, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// MemAvailable, or free + buffers + cached on kernels without it (< 3.14).
    pub available_bytes: u64,
    pub buffers_bytes: u64,
    pub cached_bytes: u64,
    pub shared_bytes: u64,
    pub slab_reclaimable_bytes: u64,
    pub dirty_bytes: u64,
    pub writeback_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
    pub swap_cached_bytes: u64,
}

/// /proc/loadavg.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Load {
    pub one_minute: f64,
    pub five_minutes: f64,
    pub fifteen_minutes: f64,
    /// Runnable scheduling entities now.
    pub runnable: u32,
    /// Scheduling entities (processes and threads) that exist.
    pub entities: u32,
}

/// System-wide and gomon's own limits. `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// /proc/sys/fs/file-max.
    pub file_max: u64,
    /// /proc/sys/fs/file-nr, first field: file handles allocated.
    pub files_allocated: u64,
    /// /proc/sys/kernel/pid_max.
    pub pid_max: u64,
    /// /proc/sys/kernel/threads-max.
    pub threads_max: u64,
    /// RLIMIT_NOFILE of the gomon process.
    pub open_files_soft: Option<u64>,
    pub open_files_hard: Option<u64>,
    /// RLIMIT_NPROC of the gomon process.
    pub processes_soft: Option<u64>,
    pub processes_hard: Option<u64>,
    /// RLIMIT_AS of the gomon process, in bytes.
    pub address_space_soft_bytes: Option<u64>,
    pub address_space_hard_bytes: Option<u64>,
}

/// Virtual-memory event counters since boot (/proc/vmstat).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VmEvents {
    /// pgfault: minor and major faults.
    pub page_faults: u64,
    /// pgmajfault.
    pub major_page_faults: u64,
    /// pswpin, in pages.
    pub pages_swapped_in: u64,
    /// pswpout, in pages.
    pub pages_swapped_out: u64,
    /// pgpgin (KiB) × 1024.
    pub paged_in_bytes: u64,
    /// pgpgout (KiB) × 1024.
    pub paged_out_bytes: u64,
    /// oom_kill (kernels ≥ 4.13; 0 before).
    pub oom_kills: u64,
}

/// The machine as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct System {
    /// /proc/sys/kernel/hostname.
    pub hostname: String,
    /// /proc/sys/kernel/osrelease.
    pub kernel_release: String,
    /// Unix time of boot (/proc/stat btime).
    pub boot_time_seconds: f64,
    /// Seconds since boot (/proc/uptime).
    pub uptime_seconds: f64,
    /// The aggregate `cpu` line.
    pub cpu_total: CpuTimes,
    pub cpus: Vec<Cpu>,
    pub memory: Memory,
    pub load: Load,
    /// /proc/stat ctxt.
    pub context_switches: u64,
    /// /proc/stat processes: forks since boot.
    pub forks: u64,
    /// /proc/stat intr, first field.
    pub interrupts: u64,
    /// /proc/stat procs_running.
    pub procs_running: u32,
    /// /proc/stat procs_blocked.
    pub procs_blocked: u32,
    pub vm: VmEvents,
    pub limits: Limits,
}

/// Capacity of a mounted filesystem (statvfs).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FilesystemUsage {
    /// f_blocks × f_frsize.
    pub size_bytes: u64,
    /// f_bfree × f_frsize.
    pub free_bytes: u64,
    /// Free to unprivileged users: f_bavail × f_frsize.
    pub available_bytes: u64,
    /// f_files: inodes.
    pub files: u64,
    /// f_ffree: free inodes.
    pub files_free: u64,
}

/// One mount (/proc/self/mountinfo).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filesystem {
    /// Mount source (mountinfo field after the fs type), escapes decoded.
    pub device: String,
    /// Mount point, escapes (`\040` …) decoded.
    pub mount_point: String,
    pub fs_type: String,
    /// `ro` in the mount options or in the superblock options.
    pub read_only: bool,
    /// `Err` when statfs failed or missed its deadline (a dead network mount).
    #[serde(serialize_with = "serialize_usage")]
    pub usage: Result<FilesystemUsage, String>,
}

impl Default for Filesystem {
    fn default() -> Self {
        Filesystem {
            device: String::new(),
            mount_point: String::new(),
            fs_type: String::new(),
            read_only: false,
            usage: Err("not measured".to_owned()),
        }
    }
}

/// `{"ok": usage}` or `{"error": message}`.
fn serialize_usage<S: serde::Serializer>(
    usage: &Result<FilesystemUsage, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(1))?;
    match usage {
        Ok(u) => map.serialize_entry("ok", u)?,
        Err(e) => map.serialize_entry("error", e)?,
    }
    map.end()
}

/// One block device (/proc/diskstats). Bytes are sectors × 512 (the kernel
/// always counts 512-byte sectors here, whatever the device's sector size);
/// times are milliseconds ÷ 1000. Fields a kernel does not report (discards
/// before 4.18, flushes before 5.5) are 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Disk {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub reads_completed: u64,
    pub reads_merged: u64,
    pub read_bytes: u64,
    pub read_seconds: f64,
    pub writes_completed: u64,
    pub writes_merged: u64,
    pub written_bytes: u64,
    pub write_seconds: f64,
    /// A gauge: requests in flight now.
    pub ios_in_progress: u64,
    pub io_seconds: f64,
    pub weighted_io_seconds: f64,
    pub discards_completed: u64,
    pub discards_merged: u64,
    pub discarded_bytes: u64,
    pub discard_seconds: f64,
    pub flushes_completed: u64,
    pub flush_seconds: f64,
}

/// One network interface (/proc/net/dev, /sys/class/net).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkInterface {
    pub name: String,
    pub receive_bytes: u64,
    pub receive_packets: u64,
    pub receive_errors: u64,
    pub receive_dropped: u64,
    pub receive_fifo_errors: u64,
    pub receive_frame_errors: u64,
    pub receive_compressed: u64,
    pub receive_multicast: u64,
    pub transmit_bytes: u64,
    pub transmit_packets: u64,
    pub transmit_errors: u64,
    pub transmit_dropped: u64,
    pub transmit_fifo_errors: u64,
    pub transmit_collisions: u64,
    pub transmit_carrier_errors: u64,
    pub transmit_compressed: u64,
    /// /sys/class/net/<name>/operstate: up, down, unknown, …
    pub oper_state: String,
    /// /sys/class/net/<name>/mtu.
    pub mtu: Option<u32>,
    /// /sys/class/net/<name>/address; `None` when empty or all zeros (loopback, tunnels).
    pub mac_address: Option<String>,
    /// /sys/class/net/<name>/speed (Mbit/s) × 10⁶, when the driver reports one.
    pub speed_bits_per_second: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_usage_serializes_as_ok_or_error() {
        let mut fs = Filesystem {
            device: "/dev/vda".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
            read_only: false,
            usage: Ok(FilesystemUsage {
                size_bytes: 4096,
                free_bytes: 1024,
                available_bytes: 512,
                files: 10,
                files_free: 5,
            }),
        };
        let json = serde_json::to_string(&fs).unwrap();
        assert_eq!(
            json,
            r#"{"device":"/dev/vda","mount_point":"/","fs_type":"ext4","read_only":false,"usage":{"ok":{"size_bytes":4096,"free_bytes":1024,"available_bytes":512,"files":10,"files_free":5}}}"#
        );
        fs.usage = Err("statfs timed out after 5s".into());
        let json = serde_json::to_value(&fs).unwrap();
        assert_eq!(json["usage"], serde_json::json!({"error": "statfs timed out after 5s"}));
    }
}
