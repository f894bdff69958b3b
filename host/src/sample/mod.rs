//! Sampling the kernel: /proc and /sys, read into the records the probes see.
//!
//! One module per resource; each has a pure parser tested on captured files
//! (`host/tests/fixtures/proc/…`) and hand-written edge cases
//! (`host/tests/fixtures/edge/…`). [`Sampler`] does the IO: it reads each file
//! into one reusable buffer, calls the parser and assembles the records of
//! [`model`], which mirror the WIT records of `gomon:probe` field for field:
//!
//! | method | record | files |
//! |---|---|---|
//! | [`Sampler::system`] | [`System`] | stat, meminfo, loadavg, uptime, vmstat, sys/fs/file-max, sys/fs/file-nr, sys/kernel/{pid_max,threads-max,hostname,osrelease}, getrlimit |
//! | [`Sampler::filesystems`] | [`Filesystem`] | self/mountinfo, statvfs (threaded, with a deadline); never fails as a whole |
//! | [`Sampler::disks`] | [`Disk`] | diskstats |
//! | [`Sampler::interfaces`] | [`NetworkInterface`] | net/dev, /sys/class/net/<name>/{operstate,mtu,address,speed} |
//! | [`Sampler::processes`] | [`Process`] (in a [`ProcessSample`]) | <pid>/{stat,status,io,fd}, and <pid>/{exe,cwd,cmdline} once per process when details are asked for; never environ |
//!
//! A required file that cannot be read or parsed fails the method with a
//! [`SampleError`] naming the file (and line). Problems that lose only part of
//! a sample (a malformed diskstats line, a missing /proc/vmstat, an unreadable
//! /proc/sys limit) do not: the part is skipped or zero, and the problem is
//! kept for [`Sampler::take_warnings`].

pub mod config;
pub mod diskstats;
pub mod error;
pub mod limits;
pub mod loadavg;
pub mod meminfo;
pub mod model;
pub mod mounts;
pub mod netdev;
pub mod os;
pub mod process;
pub mod sockets;
pub mod stat;
pub mod statfs;
pub mod uptime;
pub mod vmstat;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{DEFAULT_EXCLUDE_FS_TYPES, DEFAULT_EXCLUDE_MOUNT_POINTS, SampleConfig};
pub use error::{ParseError, Parsed, SampleError};
pub use model::{
    Cpu, CpuTimes, Disk, Filesystem, FilesystemUsage, Limits, Load, Memory, NetworkInterface, Process, ProcessDetails,
    ProcessState, System, VmEvents,
};
pub use process::ProcessSample;
pub use statfs::{StatfsFn, StatfsWorker};

/// USER_HZ on every mainstream Linux architecture; used only if sysconf fails.
const FALLBACK_TICKS_PER_SECOND: f64 = 100.0;

/// At most this many warnings are kept between two `take_warnings` calls;
/// older ones are dropped first.
const MAX_WARNINGS: usize = 64;

/// Reads the kernel's state. One per host; not shared between threads (the
/// host serialises sampling), its buffers are reused from call to call.
pub struct Sampler {
    config: SampleConfig,
    paths: Paths,
    ticks_per_second: f64,
    buf: String,
    statfs: StatfsWorker,
    processes: process::ProcessReader,
    warnings: VecDeque<SampleError>,
}

/// Every file the sampler reads, resolved once against the configured roots.
struct Paths {
    stat: PathBuf,
    meminfo: PathBuf,
    loadavg: PathBuf,
    uptime: PathBuf,
    vmstat: PathBuf,
    diskstats: PathBuf,
    net_dev: PathBuf,
    mountinfo: PathBuf,
    file_max: PathBuf,
    file_nr: PathBuf,
    pid_max: PathBuf,
    threads_max: PathBuf,
    hostname: PathBuf,
    osrelease: PathBuf,
    class_net: PathBuf,
}

impl Paths {
    fn new(config: &SampleConfig) -> Self {
        let proc = |p: &str| config.proc_root.join(p);
        Paths {
            stat: proc("stat"),
            meminfo: proc("meminfo"),
            loadavg: proc("loadavg"),
            uptime: proc("uptime"),
            vmstat: proc("vmstat"),
            diskstats: proc("diskstats"),
            net_dev: proc("net/dev"),
            mountinfo: proc("self/mountinfo"),
            file_max: proc("sys/fs/file-max"),
            file_nr: proc("sys/fs/file-nr"),
            pid_max: proc("sys/kernel/pid_max"),
            threads_max: proc("sys/kernel/threads-max"),
            hostname: proc("sys/kernel/hostname"),
            osrelease: proc("sys/kernel/osrelease"),
            class_net: config.sys_root.join("class/net"),
        }
    }
}

impl Sampler {
    /// A sampler using the real statvfs. Reads USER_HZ once, here.
    pub fn new(config: SampleConfig) -> Self {
        Self::with_statfs(config, Arc::new(os::statvfs))
    }

    /// A sampler with another statfs (tests, or a fixture tree whose mount
    /// points do not exist here).
    pub fn with_statfs(config: SampleConfig, statfs: StatfsFn) -> Self {
        let mut warnings = VecDeque::new();
        let ticks_per_second = os::clock_ticks_per_second().unwrap_or_else(|| {
            warnings.push_back(SampleError::Syscall {
                call: "sysconf(_SC_CLK_TCK)",
                source: io::Error::other(format!("no answer; assuming {FALLBACK_TICKS_PER_SECOND}")),
            });
            FALLBACK_TICKS_PER_SECOND
        });
        Sampler {
            paths: Paths::new(&config),
            statfs: StatfsWorker::new(config.statfs_timeout, statfs),
            processes: process::ProcessReader::new(&config.proc_root, ticks_per_second),
            config,
            ticks_per_second,
            buf: String::with_capacity(16 * 1024),
            warnings,
        }
    }

    /// The configuration this sampler was made with.
    pub fn config(&self) -> &SampleConfig {
        &self.config
    }

    /// USER_HZ as read at start-up (sysconf(_SC_CLK_TCK)).
    pub fn ticks_per_second(&self) -> f64 {
        self.ticks_per_second
    }

    /// The statfs worker (to see how many calls are stuck).
    pub fn statfs_worker(&self) -> &StatfsWorker {
        &self.statfs
    }

    /// The problems that cost part of a sample since the last call, oldest
    /// first (at most 64 are kept).
    pub fn take_warnings(&mut self) -> Vec<SampleError> {
        self.warnings.drain(..).collect()
    }

    fn warn(&mut self, error: SampleError) {
        if self.warnings.len() == MAX_WARNINGS {
            self.warnings.pop_front();
        }
        self.warnings.push_back(error);
    }

    /// Keeps a problem as a warning and carries on with `T::default()`.
    fn or_warn<T: Default>(&mut self, result: Result<T, SampleError>) -> T {
        result.unwrap_or_else(|e| {
            self.warn(e);
            T::default()
        })
    }

    fn skipped(&mut self, file: &Path, skipped: Vec<ParseError>) {
        for e in skipped {
            self.warn(SampleError::parse(file, e));
        }
    }

    /// CPU, memory, load, kernel counters and limits.
    ///
    /// Fails if /proc/stat, meminfo, loadavg or uptime cannot be read or
    /// parsed. vmstat, the /proc/sys limits, hostname, osrelease and
    /// getrlimit are not required: a failure leaves 0, "" or `None`
    /// (unlimited) and a warning.
    pub fn system(&mut self) -> Result<System, SampleError> {
        let tps = self.ticks_per_second;
        let stat = read_parse(&mut self.buf, &self.paths.stat, |t| stat::parse_stat(t, tps))?;
        let memory = read_parse(&mut self.buf, &self.paths.meminfo, meminfo::parse_meminfo)?;
        let load = read_parse(&mut self.buf, &self.paths.loadavg, loadavg::parse_loadavg)?;
        let uptime_seconds = read_parse(&mut self.buf, &self.paths.uptime, uptime::parse_uptime)?;
        let vm = read_parse(&mut self.buf, &self.paths.vmstat, vmstat::parse_vmstat);
        let vm = self.or_warn(vm);
        // /proc/sys/kernel/hostname: the UTS node name.
        let hostname = read_parse(&mut self.buf, &self.paths.hostname, trimmed);
        let hostname = self.or_warn(hostname);
        // /proc/sys/kernel/osrelease: the kernel release, as `uname -r`.
        let kernel_release = read_parse(&mut self.buf, &self.paths.osrelease, trimmed);
        let kernel_release = self.or_warn(kernel_release);
        let limits = self.limits();
        Ok(System {
            hostname,
            kernel_release,
            boot_time_seconds: stat.boot_time_seconds,
            uptime_seconds,
            cpu_total: stat.cpu_total,
            cpus: stat.cpus,
            memory,
            load,
            context_switches: stat.context_switches,
            forks: stat.forks,
            interrupts: stat.interrupts,
            procs_running: stat.procs_running,
            procs_blocked: stat.procs_blocked,
            vm,
            limits,
        })
    }

    fn limits(&mut self) -> Limits {
        // /proc/sys/fs/file-max: system-wide limit on open file handles.
        let file_max = read_parse(&mut self.buf, &self.paths.file_max, limits::parse_single_u64);
        let file_max = self.or_warn(file_max);
        // /proc/sys/fs/file-nr field 1: file handles allocated.
        let files_allocated = read_parse(&mut self.buf, &self.paths.file_nr, limits::parse_file_nr);
        let files_allocated = self.or_warn(files_allocated);
        // /proc/sys/kernel/pid_max: pids wrap around at this value.
        let pid_max = read_parse(&mut self.buf, &self.paths.pid_max, limits::parse_single_u64);
        let pid_max = self.or_warn(pid_max);
        // /proc/sys/kernel/threads-max: system-wide limit on threads.
        let threads_max = read_parse(&mut self.buf, &self.paths.threads_max, limits::parse_single_u64);
        let threads_max = self.or_warn(threads_max);
        let syscall = |call: &'static str, r: io::Result<limits::Rlimit>| {
            r.map_err(|source| SampleError::Syscall { call, source })
        };
        let open_files = syscall("getrlimit(RLIMIT_NOFILE)", os::open_files_limit());
        let open_files = self.or_warn(open_files);
        let processes = syscall("getrlimit(RLIMIT_NPROC)", os::processes_limit());
        let processes = self.or_warn(processes);
        let address_space = syscall("getrlimit(RLIMIT_AS)", os::address_space_limit());
        let address_space = self.or_warn(address_space);
        Limits {
            file_max,
            files_allocated,
            pid_max,
            threads_max,
            open_files_soft: open_files.soft,
            open_files_hard: open_files.hard,
            processes_soft: processes.soft,
            processes_hard: processes.hard,
            address_space_soft_bytes: address_space.soft,
            address_space_hard_bytes: address_space.hard,
        }
    }

    /// Mounted filesystems as selected by the configuration (see
    /// [`mounts::select_mounts`]), each with its statvfs usage or why there
    /// is none. Takes at most `statfs_timeout`, however many mounts hang.
    /// If mountinfo cannot be read the list is empty and the error is a
    /// warning.
    pub fn filesystems(&mut self) -> Vec<Filesystem> {
        let parsed = read_parse(&mut self.buf, &self.paths.mountinfo, |t| Ok(mounts::parse_mountinfo(t)));
        let parsed = self.or_warn(parsed);
        let file = self.paths.mountinfo.clone();
        self.skipped(&file, parsed.skipped);
        let selected = mounts::select_mounts(parsed.items, &self.config);
        let points: Vec<PathBuf> = selected.iter().map(|m| PathBuf::from(&m.mount_point)).collect();
        let usages = self.statfs.measure(&points);
        selected
            .into_iter()
            .zip(usages)
            .map(|(m, usage)| Filesystem {
                device: m.source,
                mount_point: m.mount_point,
                fs_type: m.fs_type,
                read_only: m.read_only,
                usage,
            })
            .collect()
    }

    /// Every block device and partition in /proc/diskstats. Fails only if the
    /// file cannot be read; malformed lines become warnings.
    pub fn disks(&mut self) -> Result<Vec<Disk>, SampleError> {
        let parsed = read_parse(&mut self.buf, &self.paths.diskstats, |t| Ok(diskstats::parse_diskstats(t)))?;
        let file = self.paths.diskstats.clone();
        self.skipped(&file, parsed.skipped);
        Ok(parsed.items)
    }

    /// Every interface in /proc/net/dev, with its sysfs attributes. Fails if
    /// net/dev cannot be read or its header is not the one known; malformed
    /// interface lines become warnings. A sysfs attribute that cannot be read
    /// (the interface just vanished, or the driver has no speed) is `None`
    /// (`"unknown"` for operstate), not a warning.
    pub fn interfaces(&mut self) -> Result<Vec<NetworkInterface>, SampleError> {
        let parsed = read_parse(&mut self.buf, &self.paths.net_dev, netdev::parse_net_dev)?;
        let file = self.paths.net_dev.clone();
        self.skipped(&file, parsed.skipped);
        let mut interfaces = parsed.items;
        for interface in &mut interfaces {
            // Kernel names never hold '/', but do not let a strange line
            // make us read outside /sys/class/net.
            if interface.name.contains('/') || interface.name == "." || interface.name == ".." {
                interface.oper_state = netdev::parse_operstate("");
                continue;
            }
            let dir = self.paths.class_net.join(&interface.name);
            let buf = &mut self.buf;
            // /sys/class/net/<name>/operstate: RFC 2863 operational state.
            interface.oper_state = read_attribute(buf, &dir, "operstate", netdev::parse_operstate);
            // /sys/class/net/<name>/mtu: maximum transmission unit, bytes.
            interface.mtu = read_attribute(buf, &dir, "mtu", netdev::parse_mtu);
            // /sys/class/net/<name>/address: link-layer address.
            interface.mac_address = read_attribute(buf, &dir, "address", netdev::parse_address);
            // /sys/class/net/<name>/speed: link speed in Mbit/s; EINVAL when down or virtual.
            interface.speed_bits_per_second = read_attribute(buf, &dir, "speed", netdev::parse_speed);
        }
        Ok(interfaces)
    }

    /// Every process (thread-group leader) in /proc; see [`process`].
    ///
    /// `details` adds each process's [`ProcessDetails`] (executable, working
    /// directory, command line, user), read once per process lifetime and
    /// cached; pass it only when a probe is granted `process-details`.
    ///
    /// Fails only if /proc cannot be listed (or, on the first call, its
    /// btime read). A process that exits mid-scan is skipped and counted in
    /// [`ProcessSample::vanished`]; other per-process problems become
    /// warnings (at most 64 per scan).
    ///
    /// To stay cheap it keeps each process's /proc/<pid>/stat open between
    /// calls (raising this process's soft RLIMIT_NOFILE to the hard limit on
    /// the first call and using at most half of it), and reads `status`,
    /// `io` and `fd` again only for processes whose `stat` changed, or every
    /// few calls ([`set_process_full_read_every`](Self::set_process_full_read_every)).
    pub fn processes(&mut self, details: bool) -> Result<ProcessSample, SampleError> {
        let sample = self.processes.sample(details);
        for warning in self.processes.take_warnings() {
            self.warn(warning);
        }
        sample
    }

    /// How often [`processes`](Self::processes) reads a process's `status`,
    /// `io` and `fd` when its `stat` line did not change: at least once
    /// every `scans` scans (default [`process::DEFAULT_FULL_READ_EVERY`]);
    /// 1 reads them on every scan.
    pub fn set_process_full_read_every(&mut self, scans: u32) {
        self.processes.set_full_read_every(scans);
    }
}

/// Reads a whole file into `buf`, replacing its contents and keeping its
/// capacity.
fn read_into(buf: &mut String, path: &Path) -> io::Result<()> {
    buf.clear();
    File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// Parses a sysfs attribute file; one that cannot be read parses as "".
fn read_attribute<T>(buf: &mut String, dir: &Path, name: &str, parse: fn(&str) -> T) -> T {
    match read_into(buf, &dir.join(name)) {
        Ok(()) => parse(buf),
        Err(_) => parse(""),
    }
}

/// Reads `path` into `buf` and parses it, naming the file in any error.
fn read_parse<T>(
    buf: &mut String,
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, SampleError> {
    read_into(buf, path).map_err(|source| SampleError::Read { file: path.to_owned(), source })?;
    parse(buf).map_err(|e| SampleError::parse(path, e))
}

/// A one-line text file such as /proc/sys/kernel/hostname.
fn trimmed(text: &str) -> Result<String, ParseError> {
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests;
