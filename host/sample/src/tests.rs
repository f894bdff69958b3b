//! The IO layer, run on the fixture tree (tests/fixtures/{proc,sys}) and on
//! this machine. How sampling degrades file by file is in
//! `tests/degrade.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_config() -> SampleConfig {
    SampleConfig { proc_root: fixtures().join("proc"), sys_root: fixtures().join("sys"), ..SampleConfig::default() }
}

/// A statfs that answers from the path alone, touching nothing.
fn fake_statfs() -> StatfsFn {
    Arc::new(|path: &Path| {
        if path == Path::new("/dev/shm") {
            return Err(std::io::Error::from_raw_os_error(13)); // EACCES
        }
        let n = path.as_os_str().len() as u64;
        Ok(FilesystemUsage {
            size_bytes: n << 30,
            free_bytes: n << 20,
            available_bytes: n << 10,
            files: n,
            files_free: 1,
        })
    })
}

fn fixture_sampler() -> Sampler {
    Sampler::with_statfs(fixture_config(), fake_statfs())
}

#[test]
fn system_from_the_fixture_tree() {
    let mut sampler = fixture_sampler();
    let tps = sampler.ticks_per_second();
    let system = sampler.system().unwrap();
    assert_eq!(system.hostname.as_deref(), Some("vm"));
    assert_eq!(system.kernel_release.as_deref(), Some("6.18.44-fc-v595"));
    assert_eq!(system.boot_time_seconds, Some(1_795_763_271.0));
    assert_eq!(system.uptime_seconds, Some(400.18));
    assert_eq!(system.cpu_total.as_ref().map(|t| t.user_seconds), Some(38_435.0 / tps));
    assert_eq!(system.cpus.len(), 2);
    assert_eq!(system.memory.as_ref().map(|m| m.total_bytes), Some(24_684_096 * 1024));
    assert_eq!(system.load.as_ref().map(|l| l.entities), Some(105));
    assert_eq!(system.context_switches, Some(362_537));
    assert_eq!(system.forks, Some(8663));
    assert_eq!(system.interrupts, Some(261_984));
    assert_eq!(system.procs_running, Some(3));
    assert_eq!(system.vm.as_ref().map(|v| v.page_faults), Some(9_709_305));
    assert_eq!(system.limits.file_max, Some(2_466_183));
    assert_eq!(system.limits.files_allocated, Some(595));
    assert_eq!(system.limits.pid_max, Some(32_768));
    assert_eq!(system.limits.threads_max, Some(192_731));
    // getrlimit is of this very process, not of the fixture.
    assert!(system.limits.open_files_soft.is_some());
    assert!(sampler.take_warnings().is_empty());
    assert!(sampler.error_counts().is_empty());
}

#[test]
fn interfaces_from_the_fixture_tree() {
    let mut sampler = fixture_sampler();
    let interfaces = sampler.interfaces().unwrap();
    let by_name = |name: &str| interfaces.iter().find(|i| i.name == name).unwrap();

    let eth0 = by_name("eth0");
    assert_eq!(eth0.receive_bytes, 197_665_564);
    assert_eq!(eth0.oper_state, "up");
    assert_eq!(eth0.mtu, Some(1400));
    assert_eq!(eth0.mac_address.as_deref(), Some("02:fc:00:00:00:01"));
    assert_eq!(eth0.speed_bits_per_second, None, "speed -1");

    let ifb0 = by_name("ifb0");
    assert_eq!(ifb0.oper_state, "down");
    assert_eq!(ifb0.mtu, Some(1500));
    assert_eq!(ifb0.speed_bits_per_second, None, "speed unreadable (EINVAL here)");

    let lo = by_name("lo");
    assert_eq!(lo.oper_state, "unknown");
    assert_eq!(lo.mtu, Some(65_536));
    assert_eq!(lo.mac_address, None, "all zeros");
    assert!(sampler.take_warnings().is_empty());
}

#[test]
fn disks_from_the_fixture_tree() {
    let mut sampler = fixture_sampler();
    let disks = sampler.disks().unwrap();
    assert_eq!(disks.len(), 10);
    let vda = disks.iter().find(|d| d.name == "vda").unwrap();
    assert_eq!(vda.read_bytes, 3_132_002 * 512);
    assert_eq!(vda.flushes_completed, 1_255);
}

#[test]
fn filesystems_from_the_fixture_tree() {
    let mut sampler = fixture_sampler();
    let filesystems = sampler.filesystems();
    assert_eq!(
        filesystems,
        [
            Filesystem {
                device: "/dev/vda".into(),
                mount_point: "/".into(),
                fs_type: "ext4".into(),
                read_only: false,
                usage: Ok(FilesystemUsage {
                    size_bytes: 1 << 30,
                    free_bytes: 1 << 20,
                    available_bytes: 1 << 10,
                    files: 1,
                    files_free: 1
                }),
            },
            Filesystem {
                device: "tmpfs".into(),
                mount_point: "/dev/shm".into(),
                fs_type: "tmpfs".into(),
                read_only: false,
                usage: Err("statfs: Permission denied (os error 13)".into()),
            },
        ]
    );
}

#[test]
fn a_missing_required_file_names_itself() {
    let config = SampleConfig {
        proc_root: PathBuf::from("/nonexistent/proc"),
        sys_root: PathBuf::from("/nonexistent/sys"),
        ..SampleConfig::default()
    };
    let mut sampler = Sampler::with_statfs(config, fake_statfs());
    let err = sampler.system().unwrap_err();
    assert!(matches!(&err, SampleError::Read { file, .. } if file == Path::new("/nonexistent/proc/stat")), "{err}");
    assert!(err.to_string().starts_with("/nonexistent/proc/stat: "), "{err}");
    assert!(sampler.disks().is_err());
    assert!(sampler.interfaces().is_err());
    assert!(sampler.filesystems().is_empty());
    let warnings = sampler.take_warnings();
    assert!(
        matches!(warnings.last(), Some(SampleError::Read { file, .. }) if file == Path::new("/nonexistent/proc/self/mountinfo")),
        "{warnings:?}"
    );
    let count = |collector: &str, file: &str| {
        sampler.error_counts().iter().find(|c| c.collector == collector && c.file == file).map(|c| (c.kind, c.count))
    };
    assert_eq!(count("system", "/proc/stat"), Some((ErrorKind::Missing, 1)));
    assert_eq!(count("disk", "/proc/diskstats"), Some((ErrorKind::Missing, 1)));
    assert_eq!(count("network", "/proc/net/dev"), Some((ErrorKind::Missing, 1)));
    assert_eq!(count("network", "/sys/class/net"), Some((ErrorKind::Missing, 1)));
    assert_eq!(count("filesystem", "/proc/self/mountinfo"), Some((ErrorKind::Missing, 1)));
}

/// A proc tree with only the four required files, one malformed diskstats
/// line, and an unparsable file-max.
fn sparse_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let proc = dir.path().join("proc");
    std::fs::create_dir_all(proc.join("sys/fs")).unwrap();
    for name in ["stat", "meminfo", "loadavg", "uptime"] {
        std::fs::copy(fixtures().join("proc").join(name), proc.join(name)).unwrap();
    }
    std::fs::copy(fixtures().join("edge/diskstats-mixed"), proc.join("diskstats")).unwrap();
    std::fs::write(proc.join("sys/fs/file-max"), "lots\n").unwrap();
    dir
}

#[test]
fn optional_files_missing_or_bad_are_warnings_not_failures() {
    let dir = sparse_tree();
    let proc = dir.path().join("proc");
    let config = SampleConfig { proc_root: proc.clone(), ..SampleConfig::default() };
    let mut sampler = Sampler::with_statfs(config, fake_statfs());

    let system = sampler.system().unwrap();
    assert_eq!(system.vm, None);
    assert_eq!(system.limits.file_max, None, "file-max unparsable and no file-nr");
    assert_eq!(system.hostname, None);
    let warnings = sampler.take_warnings();
    let files: Vec<_> = warnings.iter().filter_map(|w| w.file()).collect();
    assert_eq!(
        files,
        [
            proc.join("vmstat"),
            proc.join("sys/kernel/hostname"),
            proc.join("sys/kernel/osrelease"),
            proc.join("sys/fs/file-max"),
            proc.join("sys/fs/file-nr"),
            proc.join("sys/kernel/pid_max"),
            proc.join("sys/kernel/threads-max"),
        ]
    );
    assert!(
        matches!(&warnings[3], SampleError::Parse { line: 1, reason, .. } if reason.contains("lots")),
        "{}",
        warnings[3]
    );
    assert!(sampler.take_warnings().is_empty(), "taken");
    // Taken, but still counted.
    assert_eq!(sampler.error_counts().len(), 7);

    let disks = sampler.disks().unwrap();
    assert_eq!(disks.len(), 5);
    let warnings = sampler.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].to_string(),
        format!("{}:5: 13 columns, expected 7, 14, 18 or 20", proc.join("diskstats").display())
    );
}

#[test]
fn warnings_are_bounded_and_every_one_counted() {
    let dir = sparse_tree();
    let config = SampleConfig { proc_root: dir.path().join("proc"), ..SampleConfig::default() };
    let mut sampler = Sampler::with_statfs(config, fake_statfs());
    for _ in 0..100 {
        sampler.disks().unwrap();
    }
    assert_eq!(sampler.take_warnings().len(), 64);
    let counts = sampler.error_counts();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].collector, counts[0].file.as_str(), counts[0].kind, counts[0].count),
        ("disk", "/proc/diskstats", ErrorKind::Malformed, 100)
    );
}

#[test]
fn this_machine() {
    let mut sampler = Sampler::new(SampleConfig::default());
    let system = sampler.system().unwrap();
    assert!(!system.cpus.is_empty());
    let memory = system.memory.as_ref().unwrap();
    assert!(memory.total_bytes > memory.free_bytes);
    assert!(memory.total_bytes > 64 << 20, "bytes, not kB");
    assert!(system.limits.file_max.unwrap() > 0);
    assert!(system.limits.pid_max.unwrap() > 0);
    assert!(system.boot_time_seconds.unwrap() > 1e9);
    assert!(system.uptime_seconds.unwrap() > 0.0);
    let total = system.cpu_total.as_ref().unwrap();
    assert!(total.user_seconds + total.system_seconds + total.idle_seconds > 0.0);
    assert!(!system.kernel_release.unwrap().is_empty());

    let interfaces = sampler.interfaces().unwrap();
    let lo = interfaces.iter().find(|i| i.name == "lo").expect("a loopback interface");
    assert!(lo.mtu.is_some());
    sampler.disks().unwrap();

    let filesystems = sampler.filesystems();
    let root = filesystems.iter().find(|f| f.mount_point == "/").expect("a root filesystem");
    let usage = root.usage.as_ref().unwrap();
    assert!(usage.size_bytes >= usage.free_bytes);
    assert!(filesystems.iter().all(|f| !f.mount_point.starts_with("/proc") && f.fs_type != "sysfs"));
    // The statfs threads of a healthy machine have all returned.
    assert!(sampler.statfs_worker().wait_idle(std::time::Duration::from_secs(10)));
    let warnings = sampler.take_warnings();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(sampler.error_counts().is_empty());
}
