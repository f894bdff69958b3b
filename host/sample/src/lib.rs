//! gomon's samplers: the kernel's state read from `/proc`, `/sys` and
//! netlink into the plain records the probes see. No WASM, no async runtime:
//! this crate only reads and parses, and Cargo keeps it that way.
//!
//! One module per resource; each has a pure parser tested on captured files
//! (`tests/fixtures/proc/…`), hand-written edge cases
//! (`tests/fixtures/edge/…`) and property tests that feed it arbitrary and
//! mutated bytes. [`Sampler`] does the IO: it reads each file into one
//! reusable buffer, calls the parser and assembles the records of [`model`],
//! which mirror the WIT records of `gomon:probe` field for field:
//!
//! | method | collector | record | files |
//! |---|---|---|---|
//! | [`Sampler::system`] | `system` | [`System`] | stat, meminfo, loadavg, uptime, vmstat, sys/fs/file-max, sys/fs/file-nr, sys/kernel/{pid_max,threads-max,hostname,osrelease}, getrlimit |
//! | [`Sampler::filesystems`] | `filesystem` | [`Filesystem`] | self/mountinfo, statvfs (threaded, with a deadline) |
//! | [`Sampler::disks`] | `disk` | [`Disk`] | diskstats |
//! | [`Sampler::interfaces`] | `network` | [`NetworkInterface`] | net/dev (else /sys/class/net/<name>/statistics/*), /sys/class/net/<name>/{operstate,mtu,address,speed} |
//! | [`Sampler::processes`] | `process` | [`Process`] (in a [`ProcessSample`]) | <pid>/{stat,status,io,fd}, and <pid>/{exe,cwd,cmdline} once per process when details are asked for; never environ |
//!
//! **Sampling degrades per file.** A file that cannot be read or parsed
//! loses only the values it feeds: the record's field is `None` (or the
//! list shorter), everything else is still there. /proc/stat is read line
//! by line, so even one bad line loses only its own values. Each loss is
//! counted by `(collector, file, kind)` ([`Sampler::error_counts`], see
//! [`counts`]) and logged at WARN the first time. A method fails as a whole
//! only when there is nothing at all to report (no /proc/stat, meminfo,
//! loadavg, uptime or vmstat; no diskstats; neither net/dev nor
//! /sys/class/net; no /proc to list).
//!
//! **System calls** all go through [`os`] (rustix); socket discovery
//! ([`sockets`]) adds netlink sock_diag.

pub mod config;
pub mod counts;
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

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{DEFAULT_EXCLUDE_FS_TYPES, DEFAULT_EXCLUDE_MOUNT_POINTS, SampleConfig};
pub use counts::{ErrorKind, SampleErrorCount};
pub use error::{ParseError, Parsed, SampleError};
pub use model::{
    Cpu, CpuTimes, Disk, Filesystem, FilesystemUsage, Limits, Load, Memory, NetworkInterface, Process, ProcessDetails,
    ProcessState, System, VmEvents,
};
pub use os::ticks_per_second;
pub use process::ProcessSample;
pub use statfs::{StatfsFn, StatfsWorker};

use counts::ErrorCounter;

/// The `collector` label of each sampler method, as the host times them.
pub mod collector {
    /// [`Sampler::system`](crate::Sampler::system).
    pub const SYSTEM: &str = "system";
    /// [`Sampler::filesystems`](crate::Sampler::filesystems).
    pub const FILESYSTEM: &str = "filesystem";
    /// [`Sampler::disks`](crate::Sampler::disks).
    pub const DISK: &str = "disk";
    /// [`Sampler::interfaces`](crate::Sampler::interfaces).
    pub const NETWORK: &str = "network";
    /// [`Sampler::processes`](crate::Sampler::processes).
    pub const PROCESS: &str = "process";
}

/// Reads the kernel's state. One per host; not shared between threads (the
/// host serialises sampling), its buffers are reused from call to call.
pub struct Sampler {
    config: SampleConfig,
    paths: Arc<Paths>,
    ticks_per_second: f64,
    buf: String,
    dirents: Vec<u8>,
    statfs: StatfsWorker,
    processes: process::ProcessReader,
    errors: ErrorCounter,
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
        let mut errors = ErrorCounter::new(&config.proc_root, &config.sys_root);
        let ticks_per_second = os::clock_ticks_per_second().unwrap_or_else(|| {
            let fallback = os::FALLBACK_TICKS_PER_SECOND;
            let source = io::Error::other(format!("the kernel did not say; assuming {fallback}"));
            errors.record(collector::SYSTEM, SampleError::Syscall { call: "sysconf(_SC_CLK_TCK)", source });
            fallback
        });
        Sampler {
            paths: Arc::new(Paths::new(&config)),
            statfs: StatfsWorker::new(config.statfs_timeout, statfs),
            processes: process::ProcessReader::new(&config.proc_root, ticks_per_second),
            config,
            ticks_per_second,
            buf: String::with_capacity(16 * 1024),
            dirents: Vec::new(),
            errors,
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

    /// What sampling has lost since this sampler started, counted by
    /// `(collector, file, kind)`; sorted. See [`counts`].
    pub fn error_counts(&self) -> Vec<SampleErrorCount> {
        self.errors.counts()
    }

    /// The problems that cost part of a sample since the last call, oldest
    /// first (at most 64 are kept; every one is counted in
    /// [`error_counts`](Self::error_counts) and logged).
    pub fn take_warnings(&mut self) -> Vec<SampleError> {
        self.errors.take_recent()
    }

    /// Reads and parses one file, counting a failure against `collector`.
    fn file<T>(
        &mut self,
        collector: &'static str,
        path: &Path,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        match read_parse(&mut self.buf, path, parse) {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors.record(collector, e);
                None
            }
        }
    }

    /// Counts the lines a parser skipped.
    fn skipped(&mut self, collector: &'static str, file: &Path, skipped: Vec<ParseError>) {
        for e in skipped {
            self.errors.record(collector, SampleError::parse(file, e));
        }
    }

    /// CPU, memory, load, kernel counters and limits.
    ///
    /// Each part comes from its own file and is `None` (the CPUs: empty)
    /// when that file cannot be read or parsed; /proc/stat is taken line by
    /// line. Fails only when none of /proc/stat, meminfo, loadavg, uptime
    /// and vmstat can be read (a wrong `proc_root`), with the error of
    /// /proc/stat.
    pub fn system(&mut self) -> Result<System, SampleError> {
        const C: &str = collector::SYSTEM;
        let tps = self.ticks_per_second;
        let paths = Arc::clone(&self.paths);
        let mut system = System::default();

        let stat = read_parse(&mut self.buf, &paths.stat, |t| stat::parse_stat_lines(t, tps));
        let stat_error = match stat {
            Ok(lines) => {
                system.cpu_total = lines.cpu_total;
                system.cpus = lines.cpus;
                system.boot_time_seconds = lines.boot_time_seconds;
                system.context_switches = lines.context_switches;
                system.forks = lines.forks;
                system.interrupts = lines.interrupts;
                system.procs_running = lines.procs_running;
                system.procs_blocked = lines.procs_blocked;
                self.skipped(C, &paths.stat, lines.skipped);
                None
            }
            Err(e) => Some(e),
        };
        system.memory = self.file(C, &paths.meminfo, meminfo::parse_meminfo);
        system.load = self.file(C, &paths.loadavg, loadavg::parse_loadavg);
        system.uptime_seconds = self.file(C, &paths.uptime, uptime::parse_uptime);
        system.vm = self.file(C, &paths.vmstat, vmstat::parse_vmstat);
        // /proc/sys/kernel/hostname: the UTS node name.
        system.hostname = self.file(C, &paths.hostname, trimmed);
        // /proc/sys/kernel/osrelease: the kernel release, as `uname -r`.
        system.kernel_release = self.file(C, &paths.osrelease, trimmed);
        system.limits = self.limits(&paths);

        let nothing = system.memory.is_none()
            && system.load.is_none()
            && system.uptime_seconds.is_none()
            && system.vm.is_none()
            && system.cpu_total.is_none()
            && system.boot_time_seconds.is_none();
        match stat_error {
            Some(e) if nothing => {
                self.errors.record(C, e.duplicate());
                Err(e)
            }
            Some(e) => {
                self.errors.record(C, e);
                Ok(system)
            }
            None => Ok(system),
        }
    }

    fn limits(&mut self, paths: &Paths) -> Limits {
        const C: &str = collector::SYSTEM;
        // /proc/sys/fs/file-max: system-wide limit on open file handles.
        let file_max = self.file(C, &paths.file_max, limits::parse_single_u64);
        // /proc/sys/fs/file-nr: allocated, unused, maximum.
        let file_nr = self.file(C, &paths.file_nr, limits::parse_file_nr);
        // /proc/sys/kernel/pid_max: pids wrap around at this value.
        let pid_max = self.file(C, &paths.pid_max, limits::parse_single_u64);
        // /proc/sys/kernel/threads-max: system-wide limit on threads.
        let threads_max = self.file(C, &paths.threads_max, limits::parse_single_u64);
        let open_files = os::open_files_limit();
        let processes = os::processes_limit();
        let address_space = os::address_space_limit();
        Limits {
            file_max: file_max.or(file_nr.and_then(|nr| nr.maximum)),
            files_allocated: file_nr.map(|nr| nr.allocated),
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
    /// If mountinfo cannot be read the list is empty (and the error
    /// counted); a malformed line loses only its mount.
    pub fn filesystems(&mut self) -> Vec<Filesystem> {
        const C: &str = collector::FILESYSTEM;
        let paths = Arc::clone(&self.paths);
        let parsed = self.file(C, &paths.mountinfo, |t| Ok(mounts::parse_mountinfo(t))).unwrap_or_default();
        self.skipped(C, &paths.mountinfo, parsed.skipped);
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
    /// file cannot be read; a malformed line loses only its device.
    pub fn disks(&mut self) -> Result<Vec<Disk>, SampleError> {
        const C: &str = collector::DISK;
        let paths = Arc::clone(&self.paths);
        match read_parse(&mut self.buf, &paths.diskstats, |t| Ok(diskstats::parse_diskstats(t))) {
            Ok(parsed) => {
                self.skipped(C, &paths.diskstats, parsed.skipped);
                Ok(parsed.items)
            }
            Err(e) => {
                self.errors.record(C, e.duplicate());
                Err(e)
            }
        }
    }

    /// Every network interface, with its sysfs attributes.
    ///
    /// Counters come from /proc/net/dev (a malformed line loses only its
    /// interface); when that file cannot be read or its header is not the
    /// one known, from /sys/class/net/<name>/statistics, where an interface
    /// any of whose counter files cannot be read is left out. Fails only
    /// when both sources fail. A sysfs attribute that cannot be read (the
    /// interface just vanished, or the driver has no speed) is `None`
    /// (`"unknown"` for operstate), not an error.
    pub fn interfaces(&mut self) -> Result<Vec<NetworkInterface>, SampleError> {
        const C: &str = collector::NETWORK;
        let paths = Arc::clone(&self.paths);
        let mut interfaces = match read_parse(&mut self.buf, &paths.net_dev, netdev::parse_net_dev) {
            Ok(parsed) => {
                self.skipped(C, &paths.net_dev, parsed.skipped);
                parsed.items
            }
            Err(net_dev_error) => {
                self.errors.record(C, net_dev_error.duplicate());
                match self.interfaces_from_statistics() {
                    Ok(interfaces) => interfaces,
                    Err(sysfs_error) => {
                        self.errors.record(C, sysfs_error);
                        return Err(net_dev_error);
                    }
                }
            }
        };
        for interface in &mut interfaces {
            if !netdev::is_safe_name(&interface.name) {
                interface.oper_state = netdev::parse_operstate("");
                continue;
            }
            let dir = paths.class_net.join(&interface.name);
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

    /// The interfaces under /sys/class/net and their counters from
    /// `statistics/*`, sorted by name.
    fn interfaces_from_statistics(&mut self) -> Result<Vec<NetworkInterface>, SampleError> {
        const C: &str = collector::NETWORK;
        let paths = Arc::clone(&self.paths);
        let class_net = &paths.class_net;
        let as_error = |source| SampleError::Read { file: class_net.clone(), source };
        let dir = os::open_dir(class_net).map_err(as_error)?;
        let mut names = Vec::new();
        os::for_each_entry(dir.as_fd(), &mut self.dirents, |name| {
            if let Ok(name) = name.to_str()
                && netdev::is_safe_name(name)
                && !name.starts_with('.')
            {
                names.push(name.to_owned());
            }
        })
        .map_err(as_error)?;
        names.sort_unstable();
        let mut interfaces = Vec::with_capacity(names.len());
        'interface: for name in names {
            let statistics = class_net.join(&name).join("statistics");
            let mut values = [0u64; netdev::STATISTICS.len()];
            for (slot, counter) in values.iter_mut().zip(netdev::STATISTICS) {
                // /sys/class/net/<name>/statistics/<counter>: one counter (see netdev::STATISTICS).
                match self.file(C, &statistics.join(counter), netdev::parse_statistic) {
                    Some(value) => *slot = value,
                    None => continue 'interface,
                }
            }
            match netdev::from_statistics(&name, &values) {
                Ok(interface) => interfaces.push(interface),
                Err(e) => self.errors.record(C, SampleError::parse(&statistics, e)),
            }
        }
        Ok(interfaces)
    }

    /// Every process (thread-group leader) in /proc; see [`process`].
    ///
    /// `details` adds each process's [`ProcessDetails`] (executable, working
    /// directory, command line, user), read once per process lifetime and
    /// cached; pass it only when a probe is granted `process-details`.
    ///
    /// Fails only if /proc cannot be listed (or, on the first call, the boot
    /// time is in neither /proc/stat nor /proc/uptime). A process that exits
    /// mid-scan is skipped and counted in [`ProcessSample::vanished`]; a
    /// process whose `stat` cannot be read or parsed is skipped and counted
    /// in [`ProcessSample::failed`]; any other file that fails loses only
    /// its own values. Every failure is counted in
    /// [`error_counts`](Self::error_counts).
    ///
    /// To stay cheap it keeps each process's /proc/<pid>/stat open between
    /// calls (raising this process's soft RLIMIT_NOFILE to the hard limit on
    /// the first call and using at most half of it), and reads `status`,
    /// `io` and `fd` again only for processes whose `stat` changed, or every
    /// few calls ([`set_process_full_read_every`](Self::set_process_full_read_every)).
    pub fn processes(&mut self, details: bool) -> Result<ProcessSample, SampleError> {
        let sample = self.processes.sample(details);
        for warning in self.processes.take_warnings() {
            self.errors.record(collector::PROCESS, warning);
        }
        if let Err(e) = &sample {
            self.errors.record(collector::PROCESS, e.duplicate());
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
