use super::*;

/// Datagrams captured from the kernel (capture-taskstats.py): the family
/// lookup's answer, then the exit records of `sh -c "exit 3"` and of a
/// two-thread python (a thread's record, then the main thread's with the
/// group's totals).
const CAPTURE: &[u8] = include_bytes!("../../../../tests/fixtures/observe/taskstats.bin");
const CAPTURE_PIDS: &str = include_str!("../../../../tests/fixtures/observe/taskstats.json");

fn datagrams(mut b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        out.push(&b[4..4 + len]);
        b = &b[4 + len..];
    }
    out
}

fn captured(key: &str) -> u32 {
    let v: serde_json::Value = serde_json::from_str(CAPTURE_PIDS).unwrap();
    v[key].as_u64().unwrap() as u32
}

#[test]
fn captured_family_answer_and_exit_records() {
    let family = captured("family_id") as u16;
    let d = datagrams(CAPTURE);
    let mut got = Received::default();
    parse_datagram(d[0], 0, &mut got).unwrap();
    assert_eq!(got.family_id, Some(family));
    let mut got = Received::default();
    for datagram in &d[1..] {
        parse_datagram(datagram, family, &mut got).unwrap();
    }
    let (sh, py) = (captured("exit_3_pid"), captured("threaded_pid"));
    let [exit3, thread, main] = got.records.as_slice() else { panic!("{:#?}", got.records) };
    assert_eq!((exit3.pid, exit3.tgid(), exit3.stats.comm.as_deref()), (sh, sh, Some("sh")));
    assert_eq!(super::super::connector::decode_exit(exit3.stats.exit_code.unwrap()), (Some(3), None));
    assert!(exit3.stats.hiwater_rss_kib.unwrap() > 0);
    assert!(exit3.group.is_none());
    assert_ne!(thread.pid, py);
    assert_eq!(thread.tgid(), py, "a thread's record names its process");
    assert_eq!((main.pid, main.tgid()), (py, py));
    let (group_id, totals) = main.group.as_ref().expect("the last thread carries the group's totals");
    assert_eq!(*group_id, py);
    assert!(totals.user_us.unwrap() + totals.system_us.unwrap() > 0, "{totals:?}");
    assert!(main.stats.version >= 12);
}

#[test]
fn short_and_odd_input_is_an_error_not_a_panic() {
    assert!(parse_stats(&[1]).is_err());
    // Version 1: no comm, no memory, no tgid.
    let mut v1 = vec![0u8; 80];
    v1[..2].copy_from_slice(&1u16.to_ne_bytes());
    let s = parse_stats(&v1).unwrap();
    assert_eq!((s.version, s.comm, s.hiwater_rss_kib, s.tgid), (1, None, None, None));
    let d = datagrams(CAPTURE)[1].to_vec();
    for cut in 0..d.len() {
        let mut got = Received::default();
        let _ = parse_datagram(&d[..cut], 31, &mut got);
    }
    // A message that claims more than it has.
    let mut long = d.clone();
    long[0..4].copy_from_slice(&10_000u32.to_ne_bytes());
    assert!(parse_datagram(&long, 31, &mut Received::default()).is_err());
    // An AGGR_PID whose nested attributes are cut short, or absent.
    let m = request(31, 0, TASKSTATS_CMD_NEW, 1, TASKSTATS_TYPE_AGGR_PID, "");
    assert!(parse_datagram(&m, 31, &mut Received::default()).is_err());
    let mut m = vec![0u8; 16];
    m.extend_from_slice(&[TASKSTATS_CMD_NEW, 1, 0, 0]);
    let mut nested = Vec::new();
    push_attribute(&mut nested, TASKSTATS_TYPE_PID, &42u32.to_ne_bytes());
    push_attribute(&mut m, TASKSTATS_TYPE_AGGR_PID, &nested);
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&31u16.to_ne_bytes());
    let e = parse_datagram(&m, 31, &mut Received::default()).unwrap_err();
    assert!(e.0.contains("without its id or stats"), "{e}");
}

#[test]
fn requests_are_well_formed() {
    let m = request(GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1, CTRL_ATTR_FAMILY_NAME, "TASKSTATS");
    assert_eq!(m.len(), 16 + 4 + 4 + 12, "9 bytes + NUL, padded to 12");
    assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
    assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), GENL_ID_CTRL);
    assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), NLM_F_REQUEST);
    assert_eq!(&m[24..34], b"TASKSTATS\0");
    assert!(possible_cpus().starts_with('0'));
}

#[test]
fn live_exit_record_of_a_child() {
    let e = Taskstats::open("GOMON_NOFAMILY").err().expect("no such family");
    assert!(e.to_string().contains("no GOMON_NOFAMILY generic netlink family"), "{e}");
    let mut t = match Taskstats::open(FAMILY) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("skipped: taskstats unavailable: {e}");
            return;
        }
    };
    let mut child = std::process::Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().unwrap();
    let pid = child.id();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut records = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no exit record for {pid}");
        wait_readable(t.fd(), Duration::from_millis(100)).unwrap();
        t.drain(&mut records).unwrap();
        if let Some(r) = records.iter().find(|r| r.pid == pid) {
            assert_eq!(r.stats.comm.as_deref(), Some("sh"));
            assert_eq!(super::super::connector::decode_exit(r.stats.exit_code.unwrap()), (Some(7), None));
            break;
        }
    }
}
