//! Grouping and the accumulated CPU counter, natively.

use gomon_probe::ProcessState;
use gomon_probe::testing::{self, sample};

use super::*;

/// Sample times: the previous call at T0, the next at T1.
const T0: f64 = 1_700_000_000.0;
const T1: f64 = T0 + 15.0;

/// A process started at `start`, with `cpu` seconds of user time and a
/// tenth of that of system time.
fn process(pid: u32, ppid: u32, comm: &str, start: f64, cpu: f64) -> Process {
    Process {
        pid,
        ppid,
        process_group: pid,
        session: pid,
        comm: comm.into(),
        state: ProcessState::Sleeping,
        kernel_thread: false,
        start_time_seconds: start,
        uid: Some(0),
        gid: Some(0),
        nice: 0,
        priority: 20,
        threads: 2,
        user_seconds: cpu,
        system_seconds: cpu / 10.0,
        virtual_bytes: 0,
        resident_bytes: 1_000,
        shared_bytes: Some(0),
        peak_resident_bytes: Some(0),
        minor_faults: 0,
        major_faults: 0,
        voluntary_context_switches: Some(0),
        involuntary_context_switches: Some(0),
        read_bytes: Some(0),
        written_bytes: Some(0),
        read_chars: Some(0),
        written_chars: Some(0),
        read_syscalls: Some(0),
        write_syscalls: Some(0),
        open_fds: Some(5),
        details: None,
    }
}

fn snapshot(taken_at: f64, processes: Vec<Process>) -> Snapshot {
    Snapshot { taken_at_seconds: taken_at, processes, ..testing::empty_snapshot() }
}

fn probe(settings: &[(&str, &str)]) -> ProcessGroups {
    let mut p = ProcessGroups::default();
    let settings: Vec<(String, String)> =
        settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    p.configure(&settings).unwrap();
    p
}

fn groups(f: &[MetricFamily]) -> Vec<&str> {
    testing::family(f, "gomon_group_processes")
        .series
        .iter()
        .map(|s| s.labels[0].as_str())
        .collect()
}

fn user_cpu(f: &[MetricFamily], group: &str) -> f64 {
    sample(f, "gomon_group_cpu_seconds", &[group, "user"])
}

#[test]
fn without_names_every_comm_is_a_group_and_kernel_threads_are_one() {
    let mut kworker = process(3, 2, "kworker/0:1", 0.0, 0.0);
    kworker.kernel_thread = true;
    let mut kthreadd = process(2, 0, "kthreadd", 0.0, 0.0);
    kthreadd.kernel_thread = true;
    let now = snapshot(
        T0,
        vec![
            process(1, 0, "init", 1.0, 1.0),
            kthreadd,
            kworker,
            process(10, 1, "nginx", 5.0, 10.0),
            process(11, 10, "nginx", 6.0, 20.0),
        ],
    );
    let f = probe(&[]).measure(&now).unwrap();
    testing::check(&f).unwrap();
    assert_eq!(groups(&f), [KERNEL_GROUP, "init", "nginx"]);
    assert_eq!(sample(&f, "gomon_group_processes", &["nginx"]), 2.0);
    assert_eq!(sample(&f, "gomon_group_processes", &[KERNEL_GROUP]), 2.0);
    assert_eq!(sample(&f, "gomon_group_resident_bytes", &["nginx"]), 2_000.0);
    assert_eq!(sample(&f, "gomon_group_threads", &["nginx"]), 4.0);
    assert_eq!(sample(&f, "gomon_group_open_fds", &["nginx"]), 10.0);
    assert_eq!(sample(&f, "gomon_group_oldest_start_time_seconds", &["nginx"]), 5.0);
    // The first call starts each group's counter at its members' totals.
    assert_eq!(user_cpu(&f, "nginx"), 30.0);
    assert_eq!(sample(&f, "gomon_group_cpu_seconds", &["nginx", "system"]), 3.0);
}

#[test]
fn cpu_counter_never_drops_when_members_exit() {
    let mut p = probe(&[]);
    let f = p
        .measure(&snapshot(
            T0,
            vec![process(10, 1, "worker", 1.0, 10.0), process(11, 1, "worker", 2.0, 20.0)],
        ))
        .unwrap();
    assert_eq!(user_cpu(&f, "worker"), 30.0);
    // 11 exited (its 20 s must not leave the counter); 10 used 1 s more;
    // 12 started in the interval with 2 s; 13 is an older process that exec'd
    // into `worker` and brings its past CPU time, which is not counted.
    let f = p
        .measure(&snapshot(
            T1,
            vec![
                process(10, 1, "worker", 1.0, 11.0),
                process(12, 1, "worker", T0 + 5.0, 2.0),
                process(13, 1, "worker", 3.0, 500.0),
            ],
        ))
        .unwrap();
    assert_eq!(user_cpu(&f, "worker"), 33.0);
    assert_eq!(sample(&f, "gomon_group_processes", &["worker"]), 3.0);
    // 13's growth counts from now on.
    let f = p
        .measure(&snapshot(
            T1 + 15.0,
            vec![
                process(10, 1, "worker", 1.0, 11.0),
                process(12, 1, "worker", T0 + 5.0, 2.0),
                process(13, 1, "worker", 3.0, 504.0),
            ],
        ))
        .unwrap();
    assert_eq!(user_cpu(&f, "worker"), 37.0);
}

#[test]
fn a_reused_pid_is_a_new_member() {
    let mut p = probe(&[]);
    p.measure(&snapshot(T0, vec![process(10, 1, "w", 1.0, 100.0)])).unwrap();
    // Pid 10 is now another process, started in the interval, with 1 s.
    let f = p.measure(&snapshot(T1, vec![process(10, 1, "w", T0 + 1.0, 1.0)])).unwrap();
    assert_eq!(user_cpu(&f, "w"), 101.0);
}

#[test]
fn without_names_a_group_with_no_members_goes() {
    let mut p = probe(&[]);
    p.measure(&snapshot(
        T0,
        vec![process(1, 0, "init", 1.0, 1.0), process(5, 1, "once", 2.0, 1.0)],
    ))
    .unwrap();
    let f = p.measure(&snapshot(T1, vec![process(1, 0, "init", 1.0, 1.0)])).unwrap();
    assert_eq!(groups(&f), ["init"]);
    assert!(!p.cpu.contains_key("once"));
}

#[test]
fn named_groups_are_always_reported_and_children_roll_up() {
    let mut p = probe(&[("names", "postgres, nginx ,redis")]);
    let now = snapshot(
        T0,
        vec![
            process(1, 0, "init", 1.0, 1.0),
            process(100, 1, "postgres", 10.0, 50.0),
            // A backend with its own name, and its child: both under postgres.
            process(101, 100, "postmaster", 11.0, 5.0),
            process(102, 101, "sh", 12.0, 1.0),
            process(200, 1, "nginx", 20.0, 2.0),
            process(300, 1, "sshd", 30.0, 3.0),
        ],
    );
    let f = p.measure(&now).unwrap();
    testing::check(&f).unwrap();
    assert_eq!(groups(&f), ["nginx", "postgres", "redis"]);
    assert_eq!(sample(&f, "gomon_group_processes", &["postgres"]), 3.0);
    assert_eq!(user_cpu(&f, "postgres"), 56.0);
    assert_eq!(sample(&f, "gomon_group_processes", &["redis"]), 0.0);
    assert_eq!(user_cpu(&f, "redis"), 0.0);
    let oldest = testing::family(&f, "gomon_group_oldest_start_time_seconds");
    assert!(
        oldest.series.iter().all(|s| s.labels[0] != "redis"),
        "no members, no oldest start time"
    );

    // The parent exits; its children stay in the group (membership is kept).
    let f = p
        .measure(&snapshot(
            T1,
            vec![
                process(1, 0, "init", 1.0, 1.0),
                process(101, 1, "postmaster", 11.0, 6.0),
                process(102, 101, "sh", 12.0, 1.0),
            ],
        ))
        .unwrap();
    assert_eq!(sample(&f, "gomon_group_processes", &["postgres"]), 2.0);
    assert_eq!(user_cpu(&f, "postgres"), 57.0);
    assert_eq!(sample(&f, "gomon_group_processes", &["nginx"]), 0.0);
    assert_eq!(user_cpu(&f, "nginx"), 2.0, "the counter stays");
}

#[test]
fn children_can_be_left_out() {
    let mut p = probe(&[("names", "postgres"), ("children", "false")]);
    let f = p
        .measure(&snapshot(
            T0,
            vec![process(100, 1, "postgres", 1.0, 1.0), process(101, 100, "sh", 2.0, 1.0)],
        ))
        .unwrap();
    assert_eq!(sample(&f, "gomon_group_processes", &["postgres"]), 1.0);
}

#[test]
fn a_parent_loop_does_not_hang() {
    let mut p = probe(&[("names", "x")]);
    let f = p
        .measure(&snapshot(T0, vec![process(5, 6, "a", 1.0, 1.0), process(6, 5, "b", 1.0, 1.0)]))
        .unwrap();
    assert_eq!(sample(&f, "gomon_group_processes", &["x"]), 0.0);
}

#[test]
fn settings() {
    let mut p = ProcessGroups::default();
    let s = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    assert!(p.configure(&s("names", " , ")).unwrap_err().contains("names"));
    assert!(p.configure(&s("children", "yes")).unwrap_err().contains("children"));
    assert!(p.configure(&s("name", "x")).unwrap_err().contains("name"));
    p.configure(&s("names", "a,b,a")).unwrap();
    assert_eq!(p.names.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
    let err = ProcessGroups::default().measure(&testing::empty_snapshot()).unwrap_err();
    assert!(err.contains("processes"), "{err}");
}
