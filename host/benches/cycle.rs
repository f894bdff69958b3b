//! The whole sampling cycle under load, against a raw floor measured in the
//! same run; sock_diag against /proc/net/tcp on the same sockets; and the
//! response times of `/api/graph` and `/gomon`.
//!
//! ```sh
//! cargo bench -p gomon --bench cycle                          # 1000 processes, 2500 connections, 31 rounds, 20 requests
//! cargo bench -p gomon --bench cycle -- 1000 2500 31 20       # children, pairs, rounds, requests
//! ```
//!
//! The load: `children` idle `sleep 600` children and `pairs` loopback TCP
//! connections (both ends held here, 2 × `pairs` sockets) plus their listener.
//!
//! | row | what is timed |
//! |---|---|
//! | gomon cycle | one socket discovery (`Discoverer::discover`: the five sock_diag dumps, the /proc/<pid>/fd walk, pairing, reverse-DNS cache) + `Collector::cycle` (system, filesystems, disks, network, every process, the snapshot, every built-in probe): what gomon does once per interval |
//! | gomon cycle, every file every scan | the same with `set_process_full_read_every(1)`: status, io and fd re-read for every process every time, as the floor does |
//! | raw floor | the same kernel work without gomon: every /proc and /sys file the cycle reads (system files, mountinfo + statfs of the same mounts, diskstats, net/dev + sysfs attributes, every /proc/<pid>/stat, status, io), the fd walk (list, readlink, fdinfo of pipes, statx of paths), getifaddrs and the same five raw netlink dumps; one reused buffer, no parsing |
//!
//! gomon does not read /proc/<pid>/statm, so neither does the floor. The
//! three are interleaved round by round (the order rotates), so they see the
//! same machine. Then the TCP dumps (v4 + v6) through sock_diag against
//! reading and parsing /proc/net/tcp{,6}; and the release `gomon` binary
//! (plain HTTP on loopback, interval 1 h: it samples the same load once at
//! start) answering `requests` GETs of each page, each on a new connection,
//! timed to the last byte. Prints medians and 90th percentiles. Not a test: timings live
//! in benches.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::hint::black_box;
use std::io::{Read, Write as _};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/load.rs"]
mod load;
#[path = "support/proc_net.rs"]
mod proc_net;

use gomon::collect::{Collector, Connections, Trigger};
use gomon::config::Config;
use gomon::runtime::probe::Limits;
use gomon::runtime::{ProbeSet, RuntimeOptions};
use gomon::sample::sockets::Discoverer;
use gomon::sample::sockets::dns::{HostNames, ResolverConfig};
use gomon::sample::sockets::netlink::{DiagSocket, Dump, Replies};
use gomon::sample::{SampleConfig, Sampler};
use gomon_sink_prometheus::{MetricFamily, Value};
use load::{open_pairs, raise_nofile, spawn_sleepers};
use proc_net::read_proc_net;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let children: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let pairs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2500);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(31).max(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20).max(1);
    raise_nofile(pairs * 2 + children * 2 + 1024);

    let mut sleepers = spawn_sleepers(children);
    let (listener, streams) = open_pairs(pairs);
    println!(
        "cycle bench: {children} idle children, {pairs} loopback TCP connections ({} sockets) + listener; \
         {rounds} rounds, {requests} requests per page",
        pairs * 2
    );

    let probes = load_probes();
    let (mut gomon, mut gomon_full) = (Gomon::new(probes.clone(), false), Gomon::new(probes.clone(), true));
    let mut floor = Floor::new(&gomon.sample_config);
    // Warm up: the first scans open every stat file and read every detail.
    for _ in 0..3 {
        gomon.run();
        gomon_full.run();
        floor.run();
    }
    let calls_before = probe_totals(&probes);

    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut stages: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    for round in 0..rounds {
        for k in 0..3 {
            match (round + k) % 3 {
                0 => times[0].push(gomon.run_with_stages(&mut stages)),
                1 => times[1].push(gomon_full.run()),
                _ => times[2].push(floor.run()),
            }
        }
    }
    let calls_after = probe_totals(&probes);
    let floor_median = median(&times[2]);

    println!("\n{:<52} {:>10} {:>10} {:>9}", "full cycle under load", "median", "p90", "/ floor");
    for (name, samples) in [
        ("gomon cycle (default: full read on change or every 4th)", &times[0]),
        ("gomon cycle, every file every scan", &times[1]),
        ("raw floor (same files and dumps, no parsing)", &times[2]),
    ] {
        println!(
            "{name:<52} {:>10} {:>10} {:>8.2}×",
            ms(median(samples)),
            ms(p90(samples)),
            median(samples).as_secs_f64() / floor_median.as_secs_f64()
        );
    }
    println!(
        "  floor work per round: {} files, {} fd links, {} netlink datagrams",
        floor.files, floor.links, floor.datagrams
    );

    println!("\n{:<52} {:>10} {:>10}", "gomon cycle by stage (default)", "median", "p90");
    for (name, samples) in &stages {
        println!("  {name:<50} {:>10} {:>10}", ms(median(samples)), ms(p90(samples)));
    }
    println!("\n{:<52} {:>10} {:>10}", "probe calls (mean over the measured rounds)", "mean", "calls");
    for (name, (calls, seconds)) in &calls_after {
        let (calls0, seconds0) = calls_before.get(name).copied().unwrap_or_default();
        if calls > &calls0 {
            let mean = (seconds - seconds0) / (calls - calls0) as f64;
            println!("  {name:<50} {:>10} {:>10}", ms(Duration::from_secs_f64(mean)), calls - calls0);
        }
    }
    let last = gomon.last_counts;
    println!(
        "  snapshot: {} processes, {} connections ({} inet, {} unix sockets dumped)",
        last.0, last.1, last.2, last.3
    );

    tcp_dumps(rounds);
    drop((gomon, gomon_full, probes));
    http(requests, sleepers.first().map(|c| c.id()));

    drop((listener, streams));
    for child in &mut sleepers {
        let _ = child.kill();
    }
    for child in &mut sleepers {
        let _ = child.wait();
    }
}

// ------------------------------------------------------------------- gomon

fn load_probes() -> Arc<Mutex<ProbeSet>> {
    let config = Config::default();
    let options = RuntimeOptions {
        cache_dir: None,
        limits: Limits {
            memory_bytes: config.probes.memory_limit_bytes,
            call_timeout: config.probes.call_timeout,
            max_series: config.probes.max_series,
        },
        interval: Duration::from_secs(3600),
        probe_config: Default::default(),
    };
    let mut probes = ProbeSet::new(options).expect("probe runtime");
    let errors: Vec<String> = probes.load_builtins().iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "built-in probes not loaded: {errors:?}");
    Arc::new(Mutex::new(probes))
}

/// Calls and total call seconds per probe so far.
fn probe_totals(probes: &Mutex<ProbeSet>) -> BTreeMap<String, (u64, f64)> {
    let probes = probes.lock().unwrap_or_else(|e| e.into_inner());
    probes.summaries().into_iter().map(|s| (s.name, (s.calls, s.mean_call_seconds * s.calls as f64))).collect()
}

/// A collector as `gomon run` builds it, and a discoverer timed beside it.
struct Gomon {
    sample_config: SampleConfig,
    collector: Collector,
    discoverer: Discoverer,
    /// processes, connections, inet and unix sockets of the last round.
    last_counts: (usize, usize, usize, usize),
}

impl Gomon {
    fn new(probes: Arc<Mutex<ProbeSet>>, every_scan: bool) -> Self {
        let sample_config = Config::default().sample;
        let mut sampler = Sampler::new(sample_config.clone());
        if every_scan {
            sampler.set_process_full_read_every(1);
        }
        // The collector discovers connections only for a measure probe granted them
        // (none here: the graph probe discovers its own, per request); the discovery
        // of each round is timed on `discoverer` instead.
        let mut discoverer = Discoverer::new(sample_config.proc_root.clone());
        if sample_config.resolve_hosts {
            discoverer.set_host_names(HostNames::start(ResolverConfig::default()).ok());
        }
        let collector = Collector::new(sampler, Connections::default(), probes);
        Gomon { sample_config, collector, discoverer, last_counts: (0, 0, 0, 0) }
    }

    fn run(&mut self) -> Duration {
        self.run_with_stages(&mut BTreeMap::new())
    }

    fn run_with_stages(&mut self, stages: &mut BTreeMap<&'static str, Vec<Duration>>) -> Duration {
        let started = Instant::now();
        let discovery = self.discoverer.discover().expect("socket discovery");
        let exposition = self.collector.cycle(Trigger::Interval);
        let elapsed = started.elapsed();

        let s = discovery.stats;
        let mut stage = |name, d| stages.entry(name).or_default().push(d);
        stage("sockets: sock_diag dumps (5)", s.netlink);
        stage("sockets: /proc/<pid>/fd walk", s.fd_walk);
        stage("sockets: pairing + names", s.assemble);
        let collectors = collector_durations(&exposition.families);
        let mut sampled = 0.0;
        for (name, label) in [
            ("system", "collector: system"),
            ("filesystem", "collector: filesystem"),
            ("disk", "collector: disk"),
            ("network", "collector: network"),
            ("process", "collector: process"),
        ] {
            let seconds = collectors.get(name).copied().unwrap_or(0.0);
            sampled += seconds;
            stage(label, Duration::from_secs_f64(seconds));
        }
        let cycle = scalar(&exposition.families, "gomon_sample_duration_seconds").unwrap_or(0.0);
        stage("snapshot + probe calls + metrics", Duration::from_secs_f64((cycle - sampled).max(0.0)));
        let snapshot = exposition.snapshot.as_deref();
        self.last_counts = (
            snapshot.map_or(0, |s| s.processes.len()),
            snapshot.map_or(0, |s| s.connections.len()),
            s.inet_sockets,
            s.unix_sockets,
        );
        black_box(exposition);
        elapsed
    }
}

fn collector_durations(families: &[MetricFamily]) -> BTreeMap<String, f64> {
    let Some(family) = families.iter().find(|f| f.name == "gomon_collector_duration_seconds") else {
        return BTreeMap::new();
    };
    family
        .samples
        .iter()
        .filter_map(|s| match (&s.label_values[..], &s.value) {
            ([name], Value::Scalar(v)) => Some((name.clone(), *v)),
            _ => None,
        })
        .collect()
}

fn scalar(families: &[MetricFamily], name: &str) -> Option<f64> {
    match &families.iter().find(|f| f.name == name)?.samples.first()?.value {
        Value::Scalar(v) => Some(*v),
        _ => None,
    }
}

// ------------------------------------------------------------------- floor

/// The raw floor: the same kernel work as a cycle, nothing else.
struct Floor {
    /// Whole-file reads: system files, diskstats, net/dev, sysfs attributes.
    files_fixed: Vec<std::ffi::CString>,
    mountinfo: std::ffi::CString,
    /// The mount points the sampler measures.
    mounts: Vec<std::ffi::CString>,
    buf: Vec<u8>,
    path: Vec<u8>,
    diag: RawDiag,
    files: usize,
    links: usize,
    datagrams: usize,
}

impl Floor {
    fn new(config: &SampleConfig) -> Self {
        let mut sampler = Sampler::new(config.clone());
        let mounts = sampler.filesystems().into_iter().map(|f| cstring(f.mount_point.as_bytes())).collect();
        let interfaces = sampler.interfaces().expect("interfaces");
        let mut files_fixed: Vec<std::ffi::CString> = [
            "/proc/stat",
            "/proc/meminfo",
            "/proc/loadavg",
            "/proc/uptime",
            "/proc/vmstat",
            "/proc/sys/kernel/hostname",
            "/proc/sys/kernel/osrelease",
            "/proc/sys/fs/file-max",
            "/proc/sys/fs/file-nr",
            "/proc/sys/kernel/pid_max",
            "/proc/sys/kernel/threads-max",
            "/proc/diskstats",
            "/proc/net/dev",
        ]
        .iter()
        .map(|p| cstring(p.as_bytes()))
        .collect();
        for interface in &interfaces {
            for attribute in ["operstate", "mtu", "address", "speed"] {
                files_fixed.push(cstring(format!("/sys/class/net/{}/{attribute}", interface.name).as_bytes()));
            }
        }
        Floor {
            files_fixed,
            mountinfo: cstring(b"/proc/self/mountinfo"),
            mounts,
            buf: vec![0; 1 << 16],
            path: Vec::with_capacity(64),
            diag: RawDiag::open(),
            files: 0,
            links: 0,
            datagrams: 0,
        }
    }

    fn run(&mut self) -> Duration {
        let started = Instant::now();
        let (mut files, mut links) = (0, 0);
        for path in &self.files_fixed {
            files += read_file(libc::AT_FDCWD, path, &mut self.buf) as usize;
        }
        files += read_file(libc::AT_FDCWD, &self.mountinfo, &mut self.buf) as usize;
        for mount in &self.mounts {
            let mut st = MaybeUninit::<libc::statvfs>::zeroed();
            // SAFETY: mount is NUL-terminated; st is writable.
            black_box(unsafe { libc::statvfs(mount.as_ptr(), st.as_mut_ptr()) });
        }
        for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_NPROC, libc::RLIMIT_AS] {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: limit is a valid rlimit to fill.
            black_box(unsafe { libc::getrlimit(resource, &mut limit) });
        }
        // Every process: stat, status, io; then its descriptors.
        let proc_dir = Dir::open(c"/proc").expect("/proc");
        while let Some(name) = proc_dir.next_name() {
            if !name.to_bytes().first().is_some_and(u8::is_ascii_digit) {
                continue;
            }
            // SAFETY: proc_dir's fd is open; name is NUL-terminated.
            let fd = unsafe {
                libc::openat(proc_dir.fd(), name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
            };
            if fd < 0 {
                continue;
            }
            // SAFETY: fd was just opened and is owned here.
            let pid_dir = unsafe { OwnedFd::from_raw_fd(fd) };
            for file in [c"stat", c"status", c"io"] {
                files += read_file(pid_dir.as_raw_fd(), file, &mut self.buf) as usize;
            }
            links += self.walk_fds(&pid_dir);
        }
        // getifaddrs, as discovery does to know local addresses.
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: list is a valid out-pointer, freed at once.
        if unsafe { libc::getifaddrs(&mut list) } == 0 {
            // SAFETY: list came from getifaddrs.
            unsafe { libc::freeifaddrs(list) };
        }
        let datagrams = self.diag.dump_all(&mut self.buf);
        let elapsed = started.elapsed();
        (self.files, self.links, self.datagrams) = (files, links, datagrams);
        elapsed
    }

    /// Lists /proc/<pid>/fd, reads every link, the fdinfo of pipes and
    /// statx of paths (FIFOs), as the fd walk does. Returns the links read.
    fn walk_fds(&mut self, pid_dir: &OwnedFd) -> usize {
        // SAFETY: pid_dir is open; "fd" is NUL-terminated.
        let fd = unsafe { libc::openat(pid_dir.as_raw_fd(), c"fd".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        let Some(fd_dir) = Dir::from_fd(fd) else { return 0 };
        let mut links = 0;
        while let Some(name) = fd_dir.next_name() {
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            // SAFETY: fd_dir's fd is open; name NUL-terminated; buf writable for its length.
            let n =
                unsafe { libc::readlinkat(fd_dir.fd(), name.as_ptr(), self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n <= 0 {
                continue;
            }
            links += 1;
            let link = &self.buf[..n as usize];
            if link.starts_with(b"pipe:") {
                self.path.clear();
                self.path.extend_from_slice(b"fdinfo/");
                self.path.extend_from_slice(name.to_bytes_with_nul());
                let info = CStr::from_bytes_with_nul(&self.path).expect("one NUL");
                read_file(pid_dir.as_raw_fd(), info, &mut self.buf);
            } else if link.first() == Some(&b'/') {
                let mut stx = MaybeUninit::<libc::statx>::zeroed();
                // SAFETY: fd_dir's fd is open, name NUL-terminated, stx writable.
                black_box(unsafe {
                    libc::statx(
                        fd_dir.fd(),
                        name.as_ptr(),
                        libc::AT_STATX_DONT_SYNC,
                        libc::STATX_TYPE | libc::STATX_INO,
                        stx.as_mut_ptr(),
                    )
                });
            }
        }
        links
    }
}

fn cstring(bytes: &[u8]) -> std::ffi::CString {
    std::ffi::CString::new(bytes).expect("no NUL in a path")
}

/// Opens, reads whole into `buf`, closes. Whether it could be opened.
fn read_file(dir: libc::c_int, name: &CStr, buf: &mut [u8]) -> bool {
    // SAFETY: name is NUL-terminated; dir is AT_FDCWD or an open directory.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    loop {
        // SAFETY: fd is open; buf is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    true
}

/// A directory stream (opendir/readdir).
struct Dir(*mut libc::DIR);

impl Dir {
    fn open(path: &CStr) -> Option<Dir> {
        // SAFETY: path is NUL-terminated.
        let dir = unsafe { libc::opendir(path.as_ptr()) };
        (!dir.is_null()).then_some(Dir(dir))
    }

    /// Takes ownership of an open directory descriptor (or fails on -1).
    fn from_fd(fd: libc::c_int) -> Option<Dir> {
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is an open directory descriptor; fdopendir takes it over.
        let dir = unsafe { libc::fdopendir(fd) };
        if dir.is_null() {
            // SAFETY: fdopendir failed, so fd is still ours.
            unsafe { libc::close(fd) };
            return None;
        }
        Some(Dir(dir))
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: self.0 is an open DIR.
        unsafe { libc::dirfd(self.0) }
    }

    fn next_name(&self) -> Option<&CStr> {
        // SAFETY: self.0 is an open DIR; the entry lives until the next readdir.
        let entry = unsafe { libc::readdir(self.0) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: d_name is NUL-terminated.
        Some(unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) })
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.0 is open and closed once.
        unsafe { libc::closedir(self.0) };
    }
}

/// The five sock_diag dumps as raw bytes: requests built once, replies
/// received into the caller's buffer and only walked for NLMSG_DONE.
struct RawDiag {
    fd: OwnedFd,
    requests: Vec<Vec<u8>>,
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST_DUMP: u16 = 0x1 | 0x300;
const UDIAG_SHOW_NAME_PEER: u32 = 0x1 | 0x4;

impl RawDiag {
    fn open() -> Self {
        // SAFETY: plain socket call.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 4) }; // NETLINK_SOCK_DIAG
        assert!(fd >= 0, "netlink socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd was just opened.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all zeroes is valid (pid 0: the kernel).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: kernel is a valid sockaddr_nl of the size given.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        assert_eq!(rc, 0, "netlink connect: {}", std::io::Error::last_os_error());
        let mut requests = Vec::new();
        for (family, protocol) in [
            (libc::AF_INET, libc::IPPROTO_TCP),
            (libc::AF_INET6, libc::IPPROTO_TCP),
            (libc::AF_INET, libc::IPPROTO_UDP),
            (libc::AF_INET6, libc::IPPROTO_UDP),
        ] {
            // inet_diag_req_v2: family, protocol, ext, pad, states, then a zero inet_diag_sockid (48 bytes).
            let mut body = vec![family as u8, protocol as u8, 0, 0];
            body.extend_from_slice(&u32::MAX.to_ne_bytes());
            body.extend_from_slice(&[0; 48]);
            requests.push(nl_message(&body));
        }
        // unix_diag_req: family, protocol, pad (2), states, ino, show, cookie (8).
        let mut body = vec![libc::AF_UNIX as u8, 0, 0, 0];
        body.extend_from_slice(&u32::MAX.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend_from_slice(&UDIAG_SHOW_NAME_PEER.to_ne_bytes());
        body.extend_from_slice(&[0; 8]);
        requests.push(nl_message(&body));
        RawDiag { fd, requests }
    }

    /// Runs every dump; returns the datagrams received.
    fn dump_all(&mut self, buf: &mut [u8]) -> usize {
        let mut datagrams = 0;
        for request in &self.requests {
            // SAFETY: fd is open; request is readable for its length.
            let sent = unsafe { libc::send(self.fd.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
            assert_eq!(sent, request.len() as isize, "netlink send");
            'dump: loop {
                // SAFETY: fd is open; buf is writable for its length.
                let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                assert!(n > 0, "netlink recv: {}", std::io::Error::last_os_error());
                datagrams += 1;
                let mut at = 0;
                let n = n as usize;
                while at + 16 <= n {
                    let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
                    let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
                    if kind == libc::NLMSG_DONE as u16 || kind == libc::NLMSG_ERROR as u16 {
                        break 'dump;
                    }
                    at += (len.max(16) + 3) & !3;
                }
            }
        }
        datagrams
    }
}

/// A netlink request: header (length, SOCK_DIAG_BY_FAMILY, REQUEST|DUMP, seq 1, pid 0) + body.
fn nl_message(body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(16 + body.len());
    message.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message.extend_from_slice(&NLM_F_REQUEST_DUMP.to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(body);
    message
}

// ------------------------------------------------- sock_diag vs /proc/net/tcp

fn tcp_dumps(rounds: usize) {
    let mut diag = DiagSocket::open().expect("netlink sock_diag socket");
    let mut replies = Replies::default();
    let (mut text, mut rows) = (Vec::with_capacity(1 << 20), Vec::new());
    let (mut d, mut p) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    let (mut diag_count, mut proc_count) = (0, 0);
    for _ in 0..rounds {
        d.push(time(|| {
            replies.clear();
            for dump in [Dump::Tcp4, Dump::Tcp6] {
                diag.dump(dump, &mut replies, None).expect("sock_diag dump");
            }
            diag_count = black_box(replies.inet.len());
        }));
        p.push(time(|| {
            rows.clear();
            for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
                read_proc_net(file, &mut text, &mut rows);
            }
            proc_count = black_box(rows.len());
        }));
    }
    println!("\n{:<52} {:>10} {:>10}", "TCP sockets, v4 + v6, read and parsed", "median", "p90");
    println!("  {:<50} {:>10} {:>10}", format!("sock_diag ({diag_count} sockets)"), ms(median(&d)), ms(p90(&d)));
    println!(
        "  {:<50} {:>10} {:>10}",
        format!("/proc/net/tcp{{,6}} ({proc_count} sockets)"),
        ms(median(&p)),
        ms(p90(&p))
    );
    println!("  {:<50} {:>9.2}×", "/proc / sock_diag", median(&p).as_secs_f64() / median(&d).as_secs_f64());
}

// ------------------------------------------------------------------- HTTP

/// Starts the release `gomon` binary (plain HTTP on loopback, interval
/// 1 h, a fresh state directory) and times GETs of each page.
fn http(requests: usize, child: Option<u32>) {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("local address").port()
    };
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let state = tempfile::tempdir().expect("state directory");
    let mut server = Command::new(env!("CARGO_BIN_EXE_gomon"))
        .args(["--plain-http", "--interval", "1h", "--log-level", "error", "--listen", &address.to_string()])
        .arg("--state-dir")
        .arg(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting gomon");
    let deadline = Instant::now() + Duration::from_secs(120);
    while try_get(address, "/metrics").is_none() {
        assert!(Instant::now() < deadline, "gomon did not answer /metrics");
        assert!(server.try_wait().ok().flatten().is_none(), "gomon exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut pages = vec!["/api/graph".to_owned(), "/gomon".to_owned()];
    if let Some(pid) = child {
        pages.push(format!("/api/graph?pid={pid}"));
        pages.push(format!("/gomon?pid={pid}"));
    }
    pages.push("/metrics".to_owned());
    println!(
        "\n{:<40} {:>11} {:>10} {:>10}  what",
        format!("HTTP (gomon binary), {requests} GETs each"),
        "body",
        "median",
        "p90",
    );
    for page in &pages {
        get(address, page); // the graph probe's first call
        let mut times = Vec::with_capacity(requests);
        let mut body = Vec::new();
        for _ in 0..requests {
            let started = Instant::now();
            body = get(address, page);
            times.push(started.elapsed());
        }
        println!(
            "  {page:<38} {:>9} B {:>10} {:>10}  {}",
            body.len(),
            ms(median(&times)),
            ms(p90(&times)),
            describe(page, &body)
        );
    }
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    let _ = server.wait();
}

/// What a page held: nodes and edges of a graph, how the SVG was laid out.
fn describe(page: &str, body: &[u8]) -> String {
    if page.starts_with("/api/graph") {
        let graph: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let count = |key: &str| graph[key].as_array().map_or(0, Vec::len);
        format!("{} nodes, {} edges", count("nodes"), count("edges"))
    } else if page.starts_with("/gomon") {
        let builtin = body.windows(15).any(|w| w == b"Built-in layout");
        (if builtin { "built-in layout" } else { "dot" }).to_owned()
    } else {
        String::new()
    }
}

/// One GET on a new connection: status line and body, or `None` if the
/// connection failed.
fn try_get(address: SocketAddr, path: &str) -> Option<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let line_end = response.iter().position(|&b| b == b'\r').unwrap_or(head_end);
    let status = String::from_utf8_lossy(&response[..line_end]).into_owned();
    Some((status, response.split_off(head_end + 4)))
}

/// One GET; the body. Panics unless 200.
fn get(address: SocketAddr, path: &str) -> Vec<u8> {
    let (status, body) = try_get(address, path).unwrap_or_else(|| panic!("{path}: no response"));
    assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
    body
}

// ------------------------------------------------------------------- load

// ------------------------------------------------------------------- stats

fn time(mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn sorted(samples: &[Duration]) -> Vec<Duration> {
    let mut s = samples.to_vec();
    s.sort_unstable();
    s
}

fn median(samples: &[Duration]) -> Duration {
    let s = sorted(samples);
    s[s.len() / 2]
}

fn p90(samples: &[Duration]) -> Duration {
    let s = sorted(samples);
    s[(s.len() * 9 / 10).min(s.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
