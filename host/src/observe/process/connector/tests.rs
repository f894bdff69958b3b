use super::*;

/// Datagrams captured from the kernel (capture-proc-connector.py): the
/// subscription's answer, then a `sh -c "exit 3"` and a `sleep` killed by
/// SIGKILL, both children of the capturing process.
const CAPTURE: &[u8] = include_bytes!("../../../../tests/fixtures/observe/proc-connector.bin");
const CAPTURE_PIDS: &str = include_str!("../../../../tests/fixtures/observe/proc-connector.json");

fn datagrams(mut b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        out.push(&b[4..4 + len]);
        b = &b[4 + len..];
    }
    out
}

fn pid(key: &str) -> u32 {
    let v: serde_json::Value = serde_json::from_str(CAPTURE_PIDS).unwrap();
    v[key].as_u64().unwrap() as u32
}

#[test]
fn captured_fork_exec_exit() {
    let (parent, exited, killed) = (pid("parent_pid"), pid("exit_3_pid"), pid("killed_pid"));
    let mut events = Vec::new();
    for d in datagrams(CAPTURE) {
        parse_datagram(d, &mut events).unwrap();
    }
    assert_eq!(events.len(), 7, "{events:?}");
    assert_eq!(events[0].event, ProcEvent::Ack { err: 0 });
    let kinds: Vec<ProcEvent> = events.iter().map(|e| e.event).collect();
    for child in [exited, killed] {
        assert!(
            kinds.contains(&ProcEvent::Fork {
                parent_pid: parent,
                parent_tgid: parent,
                child_pid: child,
                child_tgid: child
            }),
            "{kinds:?}"
        );
        assert!(kinds.contains(&ProcEvent::Exec { pid: child, tgid: child }), "{kinds:?}");
    }
    let exit_of = |child: u32| {
        kinds
            .iter()
            .find_map(|k| match *k {
                ProcEvent::Exit { pid, tgid, exit_code, exit_signal, parent_tgid } if pid == child => {
                    assert_eq!(tgid, child);
                    assert_eq!(exit_signal, libc::SIGCHLD as u32);
                    assert_eq!(parent_tgid, Some(parent));
                    Some(decode_exit(exit_code))
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(exit_of(exited), (Some(3), None));
    assert_eq!(exit_of(killed), (None, Some(libc::SIGKILL as u32)));
    // Timestamps are monotonic nanoseconds, in order.
    let stamps: Vec<u64> = events[1..].iter().map(|e| e.timestamp_ns).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}

/// A datagram as the kernel lays it out, built field by field.
fn datagram(idx: u32, what: u32, fields: &[u32]) -> Vec<u8> {
    let data_len = 16 + 4 * fields.len();
    let total = 16 + 20 + data_len;
    let mut m = Vec::new();
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&3u16.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(&idx.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&(data_len as u16).to_ne_bytes());
    m.extend_from_slice(&[0; 2]);
    m.extend_from_slice(&what.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&123_456_789u64.to_ne_bytes());
    for f in fields {
        m.extend_from_slice(&f.to_ne_bytes());
    }
    m
}

#[test]
fn every_event_kind_maps_its_fields() {
    let mut out = Vec::new();
    let mut two = datagram(1, 0x4, &[10, 11, 1000, 0]);
    two.extend(datagram(1, 0x40, &[12, 13, 100, 0]));
    parse_datagram(&two, &mut out).unwrap();
    parse_datagram(&datagram(1, 0x1, &[1, 2, 3, 4]), &mut out).unwrap();
    parse_datagram(&datagram(1, 0x8000_0000, &[5, 6, 256, 17]), &mut out).unwrap();
    parse_datagram(&datagram(1, 0x200, &[5, 6, 0, 0, 0, 0]), &mut out).unwrap();
    let kinds: Vec<ProcEvent> = out.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            ProcEvent::Uid { pid: 10, tgid: 11, ruid: 1000, euid: 0 },
            ProcEvent::Gid { pid: 12, tgid: 13, rgid: 100, egid: 0 },
            ProcEvent::Fork { parent_pid: 1, parent_tgid: 2, child_pid: 3, child_tgid: 4 },
            // A kernel before 4.17: no parent in the exit event.
            ProcEvent::Exit { pid: 5, tgid: 6, exit_code: 256, exit_signal: 17, parent_tgid: None },
            ProcEvent::Other { what: 0x200 },
        ]
    );
    assert!(out.iter().all(|e| e.timestamp_ns == 123_456_789));
}

#[test]
fn other_connectors_are_skipped_and_short_messages_are_errors() {
    let mut out = Vec::new();
    parse_datagram(&datagram(7, 0x1, &[1, 2, 3, 4]), &mut out).unwrap();
    assert!(out.is_empty());
    let whole = datagram(1, 0x1, &[1, 2, 3, 4]);
    // nlmsg_len past the datagram.
    assert!(parse_datagram(&whole[..whole.len() - 1], &mut out).is_err());
    // cn_msg.len past the message.
    let mut lying = whole.clone();
    lying[32..34].copy_from_slice(&200u16.to_ne_bytes());
    assert!(parse_datagram(&lying, &mut out).unwrap_err().0.contains("cn_msg.len 200"));
    // A FORK event with only two of its four fields.
    let short = datagram(1, 0x1, &[1, 2]);
    assert!(parse_datagram(&short, &mut out).unwrap_err().0.contains("FORK"));
    assert!(out.is_empty());
    // Fewer than 16 bytes: nothing to read, no error.
    parse_datagram(&[0; 8], &mut out).unwrap();
}

#[test]
fn exit_status_or_signal() {
    assert_eq!(decode_exit(0), (Some(0), None));
    assert_eq!(decode_exit(3 << 8), (Some(3), None));
    assert_eq!(decode_exit(255 << 8), (Some(255), None));
    assert_eq!(decode_exit(9), (None, Some(9)));
    // Killed by SIGSEGV with a core dump (0x80).
    assert_eq!(decode_exit(0x80 | 11), (None, Some(11)));
}

#[test]
fn the_listen_request_matches_the_c_layout() {
    // struct.pack('=IHHII', 40, 3, 0, 0, 0) + struct.pack('=IIIIHH', 1, 1, 0, 0, 4, 0)
    // + struct.pack('=I', 1) on a little-endian machine.
    let expected: [u8; 40] = [
        40, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1,
        0, 0, 0,
    ];
    if cfg!(target_endian = "little") {
        assert_eq!(listen_request(), expected);
    }
}
