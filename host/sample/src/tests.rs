//! The IO layer, run on the fixture tree (host/tests/fixtures/{proc,sys}) and
//! on this machine.

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
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
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
    assert_eq!(system.hostname, "vm");
    assert_eq!(system.kernel_release, "6.18.44-fc-v595");
    assert_eq!(system.boot_time_seconds, 1_795_763_271.0);
    assert_eq!(system.uptime_seconds, 400.18);
    assert_eq!(system.cpu_total.user_seconds, 38_435.0 / tps);
    assert_eq!(system.cpus.len(), 2);
    assert_eq!(system.memory.total_bytes, 24_684_096 * 1024);
    assert_eq!(system.load.entities, 105);
    assert_eq!(system.context_switches, 362_537);
    assert_eq!(system.forks, 8663);
    assert_eq!(system.interrupts, 261_984);
    assert_eq!(system.procs_running, 3);
    assert_eq!(system.vm.page_faults, 9_709_305);
    assert_eq!(system.limits.file_max, 2_466_183);
    assert_eq!(system.limits.files_allocated, 595);
    assert_eq!(system.limits.pid_max, 32_768);
    assert_eq!(system.limits.threads_max, 192_731);
    // getrlimit is of this very process, not of the fixture.
    assert!(system.limits.open_files_soft.is_some());
    assert!(sampler.take_warnings().is_empty());
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
    let config = SampleConfig { proc_root: PathBuf::from("/nonexistent/proc"), ..SampleConfig::default() };
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
    assert_eq!(system.vm, VmEvents::default());
    assert_eq!(system.limits.file_max, 0);
    assert_eq!(system.hostname, "");
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
fn warnings_are_bounded() {
    let dir = sparse_tree();
    let config = SampleConfig { proc_root: dir.path().join("proc"), ..SampleConfig::default() };
    let mut sampler = Sampler::with_statfs(config, fake_statfs());
    for _ in 0..100 {
        sampler.disks().unwrap();
    }
    assert_eq!(sampler.take_warnings().len(), 64);
}

#[test]
fn this_machine() {
    let mut sampler = Sampler::new(SampleConfig::default());
    let system = sampler.system().unwrap();
    assert!(!system.cpus.is_empty());
    assert!(system.memory.total_bytes > system.memory.free_bytes);
    assert!(system.memory.total_bytes > 64 << 20, "bytes, not kB");
    assert!(system.limits.file_max > 0);
    assert!(system.limits.pid_max > 0);
    assert!(system.boot_time_seconds > 1e9);
    assert!(system.uptime_seconds > 0.0);
    let total = &system.cpu_total;
    assert!(total.user_seconds + total.system_seconds + total.idle_seconds > 0.0);
    assert!(!system.kernel_release.is_empty());

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
}
