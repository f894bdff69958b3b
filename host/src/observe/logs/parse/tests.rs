use super::*;

const MIXED: &str = include_str!("../../../../tests/fixtures/observe/logs-mixed.log");

fn utc() -> Clock {
    Clock::with_zone(TimeZone::UTC)
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn ns(text: &str) -> u64 {
    u64::try_from(at(text).as_nanosecond()).unwrap()
}

/// The fields of a parsed line, with the time as RFC 3339 text.
fn fields(p: &ParsedLine) -> (String, LogLevel, &str, Option<u32>, &str) {
    let time = Timestamp::from_nanosecond(i128::from(p.time_nanos)).unwrap().to_string();
    (time, p.level, p.process.as_str(), p.pid, p.message.as_str())
}

#[test]
fn every_line_of_the_mixed_fixture() {
    let now = at("2024-11-28T00:00:00Z");
    let parsed: Vec<ParsedLine> = MIXED.lines().map(|l| parse_line(l, now, &utc())).collect();
    let got: Vec<_> = parsed.iter().map(fields).collect();
    use LogLevel::*;
    let s = |t: &str| t.to_owned();
    let expected = [
        (s("2024-11-27T09:00:01Z"), Info, "CRON", Some(1234), "(root) CMD (run-parts /etc/cron.hourly)"),
        (s("2024-11-03T23:59:59Z"), Info, "kernel", None, "[12345.678901] EXT4-fs (vda1): mounted filesystem"),
        (s("2024-10-11T22:14:15Z"), Error, "su", None, "'su root' failed for lonvick on /dev/pts/8"),
        (s("2003-10-11T22:14:15.003Z"), Info, "evntslog", Some(1234), "An application event log entry"),
        (s("2003-08-24T12:14:15.000003Z"), Error, "myproc", None, "%% It's time to make the do-nuts."),
        (
            s("2024-01-15T09:00:00.123456Z"),
            Error,
            "sshd",
            Some(812),
            "error: kex_exchange_identification: Connection closed",
        ),
        (s("2024-01-15T10:00:00.123Z"), Info, "", Some(4321), "checkpoint starting: time"),
        (s("2024-01-15T10:00:01.456Z"), Fatal, "", Some(4322), "password authentication failed for user \"x\""),
        (
            s("2024-01-15T10:00:02Z"),
            Error,
            "",
            Some(1234),
            "*1 open() \"/usr/share/nginx/html/x\" failed (2: No such file or directory)",
        ),
        (s("2024-01-15T10:00:03.789Z"), Warn, "", None, "root: disk almost full"),
        (s("2024-01-15T10:00:04Z"), Info, "", None, "Hello world from a program that writes no level"),
        (
            s("2024-11-28T00:00:00Z"),
            Info,
            "",
            None,
            "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1234:tid 5678] AH00037: Symbolic link not allowed",
        ),
        (s("2024-11-28T00:00:00Z"), Info, "", None, "just some text that has no stamp at all"),
    ];
    assert_eq!(got.len(), expected.len());
    for (i, (got, want)) in got.iter().zip(expected.iter()).enumerate() {
        assert_eq!(got, want, "line {}: {:?}", i + 1, MIXED.lines().nth(i));
    }
    // Only the last two had no stamp of their own.
    let unstamped: Vec<_> = parsed.iter().map(|p| p.stamped).collect();
    assert_eq!(unstamped.iter().filter(|s| !**s).count(), 2);
    assert!(!unstamped[11] && !unstamped[12]);
}

#[test]
fn every_level_word_of_the_original_map() {
    use LogLevel::*;
    let table: &[(&str, LogLevel)] = &[
        ("emerg", Fatal),
        ("emergency", Fatal),
        ("fatal", Fatal),
        ("fault", Fatal),
        ("panic", Fatal),
        ("alert", Error),
        ("crash", Error),
        ("crit", Error),
        ("critical", Error),
        ("err", Error),
        ("error", Error),
        ("supervisor", Warn),
        ("warn", Warn),
        ("warning", Warn),
        ("info", Info),
        ("log", Info),
        ("notice", Info),
        ("statement", Info),
        ("debug", Debug),
        ("debug1", Debug),
        ("debug2", Debug),
        ("debug3", Debug),
        ("debug4", Debug),
        ("debug5", Debug),
        ("default", Debug),
        ("trace", Trace),
        ("trace1", Trace),
        ("trace2", Trace),
        ("trace3", Trace),
        ("trace4", Trace),
        ("trace5", Trace),
        ("trace6", Trace),
        ("trace7", Trace),
        ("trace8", Trace),
    ];
    let now = at("2024-06-01T00:00:00Z");
    for &(word, level) in table {
        assert_eq!(level_from_word(word), Some(level), "{word}");
        assert_eq!(level_from_word(&word.to_uppercase()), Some(level), "{word} in capitals");
        // And in a line, bare and in brackets.
        for line in [
            format!("2024-01-15 10:00:00 {word} the message"),
            format!("2024-01-15 10:00:00 [{}] the message", word.to_uppercase()),
        ] {
            let p = parse_line(&line, now, &utc());
            assert_eq!((p.level, p.message.as_str()), (level, "the message"), "{line}");
        }
    }
    for word in ["", "informational", "warnings", "debug6", "trace9", "hello"] {
        assert_eq!(level_from_word(word), None, "{word:?}");
    }
}

#[test]
fn syslog_severities() {
    use LogLevel::*;
    let levels: Vec<LogLevel> = (0..8).map(level_from_priority).collect();
    assert_eq!(levels, [Fatal, Error, Error, Error, Warn, Info, Info, Debug]);
    // The facility does not matter: local7.err is 187.
    assert_eq!(level_from_priority(187), Error);
    let now = at("2024-06-01T00:00:00Z");
    assert_eq!(parse_line("<187>Jun  1 00:00:00 h app: x", now, &utc()).level, Error);
    assert_eq!(parse_line("<191>1 - h app - - - x", now, &utc()).level, Debug);
    // PRI past 191 is not syslog: the whole line is the message.
    let p = parse_line("<192>Jun  1 00:00:00 h app: x", now, &utc());
    assert_eq!((p.stamped, p.message.as_str()), (false, "<192>Jun  1 00:00:00 h app: x"));
}

#[test]
fn rfc5424_nil_values_escapes_and_bom() {
    let now = at("2024-06-01T12:00:00Z");
    let p = parse_line("<13>1 - - - - - -", now, &utc());
    assert_eq!(
        (p.time_nanos, p.stamped, p.process.as_str(), p.pid, p.message.as_str()),
        (ns("2024-06-01T12:00:00Z"), false, "", None, "")
    );
    let p = parse_line(
        r#"<13>1 2024-06-01T10:00:00+02:00 h app 77 - [a x="q\"]" y="\\"][b@1 z="1"] msg] here"#,
        now,
        &utc(),
    );
    assert_eq!((p.time_nanos, p.pid, p.message.as_str()), (ns("2024-06-01T08:00:00Z"), Some(77), "msg] here"));
    let p = parse_line("<13>1 2024-06-01T10:00:00Z h app - - - \u{feff}with a BOM", now, &utc());
    assert_eq!(p.message, "with a BOM");
    // Unterminated structured data: not RFC 5424, not RFC 3164 either.
    let p = parse_line("<13>1 2024-06-01T10:00:00Z h app - - [a x=\"1\"", now, &utc());
    assert!(!p.stamped);
}

#[test]
fn rfc3164_year_zone_and_hosts() {
    // A December line read on New Year's night is last year's.
    let now = at("2025-01-01T00:30:00Z");
    let p = parse_line("Dec 31 23:59:00 host x: y", now, &utc());
    assert_eq!(p.time_nanos, ns("2024-12-31T23:59:00Z"));
    // Local time of the clock's zone.
    let plus_one = Clock::with_zone(TimeZone::fixed(Offset::from_hours(1).unwrap()));
    let p = parse_line("Jun  1 09:00:01 host x: y", at("2024-06-02T00:00:00Z"), &plus_one);
    assert_eq!(p.time_nanos, ns("2024-06-01T08:00:01Z"));
    // No host: a local program writing to /dev/log.
    let p = parse_line("<14>Jun  1 09:00:01 myapp[99]: started", now, &utc());
    assert_eq!((p.process.as_str(), p.pid, p.message.as_str()), ("myapp", Some(99), "started"));
    let p = parse_line("<14>Jun  1 09:00:01 myapp: started", now, &utc());
    assert_eq!((p.process.as_str(), p.pid, p.message.as_str()), ("myapp", None, "started"));
    // A host and no tag.
    let p = parse_line("Jun  1 09:00:01 host just words", now, &utc());
    assert_eq!((p.process.as_str(), p.message.as_str()), ("", "just words"));
    // A level at the start of the message.
    let p = parse_line("Jun  1 09:00:01 host sshd[5]: [warn] careful", now, &utc());
    assert_eq!((p.level, p.process.as_str()), (LogLevel::Warn, "sshd"));
    let p = parse_line("Jun  1 09:00:01 host app: <debug> chatter", now, &utc());
    assert_eq!(p.level, LogLevel::Debug);
    // Not a date: kept whole.
    for line in ["Jux  1 09:00:01 host x: y", "Jun 41 09:00:01 host x: y", "Jun  1 09-00-01 host x: y"] {
        let p = parse_line(line, now, &utc());
        assert_eq!((p.stamped, p.message.as_str()), (false, line));
    }
}

#[test]
fn iso_zones_fractions_and_pids() {
    let now = at("2024-06-01T00:00:00Z");
    let local = Clock::with_zone(TimeZone::fixed(Offset::from_hours(-5).unwrap()));
    let t = |line: &str| parse_line(line, now, &local).time_nanos;
    assert_eq!(t("2024-01-15 10:00:00 x"), ns("2024-01-15T15:00:00Z"));
    assert_eq!(t("2024-01-15 10:00:00 CET x"), ns("2024-01-15T15:00:00Z"), "other abbreviations are local");
    assert_eq!(t("2024-01-15 10:00:00 GMT x"), ns("2024-01-15T10:00:00Z"));
    assert_eq!(t("2024-01-15T10:00:00Z x"), ns("2024-01-15T10:00:00Z"));
    assert_eq!(t("2024-01-15T10:00:00+0130 x"), ns("2024-01-15T08:30:00Z"));
    assert_eq!(t("2024-01-15 10:00:00 -02:00 x"), ns("2024-01-15T12:00:00Z"));
    assert_eq!(t("2024-01-15 10:00:00.5Z x"), ns("2024-01-15T10:00:00.5Z"));
    assert_eq!(t("2024-01-15 10:00:00.123456789Z x"), ns("2024-01-15T10:00:00.123456789Z"));
    assert_eq!(t("[2024-01-15 10:00:00Z] x"), ns("2024-01-15T10:00:00Z"));
    assert_eq!(t(" [ 2024/01/15 10:00:00Z] x"), ns("2024-01-15T10:00:00Z"));
    let p = parse_line("2024-01-15 10:00:00: pid 42 debug2: deep", now, &local);
    assert_eq!((p.pid, p.level, p.message.as_str()), (Some(42), LogLevel::Debug, "deep"));
    let p = parse_line("[2024-01-15 10:00:00Z] [notice] ready", now, &local);
    assert_eq!((p.level, p.message.as_str()), (LogLevel::Info, "ready"));
    // A level word glued to more letters is not a level.
    let p = parse_line("2024-01-15 10:00:00 errors: 3", now, &local);
    assert_eq!((p.level, p.message.as_str()), (LogLevel::Info, "errors: 3"));
    // Impossible dates are not stamps.
    let p = parse_line("2024-13-45 10:00:00 x", now, &local);
    assert!(!p.stamped);
    assert_eq!(p.message, "2024-13-45 10:00:00 x");
}

#[test]
fn odd_input_never_panics() {
    let now = at("2024-06-01T00:00:00Z");
    let lines = [
        "",
        "<",
        "<>",
        "<1",
        "<1>",
        "<1>1",
        "<1>1 ",
        "<999>x",
        "[",
        " ",
        "2024",
        "2024-01-15 10:00:00",
        "2024-01-15 10:00:00.",
        "2024-01-15 10:00:00+",
        "2024-01-15 10:00:00 [",
        "2024-01-15 10:00:00 [12",
        "2024-01-15 10:00:00: pid ",
        "Jun  1 09:00:01",
        "Jun  1 09:00:01 ",
        "Jun  1 09:00:01 h a[x]: y",
        "2024/01/15 10:00:02 [error] 12#",
        "é2024-01-15 10:00:00",
        "2024-01-15 10:00:00 ÉRROR: x",
        "<13>1 2024-06-01T10:00:00Z h app - - [a x=\"\\é\"] m",
        "Jun  1 09:00:01 h é[1]: x",
    ];
    for line in lines {
        let p = parse_line(line, now, &utc());
        assert!(p.time_nanos > 0, "{line:?}");
    }
    assert_eq!(parse_line("", now, &utc()).message, "");
    assert_eq!(parse_line("line\r\n", now, &utc()).message, "line");
}

#[test]
fn a_level_in_capitals_is_not_a_zone() {
    let now = at("2024-06-01T00:00:00Z");
    for (line, level, message) in [
        ("2024-01-15 10:00:00 INFO started", LogLevel::Info, "started"),
        ("2024-01-15 10:00:00 ERROR failed", LogLevel::Error, "failed"),
        ("2024-01-15 10:00:00 LOG: logged", LogLevel::Info, "logged"),
        ("2024-01-15 10:00:00 WARN careful", LogLevel::Warn, "careful"),
    ] {
        let p = parse_line(line, now, &utc());
        assert_eq!((p.level, p.message.as_str()), (level, message), "{line}");
        assert_eq!(p.time_nanos, ns("2024-01-15T10:00:00Z"), "{line}");
    }
}
