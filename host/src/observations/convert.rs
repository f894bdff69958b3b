//! Events → observations: a move from the observers' model (which mirrors
//! the WIT records field for field) into the bindgen types, as `snapshot`
//! does for samples.

use crate::observe::model;
use crate::runtime::bindings::types as wit;
use crate::snapshot::mirror;

/// One observation per event, as the first observe probe receives it: time,
/// source and event name set, an empty line, and as metadata only what the
/// WIT record cannot carry ([`model::Event::host_metadata`]: a cut line's
/// `truncated`, an exit's CPU and memory).
pub fn to_observations(events: Vec<model::TimedEvent>) -> Vec<wit::Observation> {
    events.into_iter().map(observation).collect()
}

fn observation(timed: model::TimedEvent) -> wit::Observation {
    let metadata = timed.event.host_metadata();
    let (source, event_name, event) = match timed.event {
        model::Event::Process(p) => {
            (wit::ObservationSource::Process, process_event_name(p.kind), wit::Event::Process(process_event(p)))
        }
        model::Event::File(f) => (wit::ObservationSource::File, f.kind.as_str(), wit::Event::File(file_event(f))),
        model::Event::Log(l) => (wit::ObservationSource::Logs, l.level.as_str(), wit::Event::Log(log_event(l))),
    };
    wit::Observation {
        time_nanos: timed.time_nanos,
        source,
        event_name: event_name.to_owned(),
        line: String::new(),
        metadata,
        event,
    }
}

/// The `event` label of a process event: the original gomon's names.
pub fn process_event_name(kind: model::ProcessEventKind) -> &'static str {
    match kind {
        model::ProcessEventKind::Fork => "fork",
        model::ProcessEventKind::Exec => "exec",
        model::ProcessEventKind::Exit => "exit",
        model::ProcessEventKind::UidChange => "setuid",
        model::ProcessEventKind::GidChange => "setgid",
    }
}

fn process_event(p: model::ProcessEvent) -> wit::ProcessEvent {
    let kind = match p.kind {
        model::ProcessEventKind::Fork => wit::ProcessEventKind::Fork,
        model::ProcessEventKind::Exec => wit::ProcessEventKind::Exec,
        model::ProcessEventKind::Exit => wit::ProcessEventKind::Exit,
        model::ProcessEventKind::UidChange => wit::ProcessEventKind::UidChange,
        model::ProcessEventKind::GidChange => wit::ProcessEventKind::GidChange,
    };
    mirror!(p => wit::ProcessEvent { pid, ppid, name, start_time_seconds, exit_code, exit_signal, id }, kind: kind)
}

fn file_event(f: model::FileEvent) -> wit::FileEvent {
    let kind = match f.kind {
        model::FileEventKind::Create => wit::FileEventKind::Create,
        model::FileEventKind::Update => wit::FileEventKind::Update,
        model::FileEventKind::Delete => wit::FileEventKind::Delete,
        model::FileEventKind::Rename => wit::FileEventKind::Rename,
    };
    mirror!(f => wit::FileEvent { path, old_path, directory }, kind: kind)
}

fn log_event(l: model::LogEvent) -> wit::LogEvent {
    let level = match l.level {
        model::LogLevel::Trace => wit::Severity::Trace,
        model::LogLevel::Debug => wit::Severity::Debug,
        model::LogLevel::Info => wit::Severity::Info,
        model::LogLevel::Warn => wit::Severity::Warn,
        model::LogLevel::Error => wit::Severity::Error,
        model::LogLevel::Fatal => wit::Severity::Fatal,
    };
    mirror!(l => wit::LogEvent { origin, process, pid, message }, level: level)
}

/// The `source` stream label.
pub fn source_name(source: wit::ObservationSource) -> &'static str {
    match source {
        wit::ObservationSource::Process => "process",
        wit::ObservationSource::File => "file",
        wit::ObservationSource::Logs => "logs",
    }
}
