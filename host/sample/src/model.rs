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
    /// Normal processes in user mode.
    pub user_seconds: f64,
    /// Niced processes in user mode.
    pub nice_seconds: f64,
    /// Kernel mode.
    pub system_seconds: f64,
    /// Idle.
    pub idle_seconds: f64,
    /// Idle while I/O was outstanding.
    pub iowait_seconds: f64,
    /// Serving hard interrupts.
    pub irq_seconds: f64,
    /// Serving soft interrupts.
    pub softirq_seconds: f64,
    /// Stolen by the hypervisor for other guests.
    pub steal_seconds: f64,
    /// Running a guest (included in `user_seconds`).
    pub guest_seconds: f64,
    /// Running a niced guest (included in `nice_seconds`).
    pub guest_nice_seconds: f64,
}

/// One logical CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// The kernel's CPU number (`cpuN` in /proc/stat); offline CPUs are absent,
    /// so numbers may have gaps.
    pub id: u32,
    /// Its time in each mode.
    pub times: CpuTimes,
}

/// /proc/meminfo, in bytes. A field a kernel does not print is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    /// MemTotal: usable RAM.
    pub total_bytes: u64,
    /// MemFree: unused RAM.
    pub free_bytes: u64,
    /// MemAvailable, or free + buffers + cached on kernels without it (< 3.14).
    pub available_bytes: u64,
    /// Buffers: raw block-device buffers.
    pub buffers_bytes: u64,
    /// Cached: page cache.
    pub cached_bytes: u64,
    /// Shmem: shared memory and tmpfs.
    pub shared_bytes: u64,
    /// SReclaimable: reclaimable slab.
    pub slab_reclaimable_bytes: u64,
    /// Dirty: waiting to be written back.
    pub dirty_bytes: u64,
    /// Writeback: being written back.
    pub writeback_bytes: u64,
    /// SwapTotal.
    pub swap_total_bytes: u64,
    /// SwapFree.
    pub swap_free_bytes: u64,
    /// SwapCached: swapped out and back in, still in swap.
    pub swap_cached_bytes: u64,
}

/// /proc/loadavg.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Load {
    /// Load average over 1 minute.
    pub one_minute: f64,
    /// Load average over 5 minutes.
    pub five_minutes: f64,
    /// Load average over 15 minutes.
    pub fifteen_minutes: f64,
    /// Runnable scheduling entities now.
    pub runnable: u32,
    /// Scheduling entities (processes and threads) that exist.
    pub entities: u32,
}

/// System-wide and gomon's own limits. A /proc/sys value is `None` when
/// its file could not be read; a resource limit is `None` when unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// /proc/sys/fs/file-max, else the third field of /proc/sys/fs/file-nr.
    pub file_max: Option<u64>,
    /// /proc/sys/fs/file-nr, first field: file handles allocated.
    pub files_allocated: Option<u64>,
    /// /proc/sys/kernel/pid_max.
    pub pid_max: Option<u64>,
    /// /proc/sys/kernel/threads-max.
    pub threads_max: Option<u64>,
    /// RLIMIT_NOFILE of the gomon process, soft.
    pub open_files_soft: Option<u64>,
    /// RLIMIT_NOFILE, hard.
    pub open_files_hard: Option<u64>,
    /// RLIMIT_NPROC of the gomon process, soft.
    pub processes_soft: Option<u64>,
    /// RLIMIT_NPROC, hard.
    pub processes_hard: Option<u64>,
    /// RLIMIT_AS of the gomon process, in bytes, soft.
    pub address_space_soft_bytes: Option<u64>,
    /// RLIMIT_AS, hard.
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

/// The machine as a whole. Each part is `None` (or empty) when the file it
/// comes from could not be read or parsed; the rest is still there.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct System {
    /// /proc/sys/kernel/hostname.
    pub hostname: Option<String>,
    /// /proc/sys/kernel/osrelease.
    pub kernel_release: Option<String>,
    /// Unix time of boot (/proc/stat btime).
    pub boot_time_seconds: Option<f64>,
    /// Seconds since boot (/proc/uptime).
    pub uptime_seconds: Option<f64>,
    /// The aggregate `cpu` line of /proc/stat.
    pub cpu_total: Option<CpuTimes>,
    /// The `cpuN` lines of /proc/stat.
    pub cpus: Vec<Cpu>,
    /// /proc/meminfo.
    pub memory: Option<Memory>,
    /// /proc/loadavg.
    pub load: Option<Load>,
    /// /proc/stat ctxt.
    pub context_switches: Option<u64>,
    /// /proc/stat processes: forks since boot.
    pub forks: Option<u64>,
    /// /proc/stat intr, first field.
    pub interrupts: Option<u64>,
    /// /proc/stat procs_running.
    pub procs_running: Option<u32>,
    /// /proc/stat procs_blocked.
    pub procs_blocked: Option<u32>,
    /// /proc/vmstat.
    pub vm: Option<VmEvents>,
    /// /proc/sys limits and getrlimit.
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
    /// Filesystem type, as in mountinfo (`ext4`, `fuse.sshfs`).
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
    /// Device name (`sda`, `nvme0n1p1`).
    pub name: String,
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Reads completed.
    pub reads_completed: u64,
    /// Adjacent reads merged.
    pub reads_merged: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Time spent reading.
    pub read_seconds: f64,
    /// Writes completed.
    pub writes_completed: u64,
    /// Adjacent writes merged.
    pub writes_merged: u64,
    /// Bytes written.
    pub written_bytes: u64,
    /// Time spent writing.
    pub write_seconds: f64,
    /// A gauge: requests in flight now.
    pub ios_in_progress: u64,
    /// Time the device was busy.
    pub io_seconds: f64,
    /// Busy time weighted by requests in flight.
    pub weighted_io_seconds: f64,
    /// Discards completed.
    pub discards_completed: u64,
    /// Adjacent discards merged.
    pub discards_merged: u64,
    /// Bytes discarded.
    pub discarded_bytes: u64,
    /// Time spent discarding.
    pub discard_seconds: f64,
    /// Flush requests completed.
    pub flushes_completed: u64,
    /// Time spent flushing.
    pub flush_seconds: f64,
}

/// One network interface: counters from /proc/net/dev (or, when that file
/// is absent, from /sys/class/net/<name>/statistics, summed as the kernel
/// sums them for net/dev), attributes from /sys/class/net/<name>.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkInterface {
    /// Interface name (`eth0`).
    pub name: String,
    /// Bytes received.
    pub receive_bytes: u64,
    /// Packets received.
    pub receive_packets: u64,
    /// Receive errors.
    pub receive_errors: u64,
    /// Received packets dropped (and missed).
    pub receive_dropped: u64,
    /// Receive FIFO overruns.
    pub receive_fifo_errors: u64,
    /// Receive framing errors (length, overrun, CRC and frame errors).
    pub receive_frame_errors: u64,
    /// Compressed packets received.
    pub receive_compressed: u64,
    /// Multicast frames received.
    pub receive_multicast: u64,
    /// Bytes sent.
    pub transmit_bytes: u64,
    /// Packets sent.
    pub transmit_packets: u64,
    /// Transmit errors.
    pub transmit_errors: u64,
    /// Outgoing packets dropped.
    pub transmit_dropped: u64,
    /// Transmit FIFO errors.
    pub transmit_fifo_errors: u64,
    /// Collisions.
    pub transmit_collisions: u64,
    /// Carrier losses (carrier, aborted, window and heartbeat errors).
    pub transmit_carrier_errors: u64,
    /// Compressed packets sent.
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

/// Scheduler state of a process (/proc/<pid>/stat field 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// `R`: running or runnable.
    Running,
    /// `S`: interruptible sleep.
    Sleeping,
    /// `D`: uninterruptible sleep (usually I/O).
    DiskSleep,
    /// `T`: stopped by a signal (and, before 2.6.33, traced).
    Stopped,
    /// `t`: stopped by a tracer (2.6.33+).
    TracingStop,
    /// `Z`: exited, not yet reaped by its parent.
    Zombie,
    /// `X` (or `x` on 2.6.33–3.13): being torn down.
    Dead,
    /// `I`: an idle kernel thread (4.14+).
    Idle,
    /// Anything else (`P` parked, `W` waking, `K` wakekill on old kernels).
    #[default]
    Other,
}

/// Facts about a process that need the `process-details` grant. Read once
/// per process lifetime (per pid and start time) and cached; an item that
/// cannot be read (another user's process without privilege, a kernel
/// thread) is empty. The environment is never read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessDetails {
    /// /proc/<pid>/exe link target; ends in ` (deleted)` when the file was replaced.
    pub executable: String,
    /// /proc/<pid>/cwd link target.
    pub working_directory: String,
    /// /proc/<pid>/cmdline split on NUL (argv, argv\[0\] first); trailing NULs dropped.
    pub command_line: Vec<String>,
    /// The effective user's name (getpwuid_r), or the uid in decimal when it has none.
    pub user: String,
}

/// One process (a thread-group leader, not a thread).
///
/// From /proc/<pid>/stat (fields named in `process::stat`),
/// /proc/<pid>/status, /proc/<pid>/io and /proc/<pid>/fd. The pid is the
/// directory's name. Tick counts are converted with USER_HZ, pages and kB
/// to bytes. Values a process does not have (a zombie's or kernel thread's
/// memory) are 0; values whose file could not be read (another user's
/// `io` or `fd` without privilege, a `status` that vanished or did not
/// parse) are `None`. The values from `stat` are always current; those
/// from `status`, `io` and `fd` of a process whose `stat` did not change
/// are from its last full read, a few samples old at most (see
/// `process`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Process {
    /// The process id (its directory under /proc).
    pub pid: u32,
    /// The parent's pid (stat field 4).
    pub ppid: u32,
    /// Process group (stat field 5).
    pub process_group: u32,
    /// Session (stat field 6).
    pub session: u32,
    /// The kernel's short name, from stat between the first `(` and the last
    /// `)`; may hold spaces and parentheses. Invalid UTF-8 is replaced (U+FFFD).
    pub comm: String,
    /// Scheduler state (stat field 3).
    pub state: ProcessState,
    /// PF_KTHREAD in stat's flags.
    pub kernel_thread: bool,
    /// Unix time the process started: boot time + starttime ÷ USER_HZ.
    pub start_time_seconds: f64,
    /// Effective uid (status `Uid`, second column).
    pub uid: Option<u32>,
    /// Effective gid (status `Gid`, second column).
    pub gid: Option<u32>,
    /// Nice value, -20 to 19 (stat field 19).
    pub nice: i32,
    /// Kernel priority (stat field 18).
    pub priority: i32,
    /// Threads (stat field 20).
    pub threads: u32,
    /// CPU time in user mode (stat field 14).
    pub user_seconds: f64,
    /// CPU time in kernel mode (stat field 15).
    pub system_seconds: f64,
    /// Virtual memory size (stat field 23).
    pub virtual_bytes: u64,
    /// Resident set size (stat field 24 × page size).
    pub resident_bytes: u64,
    /// status RssFile + RssShmem (kernels ≥ 4.5; 0 before).
    pub shared_bytes: Option<u64>,
    /// status VmHWM: the peak of resident_bytes.
    pub peak_resident_bytes: Option<u64>,
    /// Page faults served without I/O (stat field 10).
    pub minor_faults: u64,
    /// Page faults that needed I/O (stat field 12).
    pub major_faults: u64,
    /// status voluntary_ctxt_switches: of the main thread only (the kernel
    /// counts them per thread; summing them would mean reading every
    /// /proc/<pid>/task/<tid>/status).
    pub voluntary_context_switches: Option<u64>,
    /// status nonvoluntary_ctxt_switches, of the main thread only.
    pub involuntary_context_switches: Option<u64>,
    /// Bytes fetched from storage (io read_bytes).
    pub read_bytes: Option<u64>,
    /// Bytes sent toward storage (io write_bytes).
    pub written_bytes: Option<u64>,
    /// Bytes passed to read-like syscalls (io rchar).
    pub read_chars: Option<u64>,
    /// Bytes passed to write-like syscalls (io wchar).
    pub written_chars: Option<u64>,
    /// Read-like syscalls (io syscr).
    pub read_syscalls: Option<u64>,
    /// Write-like syscalls (io syscw).
    pub write_syscalls: Option<u64>,
    /// Entries of /proc/<pid>/fd.
    pub open_fds: Option<u32>,
    /// `None` unless details were asked for.
    pub details: Option<ProcessDetails>,
}

/// `connection-kind`: what sort of endpoint a [`Connection`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionKind {
    /// A TCP socket.
    #[default]
    Tcp,
    /// A UDP socket.
    Udp,
    /// A unix stream socket.
    UnixStream,
    /// A unix datagram socket.
    UnixDatagram,
    /// A unix seqpacket socket.
    UnixSeqpacket,
    /// An anonymous pipe.
    Pipe,
    /// A named pipe.
    Fifo,
}

impl ConnectionKind {
    /// The WIT name (`tcp`, `unix-stream`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Tcp => "tcp",
            ConnectionKind::Udp => "udp",
            ConnectionKind::UnixStream => "unix-stream",
            ConnectionKind::UnixDatagram => "unix-datagram",
            ConnectionKind::UnixSeqpacket => "unix-seqpacket",
            ConnectionKind::Pipe => "pipe",
            ConnectionKind::Fifo => "fifo",
        }
    }
}

/// One socket, pipe or FIFO endpoint and the processes holding it
/// (netlink sock_diag and /proc/<pid>/fd; see `sockets`).
///
/// | kind | state | local-address / port | remote-address / port | peer-inode |
/// |---|---|---|---|---|
/// | tcp | `established`, `listen`, `time-wait`, … | address, port | address, port (`0.0.0.0`/`::`, 0 when none) | the other end's inode when it is on this host, else 0 |
/// | udp | `established` (connected) or `unconnected` | address, port | address, port | as tcp, for connected sockets |
/// | unix-* | `established`, `listen`, `connecting`, `unconnected` | the socket's path, `@name` (abstract), or "" | the peer's path when known | the peer socket's inode (kernel) |
/// | pipe | `w:<pids> r:<pids>` (who holds which end) | "" | "" | the inode itself when both ends are held, else 0 |
/// | fifo | as pipe | the FIFO's path | "" | as pipe |
///
/// Addresses are numeric (`127.0.0.1`, `::1`); IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`) are given as IPv4. `pids` is sorted and free of
/// duplicates; it is empty for sockets no process holds (TIME_WAIT, not yet
/// accepted) and for those of processes gomon may not inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// What sort of endpoint.
    pub kind: ConnectionKind,
    /// The state, by kind (see the table).
    pub state: String,
    /// The socket's, pipe's or FIFO's inode.
    pub inode: u64,
    /// Local address (or path).
    pub local_address: String,
    /// Local port (0 for unix sockets, pipes and FIFOs).
    pub local_port: u16,
    /// Remote address (or peer path).
    pub remote_address: String,
    /// Remote port.
    pub remote_port: u16,
    /// Reverse DNS name of `remote_address` (TCP/UDP to another host), from
    /// the resolver's cache (`sockets::dns`); `None` until it is
    /// known, so a new address gets its name a discovery later.
    pub remote_host_name: Option<String>,
    /// The other end's inode (see the table).
    pub peer_inode: u64,
    /// The processes holding it, sorted.
    pub pids: Vec<u32>,
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
