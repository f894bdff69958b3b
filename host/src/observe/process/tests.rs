use super::*;
use crate::observe::model::Event;

/// A /proc with a boot time and the given `pid (comm) … ppid … flags … starttime` lines.
struct FakeProc {
    root: tempfile::TempDir,
}

impl FakeProc {
    fn new() -> FakeProc {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("stat"), "cpu  1 0 1 1 0 0 0 0 0 0\nbtime 1700000000\n").unwrap();
        FakeProc { root }
    }

    /// Adds (or replaces) /proc/<pid>/stat.
    fn process(&self, pid: u32, comm: &str, ppid: u32, start_ticks: u64, kernel: bool) {
        let dir = self.root.path().join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let flags = if kernel { 0x0020_0040 } else { 0x0040_0000 };
        let line =
            format!("{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 {start_ticks} 0 0\n");
        std::fs::write(dir.join("stat"), line).unwrap();
    }

    fn exit(&self, pid: u32) {
        std::fs::remove_dir_all(self.root.path().join(pid.to_string())).unwrap();
    }

    fn tracker(&self) -> Tracker {
        Tracker::new(ProcReader::new(self.root.path().to_owned()).unwrap())
    }
}

fn start(ticks: u64) -> f64 {
    1_700_000_000.0 + ticks as f64 / crate::ticks_per_second()
}

#[test]
fn fork_exec_exit_of_a_process() {
    let proc = FakeProc::new();
    proc.process(100, "bash", 1, 500, false);
    let mut t = proc.tracker();
    assert_eq!(t.known(), 1);
    // The child, as the kernel shows it right after the fork: the parent's name.
    proc.process(200, "bash", 100, 900, false);
    let fork =
        t.handle(&ProcEvent::Fork { parent_pid: 100, parent_tgid: 100, child_pid: 200, child_tgid: 200 }).unwrap();
    assert_eq!(
        (fork.kind, fork.pid, fork.ppid, fork.name.as_str(), fork.start_time_seconds),
        (ProcessEventKind::Fork, 200, 100, "bash", start(900))
    );
    proc.process(200, "ls", 100, 900, false);
    let exec = t.handle(&ProcEvent::Exec { pid: 200, tgid: 200 }).unwrap();
    assert_eq!((exec.kind, exec.name.as_str()), (ProcessEventKind::Exec, "ls"));
    // Gone (reaped) before its exit is read: what was known.
    proc.exit(200);
    let exit = t
        .handle(&ProcEvent::Exit { pid: 200, tgid: 200, exit_code: 2 << 8, exit_signal: 17, parent_tgid: Some(100) })
        .unwrap();
    assert_eq!(
        (exit.kind, exit.name.as_str(), exit.ppid, exit.start_time_seconds, exit.exit_code, exit.exit_signal),
        (ProcessEventKind::Exit, "ls", 100, start(900), Some(2), None)
    );
    assert_eq!(t.known(), 1);
}

#[test]
fn an_exec_read_too_late_has_no_name_rather_than_the_old_one() {
    let proc = FakeProc::new();
    proc.process(100, "python3", 1, 500, false);
    let mut t = proc.tracker();
    proc.process(200, "python3", 100, 900, false);
    t.handle(&ProcEvent::Fork { parent_pid: 100, parent_tgid: 100, child_pid: 200, child_tgid: 200 }).unwrap();
    // It exec'd `sh` and was reaped before gomon read its stat.
    proc.exit(200);
    let exec = t.handle(&ProcEvent::Exec { pid: 200, tgid: 200 }).unwrap();
    assert_eq!((exec.kind, exec.name.as_str(), exec.ppid), (ProcessEventKind::Exec, "", 100));
    let exit = t
        .handle(&ProcEvent::Exit { pid: 200, tgid: 200, exit_code: 0, exit_signal: 17, parent_tgid: Some(100) })
        .unwrap();
    assert_eq!(exit.name, "");
}

#[test]
fn threads_and_kernel_threads_are_not_reported() {
    let proc = FakeProc::new();
    proc.process(100, "app", 1, 500, false);
    proc.process(2, "kthreadd", 0, 1, true);
    let mut t = proc.tracker();
    // A new thread of 100.
    assert_eq!(t.handle(&ProcEvent::Fork { parent_pid: 100, parent_tgid: 100, child_pid: 101, child_tgid: 100 }), None);
    // A thread ends; an exec by a non-leader; a thread's setuid.
    assert_eq!(
        t.handle(&ProcEvent::Exit { pid: 101, tgid: 100, exit_code: 0, exit_signal: 0, parent_tgid: Some(1) }),
        None
    );
    assert_eq!(t.handle(&ProcEvent::Exec { pid: 101, tgid: 100 }), None);
    assert_eq!(t.handle(&ProcEvent::Uid { pid: 101, tgid: 100, ruid: 0, euid: 0 }), None);
    // A kernel thread: neither its fork nor its exit.
    proc.process(300, "kworker/0:1", 2, 700, true);
    assert_eq!(t.handle(&ProcEvent::Fork { parent_pid: 2, parent_tgid: 2, child_pid: 300, child_tgid: 300 }), None);
    proc.exit(300);
    assert_eq!(
        t.handle(&ProcEvent::Exit { pid: 300, tgid: 300, exit_code: 0, exit_signal: 0, parent_tgid: Some(2) }),
        None
    );
    // Gone before its fork was read: the parent's name, and a kernel
    // thread's child is still a kernel thread.
    assert_eq!(t.handle(&ProcEvent::Fork { parent_pid: 2, parent_tgid: 2, child_pid: 301, child_tgid: 301 }), None);
    let fork =
        t.handle(&ProcEvent::Fork { parent_pid: 100, parent_tgid: 100, child_pid: 302, child_tgid: 302 }).unwrap();
    assert_eq!((fork.name.as_str(), fork.ppid, fork.start_time_seconds), ("app", 100, 0.0));
}

#[test]
fn exits_of_processes_never_seen_and_id_changes() {
    let proc = FakeProc::new();
    let mut t = proc.tracker();
    // Started before gomon, still readable (a zombie) at its exit.
    proc.process(400, "cron", 1, 50, false);
    let exit = t
        .handle(&ProcEvent::Exit { pid: 400, tgid: 400, exit_code: 9, exit_signal: 17, parent_tgid: Some(1) })
        .unwrap();
    assert_eq!((exit.name.as_str(), exit.exit_code, exit.exit_signal), ("cron", None, Some(9)));
    // Never seen and already gone: only what the event says.
    let exit = t
        .handle(&ProcEvent::Exit { pid: 401, tgid: 401, exit_code: 0, exit_signal: 17, parent_tgid: Some(77) })
        .unwrap();
    assert_eq!((exit.name.as_str(), exit.ppid, exit.start_time_seconds, exit.exit_code), ("", 77, 0.0, Some(0)));
    proc.process(500, "sudo", 1, 60, false);
    let uid = t.handle(&ProcEvent::Uid { pid: 500, tgid: 500, ruid: 1000, euid: 0 }).unwrap();
    assert_eq!((uid.kind, uid.name.as_str(), uid.id), (ProcessEventKind::UidChange, "sudo", Some(0)));
    let gid = t.handle(&ProcEvent::Gid { pid: 500, tgid: 500, rgid: 1000, egid: 27 }).unwrap();
    assert_eq!((gid.kind, gid.id), (ProcessEventKind::GidChange, Some(27)));
    assert_eq!(t.handle(&ProcEvent::Ack { err: 0 }), None);
    assert_eq!(t.handle(&ProcEvent::Other { what: 0x200 }), None);
}

#[test]
fn the_diff_reports_starts_exits_reuse_and_execs() {
    let proc = FakeProc::new();
    proc.process(10, "init", 0, 1, false);
    proc.process(20, "old", 10, 100, false);
    proc.process(30, "sh", 10, 200, false);
    proc.process(40, "reused", 10, 300, false);
    proc.process(2, "kthreadd", 0, 1, true);
    let mut d = diff::Differ::new(ProcReader::new(proc.root.path().to_owned()).unwrap());
    assert!(d.diff().is_empty());
    proc.exit(20);
    proc.process(30, "make", 10, 200, false); // exec'd
    proc.process(40, "new", 10, 999, false); // pid reused
    proc.process(50, "gcc", 30, 1000, false); // new
    proc.process(60, "kworker", 2, 1001, true); // new kernel thread: ignored
    let events = d.diff();
    let mut got: Vec<(ProcessEventKind, u32, &str)> = events
        .iter()
        .map(|e| match &e.event {
            Event::Process(p) => (p.kind, p.pid, p.name.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort_by_key(|g| (g.1, g.0 as u8));
    use ProcessEventKind::*;
    assert_eq!(
        got,
        [(Exit, 20, "old"), (Exec, 30, "make"), (Exec, 40, "new"), (Exit, 40, "reused"), (Exec, 50, "gcc")]
    );
    // A new process is stamped with its start time.
    let gcc = events.iter().find(|e| matches!(&e.event, Event::Process(p) if p.pid == 50)).unwrap();
    assert_eq!(gcc.time_nanos, (start(1000) * 1e9) as u64);
    assert!(d.diff().is_empty());
}
