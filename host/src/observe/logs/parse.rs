//! Log lines into time, level, process, pid and message.
//!
//! Three shapes are recognised; anything else is kept whole as an `info`
//! message stamped with the time it was read (the original gomon dropped
//! every line its one regex did not match, classic syslog included):
//!
//! ```text
//! RFC 5424   <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
//!            <165>1 2003-10-11T22:14:15.003Z host.example evntslog 1234 ID47 [exampleSDID@32473 iut="3"] An application event
//! RFC 3164   [<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG        (no year, local time; HOST may be absent)
//!            Nov 27 09:00:01 myhost CRON[1234]: (root) CMD (run-parts /etc/cron.hourly)
//! ISO        YYYY-MM-DD[T ]hh:mm:ss[.fff|.ffffff][Z|±hh[:]mm| TZ] [ [PID]| : pid N] [ [LEVEL]] MSG
//!            2024-01-15 10:00:00.123 UTC [1234] LOG:  checkpoint starting: time      (Postgres)
//!            2024/01/15 10:00:00 [error] 1234#1234: *1 open() failed                 (nginx)
//!            2024-01-15T10:00:00.123456+01:00 myhost sshd[812]: Accepted publickey   (rsyslog, Debian ≥ 12)
//! ```
//!
//! The ISO shape is the original's regex (dates with `-` or `/`, a fraction
//! of 3 or 6 digits — here any 1 to 9 — or a `,` as log4j and Python
//! write it); a level word counts only when [`level_from_word`] knows it,
//! where the original dropped the line (so `2024-01-15 10:00:00 Hello`
//! lost its line to the "level" `Hello`). After an ISO stamp, a syslog
//! header (`HOST TAG[PID]:`) is recognised too, which the original left in
//! the message (and named the process after the whole line).
//!
//! Levels: a syslog PRI's severity ([`level_from_priority`]), a level word
//! after an ISO stamp, or, in a syslog message, a leading `error:`,
//! `[warn]`, `<info>` …; otherwise `info`. Times without a zone are local
//! (the zone of /etc/localtime); a zone abbreviation other than UTC or GMT
//! is taken as local time too. Multi-line records (stack traces) arrive as
//! one event per line.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::observe::model::LogLevel;

/// A line taken apart (the caller adds the origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// Unix nanoseconds of the line's own stamp, or of `now` when it has none.
    pub time_nanos: u64,
    /// Whether `time_nanos` came from the line.
    pub stamped: bool,
    /// The level the line names (`info` when none).
    pub level: LogLevel,
    /// The syslog tag or RFC 5424 APP-NAME; empty when there is none.
    pub process: String,
    /// The pid in the tag (`TAG[PID]:`), RFC 5424 PROCID, or after an ISO stamp.
    pub pid: Option<u32>,
    /// The rest of the line, after the header taken apart.
    pub message: String,
}

/// The clock and zone a parser needs; one per source thread.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The zone of times written without one.
    pub zone: TimeZone,
}

impl Clock {
    /// The system's zone (/etc/localtime, `TZ`), UTC when it has none.
    pub fn system() -> Clock {
        Clock { zone: TimeZone::try_system().unwrap_or(TimeZone::UTC) }
    }

    /// A fixed zone (tests).
    pub fn with_zone(zone: TimeZone) -> Clock {
        Clock { zone }
    }
}

/// The original gomon's level map (syslog, Apache, Postgres, RabbitMQ,
/// Consul, Vault and macOS words), matched without regard to case.
pub fn level_from_word(word: &str) -> Option<LogLevel> {
    let level = match word.to_ascii_lowercase().as_str() {
        "emerg" | "emergency" | "fatal" | "fault" | "panic" => LogLevel::Fatal,
        "alert" | "crash" | "crit" | "critical" | "err" | "error" => LogLevel::Error,
        "supervisor" | "warn" | "warning" => LogLevel::Warn,
        "info" | "log" | "notice" | "statement" => LogLevel::Info,
        "debug" | "debug1" | "debug2" | "debug3" | "debug4" | "debug5" | "default" => LogLevel::Debug,
        "trace" | "trace1" | "trace2" | "trace3" | "trace4" | "trace5" | "trace6" | "trace7" | "trace8" => {
            LogLevel::Trace
        }
        _ => return None,
    };
    Some(level)
}

/// A syslog severity (PRI & 7; kmsg and journal PRIORITY too) through the
/// same map: emerg → fatal; alert, crit, err → error; warning → warn;
/// notice, info → info; debug → debug.
pub fn level_from_priority(priority: u32) -> LogLevel {
    match priority & 7 {
        0 => LogLevel::Fatal,
        1..=3 => LogLevel::Error,
        4 => LogLevel::Warn,
        5 | 6 => LogLevel::Info,
        _ => LogLevel::Debug,
    }
}

/// Parses one line (without its newline). Never fails: a line of no known
/// shape is an `info` message stamped `now`.
pub fn parse_line(line: &str, now: Timestamp, clock: &Clock) -> ParsedLine {
    let line = line.trim_end_matches(['\r', '\n']);
    let parsed = if line.starts_with('<') {
        parse_rfc5424(line, now).or_else(|| parse_rfc3164(line, now, clock))
    } else if line.as_bytes().first().is_some_and(u8::is_ascii_digit) || line.starts_with(['[', ' ']) {
        parse_iso(line, clock)
    } else {
        parse_rfc3164(line, now, clock)
    };
    parsed.unwrap_or_else(|| ParsedLine {
        time_nanos: nanos(now),
        stamped: false,
        level: LogLevel::Info,
        process: String::new(),
        pid: None,
        message: line.to_owned(),
    })
}

fn nanos(t: Timestamp) -> u64 {
    u64::try_from(t.as_nanosecond()).unwrap_or(0)
}

/// `<PRI>` at the start: the priority and the rest.
fn priority(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix('<')?;
    let close = rest.find('>')?;
    let digits = &rest[..close];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u32 = digits.parse().ok()?;
    // Facility 0–23, severity 0–7.
    (pri <= 191).then_some((pri, &rest[close + 1..]))
}

/// Splits off the next space-separated field.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix(' ').unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    Some(match s.find(' ') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    })
}

/// RFC 5424 §6: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
fn parse_rfc5424(line: &str, now: Timestamp) -> Option<ParsedLine> {
    let (pri, rest) = priority(line)?;
    let rest = rest.strip_prefix("1 ")?;
    let (stamp, rest) = field(rest)?;
    let (_host, rest) = field(rest)?;
    let (app, rest) = field(rest)?;
    let (procid, rest) = field(rest)?;
    let (_msgid, rest) = field(rest)?;
    let rest = rest.strip_prefix(' ')?;
    let message = skip_structured_data(rest)?;
    let message = message.strip_prefix(' ').unwrap_or(message);
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    let time = if stamp == "-" { None } else { Some(stamp.parse::<Timestamp>().ok()?) };
    let nil = |s: &str| if s == "-" { String::new() } else { s.to_owned() };
    Some(ParsedLine {
        time_nanos: nanos(time.unwrap_or(now)),
        stamped: time.is_some(),
        level: level_from_priority(pri),
        process: nil(app),
        pid: procid.parse().ok(),
        message: message.to_owned(),
    })
}

/// After STRUCTURED-DATA (`-` or `[id param="value" …]…`, where `\"`,
/// `\]` and `\\` are escapes inside values): the rest of the line.
fn skip_structured_data(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some(rest);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        let mut quoted = false;
        i += 1;
        loop {
            match *bytes.get(i)? {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    (i > 0).then(|| &s[i..])
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// RFC 3164 §4.1: `[<PRI>]Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, the day
/// padded with a space; the year is this year unless that is more than a
/// day ahead (a December line read in January).
fn parse_rfc3164(line: &str, now: Timestamp, clock: &Clock) -> Option<ParsedLine> {
    let (pri, rest) = match priority(line) {
        Some((pri, rest)) => (Some(pri), rest),
        None => (None, line),
    };
    let b = rest.as_bytes();
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|m| rest.starts_with(m))? as i8 + 1;
    let day = two_digits(if b[4] == b' ' { &b[5..6] } else { &b[4..6] })?;
    let (hour, minute, second) = (two_digits(&b[7..9])?, two_digits(&b[10..12])?, two_digits(&b[13..15])?);
    let this_year = now.to_zoned(clock.zone.clone()).year();
    let at = |year: i16| {
        let dt = DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
        clock.zone.to_ambiguous_timestamp(dt).compatible().ok()
    };
    let mut time = at(this_year)?;
    if time > now.checked_add(SignedDuration::from_hours(24)).unwrap_or(now) {
        time = at(this_year - 1).unwrap_or(time);
    }
    let after = rest[15..].strip_prefix(' ').unwrap_or(&rest[15..]);
    let (process, pid, message) = syslog_header(after, true).unwrap_or((String::new(), None, after));
    let level = match pri {
        Some(pri) => level_from_priority(pri),
        None => message_level(message).unwrap_or(LogLevel::Info),
    };
    Some(ParsedLine { time_nanos: nanos(time), stamped: true, level, process, pid, message: message.to_owned() })
}

/// `TAG[PID]: MSG` or `TAG: MSG` at the start of a message (kmsg records
/// written from user space): the tag, its pid and the rest.
pub fn tag_prefix(message: &str) -> Option<(&str, Option<u32>, &str)> {
    let (first, rest) = field(message)?;
    let (name, pid) = tag(first)?;
    Some((name, pid, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// `HOST TAG[PID]: MSG`, `HOST TAG: MSG`, `HOST MSG`, or (without a host)
/// `TAG[PID]: MSG` and, when `bare_tag`, `TAG: MSG`.
fn syslog_header(s: &str, bare_tag: bool) -> Option<(String, Option<u32>, &str)> {
    let (first, after_first) = field(s)?;
    if let Some((tag, pid)) = tag(first)
        && (pid.is_some() || bare_tag)
    {
        return Some((tag.to_owned(), pid, after_first.strip_prefix(' ').unwrap_or(after_first)));
    }
    if !is_host(first) || level_from_word(first).is_some() {
        return None;
    }
    let rest = after_first.strip_prefix(' ')?;
    if let Some((second, after_second)) = field(rest)
        && let Some((tag, pid)) = tag(second)
    {
        return Some((tag.to_owned(), pid, after_second.strip_prefix(' ').unwrap_or(after_second)));
    }
    bare_tag.then(|| (String::new(), None, rest))
}

/// `name[pid]:` or `name:` (not a level word): the name and pid.
fn tag(token: &str) -> Option<(&str, Option<u32>)> {
    let token = token.strip_suffix(':')?;
    let (name, pid) = match token.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((name, pid)) => (name, Some(pid.parse().ok()?)),
        None => (token, None),
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.contains(['[', ']'])
        && level_from_word(name).is_none()
        && name.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some((name, pid))
}

fn is_host(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 255
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// A level at the start of a syslog message: `error: …`, `[warn] …`, `<info> …`.
fn message_level(message: &str) -> Option<LogLevel> {
    let word = if let Some(rest) = message.strip_prefix('[') {
        &rest[..rest.find(']')?]
    } else if let Some(rest) = message.strip_prefix('<') {
        &rest[..rest.find('>')?]
    } else {
        &message[..message.find(':')?]
    };
    match word.to_ascii_lowercase().as_str() {
        "emerg" | "alert" | "crit" | "critical" | "err" | "error" | "warn" | "warning" | "notice" | "info"
        | "debug" | "fatal" | "panic" | "trace" => level_from_word(word),
        _ => None,
    }
}

fn two_digits(b: &[u8]) -> Option<i8> {
    match b {
        [d] if d.is_ascii_digit() => Some((d - b'0') as i8),
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some(((a - b'0') * 10 + (b - b'0')) as i8),
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |n, d| n.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// The time zone written after an ISO time.
enum Zone {
    Local,
    Utc,
    Offset(i32),
}

/// The original's shape: an ISO-like stamp, then an optional pid, level and
/// the message; or an ISO stamp and a syslog header.
fn parse_iso(line: &str, clock: &Clock) -> Option<ParsedLine> {
    // Optional " ", "[", " " before the stamp.
    let mut s = line.strip_prefix(' ').unwrap_or(line);
    let bracketed = s.starts_with('[');
    s = s.strip_prefix('[').unwrap_or(s);
    s = s.strip_prefix(' ').unwrap_or(s);
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let sep = b[4];
    if !(sep == b'-' || sep == b'/')
        || b[7] != sep
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = i16::try_from(digits(&b[0..4])?).ok()?;
    let (month, day) = (two_digits(&b[5..7])?, two_digits(&b[8..10])?);
    let (hour, minute, second) = (two_digits(&b[11..13])?, two_digits(&b[14..16])?, two_digits(&b[17..19])?);
    let mut i = 19;
    // Fraction: "." or "," and 1–9 digits.
    let mut nanos_part = 0i32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let frac = &b[start..end.min(start + 9)];
        let value = digits(frac)? as i32;
        nanos_part = value * 10i32.pow(9 - frac.len() as u32);
        i = end;
    }
    // Zone: "Z", "±hh[:]mm" (optionally after a space), or " ABC".
    let mut zone = Zone::Local;
    if b.get(i) == Some(&b'Z') {
        zone = Zone::Utc;
        i += 1;
    } else if let Some((offset, len)) = offset(&b[i..])
        .or_else(|| (b.get(i) == Some(&b' ')).then(|| offset(&b[i + 1..]).map(|(o, l)| (o, l + 1))).flatten())
    {
        zone = Zone::Offset(offset);
        i += len;
    } else if b.get(i) == Some(&b' ') {
        let letters = b[i + 1..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        let ends = b.get(i + 1 + letters).is_none_or(|c| !c.is_ascii_alphanumeric());
        let abbreviation = &s[i + 1..i + 1 + letters];
        // Not a level word written in capitals ("INFO", "LOG").
        if (3..=5).contains(&letters) && ends && level_from_word(abbreviation).is_none() {
            if abbreviation == "UTC" || abbreviation == "GMT" {
                zone = Zone::Utc;
            }
            i += 1 + letters;
        }
    }
    if bracketed && b.get(i) == Some(&b']') {
        i += 1;
    }
    let dt = DateTime::new(year, month, day, hour, minute, second, nanos_part).ok()?;
    let time = match zone {
        Zone::Utc => Offset::UTC.to_timestamp(dt).ok()?,
        Zone::Offset(seconds) => Offset::from_seconds(seconds).ok()?.to_timestamp(dt).ok()?,
        Zone::Local => clock.zone.to_ambiguous_timestamp(dt).compatible().ok()?,
    };
    let rest = &s[i..];
    let mut parsed = ParsedLine {
        time_nanos: nanos(time),
        stamped: true,
        level: LogLevel::Info,
        process: String::new(),
        pid: None,
        message: String::new(),
    };

    // A syslog header after the stamp (rsyslog's RFC 3339 file format).
    if let Some((process, pid, message)) = syslog_header(rest, false) {
        parsed.level = message_level(message).unwrap_or(LogLevel::Info);
        parsed.process = process;
        parsed.pid = pid;
        parsed.message = message.to_owned();
        return Some(parsed);
    }

    let mut rest = rest;
    // Optional pid: " [1234]" or ": pid 1234".
    if let Some((pid, after)) = bracketed_pid(rest) {
        parsed.pid = Some(pid);
        rest = after;
    }
    // Optional level word, alone or in brackets.
    let trimmed = rest.trim_start_matches([' ', ':', '-']);
    let (word, after) = level_token(trimmed);
    if let Some(level) = word.and_then(level_from_word) {
        parsed.level = level;
        rest = after;
        // nginx: "[error] 1234#5678: …".
        if parsed.pid.is_none()
            && let Some((pid, after)) = nginx_pid(rest)
        {
            parsed.pid = Some(pid);
            rest = after;
        }
    }
    parsed.message = rest.trim_start_matches([' ', ':', ']', '-']).to_owned();
    Some(parsed)
}

/// `+hh:mm`, `-hhmm`: seconds east of UTC and the bytes used.
fn offset(b: &[u8]) -> Option<(i32, usize)> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = i32::from(two_digits(b.get(1..3)?)?);
    let (minutes, len) = if b.get(3) == Some(&b':') { (b.get(4..6)?, 6) } else { (b.get(3..5)?, 5) };
    let minutes = i32::from(two_digits(minutes)?);
    if b.get(len).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60), len))
}

/// ` [1234]` or `: pid 1234`.
fn bracketed_pid(s: &str) -> Option<(u32, &str)> {
    if let Some(rest) = s.strip_prefix(" [") {
        let close = rest.find(']')?;
        return Some((digits(&rest.as_bytes()[..close])?, &rest[close + 1..]));
    }
    let rest = s.strip_prefix(": pid ")?;
    let end = rest.bytes().take_while(u8::is_ascii_digit).count();
    Some((digits(&rest.as_bytes()[..end])?, &rest[end..]))
}

/// A candidate level word at the start (in brackets or not) and what follows it.
fn level_token(s: &str) -> (Option<&str>, &str) {
    let (inner, bracketed) = match s.strip_prefix('[') {
        Some(inner) => (inner, true),
        None => (s, false),
    };
    let len = inner.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len == 0 {
        return (None, s);
    }
    let (word, mut after) = inner.split_at(len);
    if bracketed {
        match after.strip_prefix(']') {
            Some(a) => after = a,
            None => return (None, s),
        }
    }
    // The word must end there.
    if after.bytes().next().is_some_and(|c| !matches!(c, b' ' | b':' | b']' | b'-' | b'\t')) {
        return (None, s);
    }
    (Some(word), after)
}

/// nginx's ` 1234#5678: ` after the level: the pid.
fn nginx_pid(s: &str) -> Option<(u32, &str)> {
    let s = s.strip_prefix(' ')?;
    let hash = s.find('#')?;
    let pid = digits(&s.as_bytes()[..hash])?;
    let rest = &s[hash + 1..];
    let end = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[end..].strip_prefix(':')?;
    (end > 0).then_some((pid, rest))
}

#[cfg(test)]
mod tests;
