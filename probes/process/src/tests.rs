//! Selection and summary, natively.

use gomon_probe::testing::{self, sample};

use super::*;

/// A process with distinct values: pid `pid`, started at `pid` seconds,
/// `user` and `system` CPU seconds, sleeping.
fn process(pid: u32, comm: &str, user: f64, system: f64) -> Process {
    Process {
        pid,
        ppid: 1,
        process_group: pid,
        session: pid,
        comm: comm.into(),
        state: ProcessState::Sleeping,
        kernel_thread: false,
        start_time_seconds: 1_700_000_000.0 + f64::from(pid),
        uid: Some(1000),
        gid: Some(1000),
        nice: -5,
        priority: 15,
        threads: 2,
        user_seconds: user,
        system_seconds: system,
        virtual_bytes: 1_000_000,
        resident_bytes: 40_960,
        shared_bytes: Some(8_192),
        peak_resident_bytes: Some(81_920),
        minor_faults: 11,
        major_faults: 12,
        voluntary_context_switches: Some(13),
        involuntary_context_switches: Some(14),
        read_bytes: Some(15),
        written_bytes: Some(16),
        read_chars: Some(17),
        written_chars: Some(18),
        read_syscalls: Some(19),
        write_syscalls: Some(20),
        open_fds: Some(21),
        details: None,
    }
}

fn snapshot(processes: Vec<Process>) -> Snapshot {
    Snapshot { processes, ..testing::empty_snapshot() }
}

fn probe(top: usize) -> ProcessProbe {
    let mut p = ProcessProbe::default();
    p.configure(&[("top".into(), top.to_string())]).unwrap();
    p
}

/// The pids of the series of `gomon_process_threads`, in order.
fn reported(families: &[MetricFamily]) -> Vec<String> {
    testing::family(families, "gomon_process_threads")
        .series
        .iter()
        .map(|s| s.labels[0].clone())
        .collect()
}

#[test]
fn first_call_ranks_by_total_cpu() {
    let mut p = probe(2);
    let now = snapshot(vec![
        process(1, "init", 1.0, 1.0),
        process(7, "big", 50.0, 5.0),
        process(9, "mid", 10.0, 0.0),
    ]);
    let f = p.measure(&now).unwrap();
    testing::check(&f).unwrap();
    assert_eq!(reported(&f), ["7", "9"]);
}

#[test]
fn later_calls_rank_by_cpu_used_in_the_interval() {
    let mut p = probe(2);
    p.measure(&snapshot(vec![
        process(1, "a", 100.0, 0.0),
        process(2, "b", 10.0, 0.0),
        process(3, "c", 5.0, 0.0),
    ]))
    .unwrap();
    // a used 0.5 s, b 3 s, c 2 s; d is new with 2.5 s (all of it in the interval).
    let now = snapshot(vec![
        process(1, "a", 100.5, 0.0),
        process(2, "b", 12.0, 1.0),
        process(3, "c", 6.0, 1.0),
        process(4, "d", 2.0, 0.5),
    ]);
    let f = p.measure(&now).unwrap();
    assert_eq!(reported(&f), ["2", "4"]);
    // Counters carry totals, not the interval's use.
    assert_eq!(sample(&f, "gomon_process_cpu_seconds", &["2", "b", "user"]), 12.0);
    assert_eq!(sample(&f, "gomon_process_cpu_seconds", &["2", "b", "system"]), 1.0);
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let mut p = probe(1);
    p.measure(&snapshot(vec![process(5, "old", 100.0, 0.0), process(6, "x", 50.0, 0.0)])).unwrap();
    // Pid 5 now belongs to a process started later, with 1 s of CPU; x used 0.5 s.
    let mut new = process(5, "new", 1.0, 0.0);
    new.start_time_seconds += 1000.0;
    let f = p.measure(&snapshot(vec![new, process(6, "x", 50.5, 0.0)])).unwrap();
    assert_eq!(reported(&f), ["5"]);
    assert_eq!(sample(&f, "gomon_processes_started", &[]), 1.0);
    assert_eq!(sample(&f, "gomon_processes_exited", &[]), 1.0);
}

#[test]
fn ties_go_to_the_larger_total_then_the_lower_pid() {
    let mut p = probe(3);
    let idle =
        vec![process(30, "c", 1.0, 0.0), process(10, "a", 1.0, 0.0), process(20, "b", 9.0, 0.0)];
    p.measure(&snapshot(idle.clone())).unwrap();
    let f = p.measure(&snapshot(idle)).unwrap();
    assert_eq!(reported(&f), ["20", "10", "30"]);
}

#[test]
fn top_bounds_the_series_and_zero_leaves_only_the_summary() {
    let many: Vec<Process> = (1..=50).map(|i| process(i, "w", f64::from(i), 0.0)).collect();
    let f = ProcessProbe::default().measure(&snapshot(many.clone())).unwrap();
    assert_eq!(reported(&f).len(), DEFAULT_TOP);
    assert_eq!(reported(&f)[0], "50");
    let f = probe(100).measure(&snapshot(many.clone())).unwrap();
    assert_eq!(reported(&f).len(), 50);
    let f = probe(0).measure(&snapshot(many)).unwrap();
    testing::check(&f).unwrap();
    assert!(reported(&f).is_empty());
    assert_eq!(sample(&f, "gomon_processes", &[]), 50.0);
}

#[test]
fn every_per_process_value() {
    let mut zombie = process(3, "a) b (c", 1.0, 2.0);
    zombie.state = ProcessState::Zombie;
    let f = probe(5).measure(&snapshot(vec![zombie])).unwrap();
    let one = |name: &str| sample(&f, name, &["3", "a) b (c"]);
    assert_eq!(one("gomon_process_resident_bytes"), 40_960.0);
    assert_eq!(one("gomon_process_virtual_bytes"), 1_000_000.0);
    assert_eq!(one("gomon_process_shared_bytes"), 8_192.0);
    assert_eq!(one("gomon_process_peak_resident_bytes"), 81_920.0);
    assert_eq!(one("gomon_process_minor_faults"), 11.0);
    assert_eq!(one("gomon_process_major_faults"), 12.0);
    assert_eq!(one("gomon_process_read_bytes"), 15.0);
    assert_eq!(one("gomon_process_written_bytes"), 16.0);
    assert_eq!(one("gomon_process_syscall_read_bytes"), 17.0);
    assert_eq!(one("gomon_process_syscall_written_bytes"), 18.0);
    assert_eq!(one("gomon_process_read_syscalls"), 19.0);
    assert_eq!(one("gomon_process_write_syscalls"), 20.0);
    assert_eq!(one("gomon_process_threads"), 2.0);
    assert_eq!(one("gomon_process_open_fds"), 21.0);
    assert_eq!(one("gomon_process_nice"), -5.0);
    assert_eq!(one("gomon_process_start_time_seconds"), 1_700_000_003.0);
    assert_eq!(sample(&f, "gomon_process_context_switches", &["3", "a) b (c", "voluntary"]), 13.0);
    assert_eq!(
        sample(&f, "gomon_process_context_switches", &["3", "a) b (c", "involuntary"]),
        14.0
    );
    assert_eq!(sample(&f, "gomon_process_state", &["3", "a) b (c", "zombie"]), 1.0);
    assert_eq!(
        testing::family(&f, "gomon_process_state").series.len(),
        1,
        "info-style: the current state only"
    );
}

#[test]
fn summary_counts_states_threads_arrivals_and_departures() {
    let mut p = probe(1);
    let mut running = process(1, "r", 0.0, 0.0);
    running.state = ProcessState::Running;
    let mut idle = process(2, "kworker/0:1", 0.0, 0.0);
    idle.state = ProcessState::Idle;
    idle.threads = 1;
    let first = vec![running, idle, process(3, "s", 0.0, 0.0)];
    let f = p.measure(&snapshot(first.clone())).unwrap();
    assert_eq!(sample(&f, "gomon_processes", &[]), 3.0);
    assert_eq!(sample(&f, "gomon_threads", &[]), 5.0);
    assert_eq!(sample(&f, "gomon_processes_by_state", &["running"]), 1.0);
    assert_eq!(sample(&f, "gomon_processes_by_state", &["idle"]), 1.0);
    assert_eq!(sample(&f, "gomon_processes_by_state", &["sleeping"]), 1.0);
    assert_eq!(sample(&f, "gomon_processes_by_state", &["zombie"]), 0.0);
    assert_eq!(testing::family(&f, "gomon_processes_by_state").series.len(), 9);
    // Nothing is counted as started on the first call: there was no baseline.
    assert_eq!(sample(&f, "gomon_processes_started", &[]), 0.0);

    // 3 exits, 4 and 5 start.
    let second = vec![
        first[0].clone(),
        first[1].clone(),
        process(4, "n", 0.0, 0.0),
        process(5, "m", 0.0, 0.0),
    ];
    let f = p.measure(&snapshot(second.clone())).unwrap();
    assert_eq!(sample(&f, "gomon_processes_started", &[]), 2.0);
    assert_eq!(sample(&f, "gomon_processes_exited", &[]), 1.0);
    // Counters: they keep growing.
    let f = p.measure(&snapshot(vec![second[0].clone()])).unwrap();
    assert_eq!(sample(&f, "gomon_processes_started", &[]), 2.0);
    assert_eq!(sample(&f, "gomon_processes_exited", &[]), 4.0);
    assert_eq!(
        testing::family(&f, "gomon_processes_exited").kind,
        gomon_probe::MetricKind::Counter
    );
}

#[test]
fn family_names() {
    let f = probe(1).measure(&snapshot(vec![process(1, "a", 0.0, 0.0)])).unwrap();
    testing::check(&f).unwrap();
    assert_eq!(
        testing::names(&f),
        [
            "gomon_process_cpu_seconds",
            "gomon_process_resident_bytes",
            "gomon_process_virtual_bytes",
            "gomon_process_shared_bytes",
            "gomon_process_peak_resident_bytes",
            "gomon_process_minor_faults",
            "gomon_process_major_faults",
            "gomon_process_read_bytes",
            "gomon_process_written_bytes",
            "gomon_process_syscall_read_bytes",
            "gomon_process_syscall_written_bytes",
            "gomon_process_read_syscalls",
            "gomon_process_write_syscalls",
            "gomon_process_threads",
            "gomon_process_open_fds",
            "gomon_process_nice",
            "gomon_process_start_time_seconds",
            "gomon_process_context_switches",
            "gomon_process_state",
            "gomon_processes",
            "gomon_processes_by_state",
            "gomon_threads",
            "gomon_processes_started",
            "gomon_processes_exited",
        ]
    );
}

#[test]
fn settings() {
    let mut p = ProcessProbe::default();
    assert_eq!(p.top, 20);
    assert!(p.configure(&[("top".into(), " 5 ".into())]).is_ok());
    assert_eq!(p.top, 5);
    assert!(p.configure(&[("top".into(), "-1".into())]).unwrap_err().contains("top"));
    assert!(p.configure(&[("tpo".into(), "1".into())]).unwrap_err().contains("tpo"));
}

#[test]
fn no_processes_names_the_capability() {
    let err = ProcessProbe::default().measure(&testing::snapshot()).unwrap_err();
    assert!(err.contains("processes"), "{err}");
    assert_eq!(ProcessProbe::info().needs, [Capability::Processes]);
}

#[test]
fn values_the_host_could_not_read_have_no_series() {
    // Process 3's status, io and fd could not be read (another user's
    // process, say); process 4's could.
    let unread = Process {
        uid: None,
        gid: None,
        shared_bytes: None,
        peak_resident_bytes: None,
        voluntary_context_switches: None,
        involuntary_context_switches: None,
        read_bytes: None,
        written_bytes: None,
        read_chars: None,
        written_chars: None,
        read_syscalls: None,
        write_syscalls: None,
        open_fds: None,
        ..process(3, "other", 5.0, 1.0)
    };
    let f = probe(5).measure(&snapshot(vec![unread, process(4, "mine", 1.0, 1.0)])).unwrap();
    let pids = |name: &str| -> Vec<String> {
        testing::family(&f, name).series.iter().map(|s| s.labels[0].clone()).collect()
    };
    for name in [
        "gomon_process_shared_bytes",
        "gomon_process_peak_resident_bytes",
        "gomon_process_read_bytes",
        "gomon_process_syscall_written_bytes",
        "gomon_process_open_fds",
    ] {
        assert_eq!(pids(name), ["4"], "{name}");
    }
    assert_eq!(pids("gomon_process_context_switches"), ["4", "4"]);
    // What stat gives is there for both.
    for name in [
        "gomon_process_resident_bytes",
        "gomon_process_threads",
        "gomon_process_start_time_seconds",
    ] {
        assert_eq!(pids(name), ["3", "4"], "{name}");
    }
    assert_eq!(sample(&f, "gomon_processes", &[]), 2.0);
}
