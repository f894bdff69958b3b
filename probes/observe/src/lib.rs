//! The built-in `observe` probe: the first link of the observe chain. It
//! drops log records below a level, drops a log record equal to one of the
//! last few (the original gomon's de-duplication), and formats each
//! observation's line and structured metadata.
//!
//! **Settings**
//!
//! | key     | default | meaning |
//! |---------|---------|---------|
//! | `level` | `info`  | the lowest log severity passed on (`trace` … `fatal`) |
//! | `dedup` | `3`     | a log record equal (ignoring time) to one of the last `dedup` records of the same origin is dropped; `0` turns it off |
//!
//! Process and file events are never dropped here.
//!
//! **Lines and metadata** (metadata is sent to Loki as structured metadata,
//! never as stream labels):
//!
//! ```text
//! fork        bash[100] -> [200]                       pid ppid name start_time
//! exec        [100] -> curl[200]                       pid ppid name start_time
//! exit        curl[200] exited with code 0             pid ppid name start_time exit_code
//!             curl[200] killed by signal 9 (SIGKILL)   … signal
//! uid-change  sudo[200] uid 0                          pid ppid name start_time uid
//! create      /etc/hosts                                path kind=file|directory
//! rename      /etc/a -> /etc/b                          path old_path kind
//! <level>     sshd[812]: Accepted publickey for …      origin process pid
//! ```
//!
//! A log line without a known process is its message alone. `start_time` is
//! RFC 3339 UTC with milliseconds.

mod format;

use std::collections::{HashMap, VecDeque};

use gomon_probe::{
    Capability, Event, Observation, ObserveProbe, ProbeInfo, Severity, check_settings, setting,
};

/// The probe's state: its settings and the recent log records per origin.
pub struct Observe {
    level: Severity,
    dedup: usize,
    /// The last `dedup` records (origin → (process, pid, message)), newest last.
    recent: HashMap<String, VecDeque<(String, Option<u32>, String)>>,
}

impl Default for Observe {
    fn default() -> Self {
        Observe { level: Severity::Info, dedup: 3, recent: HashMap::new() }
    }
}

impl ObserveProbe for Observe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "observe",
            env!("CARGO_PKG_VERSION"),
            "Drops log records below a level and repeated ones; formats observation lines and metadata.",
            [Capability::Observations],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        check_settings(settings, &["level", "dedup"])?;
        if let Some(level) = setting(settings, "level") {
            self.level = format::parse_severity(level)
                .ok_or_else(|| format!("setting `level`: `{level}` is not one of trace, debug, info, warn, error, fatal"))?;
        }
        if let Some(dedup) = setting(settings, "dedup") {
            self.dedup = dedup
                .parse()
                .map_err(|_| format!("setting `dedup`: `{dedup}` is not a whole number"))?;
        }
        Ok(())
    }

    fn observe(&mut self, batch: Vec<Observation>) -> Result<Vec<Observation>, String> {
        let mut out = Vec::with_capacity(batch.len());
        for mut observation in batch {
            if let Event::Log(log) = &observation.event
                && (rank(log.level) < rank(self.level)
                    || self.repeated(&log.origin, &log.process, log.pid, &log.message))
            {
                continue;
            }
            format::fill(&mut observation);
            out.push(observation);
        }
        Ok(out)
    }
}

impl Observe {
    /// Whether this record equals one of the last `dedup` of its origin;
    /// remembers it either way.
    fn repeated(&mut self, origin: &str, process: &str, pid: Option<u32>, message: &str) -> bool {
        if self.dedup == 0 {
            return false;
        }
        let recent = self.recent.entry(origin.to_owned()).or_default();
        let seen = recent.iter().any(|(p, i, m)| p == process && *i == pid && m == message);
        if !seen {
            recent.push_back((process.to_owned(), pid, message.to_owned()));
            while recent.len() > self.dedup {
                recent.pop_front();
            }
        }
        seen
    }
}

/// Severity order, lowest first.
fn rank(level: Severity) -> u8 {
    match level {
        Severity::Trace => 0,
        Severity::Debug => 1,
        Severity::Info => 2,
        Severity::Warn => 3,
        Severity::Error => 4,
        Severity::Fatal => 5,
    }
}

gomon_probe::export_observe_probe!(Observe);

#[cfg(test)]
mod tests;
