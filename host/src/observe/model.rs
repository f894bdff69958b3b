//! The observed events: plain Rust mirrors of the event records in
//! `probes-wit/wit/probe.wit` (interface `types`), field for field, with the
//! same units and names (`start-time-seconds` → `start_time_seconds`).
//!
//! Serialized with serde (for JSON output and tests), an event is tagged by
//! its variant:
//!
//! ```json
//! {"time_nanos":1795770028414541000,
//!  "event":{"process":{"kind":"exit","pid":4242,"ppid":1,"name":"sleep","start_time_seconds":1795770020.5,
//!                      "exit_code":0,"exit_signal":null,"id":null}}}
//! {"time_nanos":…,"event":{"file":{"kind":"rename","path":"/etc/b","old_path":"/etc/a","directory":false}}}
//! {"time_nanos":…,"event":{"log":{"origin":"/var/log/syslog","level":"error","process":"sshd","pid":812,
//!                                 "message":"Failed password for root"}}}
//! ```

use serde::Serialize;

/// What happened to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessEventKind {
    /// A new process: a proc connector FORK whose child is not a thread.
    Fork,
    /// The process ran a new program (EXEC); in the process-table diff, a
    /// process that appeared.
    Exec,
    /// The process ended (EXIT); in the process-table diff, a process that
    /// vanished (without a status).
    Exit,
    /// Its uids changed (UID event); `id` is the new effective uid.
    UidChange,
    /// Its gids changed (GID event); `id` is the new effective gid.
    GidChange,
}

impl ProcessEventKind {
    /// The WIT name (`fork`, `uid-change`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessEventKind::Fork => "fork",
            ProcessEventKind::Exec => "exec",
            ProcessEventKind::Exit => "exit",
            ProcessEventKind::UidChange => "uid-change",
            ProcessEventKind::GidChange => "gid-change",
        }
    }
}

/// A process event (netlink proc connector, or the process-table diff).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessEvent {
    /// What happened.
    pub kind: ProcessEventKind,
    /// The process (thread-group id; threads are never reported).
    pub pid: u32,
    /// The parent process (its thread-group id); 0 when unknown.
    pub ppid: u32,
    /// /proc/<pid>/stat comm (after an exec: the new program's); empty when
    /// the process was gone before it could be read.
    pub name: String,
    /// Unix time the process started (seconds); 0 when unknown.
    pub start_time_seconds: f64,
    /// `exit`: the exit status when it exited normally.
    pub exit_code: Option<i32>,
    /// `exit`: the signal that killed it.
    pub exit_signal: Option<u32>,
    /// `uid-change`: the new effective uid; `gid-change`: the new effective gid.
    pub id: Option<u32>,
    /// `exit`: what the process used, from its taskstats exit record (not
    /// in the WIT record: the host hands it on as metadata, see
    /// [`Event::host_metadata`]).
    pub usage: Option<ExitUsage>,
}

/// What an exited process used (taskstats: `struct taskstats`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExitUsage {
    /// `ac_utime` (µs) of its threads that had ended with it, in seconds.
    pub cpu_user_seconds: f64,
    /// `ac_stime` (µs), likewise, in seconds.
    pub cpu_system_seconds: f64,
    /// `hiwater_rss` (KiB): its peak resident memory, in bytes.
    pub max_rss_bytes: u64,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileEventKind {
    /// Created, or moved in from outside the roots (IN_CREATE, a lone IN_MOVED_TO).
    Create,
    /// Written (IN_CLOSE_WRITE, or a debounced IN_MODIFY).
    Update,
    /// Deleted, or moved out of the roots (IN_DELETE, IN_DELETE_SELF of a
    /// root, a lone IN_MOVED_FROM).
    Delete,
    /// Renamed within the roots (IN_MOVED_FROM and IN_MOVED_TO with the same cookie).
    Rename,
}

impl FileEventKind {
    /// The WIT name (`create`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FileEventKind::Create => "create",
            FileEventKind::Update => "update",
            FileEventKind::Delete => "delete",
            FileEventKind::Rename => "rename",
        }
    }
}

/// A file event (inotify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEvent {
    /// What happened.
    pub kind: FileEventKind,
    /// Absolute path (after a rename: the new path).
    pub path: String,
    /// `rename`: the old path.
    pub old_path: Option<String>,
    /// The path is a directory (IN_ISDIR); always `false` for `update`.
    pub directory: bool,
}

/// Normalised log levels (the original gomon's map: syslog, Apache,
/// Postgres, … words; see `logs::parse::level_from_word`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// `trace`, `trace1`…`trace8`.
    Trace,
    /// `debug`, `debug1`…`debug5`, `default`; syslog severity 7 (debug).
    Debug,
    /// `info`, `log`, `notice`, `statement`; syslog severities 5–6; lines
    /// with no level.
    Info,
    /// `warn`, `warning`, `supervisor`; syslog severity 4.
    Warn,
    /// `err`, `error`, `crit`, `critical`, `alert`, `crash`; syslog
    /// severities 1–3.
    Error,
    /// `fatal`, `panic`, `emerg`, `emergency`, `fault`; syslog severity 0.
    Fatal,
}

impl LogLevel {
    /// The WIT name (`trace`, …, `fatal`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }
}

/// One log line or record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// `journal`, `kmsg`, or the tailed file's path.
    pub origin: String,
    /// The line's level, normalised (`info` when it names none).
    pub level: LogLevel,
    /// The program that wrote the line (syslog tag, journal identifier); may be empty.
    pub process: String,
    /// The writer's pid, when the line or record names it (`tag[pid]:`,
    /// journal `_PID`).
    pub pid: Option<u32>,
    /// The text, without the stamp, level and process header the parser took off.
    pub message: String,
    /// The line was longer than `observe.logs.max_line_bytes` and was cut
    /// (not in the WIT record: the host hands it on as the metadata pair
    /// `truncated="true"`, see [`Event::host_metadata`]).
    pub truncated: bool,
}

/// One event of any source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// From the process source.
    Process(ProcessEvent),
    /// From the file source.
    File(FileEvent),
    /// From the log sources (tailed files, kmsg, journal).
    Log(LogEvent),
}

impl Event {
    /// What the typed WIT record cannot carry, as the observation's first
    /// metadata pairs (probes keep them; the built-in `observe` probe adds
    /// its own after them):
    ///
    /// | event | pairs |
    /// |---|---|
    /// | a cut log line | `truncated="true"` |
    /// | an exit with a taskstats record | `cpu_user_seconds`, `cpu_system_seconds`, `max_rss_bytes` |
    pub fn host_metadata(&self) -> Vec<(String, String)> {
        match self {
            Event::Log(l) if l.truncated => vec![("truncated".into(), "true".into())],
            Event::Process(ProcessEvent { usage: Some(u), .. }) => vec![
                ("cpu_user_seconds".into(), format!("{:.6}", u.cpu_user_seconds)),
                ("cpu_system_seconds".into(), format!("{:.6}", u.cpu_system_seconds)),
                ("max_rss_bytes".into(), u.max_rss_bytes.to_string()),
            ],
            _ => Vec::new(),
        }
    }
}

/// Where an observation came from: Loki's `source` stream label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationSource {
    /// Process events ([`Event::Process`]).
    Process,
    /// File events ([`Event::File`]).
    File,
    /// Log lines ([`Event::Log`]).
    Logs,
}

impl ObservationSource {
    /// The WIT name (`process`, `file`, `logs`).
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationSource::Process => "process",
            ObservationSource::File => "file",
            ObservationSource::Logs => "logs",
        }
    }
}

/// One observation on its way to Loki (or the local observations file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// Unix nanoseconds: when the event happened (a log line's own stamp
    /// when it has one) or when gomon saw it.
    pub time_nanos: u64,
    /// The source of its event.
    pub source: ObservationSource,
    /// The `event` stream label: `fork`, `exec`, …, `create`, …, or the log level.
    pub event_name: String,
    /// The log line sent. The host hands probes an empty line; the built-in
    /// `observe` probe formats it.
    pub line: String,
    /// Per-entry detail sent as Loki structured metadata (`pid`, `name`, …).
    pub metadata: Vec<(String, String)>,
    /// The typed event, unchanged by the host.
    pub event: Event,
}

/// An event and when it happened: what the observers deliver, in batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEvent {
    /// Unix nanoseconds when it happened: the log line's own stamp when it
    /// has one, the kernel's for process events, else when gomon saw it.
    pub time_nanos: u64,
    /// What happened.
    pub event: Event,
}
