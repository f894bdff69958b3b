//! Property tests: the parsers of untrusted input never panic, whatever
//! they are given, and keep their promises on what they accept.
//!
//! | parser | input |
//! |---|---|
//! | `observe::logs::parse::parse_line` | log lines: RFC 3164, ISO-stamped, RFC 5424 shapes and noise |
//! | `observe::logs::kmsg::parse_record`, `to_event` | /dev/kmsg records |
//! | `observe::logs::journal::parse_entry` | `journalctl -o json` lines |
//! | `observe::process::connector::parse_datagram` | proc connector datagrams |
//! | `observe::process::taskstats::parse_datagram` | taskstats (generic netlink) datagrams |
//! | `config::Config::from_toml`, `validate` | the configuration file |
//!
//! Each property runs 256 cases (proptest's default). A longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p gomon --test never_panic`.

use gomon::config::Config;
use gomon::observe::logs::journal::parse_entry;
use gomon::observe::logs::kmsg::{parse_record, to_event};
use gomon::observe::logs::parse::{Clock, parse_line};
use gomon::observe::process::{connector, taskstats};
use jiff::Timestamp;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // cases: 256, or PROPTEST_CASES.
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Pieces log lines are made of: stamps (valid and not), priorities, hosts,
/// tags, level words, separators.
fn log_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<165>1 ".to_owned()),
        Just("<13>".to_owned()),
        Just("<999999999999999>".to_owned()),
        Just("Nov 27 09:00:01 ".to_owned()),
        Just("Feb 30 25:61:61 ".to_owned()),
        Just("2024-01-15T10:00:00.123456789Z ".to_owned()),
        Just("2024/01/15 10:00:00,5 ".to_owned()),
        Just("9999-99-99 99:99:99 ".to_owned()),
        Just("2024-01-15 10:00:00.1234567891234 +99:99 ".to_owned()),
        Just("2024-01-15T10:00:00-2400 UTC ".to_owned()),
        Just("myhost ".to_owned()),
        Just("sshd[812]: ".to_owned()),
        Just("app[99999999999999]: ".to_owned()),
        Just("[1234] ".to_owned()),
        Just("1234#1234: ".to_owned()),
        Just(" : pid 4294967296 ".to_owned()),
        Just("[error] ".to_owned()),
        Just("ERROR: ".to_owned()),
        Just("<warn> ".to_owned()),
        Just("- - [x@1 a=\"]\\\"\"] ".to_owned()),
        Just("[".to_owned()),
        Just("é€\u{0}\u{feff}".to_owned()),
        "[ -~]{0,12}",
        any::<String>(),
    ]
}

fn log_line() -> impl Strategy<Value = String> {
    proptest::collection::vec(log_piece(), 0..6).prop_map(|pieces| pieces.concat())
}

fn now() -> Timestamp {
    "2024-11-28T00:00:00Z".parse().unwrap()
}

fn kmsg_record() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        Just("18446744073709551615".to_owned()),
        Just("99999999999999999999".to_owned()),
        "[0-9]{0,6}",
        "-?[0-9a-z]{0,3}"
    ];
    (number.clone(), number.clone(), number, "[-c,a-z=]{0,6}", any::<Vec<u8>>()).prop_map(|(p, s, u, f, m)| {
        let mut r = format!("{p},{s},{u},{f};").into_bytes();
        r.extend_from_slice(&m);
        r
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[0-9]{1,25}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::vec(any::<u8>().prop_map(serde_json::Value::from), 0..6)
                .prop_map(serde_json::Value::Array),
        ]
    })
}

fn journal_line() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        Just("MESSAGE"),
        Just("PRIORITY"),
        Just("SYSLOG_IDENTIFIER"),
        Just("_COMM"),
        Just("_PID"),
        Just("SYSLOG_PID"),
        Just("__REALTIME_TIMESTAMP"),
        Just("__CURSOR"),
        Just("OTHER"),
    ];
    proptest::collection::vec((key, json_value()), 0..8).prop_map(|fields| {
        let object: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::to_vec(&object).unwrap()
    })
}

/// A netlink message of `kind` around `payload`, with a length field that
/// may lie.
fn netlink(kind: u16, payload: Vec<u8>, lie: Option<u32>) -> Vec<u8> {
    let len = lie.unwrap_or(16 + payload.len() as u32);
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(&payload);
    m
}

/// Proc connector datagrams: noise, or NLMSG_DONE messages whose cn_msg
/// names the proc connector, with random events.
fn connector_datagram() -> impl Strategy<Value = Vec<u8>> {
    let event = (
        prop_oneof![Just(0u32), Just(1), Just(2), Just(4), Just(0x40), Just(0x8000_0000), any::<u32>()],
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(what, stamp, data)| {
            let mut e = what.to_ne_bytes().to_vec();
            e.extend_from_slice(&0u32.to_ne_bytes());
            e.extend_from_slice(&stamp.to_ne_bytes());
            e.extend_from_slice(&data);
            e
        });
    let message = (event, any::<Option<u16>>(), any::<Option<u32>>()).prop_map(|(event, cn_len, lie)| {
        let mut cn = Vec::new();
        cn.extend_from_slice(&1u32.to_ne_bytes()); // CN_IDX_PROC
        cn.extend_from_slice(&1u32.to_ne_bytes()); // CN_VAL_PROC
        cn.extend_from_slice(&[0; 8]);
        cn.extend_from_slice(&cn_len.unwrap_or(event.len() as u16).to_ne_bytes());
        cn.extend_from_slice(&[0; 2]);
        cn.extend_from_slice(&event);
        netlink(3, cn, lie)
    });
    prop_oneof![any::<Vec<u8>>(), proptest::collection::vec(message, 1..4).prop_map(|ms| ms.concat()),]
}

const TASKSTATS_CAPTURE: &[u8] = include_bytes!("fixtures/observe/taskstats.bin");

/// The captured taskstats datagrams.
fn captured_taskstats() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = TASKSTATS_CAPTURE;
    while b.len() >= 4 {
        let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        out.push(b[4..4 + len].to_vec());
        b = &b[4 + len..];
    }
    out
}

/// Taskstats datagrams: noise, captured ones damaged (bytes changed, cut),
/// or generic netlink messages of random attributes.
fn taskstats_datagram() -> impl Strategy<Value = Vec<u8>> {
    let captured = captured_taskstats();
    let damaged = (
        prop::sample::select(captured),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut d, changes, cut)| {
            for (at, byte) in changes {
                let i = at.index(d.len());
                d[i] = byte;
            }
            let keep = cut.index(d.len() + 1);
            d.truncate(keep);
            d
        });
    let attribute = (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64), any::<Option<u16>>()).prop_map(
        |(kind, value, lie)| {
            let len = lie.unwrap_or(4 + value.len() as u16);
            let mut a = len.to_ne_bytes().to_vec();
            a.extend_from_slice(&kind.to_ne_bytes());
            a.extend_from_slice(&value);
            a.resize((a.len() + 3) & !3, 0);
            a
        },
    );
    let message =
        (prop_oneof![Just(2u16), Just(16), Just(31)], any::<u8>(), proptest::collection::vec(attribute, 0..4))
            .prop_map(|(kind, cmd, attrs)| {
                let mut payload = vec![cmd, 1, 0, 0];
                payload.extend(attrs.concat());
                netlink(kind, payload, None)
            });
    prop_oneof![any::<Vec<u8>>(), damaged, message]
}

/// TOML made of the configuration's own keys and odd values, and noise.
fn toml_text() -> impl Strategy<Value = String> {
    let section = prop_oneof![
        Just(""),
        Just("[observe]"),
        Just("[observe.files]"),
        Just("[observe.logs]"),
        Just("[loki]"),
        Just("[loki.static_labels]"),
        Just("[sample]"),
        Just("[probe.x]"),
        Just("[[probe]]"),
        Just("[web]"),
    ];
    let key = prop_oneof![
        Just("process".to_owned()),
        Just("process_diff_interval".to_owned()),
        Just("batch_max_wait".to_owned()),
        Just("batch_max_events".to_owned()),
        Just("roots".to_owned()),
        Just("exclude".to_owned()),
        Just("max_watches".to_owned()),
        Just("files".to_owned()),
        Just("journal".to_owned()),
        Just("max_line_bytes".to_owned()),
        Just("follow_symlinks".to_owned()),
        Just("url".to_owned()),
        Just("interval".to_owned()),
        Just("listen".to_owned()),
        Just("grants".to_owned()),
        Just("settings".to_owned()),
        Just("state_dir".to_owned()),
        "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        Just("true".to_owned()),
        Just("\"15s\"".to_owned()),
        Just("\"-1s\"".to_owned()),
        Just("\"99999999999999999999h\"".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("0".to_owned()),
        Just("nan".to_owned()),
        Just("[\"/\", \"*.log\", \"[\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        Just("\"\"\"multi\nline\"\"\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| format!("{s:?}")),
    ];
    let line = (section, key, value).prop_map(|(s, k, v)| format!("{s}\n{k} = {v}\n"));
    prop_oneof![any::<String>(), proptest::collection::vec(line, 0..8).prop_map(|l| l.concat())]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn log_lines(line in log_line()) {
        let clock = Clock::with_zone(jiff::tz::TimeZone::UTC);
        let p = parse_line(&line, now(), &clock);
        if !p.stamped {
            prop_assert_eq!(p.time_nanos, now().as_nanosecond() as u64);
        }
        // Nothing is invented: the process and the message come from the line.
        prop_assert!(line.contains(p.process.as_str()), "{:?} not in {:?}", p.process, line);
    }

    #[test]
    fn log_lines_in_local_time(line in log_line()) {
        let clock = Clock::with_zone(jiff::tz::TimeZone::get("Pacific/Kiritimati").unwrap_or(jiff::tz::TimeZone::UTC));
        let _ = parse_line(&line, now(), &clock);
    }

    #[test]
    fn kmsg_records(record in prop_oneof![kmsg_record(), any::<Vec<u8>>()], boot in any::<i64>()) {
        if let Ok(r) = parse_record(&record) {
            let _ = to_event(&r, i128::from(boot));
            let _ = to_event(&r, i128::from(u64::MAX) * 1000);
        }
    }

    #[test]
    fn journal_lines(line in prop_oneof![journal_line(), any::<Vec<u8>>()], now_nanos in any::<u64>()) {
        if let Ok(entry) = parse_entry(&line, now_nanos) {
            let gomon::observe::Event::Log(log) = entry.event.event else { panic!("not a log event") };
            prop_assert_eq!(log.origin, "journal");
        }
    }

    #[test]
    fn proc_connector_datagrams(datagram in connector_datagram()) {
        let mut events = Vec::new();
        let _ = connector::parse_datagram(&datagram, &mut events);
        for e in events {
            if let connector::ProcEvent::Exit { exit_code, .. } = e.event {
                let _ = connector::decode_exit(exit_code);
            }
        }
    }

    #[test]
    fn taskstats_datagrams(datagram in taskstats_datagram()) {
        let mut got = taskstats::Received::default();
        let _ = taskstats::parse_datagram(&datagram, 31, &mut got);
        for r in &got.records {
            let _ = r.tgid();
        }
    }

    #[test]
    fn config_text(text in toml_text()) {
        if let Ok(config) = Config::from_toml(&text) {
            let _ = config.validate();
            // What parses prints, and what prints parses back the same.
            let again = Config::from_toml(&config.to_toml());
            prop_assert!(again.is_ok(), "{:?}", again.err());
        }
    }
}
