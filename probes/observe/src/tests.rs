use gomon_probe::{
    Event, FileEvent, FileEventKind, LogEvent, Observation, ObservationSource, ObserveProbe,
    ProcessEvent, ProcessEventKind, Severity,
};

use crate::Observe;

fn observation(source: ObservationSource, event: Event) -> Observation {
    Observation {
        time_nanos: 1,
        source,
        event_name: String::new(),
        line: String::new(),
        metadata: vec![],
        event,
    }
}

fn log(level: Severity, process: &str, pid: Option<u32>, message: &str) -> Observation {
    observation(
        ObservationSource::Logs,
        Event::Log(LogEvent {
            origin: "/var/log/syslog".into(),
            level,
            process: process.into(),
            pid,
            message: message.into(),
        }),
    )
}

fn process(
    kind: ProcessEventKind,
    exit_code: Option<i32>,
    exit_signal: Option<u32>,
    id: Option<u32>,
) -> Observation {
    observation(
        ObservationSource::Process,
        Event::Process(ProcessEvent {
            kind,
            pid: 200,
            ppid: 100,
            name: "curl".into(),
            start_time_seconds: 1_764_233_693.123,
            exit_code,
            exit_signal,
            id,
        }),
    )
}

fn lines(out: &[Observation]) -> Vec<&str> {
    out.iter().map(|o| o.line.as_str()).collect()
}

fn meta<'a>(o: &'a Observation, key: &str) -> Option<&'a str> {
    o.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn formats_process_events() {
    let mut p = Observe::default();
    let out = p
        .observe(vec![
            process(ProcessEventKind::Fork, None, None, None),
            process(ProcessEventKind::Exec, None, None, None),
            process(ProcessEventKind::Exit, Some(3), None, None),
            process(ProcessEventKind::Exit, None, Some(9), None),
            process(ProcessEventKind::UidChange, None, None, Some(0)),
        ])
        .unwrap();
    assert_eq!(
        lines(&out),
        [
            "curl[100] -> [200]",
            "[100] -> curl[200]",
            "curl[200] exited with code 3",
            "curl[200] killed by signal 9 (SIGKILL)",
            "curl[200] uid 0"
        ]
    );
    let names: Vec<&str> = out.iter().map(|o| o.event_name.as_str()).collect();
    assert_eq!(names, ["fork", "exec", "exit", "exit", "setuid"]);
    assert_eq!(meta(&out[2], "exit_code"), Some("3"));
    assert_eq!(meta(&out[3], "signal"), Some("9"));
    assert_eq!(meta(&out[4], "uid"), Some("0"));
    assert_eq!(meta(&out[0], "pid"), Some("200"));
    assert_eq!(meta(&out[0], "start_time"), Some("2025-11-27T08:54:53.123Z"));
}

#[test]
fn formats_file_events() {
    let mut p = Observe::default();
    let rename = observation(
        ObservationSource::File,
        Event::File(FileEvent {
            kind: FileEventKind::Rename,
            path: "/etc/b".into(),
            old_path: Some("/etc/a".into()),
            directory: false,
        }),
    );
    let out = p.observe(vec![rename]).unwrap();
    assert_eq!(lines(&out), ["/etc/a -> /etc/b"]);
    assert_eq!(out[0].event_name, "rename");
    assert_eq!(meta(&out[0], "old_path"), Some("/etc/a"));
    assert_eq!(meta(&out[0], "kind"), Some("file"));
}

#[test]
fn drops_logs_below_the_level_and_repeats() {
    let mut p = Observe::default();
    p.configure(&[("level".into(), "warning".into()), ("dedup".into(), "2".into())]).unwrap();
    let out = p
        .observe(vec![
            log(Severity::Info, "sshd", Some(1), "quiet"),
            log(Severity::Error, "sshd", Some(1), "boom"),
            log(Severity::Error, "sshd", Some(1), "boom"),
            log(Severity::Warn, "", None, "kernel says"),
            log(Severity::Warn, "cron", None, "other"),
            // "boom" is now 3 records back, beyond dedup = 2: passed again.
            log(Severity::Error, "sshd", Some(1), "boom"),
        ])
        .unwrap();
    assert_eq!(lines(&out), ["sshd[1]: boom", "kernel says", "cron: other", "sshd[1]: boom"]);
    assert_eq!(out[0].event_name, "error");
    assert_eq!(meta(&out[0], "process"), Some("sshd"));
    assert_eq!(meta(&out[1], "process"), None);
}

#[test]
fn never_drops_process_or_file_events_and_dedup_zero_keeps_all() {
    let mut p = Observe::default();
    p.configure(&[("level".into(), "fatal".into()), ("dedup".into(), "0".into())]).unwrap();
    let exit = process(ProcessEventKind::Exit, Some(0), None, None);
    let out = p
        .observe(vec![
            exit.clone(),
            exit,
            log(Severity::Fatal, "x", None, "m"),
            log(Severity::Fatal, "x", None, "m"),
        ])
        .unwrap();
    assert_eq!(out.len(), 4);
}

#[test]
fn refuses_bad_settings_naming_them() {
    let mut p = Observe::default();
    assert!(p.configure(&[("level".into(), "loud".into())]).unwrap_err().contains("level"));
    assert!(p.configure(&[("dedup".into(), "-1".into())]).unwrap_err().contains("dedup"));
    assert!(p.configure(&[("colour".into(), "red".into())]).unwrap_err().contains("colour"));
}

#[test]
fn keeps_the_hosts_metadata_after_its_own() {
    let mut p = Observe::default();
    let mut exit = process(ProcessEventKind::Exit, Some(0), None, None);
    exit.metadata = vec![
        ("cpu_user_seconds".into(), "0.250000".into()),
        ("max_rss_bytes".into(), "4096".into()),
        // A key the probe sets itself: the probe's value wins.
        ("pid".into(), "1".into()),
    ];
    let mut cut = log(Severity::Info, "app", None, "xxxx");
    cut.metadata = vec![("truncated".into(), "true".into())];
    let out = p.observe(vec![exit, cut]).unwrap();
    let keys: Vec<&str> = out[0].metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["pid", "ppid", "name", "start_time", "exit_code", "cpu_user_seconds", "max_rss_bytes"]
    );
    assert_eq!(meta(&out[0], "pid"), Some("200"));
    assert_eq!(meta(&out[0], "cpu_user_seconds"), Some("0.250000"));
    assert_eq!(meta(&out[1], "truncated"), Some("true"));
    assert_eq!(meta(&out[1], "origin"), Some("/var/log/syslog"));
}
