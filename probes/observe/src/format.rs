//! Lines and structured metadata of observations (see the crate docs).

use gomon_probe::{
    Event, FileEvent, FileEventKind, LogEvent, Observation, ProcessEvent, ProcessEventKind,
    Severity,
};

/// Sets `line`, `event_name` and `metadata` from the typed event. Metadata
/// the host set (what the typed event cannot carry: `truncated`, an exit's
/// `cpu_user_seconds`, `cpu_system_seconds`, `max_rss_bytes`) is kept after
/// the probe's own pairs, unless a pair of the same key comes first.
pub fn fill(o: &mut Observation) {
    let (name, line, mut metadata) = match &o.event {
        Event::Process(p) => (process_kind(p.kind), process_line(p), process_metadata(p)),
        Event::File(f) => (file_kind(f.kind), file_line(f), file_metadata(f)),
        Event::Log(l) => (severity_name(l.level), log_line(l), log_metadata(l)),
    };
    for (key, value) in std::mem::take(&mut o.metadata) {
        if !metadata.iter().any(|(k, _)| *k == key) {
            metadata.push((key, value));
        }
    }
    o.event_name = name.to_owned();
    o.line = line;
    o.metadata = metadata;
}

/// Parses a severity name (case-insensitive; `warning` for `warn`).
pub fn parse_severity(text: &str) -> Option<Severity> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "trace" => Severity::Trace,
        "debug" => Severity::Debug,
        "info" => Severity::Info,
        "warn" | "warning" => Severity::Warn,
        "error" => Severity::Error,
        "fatal" => Severity::Fatal,
        _ => return None,
    })
}

fn severity_name(level: Severity) -> &'static str {
    match level {
        Severity::Trace => "trace",
        Severity::Debug => "debug",
        Severity::Info => "info",
        Severity::Warn => "warn",
        Severity::Error => "error",
        Severity::Fatal => "fatal",
    }
}

fn process_kind(kind: ProcessEventKind) -> &'static str {
    match kind {
        ProcessEventKind::Fork => "fork",
        ProcessEventKind::Exec => "exec",
        ProcessEventKind::Exit => "exit",
        ProcessEventKind::UidChange => "setuid",
        ProcessEventKind::GidChange => "setgid",
    }
}

fn process_line(p: &ProcessEvent) -> String {
    let (name, pid, ppid) = (&p.name, p.pid, p.ppid);
    match p.kind {
        ProcessEventKind::Fork => format!("{name}[{ppid}] -> [{pid}]"),
        ProcessEventKind::Exec => format!("[{ppid}] -> {name}[{pid}]"),
        ProcessEventKind::Exit => match (p.exit_code, p.exit_signal) {
            (_, Some(signal)) => match signal_name(signal) {
                Some(sig) => format!("{name}[{pid}] killed by signal {signal} ({sig})"),
                None => format!("{name}[{pid}] killed by signal {signal}"),
            },
            (Some(code), None) => format!("{name}[{pid}] exited with code {code}"),
            (None, None) => format!("{name}[{pid}] exited"),
        },
        ProcessEventKind::UidChange => format!("{name}[{pid}] uid {}", opt(p.id)),
        ProcessEventKind::GidChange => format!("{name}[{pid}] gid {}", opt(p.id)),
    }
}

fn process_metadata(p: &ProcessEvent) -> Vec<(String, String)> {
    let mut m = vec![kv("pid", p.pid), kv("ppid", p.ppid), kv("name", &p.name)];
    if p.start_time_seconds > 0.0 {
        m.push(kv("start_time", rfc3339_millis(p.start_time_seconds)));
    }
    if let Some(code) = p.exit_code {
        m.push(kv("exit_code", code));
    }
    if let Some(signal) = p.exit_signal {
        m.push(kv("signal", signal));
    }
    match (p.kind, p.id) {
        (ProcessEventKind::UidChange, Some(id)) => m.push(kv("uid", id)),
        (ProcessEventKind::GidChange, Some(id)) => m.push(kv("gid", id)),
        _ => {}
    }
    m
}

fn file_kind(kind: FileEventKind) -> &'static str {
    match kind {
        FileEventKind::Create => "create",
        FileEventKind::Update => "update",
        FileEventKind::Delete => "delete",
        FileEventKind::Rename => "rename",
    }
}

fn file_line(f: &FileEvent) -> String {
    match &f.old_path {
        Some(old) => format!("{old} -> {}", f.path),
        None => f.path.clone(),
    }
}

fn file_metadata(f: &FileEvent) -> Vec<(String, String)> {
    let mut m = vec![kv("path", &f.path)];
    if let Some(old) = &f.old_path {
        m.push(kv("old_path", old));
    }
    m.push(kv("kind", if f.directory { "directory" } else { "file" }));
    m
}

fn log_line(l: &LogEvent) -> String {
    match (l.process.is_empty(), l.pid) {
        (true, _) => l.message.clone(),
        (false, Some(pid)) => format!("{}[{pid}]: {}", l.process, l.message),
        (false, None) => format!("{}: {}", l.process, l.message),
    }
}

fn log_metadata(l: &LogEvent) -> Vec<(String, String)> {
    let mut m = vec![kv("origin", &l.origin)];
    if !l.process.is_empty() {
        m.push(kv("process", &l.process));
    }
    if let Some(pid) = l.pid {
        m.push(kv("pid", pid));
    }
    m
}

fn kv(key: &str, value: impl ToString) -> (String, String) {
    (key.to_owned(), value.to_string())
}

fn opt(value: Option<u32>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

/// Linux signal names (x86 and arm numbering agree for these).
fn signal_name(signal: u32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get((signal as usize).checked_sub(1)?).copied()
}

/// `2026-11-27T08:54:53.123Z` from Unix seconds (UTC); the number itself
/// when it is out of range.
pub fn rfc3339_millis(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as i128;
    time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}
