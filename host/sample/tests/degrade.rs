//! Sampling degrades per file: on copies of the fixture tree with one file
//! removed or damaged, exactly the values that file feeds vanish, the rest
//! are there with their values, and the loss is counted once. Then the
//! same on an independent peer's fixture tree (node_exporter's), checked
//! against node_exporter's own output where both read the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gomon_sample::{
    ErrorKind, FilesystemUsage, NetworkInterface, Process, SampleConfig, SampleErrorCount, Sampler, StatfsFn, System,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A statfs that answers without touching anything.
fn fake_statfs() -> StatfsFn {
    Arc::new(|_: &Path| {
        Ok(FilesystemUsage {
            size_bytes: 1 << 30,
            free_bytes: 1 << 29,
            available_bytes: 1 << 28,
            files: 10,
            files_free: 5,
        })
    })
}

/// Copies a directory tree, keeping symbolic links as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A writable copy of the fixture's proc and sys trees.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixtures().join("proc"), &dir.path().join("proc"));
        copy_tree(&fixtures().join("sys"), &dir.path().join("sys"));
        Tree { dir }
    }

    fn proc(&self, file: &str) -> PathBuf {
        self.dir.path().join("proc").join(file)
    }

    fn sys(&self, file: &str) -> PathBuf {
        self.dir.path().join("sys").join(file)
    }

    fn remove(&self, file: &str) -> &Self {
        std::fs::remove_file(self.proc(file)).unwrap();
        self
    }

    fn write(&self, file: &str, text: &str) -> &Self {
        std::fs::write(self.proc(file), text).unwrap();
        self
    }

    fn sampler(&self) -> Sampler {
        let config = SampleConfig {
            proc_root: self.dir.path().join("proc"),
            sys_root: self.dir.path().join("sys"),
            ..SampleConfig::default()
        };
        Sampler::with_statfs(config, fake_statfs())
    }
}

/// The counts as `(collector, file, kind, count)`.
fn counts(sampler: &Sampler) -> Vec<(&'static str, String, ErrorKind, u64)> {
    sampler.error_counts().into_iter().map(|c: SampleErrorCount| (c.collector, c.file, c.kind, c.count)).collect()
}

fn count(collector: &'static str, file: &str, kind: ErrorKind, n: u64) -> (&'static str, String, ErrorKind, u64) {
    (collector, file.to_owned(), kind, n)
}

/// The system of the intact fixture tree.
fn intact_system() -> System {
    let tree = Tree::new();
    let mut sampler = tree.sampler();
    let system = sampler.system().unwrap();
    assert!(sampler.error_counts().is_empty(), "{:?}", sampler.error_counts());
    system
}

#[test]
fn the_intact_tree_has_every_part() {
    let s = intact_system();
    assert!(s.cpu_total.is_some() && s.cpus.len() == 2 && s.boot_time_seconds.is_some());
    assert!(s.memory.is_some() && s.load.is_some() && s.vm.is_some() && s.uptime_seconds.is_some());
    assert!(s.context_switches.is_some() && s.forks.is_some() && s.interrupts.is_some());
    assert!(s.procs_running.is_some() && s.procs_blocked.is_some());
    assert!(s.hostname.is_some() && s.kernel_release.is_some());
    let l = &s.limits;
    assert!(l.file_max.is_some() && l.files_allocated.is_some() && l.pid_max.is_some() && l.threads_max.is_some());
}

#[test]
fn without_uptime_only_uptime_goes() {
    let tree = Tree::new();
    tree.remove("uptime");
    let mut sampler = tree.sampler();
    let system = sampler.system().expect("the system collector still works");
    assert_eq!(system, System { uptime_seconds: None, ..intact_system() });
    assert_eq!(counts(&sampler), [count("system", "/proc/uptime", ErrorKind::Missing, 1)]);
    // Counted again each time it is missed.
    sampler.system().unwrap();
    assert_eq!(counts(&sampler), [count("system", "/proc/uptime", ErrorKind::Missing, 2)]);
}

#[test]
fn without_stat_only_its_values_go() {
    let tree = Tree::new();
    tree.remove("stat");
    let mut sampler = tree.sampler();
    let system = sampler.system().unwrap();
    let intact = intact_system();
    assert_eq!(
        system,
        System {
            cpu_total: None,
            cpus: Vec::new(),
            boot_time_seconds: None,
            context_switches: None,
            forks: None,
            interrupts: None,
            procs_running: None,
            procs_blocked: None,
            ..intact
        }
    );
    assert_eq!(counts(&sampler), [count("system", "/proc/stat", ErrorKind::Missing, 1)]);
}

#[test]
fn a_bad_stat_line_loses_only_its_value() {
    let tree = Tree::new();
    let stat = std::fs::read_to_string(tree.proc("stat")).unwrap();
    tree.write("stat", &stat.replace("ctxt 362537", "ctxt 36x537").replace("cpu1 ", "cpu1 x"));
    let mut sampler = tree.sampler();
    let system = sampler.system().unwrap();
    let intact = intact_system();
    assert_eq!(system, System { context_switches: None, cpus: intact.cpus[..1].to_vec(), ..intact.clone() });
    assert_eq!(counts(&sampler), [count("system", "/proc/stat", ErrorKind::Malformed, 2)]);
}

#[test]
fn each_other_system_file_feeds_only_its_part() {
    let intact = intact_system();
    type Case = (&'static str, fn(&mut System));
    let cases: [Case; 8] = [
        ("meminfo", |s| s.memory = None),
        ("loadavg", |s| s.load = None),
        ("vmstat", |s| s.vm = None),
        ("sys/kernel/hostname", |s| s.hostname = None),
        ("sys/kernel/osrelease", |s| s.kernel_release = None),
        ("sys/kernel/pid_max", |s| s.limits.pid_max = None),
        ("sys/kernel/threads-max", |s| s.limits.threads_max = None),
        ("sys/fs/file-nr", |s| s.limits.files_allocated = None),
    ];
    for (file, vanish) in cases {
        for (damage, kind) in [("missing", ErrorKind::Missing), ("malformed", ErrorKind::Malformed)] {
            let tree = Tree::new();
            if damage == "missing" {
                tree.remove(file);
            } else if file.starts_with("sys/kernel/host") || file.ends_with("osrelease") {
                // Any text is a host name: unreadable instead (a directory).
                tree.remove(file);
                std::fs::create_dir(tree.proc(file)).unwrap();
            } else {
                tree.write(file, "pgfault lots\nMemTotal: lots\n");
            }
            let mut sampler = tree.sampler();
            let system = sampler.system().unwrap();
            let mut expected = intact.clone();
            vanish(&mut expected);
            assert_eq!(system, expected, "{file} {damage}");
            let kind = if damage == "malformed" && (file.contains("host") || file.ends_with("osrelease")) {
                ErrorKind::Unreadable
            } else {
                kind
            };
            assert_eq!(counts(&sampler), [count("system", &format!("/proc/{file}"), kind, 1)], "{file} {damage}");
        }
    }
}

#[test]
fn file_max_falls_back_to_file_nr_and_is_absent_when_unknown() {
    let tree = Tree::new();
    tree.remove("sys/fs/file-max");
    let mut sampler = tree.sampler();
    let system = sampler.system().unwrap();
    // file-nr: "595\t0\t2466183".
    assert_eq!(system.limits.file_max, Some(2_466_183));
    assert_eq!(system, intact_system(), "nothing else changes");
    assert_eq!(counts(&sampler), [count("system", "/proc/sys/fs/file-max", ErrorKind::Missing, 1)]);

    tree.write("sys/fs/file-nr", "595\n");
    let system = tree.sampler().system().unwrap();
    assert_eq!(system.limits.file_max, None, "absent, not 0");
    assert_eq!(system.limits.files_allocated, Some(595));
}

#[test]
fn with_no_system_file_at_all_the_collector_fails() {
    let tree = Tree::new();
    for file in ["stat", "meminfo", "loadavg", "uptime", "vmstat"] {
        tree.remove(file);
    }
    let mut sampler = tree.sampler();
    let e = sampler.system().unwrap_err();
    assert!(e.to_string().contains("stat"), "{e}");
    let files: Vec<String> = counts(&sampler).into_iter().map(|c| c.1).collect();
    assert_eq!(files, ["/proc/loadavg", "/proc/meminfo", "/proc/stat", "/proc/uptime", "/proc/vmstat"]);
}

/// Writes `/sys/class/net/<name>/statistics/*` for an interface whose net/dev
/// line says `line` (16 counters), putting each summed column in its first
/// part and 0 in the others.
fn write_statistics(tree: &Tree, name: &str, net_dev: [u64; 16]) {
    let dir = tree.sys(&format!("class/net/{name}/statistics"));
    std::fs::create_dir_all(&dir).unwrap();
    let [rb, rp, re, rd, rfifo, rframe, rc, rm, tb, tp, te, td, tfifo, colls, carrier, tc] = net_dev;
    let values: [(&str, u64); 23] = [
        ("rx_bytes", rb),
        ("rx_packets", rp),
        ("rx_errors", re),
        ("rx_dropped", rd),
        ("rx_missed_errors", 0),
        ("rx_fifo_errors", rfifo),
        ("rx_length_errors", 0),
        ("rx_over_errors", 0),
        ("rx_crc_errors", 0),
        ("rx_frame_errors", rframe),
        ("rx_compressed", rc),
        ("multicast", rm),
        ("tx_bytes", tb),
        ("tx_packets", tp),
        ("tx_errors", te),
        ("tx_dropped", td),
        ("tx_fifo_errors", tfifo),
        ("collisions", colls),
        ("tx_carrier_errors", carrier),
        ("tx_aborted_errors", 0),
        ("tx_window_errors", 0),
        ("tx_heartbeat_errors", 0),
        ("tx_compressed", tc),
    ];
    for (file, value) in values {
        std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
    }
}

/// The 16 counters of a record, in net/dev order.
fn counters(n: &NetworkInterface) -> [u64; 16] {
    [
        n.receive_bytes,
        n.receive_packets,
        n.receive_errors,
        n.receive_dropped,
        n.receive_fifo_errors,
        n.receive_frame_errors,
        n.receive_compressed,
        n.receive_multicast,
        n.transmit_bytes,
        n.transmit_packets,
        n.transmit_errors,
        n.transmit_dropped,
        n.transmit_fifo_errors,
        n.transmit_collisions,
        n.transmit_carrier_errors,
        n.transmit_compressed,
    ]
}

#[test]
fn without_net_dev_interfaces_come_from_sysfs_statistics() {
    let tree = Tree::new();
    let mut from_net_dev = tree.sampler().interfaces().unwrap();
    assert_eq!(from_net_dev.len(), 4);
    for nic in &from_net_dev {
        write_statistics(&tree, &nic.name, counters(nic));
    }
    tree.remove("net/dev");
    let mut sampler = tree.sampler();
    let from_sysfs = sampler.interfaces().expect("interfaces from sysfs");
    from_net_dev.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(from_sysfs, from_net_dev, "the same records, attributes included");
    assert_eq!(counts(&sampler), [count("network", "/proc/net/dev", ErrorKind::Missing, 1)]);

    // An interface with a counter file missing is left out, and counted.
    std::fs::remove_file(tree.sys("class/net/ifb1/statistics/tx_compressed")).unwrap();
    let mut sampler = tree.sampler();
    let names: Vec<String> = sampler.interfaces().unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["eth0", "ifb0", "lo"]);
    assert_eq!(
        counts(&sampler),
        [
            count("network", "/proc/net/dev", ErrorKind::Missing, 1),
            count("network", "/sys/class/net/<device>/statistics/tx_compressed", ErrorKind::Missing, 1),
        ]
    );

    // Neither source: the collector fails.
    std::fs::remove_dir_all(tree.sys("class/net")).unwrap();
    assert!(tree.sampler().interfaces().is_err());
}

#[test]
fn a_net_dev_with_an_unknown_header_also_falls_back() {
    let tree = Tree::new();
    let nics = tree.sampler().interfaces().unwrap();
    for nic in &nics {
        write_statistics(&tree, &nic.name, counters(nic));
    }
    tree.write("net/dev", "Inter-| Receive | Transmit\n face |bytes|bytes\n lo: 1 2\n");
    let mut sampler = tree.sampler();
    assert_eq!(sampler.interfaces().unwrap().len(), 4);
    assert_eq!(counts(&sampler), [count("network", "/proc/net/dev", ErrorKind::Malformed, 1)]);
}

/// The sysfs fallback on this machine agrees with /proc/net/dev: every
/// counter of `lo` read from sysfs lies between the net/dev values read
/// just before and just after (the counters only grow).
#[test]
fn sysfs_statistics_agree_with_net_dev_on_this_machine() {
    let empty = tempfile::tempdir().unwrap();
    let live = SampleConfig::default();
    let fallback = SampleConfig { proc_root: empty.path().to_owned(), ..SampleConfig::default() };
    let (mut live, mut fallback) = (Sampler::new(live), Sampler::new(fallback));
    let lo = |nics: Vec<NetworkInterface>| counters(nics.iter().find(|n| n.name == "lo").expect("lo"));
    let before = lo(live.interfaces().unwrap());
    let between = lo(fallback.interfaces().unwrap());
    let after = lo(live.interfaces().unwrap());
    for i in 0..16 {
        assert!(before[i] <= between[i] && between[i] <= after[i], "column {i}: {before:?} {between:?} {after:?}");
    }
    assert!(live.error_counts().is_empty());
}

#[test]
fn diskstats_and_mountinfo_lose_only_what_they_feed() {
    let tree = Tree::new();
    let mountinfo = std::fs::read_to_string(tree.proc("self/mountinfo")).unwrap();
    let damaged: String = mountinfo
        .lines()
        .map(|l| if l.contains(" /dev/shm ") { "garbage\n".to_owned() } else { format!("{l}\n") })
        .collect();
    tree.write("self/mountinfo", &damaged);
    tree.remove("diskstats");
    let mut sampler = tree.sampler();
    let points: Vec<String> = sampler.filesystems().into_iter().map(|f| f.mount_point).collect();
    assert_eq!(points, ["/"], "only the damaged line's mount is gone");
    assert!(sampler.disks().is_err());
    assert!(sampler.system().is_ok() && sampler.interfaces().is_ok());
    assert_eq!(
        counts(&sampler),
        [
            count("disk", "/proc/diskstats", ErrorKind::Missing, 1),
            // Both /dev/shm lines (stacked mounts).
            count("filesystem", "/proc/self/mountinfo", ErrorKind::Malformed, 2),
        ]
    );
}

fn process(sample: &[Process], pid: u32) -> &Process {
    sample.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("no process {pid}"))
}

#[test]
fn a_process_without_status_keeps_what_stat_gives() {
    let tree = Tree::new();
    let mut intact = tree.sampler();
    let intact = intact.processes(false).unwrap();
    let before = process(&intact.processes, 4242).clone();
    tree.remove("4242/status");
    let mut sampler = tree.sampler();
    let sample = sampler.processes(false).unwrap();
    assert_eq!(sample.processes.len(), 4, "not dropped");
    assert_eq!((sample.vanished, sample.failed), (0, 0));
    let sleep = process(&sample.processes, 4242);
    assert_eq!(
        *sleep,
        Process {
            uid: None,
            gid: None,
            shared_bytes: None,
            peak_resident_bytes: None,
            voluntary_context_switches: None,
            involuntary_context_switches: None,
            ..before
        }
    );
    let status = counts(&sampler).into_iter().find(|c| c.1.ends_with("/status"));
    assert_eq!(status, Some(count("process", "/proc/<pid>/status", ErrorKind::Missing, 1)));
}

#[test]
fn a_process_with_a_bad_io_or_fd_loses_only_those() {
    let tree = Tree::new();
    let before = process(&tree.sampler().processes(false).unwrap().processes, 4400).clone();
    tree.write("4400/io", "rchar: lots\n");
    std::fs::remove_dir_all(tree.proc("4400/fd")).unwrap();
    let mut sampler = tree.sampler();
    let sample = sampler.processes(false).unwrap();
    let tricky = process(&sample.processes, 4400);
    assert_eq!(
        *tricky,
        Process {
            read_bytes: None,
            written_bytes: None,
            read_chars: None,
            written_chars: None,
            read_syscalls: None,
            write_syscalls: None,
            open_fds: None,
            ..before
        }
    );
    let mine: Vec<_> =
        counts(&sampler).into_iter().filter(|c| c.1 != "/proc/<pid>/io" || c.2 != ErrorKind::Missing).collect();
    assert!(mine.contains(&count("process", "/proc/<pid>/io", ErrorKind::Malformed, 1)), "{mine:?}");
    // The fixture's zombie 4300 has no fd directory either: two processes.
    assert!(mine.contains(&count("process", "/proc/<pid>/fd", ErrorKind::Missing, 2)), "{mine:?}");
}

#[test]
fn the_pid_comes_from_the_directory() {
    let tree = Tree::new();
    let stat = std::fs::read_to_string(tree.proc("4242/stat")).unwrap();
    tree.write("4242/stat", &stat.replacen("4242 (", "999 (", 1));
    let mut sampler = tree.sampler();
    let sample = sampler.processes(false).unwrap();
    let pids: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [2, 4242, 4300, 4400]);
    assert!(counts(&sampler).contains(&count("process", "/proc/<pid>/stat", ErrorKind::Mismatch, 1)));
    let warning = sampler.take_warnings().into_iter().find(|w| w.to_string().contains("999")).unwrap();
    assert!(warning.to_string().contains("4242/stat"), "{warning}");
}

#[test]
fn without_btime_process_start_times_come_from_uptime() {
    let tree = Tree::new();
    tree.remove("stat");
    let mut sampler = tree.sampler();
    let sample = sampler.processes(false).expect("processes without /proc/stat");
    assert_eq!(sample.processes.len(), 4);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    // uptime 400.18 s: booted about 400 s ago; sleep started 327_522 ticks after boot.
    let sleep = process(&sample.processes, 4242);
    let expected = (now - 400.18).round() + 327_522.0 / sampler.ticks_per_second();
    assert!((sleep.start_time_seconds - expected).abs() <= 2.0, "{} vs {expected}", sleep.start_time_seconds);
    assert!(counts(&sampler).contains(&count("process", "/proc/stat", ErrorKind::Missing, 1)));
    // Neither: the process collector fails, naming /proc/stat.
    tree.remove("uptime");
    let e = tree.sampler().processes(false).unwrap_err();
    assert!(e.to_string().contains("stat"), "{e}");
}

// ----------------------------------------------------------- node_exporter

/// node_exporter's output for its fixture tree: `name{labels}` → value.
fn node_exporter_output() -> std::collections::HashMap<String, f64> {
    let text = std::fs::read_to_string(fixtures().join("node_exporter/e2e-output-excerpt.txt")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn node_exporter_sampler() -> Sampler {
    let root = fixtures().join("node_exporter");
    let config = SampleConfig { proc_root: root.join("proc"), sys_root: root.join("sys"), ..SampleConfig::default() };
    Sampler::with_statfs(config, fake_statfs())
}

/// Equal to within float formatting (node_exporter prints shortest `%g`).
fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b) / b).abs() < 1e-12
}

#[test]
fn node_exporters_tree_samples_and_agrees_with_node_exporter() {
    let node = node_exporter_output();
    let want = |series: &str| *node.get(series).unwrap_or_else(|| panic!("{series} not in node_exporter's output"));
    let mut sampler = node_exporter_sampler();
    let tps = sampler.ticks_per_second();
    assert_eq!(tps, 100.0, "node_exporter's output assumes USER_HZ 100");
    let s = sampler.system().expect("system without /proc/uptime");

    assert_eq!(s.uptime_seconds, None);
    assert_eq!(s.boot_time_seconds, Some(want("node_boot_time_seconds")));
    assert_eq!(s.context_switches.map(|v| v as f64), Some(want("node_context_switches_total")));
    assert_eq!(s.forks.map(|v| v as f64), Some(want("node_forks_total")));
    assert_eq!(s.interrupts.map(|v| v as f64), Some(want("node_intr_total")));
    assert_eq!(s.procs_running.map(f64::from), Some(want("node_procs_running")));
    assert_eq!(s.procs_blocked.map(f64::from), Some(want("node_procs_blocked")));
    assert_eq!(s.cpus.len(), 8);
    for cpu in &s.cpus {
        let t = &cpu.times;
        for (mode, value) in [
            ("user", t.user_seconds),
            ("nice", t.nice_seconds),
            ("system", t.system_seconds),
            ("idle", t.idle_seconds),
            ("iowait", t.iowait_seconds),
            ("irq", t.irq_seconds),
            ("softirq", t.softirq_seconds),
            ("steal", t.steal_seconds),
        ] {
            let series = format!("node_cpu_seconds_total{{cpu=\"{}\",mode=\"{mode}\"}}", cpu.id);
            assert!(close(value, want(&series)), "{series}: {value} vs {}", want(&series));
        }
        for (mode, value) in [("user", t.guest_seconds), ("nice", t.guest_nice_seconds)] {
            let series = format!("node_cpu_guest_seconds_total{{cpu=\"{}\",mode=\"{mode}\"}}", cpu.id);
            assert!(close(value, want(&series)), "{series}: {value} vs {}", want(&series));
        }
    }

    let m = s.memory.as_ref().expect("meminfo");
    for (name, value) in [
        ("MemTotal", m.total_bytes),
        ("MemFree", m.free_bytes),
        ("Buffers", m.buffers_bytes),
        ("Cached", m.cached_bytes),
        ("Shmem", m.shared_bytes),
        ("SReclaimable", m.slab_reclaimable_bytes),
        ("Dirty", m.dirty_bytes),
        ("Writeback", m.writeback_bytes),
        ("SwapTotal", m.swap_total_bytes),
        ("SwapFree", m.swap_free_bytes),
        ("SwapCached", m.swap_cached_bytes),
    ] {
        let series = format!("node_memory_{name}_bytes");
        if let Some(&expected) = node.get(&series) {
            assert!(close(value as f64, expected), "{series}: {value} vs {expected}");
        }
    }
    let load = s.load.as_ref().expect("loadavg");
    assert_eq!(load.one_minute, want("node_load1"));
    assert_eq!(load.five_minutes, want("node_load5"));
    assert_eq!(load.fifteen_minutes, want("node_load15"));
    let vm = s.vm.as_ref().expect("vmstat");
    assert_eq!(vm.page_faults as f64, want("node_vmstat_pgfault"));
    assert_eq!(vm.major_page_faults as f64, want("node_vmstat_pgmajfault"));
    assert_eq!(vm.pages_swapped_in as f64, want("node_vmstat_pswpin"));
    assert_eq!(vm.pages_swapped_out as f64, want("node_vmstat_pswpout"));
    // node_exporter reports pgpgin/pgpgout as the kernel's KiB count.
    assert_eq!(vm.paged_in_bytes as f64, want("node_vmstat_pgpgin") * 1024.0);
    assert_eq!(vm.paged_out_bytes as f64, want("node_vmstat_pgpgout") * 1024.0);

    // No file-max in this tree: the maximum comes from file-nr, as node_exporter's does.
    assert_eq!(s.limits.file_max.map(|v| v as f64), Some(want("node_filefd_maximum")));
    assert_eq!(s.limits.files_allocated.map(|v| v as f64), Some(want("node_filefd_allocated")));

    let disks = sampler.disks().unwrap();
    let mut compared = 0;
    for d in &disks {
        let series = |name: &str| format!("node_disk_{name}{{device=\"{}\"}}", d.name);
        let Some(&reads) = node.get(&series("reads_completed_total")) else { continue };
        compared += 1;
        assert_eq!(d.reads_completed as f64, reads, "{}", d.name);
        assert!(close(d.read_bytes as f64, want(&series("read_bytes_total"))), "{}", d.name);
        assert_eq!(d.writes_completed as f64, want(&series("writes_completed_total")), "{}", d.name);
        assert!(close(d.written_bytes as f64, want(&series("written_bytes_total"))), "{}", d.name);
        assert!(close(d.io_seconds, want(&series("io_time_seconds_total"))), "{}", d.name);
        assert_eq!(d.ios_in_progress as f64, want(&series("io_now")), "{}", d.name);
    }
    assert!(compared >= 10, "compared {compared} disks");

    // What this tree lacks is counted, nothing else.
    let lost: Vec<(String, ErrorKind)> =
        sampler.error_counts().into_iter().filter(|c| c.collector == "system").map(|c| (c.file, c.kind)).collect();
    assert_eq!(
        lost,
        [
            ("/proc/sys/fs/file-max".to_owned(), ErrorKind::Missing),
            ("/proc/sys/kernel/hostname".to_owned(), ErrorKind::Missing),
            ("/proc/sys/kernel/osrelease".to_owned(), ErrorKind::Missing),
            ("/proc/uptime".to_owned(), ErrorKind::Missing),
        ]
    );
}

#[test]
fn node_exporters_processes_without_status_are_kept() {
    let mut sampler = node_exporter_sampler();
    let sample = sampler.processes(false).unwrap();
    let pids: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [1, 10, 11], "every process, none dropped for lack of status");
    let systemd = &sample.processes[0];
    assert_eq!((systemd.comm.as_str(), systemd.ppid, systemd.threads), ("systemd", 0, 1));
    assert_eq!(systemd.start_time_seconds, 1_418_183_276.0 + 29.0 / sampler.ticks_per_second());
    assert_eq!(systemd.uid, None);
    // 10/stat names pid 17: the directory's pid is used.
    assert_eq!(sample.processes[1].comm, "khungtaskd");
    let counts = sampler.error_counts();
    let kinds = |file: &str| -> Vec<(ErrorKind, u64)> {
        counts.iter().filter(|c| c.file == file).map(|c| (c.kind, c.count)).collect()
    };
    assert_eq!(kinds("/proc/<pid>/stat"), [(ErrorKind::Mismatch, 1)]);
    assert_eq!(kinds("/proc/<pid>/status"), [(ErrorKind::Missing, 3)]);
    assert_eq!(kinds("/proc/<pid>/io"), [(ErrorKind::Missing, 3)]);
    // Kernel threads (11, and 17 in 10's stat) have no descriptors to count.
    assert_eq!(kinds("/proc/<pid>/fd"), [(ErrorKind::Missing, 1)]);
}
