//! Kernel messages from /dev/kmsg.
//!
//! Each read(2) returns one record (Documentation/ABI/testing/dev-kmsg):
//!
//! ```text
//! 6,193,306421,-;acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]
//!  SUBSYSTEM=acpi
//!  DEVICE=+acpi:PNP0A08:00
//! │ │   │      └ flags ('-', 'c' continuation start; more comma-separated fields may follow)
//! │ │   └ microseconds since boot (the printk clock)
//! │ └ sequence number
//! └ priority: facility << 3 | level
//! ```
//!
//! The message runs from the `;` to the end of the first line; the key=value
//! continuation lines (indented by a space) are not kept. Non-printable
//! bytes and `\` arrive escaped as `\xNN` and are decoded. Level: priority
//! & 7, through the syslog map. Process: `kernel` for the kernel's own
//! messages (facility 0); for records written from user space (systemd at
//! boot writes `systemd[1]: …`), the leading tag. Time: boot time +
//! microseconds.
//!
//! At start it seeks to the end (SEEK_END) — unless the same boot's sequence
//! number was saved (`<state_dir>/observe/kmsg.json`), in which case it
//! reads from the oldest record and skips what was already queued. A read
//! that fails with EPIPE means the ring buffer overwrote records before they
//! were read: normal under load; the gap in sequence numbers is counted as
//! dropped.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::parse::{level_from_priority, tag_prefix};
use crate::observe::model::{Event, LogEvent, TimedEvent};
use crate::observe::process::monotonic_to_unix_offset;
use crate::observe::queue::Emitter;
use crate::observe::state::StateFile;
use crate::observe::stop::Wake;

/// One record, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsgRecord {
    /// facility << 3 | level.
    pub priority: u32,
    /// The record's sequence number (a gap: records overwritten before they were read).
    pub seq: u64,
    /// Microseconds since boot.
    pub usec: u64,
    /// The first line, unescaped.
    pub message: String,
}

/// Parses one record (`pri,seq,usec,flags;message\n continuation…`).
pub fn parse_record(record: &[u8]) -> Result<KmsgRecord, String> {
    let semicolon = record.iter().position(|&b| b == b';').ok_or("no \";\" after the header")?;
    let header = std::str::from_utf8(&record[..semicolon]).map_err(|_| "header is not text")?;
    let mut fields = header.split(',');
    let mut number = |name: &str| -> Result<u64, String> {
        let text = fields.next().ok_or(format!("no {name}"))?;
        text.parse().map_err(|_| format!("{name} {text:?} is not a number"))
    };
    let priority = u32::try_from(number("priority")?).map_err(|_| "priority out of range")?;
    let seq = number("sequence number")?;
    let usec = number("timestamp")?;
    let body = &record[semicolon + 1..];
    let first_line = &body[..body.iter().position(|&b| b == b'\n').unwrap_or(body.len())];
    Ok(KmsgRecord { priority, seq, usec, message: unescape(first_line) })
}

/// Decodes the kernel's `\xNN` escapes.
fn unescape(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(byte) = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The event for a record; `boot_nanos` is the Unix time of boot in ns.
pub fn to_event(record: &KmsgRecord, boot_nanos: i128) -> TimedEvent {
    let (process, pid, message) = if record.priority >> 3 == 0 {
        ("kernel".to_owned(), None, record.message.clone())
    } else {
        match tag_prefix(&record.message) {
            Some((tag, pid, rest)) => (tag.to_owned(), pid, rest.to_owned()),
            None => (String::new(), None, record.message.clone()),
        }
    };
    let time_nanos = u64::try_from(boot_nanos + i128::from(record.usec) * 1000).unwrap_or(0);
    TimedEvent {
        time_nanos,
        event: Event::Log(LogEvent {
            origin: "kmsg".into(),
            level: level_from_priority(record.priority),
            process,
            pid,
            message,
            truncated: false,
        }),
    }
}

/// `kmsg.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPosition {
    /// /proc/sys/kernel/random/boot_id of the boot it was saved in.
    pub boot_id: String,
    /// The sequence number of the last record queued.
    pub seq: u64,
}

/// /dev/kmsg, open and positioned.
pub struct Kmsg {
    file: File,
    boot_id: String,
    /// The last record queued.
    last_seq: Option<u64>,
    /// Records up to this one were queued before a restart.
    skip_through: Option<u64>,
    state: StateFile,
    dirty: bool,
    last_save: Instant,
    buf: Vec<u8>,
}

impl Kmsg {
    /// Opens `path` (normally /dev/kmsg) and positions it.
    pub fn open(path: &Path, state: StateFile) -> io::Result<Kmsg> {
        let file =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_owned();
        let saved: Option<SavedPosition> = state.load();
        let skip_through = saved.filter(|s| !boot_id.is_empty() && s.boot_id == boot_id).map(|s| s.seq);
        let whence = if skip_through.is_some() { libc::SEEK_SET } else { libc::SEEK_END };
        // SAFETY: lseek on a descriptor we own.
        if unsafe { libc::lseek(file.as_raw_fd(), 0, whence) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Kmsg {
            file,
            boot_id,
            last_seq: skip_through,
            skip_through,
            state,
            dirty: false,
            last_save: Instant::now(),
            buf: vec![0; 8192],
        })
    }

    /// The descriptor, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Reads every record available now. Returns `Ok(false)` when the sink
    /// asked to stop; `lost` is told how many records were overwritten
    /// before they could be read.
    pub fn read_available(
        &mut self,
        sink: &mut dyn FnMut(TimedEvent) -> bool,
        lost: &mut dyn FnMut(u64),
    ) -> io::Result<bool> {
        let boot_nanos = monotonic_to_unix_offset();
        loop {
            let n = match self.file.read(&mut self.buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Overwritten before it was read; the sequence gap counts it.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) => return Err(e),
            };
            let record = match parse_record(&self.buf[..n]) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("logs: skipped a /dev/kmsg record: {e}");
                    continue;
                }
            };
            if self.skip_through.is_some_and(|s| record.seq <= s) {
                continue;
            }
            self.skip_through = None;
            if let Some(last) = self.last_seq
                && let Some(gap) = record.seq.checked_sub(last).and_then(|d| d.checked_sub(1))
                && gap > 0
            {
                lost(gap);
            }
            if !sink(to_event(&record, boot_nanos)) {
                return Ok(false);
            }
            self.last_seq = Some(record.seq);
            self.dirty = true;
        }
    }

    /// Saves the position if it changed (at most every `every`).
    pub fn save(&mut self, every: Duration) {
        if !self.dirty || self.last_save.elapsed() < every {
            return;
        }
        let Some(seq) = self.last_seq else { return };
        if let Err(e) = self.state.save(&SavedPosition { boot_id: self.boot_id.clone(), seq }) {
            tracing::warn!("logs: cannot save the /dev/kmsg position: {e}");
        }
        self.dirty = false;
        self.last_save = Instant::now();
    }
}

/// The kmsg source's thread.
pub fn run(path: PathBuf, state: StateFile, emitter: Emitter) {
    let mut kmsg = match Kmsg::open(&path, state) {
        Ok(k) => k,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
            tracing::warn!(
                "logs: cannot read {} ({e}; needs CAP_SYSLOG or root while kernel.dmesg_restrict = 1): kernel messages are not observed",
                path.display()
            );
            emitter.error();
            return;
        }
        Err(e) => {
            tracing::warn!("logs: cannot read {}: {e}; kernel messages are not observed", path.display());
            emitter.error();
            return;
        }
    };
    tracing::info!("logs: reading kernel messages from {}", path.display());
    loop {
        let going = kmsg.read_available(&mut |event| emitter.emit(event), &mut |n| emitter.lost(n));
        match going {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                tracing::error!("logs: reading {} failed: {e}; kernel messages are no longer observed", path.display());
                emitter.error();
                break;
            }
        }
        kmsg.save(Duration::from_secs(2));
        match emitter.stop().poll(kmsg.fd(), Duration::from_secs(1)) {
            Ok(Wake::Stop) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("logs: poll on {} failed: {e}", path.display());
                emitter.error();
                break;
            }
        }
    }
    kmsg.save(Duration::ZERO);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::model::LogLevel;
    use std::io::Write;

    const RECORDS: &[u8] = include_bytes!("../../../tests/fixtures/observe/kmsg-records.txt");

    /// The fixture's records: a header line and its indented continuation lines.
    fn records() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for line in RECORDS.split_inclusive(|&b| b == b'\n') {
            match out.last_mut() {
                Some(last) if line.starts_with(b" ") => last.extend_from_slice(line),
                _ => out.push(line.to_vec()),
            }
        }
        out
    }

    fn log(e: &TimedEvent) -> &LogEvent {
        match &e.event {
            Event::Log(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn captured_records() {
        let parsed: Vec<KmsgRecord> = records().iter().map(|r| parse_record(r).unwrap()).collect();
        let heads: Vec<(u32, u64, u64)> = parsed.iter().map(|r| (r.priority, r.seq, r.usec)).collect();
        assert_eq!(heads, [(5, 0, 0), (4, 2, 0), (4, 118, 250_865), (6, 90, 240_895), (6, 193, 306_421), (7, 18, 409)]);
        assert!(parsed[0].message.starts_with("Linux version "));
        // "\x09" is a tab; the continuation lines are not part of the message.
        assert_eq!(parsed[3].message, "rcu: \tRCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2.");
        assert_eq!(
            parsed[4].message,
            "acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]"
        );
        let events: Vec<TimedEvent> = parsed.iter().map(|r| to_event(r, 1_000_000_000_000)).collect();
        let levels: Vec<LogLevel> = events.iter().map(|e| log(e).level).collect();
        use LogLevel::*;
        assert_eq!(levels, [Info, Warn, Warn, Info, Info, Debug]);
        assert!(events.iter().all(|e| log(e).process == "kernel" && log(e).origin == "kmsg" && log(e).pid.is_none()));
        // Boot time + microseconds.
        assert_eq!(events[2].time_nanos, 1_000_000_000_000 + 250_865_000);
    }

    #[test]
    fn user_space_records_and_malformed_ones() {
        let r = parse_record(b"30,5,12,-,caller=T1;systemd[1]: Started Journal \\x5cService.\n").unwrap();
        assert_eq!((r.priority, r.seq, r.usec), (30, 5, 12));
        let e = to_event(&r, 0);
        let l = log(&e);
        assert_eq!((l.process.as_str(), l.pid, l.message.as_str()), ("systemd", Some(1), "Started Journal \\Service."));
        assert_eq!(l.level, LogLevel::Info);
        let e = to_event(&parse_record(b"12,6,0,-;no tag here").unwrap(), 0);
        assert_eq!(
            (log(&e).process.as_str(), log(&e).message.as_str(), log(&e).level),
            ("", "no tag here", LogLevel::Warn)
        );
        assert!(parse_record(b"6,1,2,-").unwrap_err().contains(';'));
        assert!(parse_record(b"x,1,2,-;m").unwrap_err().contains("priority"));
        assert!(parse_record(b"6,1;m").unwrap_err().contains("timestamp"));
        assert_eq!(unescape(b"a\\x4\\xzz\\x41"), "a\\x4\\xzzA");
    }

    #[test]
    fn a_record_written_to_dev_kmsg_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(Some(dir.path()), "kmsg.json");
        let mut kmsg = match Kmsg::open(Path::new("/dev/kmsg"), state.clone()) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("skipped: cannot read /dev/kmsg: {e}");
                return;
            }
        };
        let Ok(mut writer) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") else {
            eprintln!("skipped: cannot write /dev/kmsg (not root)");
            return;
        };
        let nonce = format!("gomon-kmsg-test-{}-{}", std::process::id(), crate::observe::process::now_nanos());
        writer.write_all(format!("<4>gomon-test[4242]: {nonce}\n").as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = None;
        while found.is_none() {
            assert!(Instant::now() < deadline, "the record never came back");
            kmsg.read_available(
                &mut |e| {
                    if log(&e).message == nonce {
                        found = Some(e);
                    }
                    true
                },
                &mut |_| {},
            )
            .unwrap();
            let stop = crate::observe::stop::Stop::new().unwrap();
            stop.poll(kmsg.fd(), Duration::from_millis(100)).unwrap();
        }
        let e = found.unwrap();
        let l = log(&e);
        assert_eq!((l.level, l.process.as_str(), l.pid), (LogLevel::Warn, "gomon-test", Some(4242)));
        let age = crate::observe::process::now_nanos().abs_diff(e.time_nanos);
        assert!(age < 60_000_000_000, "stamped {age} ns away from now");
        // Saved, a new reader of the same boot resumes after it.
        kmsg.save(Duration::ZERO);
        let saved: SavedPosition = state.load().unwrap();
        let mut again = Kmsg::open(Path::new("/dev/kmsg"), state).unwrap();
        let mut replayed = 0;
        again
            .read_available(
                &mut |e| {
                    replayed += usize::from(log(&e).message == nonce);
                    true
                },
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(replayed, 0, "resumed after seq {}", saved.seq);
    }
}
