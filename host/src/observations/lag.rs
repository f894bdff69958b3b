//! Observation lag: how long gomon takes to notice what it watches.
//!
//! Every `observe.lag_interval` (default 60 s) gomon starts a tiny process
//! (`/bin/true`), writes a file in its canary directory (a root the file
//! observer watches) and appends a line to its canary log (a file the log
//! tailer follows), and measures for each the time until the matching event
//! comes out of the observers:
//!
//! ```text
//! gomon_observation_lag_seconds{source="process"|"file"|"logs"}       gauge: the last measured lag
//! gomon_observation_lag_timeouts_total{source}                         counter: canaries never seen (by the next round)
//! ```
//!
//! The canaries live in the state directory (`<state>/observe/canary/`), not
//! under the operator's roots, and their events are taken out of the batch
//! before the probes: they measure the real machinery (the same netlink
//! socket, inotify instance and tailer) without reaching Loki. With the
//! process-table fallback (no proc connector) a process that lives a few
//! milliseconds is never seen, so process lag times out; that is the truth.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gomon_sink_prometheus::MetricFamily;

use crate::observe::model::{Event, ObservationSource, TimedEvent};

/// The canary directory's paths.
#[derive(Debug, Clone)]
pub struct CanaryPaths {
    /// Watched by the file observer (added to its roots).
    pub files: PathBuf,
    /// Tailed by the log observer (added to its files).
    pub log: PathBuf,
}

impl CanaryPaths {
    /// `<state>/observe/canary/{files/,canary.log}`.
    pub fn under(state_dir: &Path) -> Self {
        let root = state_dir.join("observe").join("canary");
        CanaryPaths { files: root.join("files"), log: root.join("canary.log") }
    }

    /// Creates the directory and the (empty) log, so the observers find them
    /// when they start, and makes the paths absolute and free of symbolic
    /// links, as the observers report them.
    pub fn create(self) -> std::io::Result<Self> {
        std::fs::create_dir_all(&self.files)?;
        OpenOptions::new().create(true).append(true).open(&self.log)?;
        Ok(CanaryPaths { files: self.files.canonicalize()?, log: self.log.canonicalize()? })
    }
}

/// What a canary waits for.
#[derive(Debug)]
struct Pending {
    sent: Instant,
    /// Process: the child's pid; file: the path; logs: the line's token.
    key: String,
}

/// The canaries in flight and the last results.
#[derive(Debug)]
pub struct Lag {
    paths: CanaryPaths,
    sources: Vec<ObservationSource>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    round: u64,
    pending: HashMap<&'static str, Pending>,
    /// Canary pids whose later events (exec, exit) are still to be removed.
    pids: HashMap<u32, Instant>,
    last: HashMap<&'static str, f64>,
    timeouts: HashMap<&'static str, u64>,
}

/// How long a canary pid's events keep being taken out of batches.
const PID_MEMORY: Duration = Duration::from_secs(30);

impl Lag {
    /// Measures the given sources (those whose observer is on).
    pub fn new(paths: CanaryPaths, sources: Vec<ObservationSource>) -> Self {
        Lag { paths, sources, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts one round: a canary of each source. A canary of the previous
    /// round still pending counts as a timeout. Blocking (a fork, two small
    /// writes): call from a blocking thread.
    pub fn send_round(&self) {
        let round = {
            let mut state = self.state();
            let unseen: Vec<&'static str> = state.pending.drain().map(|(source, _)| source).collect();
            for source in unseen {
                *state.timeouts.entry(source).or_default() += 1;
            }
            state.pids.retain(|_, at| at.elapsed() < PID_MEMORY);
            state.round += 1;
            state.round
        };
        for source in self.sources.clone() {
            let sent = Instant::now();
            let key = match source {
                ObservationSource::Process => match spawn_true() {
                    Ok(pid) => {
                        self.state().pids.insert(pid, sent);
                        pid.to_string()
                    }
                    Err(e) => {
                        tracing::debug!("Observation lag: cannot start the canary process: {e}");
                        continue;
                    }
                },
                ObservationSource::File => {
                    let path = self.paths.files.join(format!("canary-{round}"));
                    // The previous canary goes (its delete event is a canary event too).
                    let _ = std::fs::remove_file(self.paths.files.join(format!("canary-{}", round - 1)));
                    if let Err(e) = std::fs::write(&path, round.to_string()) {
                        tracing::debug!("Observation lag: cannot write {}: {e}", path.display());
                        continue;
                    }
                    path.to_string_lossy().into_owned()
                }
                ObservationSource::Logs => {
                    let token = format!("gomon-lag-canary-{round}");
                    let written =
                        OpenOptions::new().append(true).open(&self.paths.log).and_then(|mut f| writeln!(f, "{token}"));
                    if let Err(e) = written {
                        tracing::debug!("Observation lag: cannot append to {}: {e}", self.paths.log.display());
                        continue;
                    }
                    token
                }
            };
            // A canary seen before this line (possible for the process) was
            // matched against nothing; keep the earliest send time instead.
            self.state().pending.insert(source.as_str(), Pending { sent, key });
        }
    }

    /// Takes the canary events out of a batch, recording the lag of those
    /// that were awaited.
    pub fn take_canaries(&self, batch: &mut Vec<TimedEvent>) {
        let mut state = self.state();
        let files = self.paths.files.to_string_lossy();
        let log = self.paths.log.to_string_lossy();
        let now = Instant::now();
        batch.retain(|timed| {
            let (source, key) = match &timed.event {
                Event::Process(p) if state.pids.contains_key(&p.pid) => ("process", p.pid.to_string()),
                Event::File(f) if f.path.starts_with(files.as_ref()) => ("file", f.path.clone()),
                Event::Log(l) if l.origin == log => ("logs", l.message.trim().to_owned()),
                _ => return true,
            };
            if let Some(pending) = state.pending.get(source).filter(|p| p.key == key) {
                let lag = now.duration_since(pending.sent).as_secs_f64();
                state.pending.remove(source);
                state.last.insert(source, lag);
            }
            false
        });
    }

    /// The lag families.
    pub fn families(&self) -> Vec<MetricFamily> {
        let state = self.state();
        let mut last = MetricFamily::gauge(
            "gomon_observation_lag_seconds",
            "Time from a canary action (process start, file write, log line) to its event leaving the observers.",
        )
        .unit("seconds")
        .labels(["source"]);
        let mut timeouts = MetricFamily::counter(
            "gomon_observation_lag_timeouts",
            "Canary actions whose event was not seen before the next round.",
        )
        .labels(["source"]);
        for source in &self.sources {
            let name = source.as_str();
            if let Some(lag) = state.last.get(name) {
                last.push(&[name], *lag);
            }
            timeouts.push(&[name], *state.timeouts.get(name).unwrap_or(&0) as f64);
        }
        vec![last, timeouts]
    }
}

/// Starts `/bin/true` (or `true` from PATH) and reaps it on a thread.
fn spawn_true() -> std::io::Result<u32> {
    let program = if Path::new("/bin/true").exists() { "/bin/true" } else { "true" };
    let mut child = std::process::Command::new(program)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    std::thread::Builder::new().name("gomon-lag-reap".into()).spawn(move || child.wait())?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::model::{FileEvent, FileEventKind, LogEvent, LogLevel, ProcessEvent, ProcessEventKind};

    fn file(path: &str) -> TimedEvent {
        TimedEvent {
            time_nanos: 1,
            event: Event::File(FileEvent {
                kind: FileEventKind::Create,
                path: path.into(),
                old_path: None,
                directory: false,
            }),
        }
    }

    fn log(origin: &str, message: &str) -> TimedEvent {
        TimedEvent {
            time_nanos: 1,
            event: Event::Log(LogEvent {
                origin: origin.into(),
                level: LogLevel::Info,
                process: String::new(),
                pid: None,
                message: message.into(),
                truncated: false,
            }),
        }
    }

    fn process(pid: u32) -> TimedEvent {
        TimedEvent {
            time_nanos: 1,
            event: Event::Process(ProcessEvent {
                kind: ProcessEventKind::Exec,
                pid,
                ppid: 1,
                name: "true".into(),
                start_time_seconds: 0.0,
                exit_code: None,
                exit_signal: None,
                id: None,
                usage: None,
            }),
        }
    }

    #[test]
    fn measures_and_removes_canaries_and_counts_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CanaryPaths::under(dir.path()).create().unwrap();
        let lag =
            Lag::new(paths.clone(), vec![ObservationSource::File, ObservationSource::Logs, ObservationSource::Process]);
        lag.send_round();
        let canary_file = paths.files.join("canary-1").to_string_lossy().into_owned();
        assert_eq!(std::fs::read_to_string(&canary_file).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(&paths.log).unwrap(), "gomon-lag-canary-1\n");
        let pid: u32 = lag.state().pending["process"].key.parse().unwrap();

        let log_path = paths.log.to_string_lossy().into_owned();
        let mut batch = vec![
            file("/etc/hosts"),
            file(&canary_file),
            log(&log_path, "gomon-lag-canary-1"),
            log("/var/log/syslog", "gomon-lag-canary-1"),
            process(pid),
        ];
        lag.take_canaries(&mut batch);
        // Only the operator's events are left.
        assert_eq!(batch, vec![file("/etc/hosts"), log("/var/log/syslog", "gomon-lag-canary-1")]);
        assert_eq!(lag.families()[0].samples.len(), 3, "a lag for each source");

        // Next round: nothing seen → one timeout per source.
        lag.send_round();
        lag.send_round();
        let families = lag.families();
        let timeouts: Vec<&gomon_sink_prometheus::Value> = families[1].samples.iter().map(|s| &s.value).collect();
        assert!(timeouts.iter().all(|v| **v == gomon_sink_prometheus::Value::Scalar(1.0)), "{timeouts:?}");
        // The old canary file was removed; its delete event is still a canary.
        assert!(!Path::new(&canary_file).exists());
        let mut batch = vec![file(&canary_file), process(pid)];
        lag.take_canaries(&mut batch);
        assert!(batch.is_empty());
    }
}
