//! The systemd journal, through `journalctl` (as Vector's journald source
//! reads it): no libsystemd binding, and the journal's file format stays
//! journalctl's business.
//!
//! ```text
//! journalctl --follow --output=json --all --no-tail --no-pager [--after-cursor=C | --since=now]
//! {"__CURSOR":"s=…;i=1;b=…","__REALTIME_TIMESTAMP":"1795770028414541","PRIORITY":"3",
//!  "SYSLOG_IDENTIFIER":"sshd","_PID":"4242","_COMM":"sshd","MESSAGE":"Failed password for root", …}
//! ```
//!
//! | field | becomes |
//! |---|---|
//! | `MESSAGE` (text, or an array of bytes when it is not UTF-8) | message |
//! | `PRIORITY` (0–7) | level, through the syslog map (absent: info) |
//! | `SYSLOG_IDENTIFIER`, else `_COMM` | process |
//! | `_PID`, else `SYSLOG_PID` | pid |
//! | `__REALTIME_TIMESTAMP` (µs) | time |
//! | `__CURSOR` | saved in `<state_dir>/observe/journal-cursor` |
//!
//! A field that occurs more than once in an entry arrives as an array of
//! values; the first is taken. The first start reads from now on; later
//! starts resume after the saved cursor, so entries written while gomon was
//! down are read too. If journalctl exits, it is started again after a
//! pause (5 s, doubling to a minute).

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::parse::level_from_priority;
use crate::observe::model::{Event, LogEvent, LogLevel, TimedEvent};
use crate::observe::queue::Emitter;
use crate::observe::state::StateFile;

/// A journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The log event, stamped with `__REALTIME_TIMESTAMP` (else now).
    pub event: TimedEvent,
    /// `__CURSOR`: where to resume after this entry.
    pub cursor: Option<String>,
}

/// One field's value as text: a string, or bytes (lossy UTF-8), or the
/// first of several values.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let bytes: Vec<u8> = items.iter().filter_map(Value::as_u64).map(|b| b as u8).collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// Parses one line of `journalctl --output=json`. `now_nanos` stamps an
/// entry without `__REALTIME_TIMESTAMP`.
pub fn parse_entry(line: &[u8], now_nanos: u64) -> Result<Entry, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(fields) = value else { return Err("not a JSON object".into()) };
    let get = |name: &str| fields.get(name).and_then(text);
    let level = get("PRIORITY").and_then(|p| p.trim().parse::<u32>().ok()).map_or(LogLevel::Info, level_from_priority);
    let process = get("SYSLOG_IDENTIFIER").or_else(|| get("_COMM")).unwrap_or_default();
    let pid = get("_PID").or_else(|| get("SYSLOG_PID")).and_then(|p| p.trim().parse().ok());
    let time_nanos = get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.parse::<u64>().ok())
        .and_then(|us| us.checked_mul(1000))
        .unwrap_or(now_nanos);
    Ok(Entry {
        event: TimedEvent {
            time_nanos,
            event: Event::Log(LogEvent {
                origin: "journal".into(),
                level,
                process,
                pid,
                message: get("MESSAGE").unwrap_or_default(),
                truncated: false,
            }),
        },
        cursor: get("__CURSOR"),
    })
}

/// Whether journald is present: its socket, or journal files.
pub fn journald_present() -> bool {
    let has_entries = |dir: &str| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    Path::new("/run/systemd/journal/socket").exists()
        || has_entries("/var/log/journal")
        || has_entries("/run/log/journal")
}

/// How journalctl is run.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// The program (`journalctl`).
    pub program: PathBuf,
    /// Added to its arguments (tests: `--file=…`).
    pub extra_args: Vec<String>,
    /// A longer message is cut to this many bytes and marked truncated
    /// (`observe.logs.max_line_bytes`).
    pub max_message_bytes: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            program: PathBuf::from("journalctl"),
            extra_args: Vec::new(),
            max_message_bytes: crate::observe::config::DEFAULT_MAX_LINE_BYTES as usize,
        }
    }
}

/// The arguments for a start after `cursor` (or from now).
pub fn arguments(cursor: Option<&str>, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> =
        ["--follow", "--output=json", "--all", "--no-tail", "--no-pager"].iter().map(|s| s.to_string()).collect();
    match cursor {
        Some(cursor) => args.push(format!("--after-cursor={cursor}")),
        None => args.push("--since=now".into()),
    }
    args.extend(extra.iter().cloned());
    args
}

/// The journal source's thread. `required`: failing is an error, not a note.
pub fn run(options: JournalOptions, state: StateFile, required: bool, emitter: Emitter) {
    let mut cursor = state.load_text();
    let mut saved_cursor = cursor.clone();
    let mut pause = Duration::from_secs(5);
    loop {
        let mut child = match Command::new(&options.program)
            .args(arguments(cursor.as_deref(), &options.extra_args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                let message = format!(
                    "logs: cannot run {} ({e}): the systemd journal is not observed",
                    options.program.display()
                );
                if required {
                    tracing::error!("{message}");
                    emitter.error();
                } else {
                    tracing::info!("{message}");
                }
                return;
            }
        };
        let started = Instant::now();
        let outcome = follow(&mut child, &mut cursor, &mut saved_cursor, &state, &emitter, options.max_message_bytes);
        let _ = child.kill();
        let status = child.wait();
        save_cursor(&state, &cursor, &mut saved_cursor);
        match outcome {
            Outcome::Stop => return,
            Outcome::Exited(stderr) => {
                if started.elapsed() > Duration::from_secs(60) {
                    pause = Duration::from_secs(5);
                }
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                tracing::warn!(
                    "logs: journalctl ended ({status}){}; starting it again in {}",
                    if stderr.is_empty() { String::new() } else { format!(": {stderr}") },
                    humantime::format_duration(pause)
                );
                emitter.error();
                if emitter.stop().wait(pause) {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(60));
            }
        }
    }
}

enum Outcome {
    Stop,
    /// journalctl ended; its last error line.
    Exited(String),
}

fn save_cursor(state: &StateFile, cursor: &Option<String>, saved: &mut Option<String>) {
    if cursor == saved {
        return;
    }
    if let Some(c) = cursor {
        if let Err(e) = state.save_bytes(c.as_bytes()) {
            tracing::warn!("logs: cannot save the journal cursor: {e}");
        }
        *saved = cursor.clone();
    }
}

/// Reads journalctl's output until it ends or stop is requested.
fn follow(
    child: &mut Child,
    cursor: &mut Option<String>,
    saved: &mut Option<String>,
    state: &StateFile,
    emitter: &Emitter,
    max_message_bytes: usize,
) -> Outcome {
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Outcome::Exited("no pipes".into());
    };
    let mut line = Vec::new();
    let mut errors = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let mut stdout_open = true;
    let mut stderr_open = true;
    let mut last_save = Instant::now();
    loop {
        if last_save.elapsed() >= Duration::from_secs(2) {
            save_cursor(state, cursor, saved);
            last_save = Instant::now();
        }
        let fds = if stderr_open { vec![stdout.as_fd(), stderr.as_fd()] } else { vec![stdout.as_fd()] };
        let (ready, stopped) = match emitter.stop().poll_many(&fds, Duration::from_secs(1)) {
            Ok(r) => r,
            Err(e) => return Outcome::Exited(format!("poll: {e}")),
        };
        if stopped {
            return Outcome::Stop;
        }
        if ready.get(1).copied().unwrap_or(false) {
            match stderr.read(&mut buf) {
                Ok(n) if n > 0 => errors.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => stderr_open = false,
            }
            if errors.len() > 4096 {
                errors.drain(..errors.len() - 4096);
            }
        }
        if ready[0] {
            let n = match stdout.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Outcome::Exited(format!("read: {e}")),
            };
            if n == 0 {
                stdout_open = false;
            }
            let mut data = &buf[..n];
            while let Some(newline) = data.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&data[..newline]);
                data = &data[newline + 1..];
                if line.iter().all(u8::is_ascii_whitespace) {
                    line.clear();
                    continue;
                }
                match parse_entry(&line, crate::observe::process::now_nanos()) {
                    Ok(mut entry) => {
                        if let Event::Log(log) = &mut entry.event.event {
                            log.truncated = super::cut_to(&mut log.message, max_message_bytes);
                        }
                        if !emitter.emit(entry.event) {
                            return Outcome::Stop;
                        }
                        if entry.cursor.is_some() {
                            *cursor = entry.cursor;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("logs: skipped a journalctl line: {e}");
                        emitter.error();
                    }
                }
                line.clear();
            }
            line.extend_from_slice(data);
            if line.len() > 16 << 20 {
                line.clear(); // not a journal entry
            }
        }
        if !stdout_open {
            let text = String::from_utf8_lossy(&errors);
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
            return Outcome::Exited(last);
        }
    }
}

#[cfg(test)]
mod tests;
