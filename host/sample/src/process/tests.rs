//! The process reader on the fixture tree (tests/fixtures/proc/<pid>/…,
//! captured on this machine with the pids renumbered), on edited copies of
//! it, and on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{ErrorKind, ProcessState, SampleConfig, SampleError, Sampler};

fn fixture_proc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

fn sampler_on(proc_root: &Path) -> Sampler {
    Sampler::new(SampleConfig { proc_root: proc_root.to_owned(), ..SampleConfig::default() })
}

/// The fixture tree's /proc/stat btime.
const BTIME: f64 = 1_795_763_271.0;

#[test]
fn fixture_tree() {
    let mut sampler = sampler_on(&fixture_proc());
    let tps = sampler.ticks_per_second();
    let page = crate::os::page_size();
    let sample = sampler.processes(true).unwrap();
    // The zombie's io and fd directory are not in the capture.
    let lost: Vec<(String, ErrorKind, u64)> =
        sampler.error_counts().into_iter().map(|c| (c.file, c.kind, c.count)).collect();
    assert_eq!(
        lost,
        [("/proc/<pid>/fd".to_owned(), ErrorKind::Missing, 1), ("/proc/<pid>/io".to_owned(), ErrorKind::Missing, 1)]
    );
    sampler.take_warnings();
    assert_eq!((sample.vanished, sample.failed, sample.details_read, sample.details_cached), (0, 0, 4, 4));
    assert_eq!((sample.full_reads, sample.held_descriptors), (4, 4));
    let pids: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [2, 4242, 4300, 4400]);
    let [kthreadd, sleep, zombie, tricky] = &sample.processes[..] else { unreachable!() };

    // A `sleep 600` run as uid 1000.
    assert_eq!(sleep.comm, "sleep");
    assert_eq!((sleep.ppid, sleep.process_group, sleep.session), (4200, 4200, 4100));
    assert_eq!(sleep.state, ProcessState::Sleeping);
    assert!(!sleep.kernel_thread);
    assert_eq!(sleep.start_time_seconds, BTIME + 327_522.0 / tps);
    assert_eq!((sleep.uid, sleep.gid), (Some(1000), Some(1000)));
    assert_eq!((sleep.nice, sleep.priority, sleep.threads), (0, 20, 1));
    assert_eq!((sleep.user_seconds, sleep.system_seconds), (0.0, 0.0));
    assert_eq!(sleep.virtual_bytes, 2_990_080);
    assert_eq!(sleep.resident_bytes, 414 * page);
    assert_eq!(sleep.shared_bytes, Some(1720 * 1024));
    assert_eq!(sleep.peak_resident_bytes, Some(1832 * 1024));
    assert_eq!((sleep.minor_faults, sleep.major_faults), (245, 3));
    assert_eq!((sleep.voluntary_context_switches, sleep.involuntary_context_switches), (Some(7), Some(1)));
    assert_eq!(
        (sleep.read_chars, sleep.written_chars, sleep.read_syscalls, sleep.write_syscalls),
        (Some(23_188), Some(0), Some(34), Some(0))
    );
    assert_eq!((sleep.read_bytes, sleep.written_bytes), (Some(430_080), Some(0)));
    assert_eq!(sleep.open_fds, Some(3));
    let details = sleep.details.as_ref().unwrap();
    assert_eq!(details.executable, "/usr/bin/sleep");
    assert_eq!(details.working_directory, "/tmp");
    assert_eq!(details.command_line, ["sleep", "600"]);
    assert_eq!(details.user, crate::os::user_name(1000).unwrap_or_else(|| "1000".into()));

    // kthreadd: a kernel thread, no memory, no descriptors, no command line.
    assert_eq!((kthreadd.comm.as_str(), kthreadd.ppid), ("kthreadd", 0));
    assert!(kthreadd.kernel_thread);
    assert_eq!((kthreadd.resident_bytes, kthreadd.virtual_bytes, kthreadd.open_fds), (0, 0, Some(0)));
    assert_eq!(kthreadd.voluntary_context_switches, Some(68));
    let details = kthreadd.details.as_ref().unwrap();
    assert_eq!((details.executable.as_str(), details.command_line.len()), ("", 0));
    assert_eq!(details.user, "root");

    // A zombie captured without its io and fd directory: those are unknown.
    assert_eq!(zombie.state, ProcessState::Zombie);
    assert!(!zombie.kernel_thread);
    assert_eq!((zombie.read_chars, zombie.read_bytes, zombie.open_fds, zombie.resident_bytes), (None, None, None, 0));
    assert_eq!(zombie.uid, Some(0), "status is there");
    assert_eq!(zombie.details.as_ref().unwrap().command_line.len(), 0);

    // A copy of sleep named "a) b (c".
    assert_eq!(tricky.comm, "a) b (c");
    assert_eq!(tricky.ppid, 4200);
    assert_eq!(tricky.minor_faults, 124);
    assert_eq!(tricky.start_time_seconds, BTIME + 327_522.0 / tps);
    assert_eq!(tricky.details.as_ref().unwrap().command_line, ["/tmp/cap/a) b (c", "600"]);
    assert_eq!(tricky.details.as_ref().unwrap().executable, "/tmp/cap/a) b (c");
}

#[test]
fn without_details_nothing_is_read_or_cached() {
    let mut sampler = sampler_on(&fixture_proc());
    let sample = sampler.processes(false).unwrap();
    assert_eq!(sample.processes.len(), 4);
    assert!(sample.processes.iter().all(|p| p.details.is_none()));
    assert_eq!((sample.details_read, sample.details_cached), (0, 0));
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

/// A writable copy of the fixture's stat and process directories.
fn editable_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_proc().join("stat"), dir.path().join("stat")).unwrap();
    for pid in ["2", "4242", "4300", "4400"] {
        copy_tree(&fixture_proc().join(pid), &dir.path().join(pid));
    }
    dir
}

#[test]
fn details_are_read_once_per_pid_and_start_time() {
    let tree = editable_tree();
    let proc = tree.path();
    let mut sampler = sampler_on(proc);
    assert_eq!(sampler.processes(true).unwrap().details_read, 4);
    // Unchanged processes: every detail comes from the cache, even if the
    // file changed (a static fact is read once per process lifetime).
    std::fs::write(proc.join("4242/cmdline"), "sleep\x00601\x00").unwrap();
    let sample = sampler.processes(true).unwrap();
    assert_eq!((sample.details_read, sample.details_cached), (0, 4));
    assert_eq!(sample.processes[1].details.as_ref().unwrap().command_line, ["sleep", "600"]);

    // Pid 4242 reused by a new process (another start time): read again.
    let stat = std::fs::read_to_string(proc.join("4242/stat")).unwrap();
    std::fs::write(proc.join("4242/stat"), stat.replace(" 327522 ", " 400000 ")).unwrap();
    let sample = sampler.processes(true).unwrap();
    assert_eq!((sample.details_read, sample.full_reads), (1, 1));
    assert_eq!(sample.processes[1].details.as_ref().unwrap().command_line, ["sleep", "601"]);

    // Pid 4400 exec'd another program: same start time, new comm.
    let stat = std::fs::read_to_string(proc.join("4400/stat")).unwrap();
    std::fs::write(proc.join("4400/stat"), stat.replace("(a) b (c)", "(cat)")).unwrap();
    std::fs::write(proc.join("4400/cmdline"), "cat\x00").unwrap();
    let sample = sampler.processes(true).unwrap();
    assert_eq!(sample.details_read, 1);
    assert_eq!(sample.processes[3].details.as_ref().unwrap().command_line, ["cat"]);

    // Pid 4300 exited: pruned from the cache.
    std::fs::remove_dir_all(proc.join("4300")).unwrap();
    let sample = sampler.processes(true).unwrap();
    assert_eq!((sample.processes.len(), sample.details_read, sample.details_cached), (3, 0, 3));
}

#[test]
fn idle_processes_keep_their_last_full_read() {
    let tree = editable_tree();
    let proc = tree.path();
    let mut sampler = sampler_on(proc);
    // Pid 4242 is due for a full read every 1000 scans: not within this test.
    sampler.set_process_full_read_every(1000);
    let switches = |sampler: &mut Sampler| {
        let sample = sampler.processes(false).unwrap();
        let sleep = sample.processes.iter().find(|p| p.pid == 4242).unwrap();
        (sleep.voluntary_context_switches.unwrap_or(0), sleep.minor_faults, sample.full_reads)
    };
    assert_eq!(switches(&mut sampler), (7, 245, 4));
    let status = std::fs::read_to_string(proc.join("4242/status")).unwrap();
    std::fs::write(
        proc.join("4242/status"),
        status.replace("voluntary_ctxt_switches:\t7", "voluntary_ctxt_switches:\t9"),
    )
    .unwrap();
    // stat unchanged: status is not read again.
    assert_eq!(switches(&mut sampler), (7, 245, 0));
    // stat changed (a page fault): read in full.
    let stat = std::fs::read_to_string(proc.join("4242/stat")).unwrap();
    std::fs::write(proc.join("4242/stat"), stat.replace(" 245 0 3 ", " 246 0 3 ")).unwrap();
    assert_eq!(switches(&mut sampler), (9, 246, 1));
    // Every scan reads everything when asked to.
    std::fs::write(
        proc.join("4242/status"),
        status.replace("voluntary_ctxt_switches:\t7", "voluntary_ctxt_switches:\t11"),
    )
    .unwrap();
    sampler.set_process_full_read_every(1);
    assert_eq!(switches(&mut sampler), (11, 246, 4));
}

#[test]
fn full_reads_are_spread_over_scans() {
    let mut sampler = sampler_on(&fixture_proc());
    let reads: Vec<u32> = (0..8).map(|_| sampler.processes(false).unwrap().full_reads).collect();
    // Scan 1 reads all four; then each pid p is due when (scan + p) % 4 == 0:
    // pids 2 and 4242 (≡ 2) at scans 2 and 6, 4300 and 4400 (≡ 0) at 4 and 8.
    assert_eq!(reads, [4, 2, 0, 2, 0, 2, 0, 2]);
}

#[test]
fn broken_files_are_warnings_naming_the_file() {
    let tree = editable_tree();
    let proc = tree.path();
    let edge = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edge");
    // A stat line with too few fields: skipped with a warning.
    std::fs::create_dir(proc.join("9")).unwrap();
    std::fs::copy(edge.join("pid-stat-too-few-fields"), proc.join("9/stat")).unwrap();
    std::fs::copy(proc.join("4242/status"), proc.join("9/status")).unwrap();
    // A malformed io: the process is kept without its io values, and a warning.
    std::fs::write(proc.join("4242/io"), "rchar: lots\n").unwrap();
    // A directory without stat: the process exited before it was read.
    std::fs::create_dir(proc.join("77")).unwrap();
    // Not a pid.
    std::fs::create_dir(proc.join("self")).unwrap();

    let mut sampler = sampler_on(proc);
    let sample = sampler.processes(false).unwrap();
    assert_eq!(sample.processes.iter().map(|p| p.pid).collect::<Vec<_>>(), [2, 4242, 4300, 4400]);
    assert_eq!((sample.vanished, sample.failed), (1, 1));
    assert_eq!(sample.processes[1].read_chars, None);
    let warnings: Vec<String> =
        sampler.take_warnings().iter().map(SampleError::to_string).filter(|w| !w.contains("4300/")).collect();
    assert_eq!(
        warnings,
        [
            format!(
                "{}:1: 21 fields after comm, need at least 22 (state through rss, fields 3–24)",
                proc.join("9/stat").display()
            ),
            format!("{}:1: rchar: \"lots\" is not an unsigned integer", proc.join("4242/io").display()),
        ]
    );
}

#[test]
fn missing_proc_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut sampler = sampler_on(&dir.path().join("nothing"));
    let e = sampler.processes(false).unwrap_err();
    assert!(e.to_string().contains("nothing/stat"), "{e}");
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn live_child_appears_then_goes() {
    let mut sampler = sampler_on(Path::new("/proc"));
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    // The child is ours as soon as fork returns, but it may not have exec'd
    // sleep yet; wait until it has.
    let mut found = None;
    for _ in 0..200 {
        let sample = sampler.processes(true).unwrap();
        found = sample.processes.into_iter().find(|p| p.pid == pid && p.comm == "sleep");
        if found.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sleep = found.expect("the child in the sample");
    assert_eq!(sleep.ppid, std::process::id());
    assert!(!sleep.kernel_thread);
    assert!((sleep.start_time_seconds - now()).abs() < 60.0, "{} vs {}", sleep.start_time_seconds, now());
    assert!(sleep.resident_bytes > 0 && sleep.virtual_bytes > sleep.resident_bytes);
    // The open_fds shortcut (procfs st_size) agrees with counting entries,
    // once exec has finished closing the close-on-exec descriptors it
    // inherited from this (busy, multi-threaded) test process.
    sampler.set_process_full_read_every(1);
    let (mut open_fds, mut counted) = (0, u32::MAX);
    for _ in 0..200 {
        let sample = sampler.processes(false).unwrap();
        open_fds = sample.processes.iter().find(|p| p.pid == pid).and_then(|p| p.open_fds).unwrap_or(0);
        counted = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u32;
        if open_fds == counted {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(open_fds >= 3 && open_fds == counted, "{open_fds} vs {counted}");
    let details = sleep.details.as_ref().unwrap();
    assert_eq!(details.command_line, ["sleep", "30"]);
    assert!(details.executable.ends_with("sleep"), "{}", details.executable);

    child.kill().unwrap();
    child.wait().unwrap();
    let sample = sampler.processes(true).unwrap();
    assert!(
        !sample.processes.iter().any(|p| p.pid == pid && p.start_time_seconds == sleep.start_time_seconds),
        "the child is gone"
    );
}

#[test]
fn this_machine() {
    let mut sampler = sampler_on(Path::new("/proc"));
    let sample = sampler.processes(true).unwrap();
    let me = sample.processes.iter().find(|p| p.pid == std::process::id()).expect("this process");
    assert!(me.threads >= 1);
    assert!(me.open_fds.unwrap() >= 3);
    assert!(me.resident_bytes > 0 && me.peak_resident_bytes.unwrap() >= me.resident_bytes / 2);
    assert!(me.read_chars.unwrap() > 0, "io is readable for our own process");
    assert_eq!(me.details.as_ref().unwrap().executable, std::env::current_exe().unwrap().to_str().unwrap());
    // Every process, not threads: no pid repeats, and a thread's id is never listed.
    let mut pids: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
    pids.dedup();
    assert_eq!(pids.len(), sample.processes.len());
    if let Some(kthreadd) = sample.processes.iter().find(|p| p.pid == 2 && p.comm == "kthreadd") {
        assert!(kthreadd.kernel_thread);
    }
    assert!(sample.processes.iter().filter(|p| !p.kernel_thread).all(|p| p.start_time_seconds > 1e9));
    // Without CAP_SYS_PTRACE (a container's root, say) some io and fd are
    // denied: those are counted; nothing else may go wrong.
    let warnings = sampler.take_warnings();
    assert!(warnings.iter().all(|w| crate::ErrorKind::of(w) == crate::ErrorKind::Denied), "{warnings:?}");
}
