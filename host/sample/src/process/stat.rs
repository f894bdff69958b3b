//! /proc/<pid>/stat: one line, the process's scheduler and memory counters.
//!
//! ```text
//! 8528 (cat) R 8520 8520 6989 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 307688 3133440 411 …
//! │     │    │ │    │    │    │ │  │       │   │ │ │ │ │ │ │ │  │ │ │ │      │       └ 24 rss (pages)
//! 1 pid 2    3 4    5    6    7 8  9 flags 10  …12  14 15    18 19 20  22 starttime  23 vsize
//! ```
//!
//! Field 2, `comm`, is in parentheses and may itself hold spaces and
//! parentheses (`prctl(PR_SET_NAME)` takes any bytes), so it runs from the
//! first `(` to the *last* `)`, and the numbered fields are counted from
//! there. (The original gomon split the line on spaces, so a comm with a
//! space shifted every later field; it also stored field 8, tpgid, as
//! "tgid".) Fields past 24 (kernels keep adding them) are not read.

use super::num::{parse_i64, parse_u64, show, words};
use crate::error::ParseError;
use crate::model::ProcessState;

/// PF_KTHREAD in include/linux/sched.h: the task is a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of /proc/<pid>/stat that gomon reads, in the kernel's units.
#[derive(Debug, Clone, PartialEq)]
pub struct PidStat<'a> {
    /// Field 1.
    pub pid: u32,
    /// Raw bytes between the first `(` and the last `)`.
    pub comm: &'a [u8],
    /// Field 3.
    pub state: ProcessState,
    /// Field 4.
    pub ppid: u32,
    /// Field 5, pgrp.
    pub process_group: u32,
    /// Field 6.
    pub session: u32,
    /// PF_* flags; see [`PF_KTHREAD`].
    pub flags: u64,
    /// Field 10, minflt.
    pub minor_faults: u64,
    /// Field 12, majflt.
    pub major_faults: u64,
    /// USER_HZ ticks.
    pub user_ticks: u64,
    /// USER_HZ ticks.
    pub system_ticks: u64,
    /// Field 18.
    pub priority: i32,
    /// Field 19.
    pub nice: i32,
    /// Field 20, num_threads.
    pub threads: u32,
    /// USER_HZ ticks after boot.
    pub start_ticks: u64,
    /// Field 23, vsize, bytes.
    pub virtual_bytes: u64,
    /// Field 24, rss, pages.
    pub resident_pages: u64,
}

impl PidStat<'_> {
    /// Whether the task is a kernel thread (PF_KTHREAD). Neither `pid 2` nor
    /// `ppid 2` is used: in a pid namespace other than the initial one, 2 is
    /// an ordinary process (kernel threads are not visible there at all).
    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Maps the state letter (field 3) to its name, as in fs/proc/array.c.
pub fn parse_state(letter: u8) -> ProcessState {
    match letter {
        b'R' => ProcessState::Running,
        b'S' => ProcessState::Sleeping,
        b'D' => ProcessState::DiskSleep,
        b'T' => ProcessState::Stopped,
        b't' => ProcessState::TracingStop,
        b'Z' => ProcessState::Zombie,
        b'X' | b'x' => ProcessState::Dead,
        b'I' => ProcessState::Idle,
        _ => ProcessState::Other,
    }
}

/// The number of fields after `comm` that gomon needs: 3 (state) to 24 (rss).
const NEEDED: usize = 22;

/// Parses /proc/<pid>/stat. Errors are on line 1 and name the field.
pub fn parse_pid_stat(text: &[u8]) -> Result<PidStat<'_>, ParseError> {
    let err = |reason: String| ParseError::at(1, reason);
    let open = text.iter().position(|&b| b == b'(').ok_or_else(|| err("no \"(\" before comm".into()))?;
    let close = text.iter().rposition(|&b| b == b')').filter(|&c| c > open);
    let close = close.ok_or_else(|| err("no \")\" after comm".into()))?;
    let pid_text = text[..open].trim_ascii();
    // stat field 1: pid.
    let pid = parse_u64(pid_text)
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| err(format!("field pid: {:?} is not a pid", show(pid_text))))?;
    // stat field 2: comm, between the first "(" and the last ")".
    let comm = &text[open + 1..close];

    let mut fields: [&[u8]; NEEDED] = [&[]; NEEDED];
    let mut count = 0;
    for (slot, word) in fields.iter_mut().zip(words(&text[close + 1..])) {
        *slot = word;
        count += 1;
    }
    if count < NEEDED {
        return Err(err(format!("{count} fields after comm, need at least {NEEDED} (state through rss, fields 3–24)")));
    }
    // Field n (1-based, as proc(5) numbers them) is fields[n - 3].
    let field = |n: usize| fields[n - 3];
    let unsigned = |n: usize, name: &str| {
        parse_u64(field(n))
            .ok_or_else(|| err(format!("field {n} {name}: {:?} is not an unsigned integer", show(field(n)))))
    };
    let id = |n: usize, name: &str| {
        let v = unsigned(n, name)?;
        u32::try_from(v).map_err(|_| err(format!("field {n} {name}: {v} does not fit in 32 bits")))
    };
    let small_signed = |n: usize, name: &str| {
        parse_i64(field(n))
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| err(format!("field {n} {name}: {:?} is not a 32-bit integer", show(field(n)))))
    };

    // stat field 3: state, one letter.
    let state = match field(3) {
        [letter] => parse_state(*letter),
        other => return Err(err(format!("field 3 state: {:?} is not one letter", show(other)))),
    };
    Ok(PidStat {
        pid,
        comm,
        state,
        ppid: id(4, "ppid")?,                    // stat field 4: ppid
        process_group: id(5, "pgrp")?,           // stat field 5: pgrp
        session: id(6, "session")?,              // stat field 6: session
        flags: unsigned(9, "flags")?,            // stat field 9: flags (PF_*)
        minor_faults: unsigned(10, "minflt")?,   // stat field 10: minflt
        major_faults: unsigned(12, "majflt")?,   // stat field 12: majflt
        user_ticks: unsigned(14, "utime")?,      // stat field 14: utime, USER_HZ ticks
        system_ticks: unsigned(15, "stime")?,    // stat field 15: stime, USER_HZ ticks
        priority: small_signed(18, "priority")?, // stat field 18: priority
        nice: small_signed(19, "nice")?,         // stat field 19: nice
        threads: id(20, "num_threads")?,         // stat field 20: num_threads
        start_ticks: unsigned(22, "starttime")?, // stat field 22: starttime, ticks after boot
        virtual_bytes: unsigned(23, "vsize")?,   // stat field 23: vsize, bytes
        resident_pages: unsigned(24, "rss")?,    // stat field 24: rss, pages
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLEEP: &[u8] = include_bytes!("../../tests/fixtures/proc/4242/stat");
    const KTHREADD: &[u8] = include_bytes!("../../tests/fixtures/proc/2/stat");
    const TRICKY: &[u8] = include_bytes!("../../tests/fixtures/edge/pid-stat-tricky-comm");
    const SHORT: &[u8] = include_bytes!("../../tests/fixtures/edge/pid-stat-too-few-fields");

    #[test]
    fn every_field_maps_to_its_own_name() {
        // Distinct values in every read field.
        let line = b"77 (x) D 4 5 6 7 -1 9 10 11 12 13 14 15 16 17 -18 -19 20 21 22 23 24 25 26\n";
        let s = parse_pid_stat(line).unwrap();
        assert_eq!(
            s,
            PidStat {
                pid: 77,
                comm: b"x",
                state: ProcessState::DiskSleep,
                ppid: 4,
                process_group: 5,
                session: 6,
                flags: 9,
                minor_faults: 10,
                major_faults: 12,
                user_ticks: 14,
                system_ticks: 15,
                priority: -18,
                nice: -19,
                threads: 20,
                start_ticks: 22,
                virtual_bytes: 23,
                resident_pages: 24,
            }
        );
    }

    #[test]
    fn captured_sleep() {
        let s = parse_pid_stat(SLEEP).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, b"sleep");
        assert_eq!(s.state, ProcessState::Sleeping);
        assert_eq!(s.ppid, 4200);
        assert!(!s.kernel_thread());
        assert_eq!(s.nice, 0);
        assert_eq!(s.priority, 20);
        assert_eq!(s.threads, 1);
    }

    #[test]
    fn captured_kernel_thread() {
        let s = parse_pid_stat(KTHREADD).unwrap();
        assert_eq!((s.pid, s.ppid, s.comm), (2, 0, &b"kthreadd"[..]));
        assert!(s.kernel_thread());
        assert_eq!((s.virtual_bytes, s.resident_pages), (0, 0));
    }

    #[test]
    fn comm_runs_to_the_last_parenthesis() {
        // comm "a) b (c": spaces and both parentheses.
        let s = parse_pid_stat(TRICKY).unwrap();
        assert_eq!(s.comm, b"a) b (c");
        assert_eq!(s.state, ProcessState::Running);
        assert_eq!(s.ppid, 1);
        assert_eq!(s.user_ticks, 1234);
        assert_eq!(s.system_ticks, 567);
        assert_eq!(s.start_ticks, 31_337);
        // Empty comm and a comm of only ")".
        assert_eq!(parse_pid_stat(b"1 () S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0").unwrap().comm, b"");
        assert_eq!(parse_pid_stat(b"1 ())) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0").unwrap().comm, b"))");
    }

    #[test]
    fn non_utf8_comm_is_kept_as_bytes() {
        let s = parse_pid_stat(b"9 (\xff\xfe) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0").unwrap();
        assert_eq!(s.comm, b"\xff\xfe");
    }

    #[test]
    fn states() {
        let letters = b"RSDTtZXxIPWK";
        let names: Vec<_> = letters.iter().map(|&l| parse_state(l)).collect();
        use ProcessState::*;
        assert_eq!(
            names,
            [Running, Sleeping, DiskSleep, Stopped, TracingStop, Zombie, Dead, Dead, Idle, Other, Other, Other]
        );
    }

    #[test]
    fn too_few_fields_is_an_error_on_line_1() {
        let e = parse_pid_stat(SHORT).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("21 fields after comm"), "{e}");
    }

    #[test]
    fn malformed_lines_name_the_field() {
        let bad = |t: &[u8]| parse_pid_stat(t).unwrap_err().reason;
        assert!(bad(b"").contains("\"(\""));
        assert!(bad(b"1 (x S 0").contains("\")\""));
        assert!(bad(b"x (y) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0").contains("pid"));
        assert!(bad(b"1 (y) SS 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0").contains("state"));
        let e = bad(b"1 (y) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 -5 0");
        assert!(e.contains("23 vsize") && e.contains("-5"), "{e}");
        let e = bad(b"1 (y) S 4294967296 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0");
        assert!(e.contains("4 ppid") && e.contains("32 bits"), "{e}");
    }
}
