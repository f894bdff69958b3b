//! The observers end to end: `Observer::start`, real sources, batches on
//! the tokio channel.

use super::*;
use std::process::Command;

/// Everything off: each test turns on what it needs.
fn nothing() -> ObserveConfig {
    ObserveConfig {
        process: false,
        files: FilesConfig { enabled: false, ..FilesConfig::default() },
        logs: LogsConfig { files: vec![], journal: JournalMode::Off, kmsg: false, ..LogsConfig::default() },
        batch_max_wait: Duration::from_millis(20),
        ..ObserveConfig::default()
    }
}

/// Receives batches until `done` holds for everything received (30 s at most).
fn receive_until(
    events: &mut mpsc::Receiver<Vec<TimedEvent>>,
    what: &str,
    mut done: impl FnMut(&[TimedEvent]) -> bool,
) -> Vec<TimedEvent> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all = Vec::new();
    while !done(&all) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}; got {all:#?}");
        match runtime.block_on(async { tokio::time::timeout(left, events.recv()).await }) {
            Ok(Some(batch)) => {
                assert!(!batch.is_empty());
                all.extend(batch);
            }
            Ok(None) => panic!("the observer closed its channel while waiting for {what}"),
            Err(_) => {}
        }
    }
    all
}

fn process_events(all: &[TimedEvent], pid: u32) -> Vec<&ProcessEvent> {
    all.iter()
        .filter_map(|e| match &e.event {
            Event::Process(p) if p.pid == pid => Some(p),
            _ => None,
        })
        .collect()
}

fn wait_for_mode(stats: &ObserverStats) -> ObserverStatsSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats.snapshot();
        if s.process_connector || s.process_fallback {
            return s;
        }
        assert!(Instant::now() < deadline, "the process source never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn process_events_from_the_connector_or_the_fallback() {
    let state = tempfile::tempdir().unwrap();
    let config = ObserveConfig { process: true, process_diff_interval: Duration::from_secs(1), ..nothing() };
    let ObserverHandle { mut events, stats, stop } = Observer::start(&config, state.path());
    let mode = wait_for_mode(&stats);
    let mut exits = Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().unwrap();
    let mut killed = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let (exits_pid, killed_pid) = (exits.id(), killed.id());
    if mode.process_connector {
        // The connector sees everything, with exit codes.
        let mut killed_it = false;
        let all = receive_until(&mut events, "fork, exec, exit of both children", |all| {
            let ours = process_events(all, killed_pid);
            if !killed_it && ours.iter().any(|p| p.kind == ProcessEventKind::Exec) {
                killed.kill().unwrap();
                killed_it = true;
            }
            process_events(all, exits_pid).iter().any(|p| p.kind == ProcessEventKind::Exit)
                && ours.iter().any(|p| p.kind == ProcessEventKind::Exit)
        });
        let ours = process_events(&all, exits_pid);
        let kinds: Vec<ProcessEventKind> = ours.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProcessEventKind::Fork, ProcessEventKind::Exec, ProcessEventKind::Exit], "{ours:#?}");
        let me = std::process::id();
        assert!(ours.iter().all(|p| p.ppid == me), "{ours:#?}");
        assert_eq!(ours[1].name, "sh");
        assert!(ours[0].start_time_seconds > 1e9 && ours[0].start_time_seconds == ours[2].start_time_seconds);
        assert_eq!((ours[2].exit_code, ours[2].exit_signal), (Some(7), None));
        let exit = process_events(&all, killed_pid).into_iter().find(|p| p.kind == ProcessEventKind::Exit).unwrap();
        assert_eq!((exit.name.as_str(), exit.exit_code, exit.exit_signal), ("sleep", None, Some(9)));
        // Stamped by the kernel, close to now.
        let stamp =
            all.iter().find(|e| matches!(&e.event, Event::Process(p) if p.pid == exits_pid)).unwrap().time_nanos;
        assert!(process::now_nanos().abs_diff(stamp) < 60_000_000_000);
        assert!(stats.snapshot().process.events_total >= 6);
    } else {
        // Without the connector: new processes are seen by the diff.
        assert!(mode.process_fallback);
        let all = receive_until(&mut events, "the diff to see the sleep", |all| {
            process_events(all, killed_pid).iter().any(|p| p.kind == ProcessEventKind::Exec)
        });
        assert_eq!(process_events(&all, killed_pid)[0].name, "sleep");
        killed.kill().unwrap();
    }
    exits.wait().unwrap();
    killed.wait().unwrap();
    assert!(stop.stop());
}

/// The exit of `sh -c "exit 9"` as the connector reports it, with taskstats
/// looked up under `family`; `None` without the connector (not root).
fn exit_of_a_child(family: Option<&str>) -> Option<(ObserverStatsSnapshot, ProcessEvent)> {
    let state = tempfile::tempdir().unwrap();
    let config = ObserveConfig { process: true, ..nothing() };
    let options = ObserveOptions { taskstats_family: family.map(str::to_owned), ..ObserveOptions::default() };
    let ObserverHandle { mut events, stats, stop } = Observer::start_with(&config, state.path(), options);
    if !wait_for_mode(&stats).process_connector {
        eprintln!("skipped: no proc connector (needs root)");
        return None;
    }
    let mut child = Command::new("/bin/sh").args(["-c", "exit 9"]).spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let all = receive_until(&mut events, "the child's exit", |all| {
        process_events(all, pid).iter().any(|p| p.kind == ProcessEventKind::Exit)
    });
    let exit = process_events(&all, pid).into_iter().find(|p| p.kind == ProcessEventKind::Exit).unwrap().clone();
    let snapshot = stats.snapshot();
    assert!(stop.stop());
    Some((snapshot, exit))
}

#[test]
fn taskstats_gives_exits_their_cpu_and_memory() {
    let Some((stats, exit)) = exit_of_a_child(None) else { return };
    assert!(stats.process_taskstats, "root has CAP_NET_ADMIN: taskstats is on");
    assert_eq!((exit.name.as_str(), exit.exit_code), ("sh", Some(9)));
    let usage = exit.usage.expect("an exit with its taskstats record");
    assert!(usage.max_rss_bytes > 0 && usage.cpu_user_seconds >= 0.0, "{usage:?}");
}

#[test]
fn without_taskstats_process_events_still_flow() {
    // The family lookup fails as it would without CONFIG_TASKSTATS; the
    // same path as a refusal (logged once, the hold off).
    let Some((stats, exit)) = exit_of_a_child(Some("GOMON_NOFAMILY")) else { return };
    assert!(!stats.process_taskstats);
    assert_eq!((exit.exit_code, exit.usage), (Some(9), None));
    // Named when its stat was read in time; nothing else can name it now.
    assert!(["sh", ""].contains(&exit.name.as_str()), "{exit:?}");
}

#[test]
fn the_fallback_diffs_the_process_table() {
    let state = tempfile::tempdir().unwrap();
    let config = ObserveConfig { process: true, process_diff_interval: Duration::from_secs(1), ..nothing() };
    let options = ObserveOptions { force_process_diff: true, ..ObserveOptions::default() };
    let ObserverHandle { mut events, stats, stop } = Observer::start_with(&config, state.path(), options);
    assert!(wait_for_mode(&stats).process_fallback);
    let mut child = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let all = receive_until(&mut events, "the sleep to be seen", |all| !process_events(all, pid).is_empty());
    let started = process_events(&all, pid)[0].clone();
    assert_eq!(
        (started.kind, started.name.as_str(), started.ppid),
        (ProcessEventKind::Exec, "sleep", std::process::id())
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let all = receive_until(&mut events, "the sleep's exit", |all| {
        process_events(all, pid).iter().any(|p| p.kind == ProcessEventKind::Exit)
    });
    let exit = process_events(&all, pid).into_iter().find(|p| p.kind == ProcessEventKind::Exit).unwrap().clone();
    // What was known; no status: the diff cannot know it.
    assert_eq!((exit.name.as_str(), exit.exit_code, exit.exit_signal), ("sleep", None, None));
    assert_eq!(exit.start_time_seconds, started.start_time_seconds);
    assert!(stop.stop());
}

#[test]
fn files_and_log_lines_arrive_in_batches_and_stop_is_prompt() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("app.log");
    std::fs::write(&log, "old line\n").unwrap();
    let config = ObserveConfig {
        files: FilesConfig { enabled: true, roots: vec![root.path().to_owned()], ..FilesConfig::default() },
        logs: LogsConfig {
            files: vec![format!("{}/*.log", logs.path().display())],
            journal: JournalMode::Off,
            kmsg: false,
            ..LogsConfig::default()
        },
        batch_max_events: 3,
        ..nothing()
    };
    config.validate().unwrap();
    let ObserverHandle { mut events, stats, stop } = Observer::start(&config, state.path());
    // Wait until both sources run.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().log_files != 1 || stats.snapshot().file_watches != 1 {
        assert!(Instant::now() < deadline, "{:?}", stats.snapshot());
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..4 {
        std::fs::write(root.path().join(format!("f{i}")), "x").unwrap();
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"2024-01-15T10:00:00Z ERROR boom\n"))
        .unwrap();
    let all = receive_until(&mut events, "8 file events and a log line", |all| {
        all.iter().filter(|e| e.event.source() == ObservationSource::File).count() == 8
            && all.iter().any(|e| e.event.source() == ObservationSource::Logs)
    });
    let line = all.iter().find_map(|e| match &e.event {
        Event::Log(l) => Some((e.time_nanos, l)),
        _ => None,
    });
    let (time, line) = line.unwrap();
    assert_eq!((time, line.level, line.message.as_str()), (1_705_312_800_000_000_000, LogLevel::Error, "boom"));
    assert_eq!(all.iter().filter(|e| e.event.name() == "error").count(), 1);
    let s = stats.snapshot();
    assert_eq!((s.file.events_total, s.logs.events_total, s.file.dropped_total), (8, 1, 0));
    // 9 events at most 3 to a batch.
    assert!(s.batches_total >= 3, "{s:?}");
    assert!(stop.stop(), "a thread did not stop in time");
    // The tail position was saved on stop.
    let offsets = std::fs::read_to_string(state.path().join("observe/offsets.json")).unwrap();
    assert!(offsets.contains("app.log"), "{offsets}");
}

#[test]
fn every_source_on_stops_promptly() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let config = ObserveConfig {
        process: true,
        files: FilesConfig { enabled: true, roots: vec![root.path().to_owned()], ..FilesConfig::default() },
        logs: LogsConfig {
            files: vec![format!("{}/*.log", root.path().display())],
            journal: JournalMode::On,
            kmsg: true,
            ..LogsConfig::default()
        },
        ..ObserveConfig::default()
    };
    // journalctl on an empty directory of journal files waits for entries.
    let journal_dir = tempfile::tempdir().unwrap();
    let mut options = ObserveOptions::default();
    options.logs.journal.extra_args = vec![format!("--directory={}", journal_dir.path().display())];
    let handle = Observer::start_with(&config, state.path(), options);
    wait_for_mode(&handle.stats);
    assert!(handle.stop.stop(), "a thread did not stop in time");
}

#[test]
fn dropping_the_consumer_ends_the_sources() {
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let config = ObserveConfig {
        files: FilesConfig { enabled: true, roots: vec![root.path().to_owned()], ..FilesConfig::default() },
        ..nothing()
    };
    let ObserverHandle { events, stats, stop } = Observer::start(&config, state.path());
    drop(events);
    // Events keep coming; the batcher finds the consumer gone and ends,
    // and the file source ends at its next event.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    while stop.threads.iter().any(|(_, t)| !t.is_finished()) {
        assert!(Instant::now() < deadline, "threads still running: {:?}", stats.snapshot());
        std::fs::write(root.path().join(format!("f{i}")), "x").unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stop.stop());
}
