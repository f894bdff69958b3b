use super::*;
use crate::observe::model::ObservationSource;
use crate::observe::queue::test_emitter;

/// `journalctl --file … -o json --all` over a journal that
/// systemd-journal-remote built from hand-written export entries.
const CAPTURED: &str = include_str!("../../../../tests/fixtures/observe/journal.json");

fn log(e: &TimedEvent) -> &LogEvent {
    match &e.event {
        Event::Log(l) => l,
        other => panic!("{other:?}"),
    }
}

#[test]
fn captured_entries() {
    let entries: Vec<Entry> = CAPTURED.lines().map(|l| parse_entry(l.as_bytes(), 7).unwrap()).collect();
    let got: Vec<(u64, LogLevel, &str, Option<u32>, &str)> = entries
        .iter()
        .map(|e| {
            let l = log(&e.event);
            (e.event.time_nanos, l.level, l.process.as_str(), l.pid, l.message.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                1_705_312_800_123_456_000,
                LogLevel::Error,
                "sshd",
                Some(4242),
                "Failed password for root from 192.0.2.7 port 22 ssh2"
            ),
            // Not UTF-8: sent as bytes; no PRIORITY: info; no identifier: _COMM.
            (1_705_312_801_000_000_000, LogLevel::Info, "weird", Some(77), "caf\u{fffd} \u{1}bytes"),
            (1_705_312_802_000_000_000, LogLevel::Warn, "kernel", None, "usb 1-1: new high-speed USB device"),
            // MESSAGE twice: the first; SYSLOG_PID without _PID.
            (1_705_312_803_000_000_000, LogLevel::Debug, "app", Some(99), "first"),
        ]
    );
    assert!(entries.iter().all(|e| log(&e.event).origin == "journal"));
    assert!(entries[3].cursor.as_deref().is_some_and(|c| c.contains(";i=4;")));
}

#[test]
fn odd_lines() {
    assert!(parse_entry(b"not json", 0).is_err());
    assert!(parse_entry(b"[1,2]", 0).is_err());
    // Nothing but a message: stamped now.
    let e = parse_entry(br#"{"MESSAGE":null,"PRIORITY":"x"}"#, 42).unwrap();
    assert_eq!((e.event.time_nanos, log(&e.event).level, log(&e.event).message.as_str()), (42, LogLevel::Info, ""));
}

#[test]
fn arguments_resume_after_the_cursor() {
    let fresh = arguments(None, &[]);
    assert!(fresh.contains(&"--since=now".to_owned()) && fresh.contains(&"--no-tail".to_owned()));
    let resumed = arguments(Some("s=1;i=2"), &["--file=/x".into()]);
    assert!(resumed.contains(&"--after-cursor=s=1;i=2".to_owned()));
    assert!(!resumed.iter().any(|a| a.starts_with("--since")));
    assert_eq!(resumed.last().map(String::as_str), Some("--file=/x"));
}

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends one entry (stamped now) to `file` with systemd-journal-remote.
fn append(file: &Path, message: &str, seq: u64) {
    let now_us = crate::observe::process::now_nanos() / 1000;
    let export = format!(
        "__REALTIME_TIMESTAMP={now_us}\n__MONOTONIC_TIMESTAMP={seq}\n_BOOT_ID=0123456789abcdef0123456789abcdef\nPRIORITY=4\nSYSLOG_IDENTIFIER=gomon-test\n_PID=31337\nMESSAGE={message}\n\n"
    );
    let dir = file.parent().unwrap();
    let input = dir.join(format!("entry-{seq}.export"));
    std::fs::write(&input, export).unwrap();
    let status = std::process::Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg(&input)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts the source on `file`; returns its stop and thread.
fn start(
    file: &Path,
    state: &Path,
) -> (crossbeam_channel::Receiver<TimedEvent>, std::sync::Arc<crate::observe::stop::Stop>, std::thread::JoinHandle<()>)
{
    let (emitter, rx, stop) = test_emitter(ObservationSource::Logs, 1000);
    let options = JournalOptions {
        program: "journalctl".into(),
        extra_args: vec![format!("--file={}", file.display())],
        ..JournalOptions::default()
    };
    let state = StateFile::new(Some(state), "journal-cursor");
    let thread = std::thread::spawn(move || run(options, state, true, emitter));
    (rx, stop, thread)
}

#[test]
fn follows_a_real_journal_and_resumes_after_its_cursor() {
    if !Path::new(JOURNAL_REMOTE).exists() || Command::new("journalctl").arg("--version").output().is_err() {
        eprintln!("skipped: needs journalctl and systemd-journal-remote (Debian: systemd-journal-remote)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = dir.path().join("test.journal");
    append(&file, "before gomon", 1);
    let (rx, stop, thread) = start(&file, state.path());
    // journalctl reads from "now": append until an entry comes through.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 10;
    let first = loop {
        assert!(Instant::now() < deadline, "no entry came through");
        seq += 1;
        append(&file, &format!("live {seq}"), seq);
        if let Ok(event) = rx.recv_timeout(Duration::from_millis(500)) {
            break event;
        }
    };
    let l = log(&first);
    assert!(l.message.starts_with("live "), "{l:?}");
    assert_eq!((l.process.as_str(), l.pid, l.level), ("gomon-test", Some(31337), LogLevel::Warn));
    // Drain whatever else of those appends arrives, then stop.
    let mut last = first;
    while let Ok(e) = rx.recv_timeout(Duration::from_millis(500)) {
        last = e;
    }
    stop.request();
    thread.join().unwrap();
    let cursor = std::fs::read_to_string(state.path().join("journal-cursor")).unwrap();
    assert!(cursor.contains(";i="), "{cursor}");
    let last_message = log(&last).message.clone();

    // Written while "gomon" was down: read after the restart, and only that.
    append(&file, "while down", 1000);
    let (rx, stop, thread) = start(&file, state.path());
    let e = rx.recv_timeout(Duration::from_secs(20)).expect("the entry written while down");
    assert_eq!(log(&e).message, "while down", "resumed after {last_message:?}");
    stop.request();
    thread.join().unwrap();
    assert!(rx.try_iter().all(|e| log(&e).message != last_message));
}
