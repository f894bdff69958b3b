//! Property tests for every parser of untrusted bytes in the samplers: the
//! /proc and /sys file parsers and the netlink sock_diag reply parser.
//!
//! Each parser gets arbitrary bytes and mutations of valid input (captured
//! fixtures, with bytes flipped, inserted, deleted, lines repeated and huge
//! numbers spliced in): it must return, never panic or overflow (`run-tests`
//! also runs this file in a debug build, where an arithmetic overflow
//! panics). Generated valid input, written
//! as the kernel writes it, must parse back to the values it was made from.
//!
//! 256 cases per property by default; a longer run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p gomon-sample --test parsers_never_panic
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gomon_sample::process::{cmdline, io as pid_io, stat as pid_stat, status as pid_status};
use gomon_sample::sockets::fds::{parse_fd_target, parse_fdinfo_access};
use gomon_sample::sockets::netlink::{Dump, Progress, Replies, parse_replies};
use gomon_sample::{diskstats, limits, loadavg, meminfo, mounts, netdev, stat, uptime, vmstat};
use proptest::prelude::*;

/// 256 cases, or `PROPTEST_CASES`; no regression files written into the tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $path)) as &[u8]
    };
}

/// Bytes with the separators the parsers split on over-represented.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        2 => prop::sample::select(b" \t\n:()/-\\.[]@\0".to_vec()),
        3 => b'0'..=b'9',
    ];
    prop::collection::vec(byte, 0..max)
}

/// One edit of a mutation.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    /// A number no counter field holds.
    Huge(usize),
    /// A line said twice.
    Repeat(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<(usize, u8)>().prop_map(|(at, b)| Edit::Flip(at, b)),
        any::<(usize, u8)>().prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Huge),
        any::<usize>().prop_map(Edit::Repeat),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// `seed` with up to 12 edits.
fn mutated(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(edit(), 0..12).prop_map(move |edits| {
        let mut v = seed.to_vec();
        for e in edits {
            let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
            match e {
                Edit::Flip(i, b) if !v.is_empty() => {
                    let i = at(i, v.len());
                    v[i] = b;
                }
                Edit::Insert(i, b) => v.insert(at(i, v.len() + 1), b),
                Edit::Delete(i) if !v.is_empty() => {
                    v.remove(at(i, v.len()));
                }
                Edit::Huge(i) => {
                    let i = at(i, v.len() + 1);
                    v.splice(i..i, b"184467440737095516159".iter().copied());
                }
                Edit::Repeat(i) => {
                    let lines: Vec<&[u8]> = v.split_inclusive(|&b| b == b'\n').collect();
                    if let Some(line) = lines.get(at(i, lines.len())) {
                        let line = line.to_vec();
                        v.extend_from_slice(&line);
                    }
                }
                Edit::Truncate(i) => v.truncate(at(i, v.len() + 1)),
                _ => {}
            }
        }
        v
    })
}

/// Every text parser of a system file, on `text`; only that it returns.
fn every_text_parser(text: &str) {
    let _ = stat::parse_stat_lines(text, 100.0);
    let _ = stat::parse_stat(text, 100.0);
    let _ = meminfo::parse_meminfo(text);
    let _ = vmstat::parse_vmstat(text);
    let _ = loadavg::parse_loadavg(text);
    let _ = uptime::parse_uptime(text);
    let _ = diskstats::parse_diskstats(text);
    let _ = netdev::parse_net_dev(text);
    let _ = netdev::parse_statistic(text);
    let _ = (netdev::parse_operstate(text), netdev::parse_mtu(text), netdev::parse_address(text));
    let _ = netdev::parse_speed(text);
    let _ = mounts::parse_mountinfo(text);
    let _ = mounts::decode_octal_escapes(text);
    let _ = limits::parse_single_u64(text);
    let _ = limits::parse_file_nr(text);
}

/// Every byte parser of a process file and of a descriptor, on `bytes`.
fn every_byte_parser(bytes: &[u8]) {
    let _ = pid_stat::parse_pid_stat(bytes);
    let _ = pid_status::parse_pid_status(bytes);
    let _ = pid_io::parse_pid_io(bytes);
    let _ = cmdline::split_cmdline(bytes);
    let _ = parse_fd_target(bytes);
    let _ = parse_fdinfo_access(bytes);
}

/// The reply parser for every dump, with and without a sequence number.
fn every_dump(bytes: &[u8]) {
    for dump in Dump::ALL {
        for seq in [None, Some(1)] {
            let mut out = Replies::default();
            let _ = parse_replies(bytes, dump, seq, &mut out);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_parsers_take_arbitrary_bytes(b in bytes(2048)) {
        every_text_parser(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn byte_parsers_take_arbitrary_bytes(b in bytes(2048)) {
        every_byte_parser(&b);
    }

    #[test]
    fn netlink_parser_takes_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..512)) {
        every_dump(&b);
    }

    #[test]
    fn system_files_mutated(
        stat in mutated(fixture!("proc/stat")),
        meminfo in mutated(fixture!("proc/meminfo")),
        vmstat in mutated(fixture!("proc/vmstat")),
        loadavg in mutated(fixture!("proc/loadavg")),
        uptime in mutated(fixture!("proc/uptime")),
        diskstats in mutated(fixture!("proc/diskstats")),
        net_dev in mutated(fixture!("proc/net/dev")),
        mountinfo in mutated(fixture!("edge/mountinfo-desktop")),
        file_nr in mutated(fixture!("proc/sys/fs/file-nr")),
    ) {
        for b in [stat, meminfo, vmstat, loadavg, uptime, diskstats, net_dev, mountinfo, file_nr] {
            every_text_parser(&String::from_utf8_lossy(&b));
        }
    }

    #[test]
    fn process_files_mutated(
        stat in mutated(fixture!("edge/pid-stat-tricky-comm")),
        status in mutated(fixture!("proc/4242/status")),
        io in mutated(fixture!("proc/4242/io")),
        cmdline in mutated(fixture!("proc/4242/cmdline")),
    ) {
        for b in [stat, status, io, cmdline] {
            every_byte_parser(&b);
        }
    }

    #[test]
    fn netlink_replies_mutated(
        tcp4 in mutated(fixture!("netlink/tcp4.bin")),
        tcp6 in mutated(fixture!("netlink/tcp6.bin")),
        udp4 in mutated(fixture!("netlink/udp4.bin")),
        unix in mutated(fixture!("netlink/unix.bin")),
    ) {
        for b in [tcp4, tcp6, udp4, unix] {
            every_dump(&b);
        }
    }
}

// ------------------------------------------------------------ round trips

/// A count a kB or KiB field can hold without overflowing as bytes.
fn kib() -> impl Strategy<Value = u64> {
    0..=u64::MAX / 1024
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn meminfo_round_trips(v in prop::array::uniform12(kib()), drop_available in any::<bool>()) {
        const KEYS: [&str; 12] = [
            "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Shmem", "SReclaimable",
            "Dirty", "Writeback", "SwapTotal", "SwapFree", "SwapCached",
        ];
        let text: String = KEYS
            .iter()
            .zip(v)
            .filter(|(k, _)| !(drop_available && **k == "MemAvailable"))
            .map(|(k, n)| format!("{:<16}{n:>8} kB\nHugePages_Total:       0\n", format!("{k}:")))
            .collect();
        let m = meminfo::parse_meminfo(&text).unwrap();
        let b = v.map(|n| n * 1024);
        prop_assert_eq!(
            [m.total_bytes, m.free_bytes, m.buffers_bytes, m.cached_bytes, m.shared_bytes, m.slab_reclaimable_bytes],
            [b[0], b[1], b[3], b[4], b[5], b[6]]
        );
        prop_assert_eq!(
            [m.dirty_bytes, m.writeback_bytes, m.swap_total_bytes, m.swap_free_bytes, m.swap_cached_bytes],
            [b[7], b[8], b[9], b[10], b[11]]
        );
        let available = if drop_available { b[1].saturating_add(b[3]).saturating_add(b[4]) } else { b[2] };
        prop_assert_eq!(m.available_bytes, available);
    }

    #[test]
    fn meminfo_values_that_overflow_are_errors(n in u64::MAX / 1024 + 1..=u64::MAX) {
        let text = format!("MemTotal: {n} kB\nMemFree: 1 kB\n");
        prop_assert!(meminfo::parse_meminfo(&text).is_err());
    }

    #[test]
    fn stat_round_trips(
        total in prop::array::uniform10(0..1u64 << 53),
        cpus in prop::collection::vec((0..4096u32, prop::array::uniform10(0..1u64 << 53)), 0..8),
        counters in prop::array::uniform4(any::<u64>()),
        procs in prop::array::uniform2(any::<u32>()),
        btime in 0..1u64 << 53,
    ) {
        let line = |name: String, t: &[u64; 10]| {
            format!("{name} {}\n", t.iter().map(u64::to_string).collect::<Vec<_>>().join(" "))
        };
        let mut text = line("cpu ".into(), &total);
        for (id, t) in &cpus {
            text += &line(format!("cpu{id}"), t);
        }
        let [intr, ctxt, forks, _] = counters;
        text += &format!("intr {intr} 1 2 3\nctxt {ctxt}\nbtime {btime}\nprocesses {forks}\n");
        text += &format!("procs_running {}\nprocs_blocked {}\nsoftirq 1 2 3\n", procs[0], procs[1]);
        let s = stat::parse_stat_lines(&text, 100.0).unwrap();
        prop_assert!(s.skipped.is_empty());
        let seconds = |t: &[u64; 10]| t.map(|v| v as f64 / 100.0);
        let got = |t: &gomon_sample::CpuTimes| [
            t.user_seconds, t.nice_seconds, t.system_seconds, t.idle_seconds, t.iowait_seconds,
            t.irq_seconds, t.softirq_seconds, t.steal_seconds, t.guest_seconds, t.guest_nice_seconds,
        ];
        prop_assert_eq!(got(s.cpu_total.as_ref().unwrap()), seconds(&total));
        prop_assert_eq!(s.cpus.len(), cpus.len());
        for (cpu, (id, t)) in s.cpus.iter().zip(&cpus) {
            prop_assert_eq!(cpu.id, *id);
            prop_assert_eq!(got(&cpu.times), seconds(t));
        }
        prop_assert_eq!((s.interrupts, s.context_switches, s.forks), (Some(intr), Some(ctxt), Some(forks)));
        prop_assert_eq!(s.boot_time_seconds, Some(btime as f64));
        prop_assert_eq!((s.procs_running, s.procs_blocked), (Some(procs[0]), Some(procs[1])));
    }

    #[test]
    fn loadavg_and_uptime_round_trip(
        hundredths in prop::array::uniform3(0..100_000_000u64),
        runnable in any::<u32>(),
        entities in any::<u32>(),
        up in 0..1u64 << 40,
    ) {
        let [a, b, c] = hundredths.map(|h| format!("{}.{:02}", h / 100, h % 100));
        let l = loadavg::parse_loadavg(&format!("{a} {b} {c} {runnable}/{entities} 12345\n")).unwrap();
        prop_assert_eq!(
            (l.one_minute, l.five_minutes, l.fifteen_minutes),
            (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap(), c.parse::<f64>().unwrap())
        );
        prop_assert_eq!((l.runnable, l.entities), (runnable, entities));
        let text = format!("{}.{:02} 1.00\n", up / 100, up % 100);
        prop_assert_eq!(uptime::parse_uptime(&text), Ok(text.split(' ').next().unwrap().parse::<f64>().unwrap()));
    }

    #[test]
    fn vmstat_round_trips(v in prop::array::uniform7(kib())) {
        let keys = ["pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault", "oom_kill"];
        let text: String = keys.iter().zip(v).map(|(k, n)| format!("nr_free_pages 7\n{k} {n}\n")).collect();
        let vm = vmstat::parse_vmstat(&text).unwrap();
        prop_assert_eq!(
            [vm.paged_in_bytes, vm.paged_out_bytes, vm.pages_swapped_in, vm.pages_swapped_out],
            [v[0] * 1024, v[1] * 1024, v[2], v[3]]
        );
        prop_assert_eq!([vm.page_faults, vm.major_page_faults, vm.oom_kills], [v[4], v[5], v[6]]);
    }

    #[test]
    fn diskstats_round_trips(
        major in any::<u32>(),
        minor in any::<u32>(),
        name in "[a-z][a-z0-9]{0,12}",
        v in prop::array::uniform17(0..u64::MAX / 512),
    ) {
        let columns: Vec<String> = v.iter().map(u64::to_string).collect();
        let text = format!("{major:>4} {minor:>7} {name} {}\n", columns.join(" "));
        let parsed = diskstats::parse_diskstats(&text);
        prop_assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let d = &parsed.items[0];
        prop_assert_eq!((d.major, d.minor, d.name.as_str()), (major, minor, name.as_str()));
        prop_assert_eq!(
            [d.reads_completed, d.reads_merged, d.read_bytes, d.writes_completed, d.writes_merged, d.written_bytes],
            [v[0], v[1], v[2] * 512, v[4], v[5], v[6] * 512]
        );
        prop_assert_eq!([d.ios_in_progress, d.discards_completed, d.discards_merged, d.discarded_bytes], [v[8], v[11], v[12], v[13] * 512]);
        prop_assert_eq!(d.flushes_completed, v[15]);
        prop_assert_eq!(
            [d.read_seconds, d.write_seconds, d.io_seconds, d.weighted_io_seconds, d.discard_seconds, d.flush_seconds],
            [v[3], v[7], v[9], v[10], v[14], v[16]].map(|ms| ms as f64 / 1000.0)
        );
    }

    #[test]
    fn net_dev_round_trips(names in prop::collection::vec("[a-z][a-z0-9.-]{0,13}", 1..6), v in prop::array::uniform16(any::<u64>())) {
        let mut text = String::from(
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
        );
        for name in &names {
            let counters: Vec<String> = v.iter().map(u64::to_string).collect();
            text += &format!("{name:>6}:{}\n", counters.join(" "));
        }
        let parsed = netdev::parse_net_dev(&text).unwrap();
        prop_assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        prop_assert_eq!(parsed.items.len(), names.len());
        for (nic, name) in parsed.items.iter().zip(&names) {
            prop_assert_eq!(&nic.name, name);
            let got = [
                nic.receive_bytes, nic.receive_packets, nic.receive_errors, nic.receive_dropped,
                nic.receive_fifo_errors, nic.receive_frame_errors, nic.receive_compressed, nic.receive_multicast,
                nic.transmit_bytes, nic.transmit_packets, nic.transmit_errors, nic.transmit_dropped,
                nic.transmit_fifo_errors, nic.transmit_collisions, nic.transmit_carrier_errors, nic.transmit_compressed,
            ];
            prop_assert_eq!(got, v);
        }
    }

    #[test]
    fn sysfs_statistics_round_trip(v in prop::array::uniform23(0..u64::MAX / 4)) {
        for value in v {
            prop_assert_eq!(netdev::parse_statistic(&format!("{value}\n")), Ok(value));
        }
        let nic = netdev::from_statistics("eth0", &v).unwrap();
        prop_assert_eq!(nic.receive_dropped, v[3] + v[4]);
        prop_assert_eq!(nic.receive_frame_errors, v[6] + v[7] + v[8] + v[9]);
        prop_assert_eq!(nic.transmit_carrier_errors, v[18] + v[19] + v[20] + v[21]);
    }

    #[test]
    fn mountinfo_round_trips(
        point in prop::collection::vec(prop_oneof![Just(' '), Just('\t'), Just('\n'), Just('\\'), Just('é'), prop::char::range('a', 'z')], 1..24),
        fs_type in "[a-z0-9.]{1,12}",
        ro in any::<bool>(),
    ) {
        let point: String = std::iter::once('/').chain(point).collect();
        // The kernel escapes space, tab, newline and backslash in octal.
        let escaped: String = point
            .chars()
            .map(|c| match c {
                ' ' => "\\040".to_owned(),
                '\t' => "\\011".to_owned(),
                '\n' => "\\012".to_owned(),
                '\\' => "\\134".to_owned(),
                c => c.to_string(),
            })
            .collect();
        let options = if ro { "ro,relatime" } else { "rw,relatime" };
        let text = format!("36 35 98:0 / {escaped} {options} shared:1 - {fs_type} /dev/x rw\n");
        let parsed = mounts::parse_mountinfo(&text);
        prop_assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let m = &parsed.items[0];
        prop_assert_eq!(&m.mount_point, &point);
        prop_assert_eq!((&m.fs_type, m.read_only, m.major, m.minor), (&fs_type, ro, 98, 0));
    }

    #[test]
    fn file_nr_and_single_values_round_trip(allocated in any::<u64>(), max in any::<u64>()) {
        let nr = limits::parse_file_nr(&format!("{allocated}\t0\t{max}\n")).unwrap();
        prop_assert_eq!((nr.allocated, nr.maximum), (allocated, Some(max)));
        prop_assert_eq!(limits::parse_single_u64(&format!("{max}\n")), Ok(max));
    }

    #[test]
    fn pid_stat_round_trips(
        pid in any::<u32>(),
        comm in prop::collection::vec(any::<u8>(), 0..32),
        state in prop::sample::select(b"RSDTtZXxIPWK".to_vec()),
        ids in prop::array::uniform4(any::<u32>()),
        counts in prop::array::uniform8(any::<u64>()),
        signed in prop::array::uniform2(any::<i32>()),
    ) {
        let [ppid, pgrp, session, threads] = ids;
        let [flags, minflt, majflt, utime, stime, start, vsize, rss] = counts;
        let [priority, nice] = signed;
        let mut line = format!("{pid} (").into_bytes();
        line.extend_from_slice(&comm);
        line.extend_from_slice(
            format!(
                ") {} {ppid} {pgrp} {session} 0 -1 {flags} {minflt} 0 {majflt} 0 {utime} {stime} 0 0 {priority} {nice} \
                 {threads} 0 {start} {vsize} {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
                state as char
            )
            .as_bytes(),
        );
        let s = pid_stat::parse_pid_stat(&line).unwrap();
        prop_assert_eq!((s.pid, s.comm, s.state, s.ppid), (pid, &comm[..], pid_stat::parse_state(state), ppid));
        prop_assert_eq!((s.process_group, s.session, s.threads), (pgrp, session, threads));
        prop_assert_eq!([s.flags, s.minor_faults, s.major_faults, s.user_ticks, s.system_ticks], [flags, minflt, majflt, utime, stime]);
        prop_assert_eq!([s.start_ticks, s.virtual_bytes, s.resident_pages], [start, vsize, rss]);
        prop_assert_eq!((s.priority, s.nice), (priority, nice));
    }

    #[test]
    fn pid_status_round_trips(ids in prop::array::uniform8(any::<u32>()), kb in prop::array::uniform3(0..u64::MAX / 2048), switches in prop::array::uniform2(any::<u64>())) {
        let text = format!(
            "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nVmHWM:\t{:>8} kB\n\
             RssAnon:\t    1 kB\nRssFile:\t{:>8} kB\nRssShmem:\t{:>8} kB\nvoluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
            ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], kb[0], kb[1], kb[2], switches[0], switches[1]
        );
        let s = pid_status::parse_pid_status(text.as_bytes()).unwrap();
        prop_assert_eq!((s.uid, s.gid), (ids[1], ids[5]));
        prop_assert_eq!((s.peak_resident_bytes, s.shared_bytes), (kb[0] * 1024, (kb[1] + kb[2]) * 1024));
        prop_assert_eq!((s.voluntary_context_switches, s.involuntary_context_switches), (switches[0], switches[1]));
    }

    #[test]
    fn pid_io_and_cmdline_round_trip(v in prop::array::uniform6(any::<u64>()), args in prop::collection::vec("[^\0]{0,12}", 1..6)) {
        let text = format!(
            "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: {}\nwrite_bytes: {}\ncancelled_write_bytes: 0\n",
            v[0], v[1], v[2], v[3], v[4], v[5]
        );
        let io = pid_io::parse_pid_io(text.as_bytes()).unwrap();
        prop_assert_eq!(
            [io.read_chars, io.written_chars, io.read_syscalls, io.write_syscalls, io.read_bytes, io.written_bytes],
            v
        );
        let mut line = Vec::new();
        for a in &args {
            line.extend_from_slice(a.as_bytes());
            line.push(0);
        }
        let mut expected = args.clone();
        while expected.last().is_some_and(String::is_empty) {
            expected.pop(); // trailing empty arguments look like setproctitle padding
        }
        prop_assert_eq!(cmdline::split_cmdline(&line), expected);
    }
}

// ----------------------------------------------------------- sock_diag

/// A netlink message: header (type 20, SOCK_DIAG_BY_FAMILY, or `kind`),
/// payload, padded to 4 bytes.
fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = 16 + payload.len();
    let mut m = Vec::new();
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize((len + 3) & !3, 0);
    m
}

/// struct inet_diag_msg (72 bytes), written by hand from linux/inet_diag.h.
#[allow(clippy::too_many_arguments)]
fn inet_diag_msg(
    v6: bool,
    state: u8,
    sport: u16,
    dport: u16,
    src: [u8; 16],
    dst: [u8; 16],
    uid: u32,
    inode: u32,
) -> Vec<u8> {
    let mut p = vec![if v6 { 10 } else { 2 }, state, 0, 0];
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&0u32.to_ne_bytes()); // idiag_if
    p.extend_from_slice(&[0; 8]); // cookie
    for v in [0u32, 0, 0, uid, inode] {
        // expires, rqueue, wqueue, uid, inode
        p.extend_from_slice(&v.to_ne_bytes());
    }
    p
}

fn address(v6: bool, bytes: [u8; 16]) -> IpAddr {
    if v6 {
        let v6 = Ipv6Addr::from(bytes);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn inet_replies_round_trip(
        sockets in prop::collection::vec(
            (any::<bool>(), 1..13u8, any::<u16>(), any::<u16>(), any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u32>(), any::<u32>()),
            0..20,
        ),
        seq in any::<u32>(),
    ) {
        let mut bytes = Vec::new();
        for &(v6, state, sport, dport, src, dst, uid, inode) in &sockets {
            bytes.extend(message(20, seq, &inet_diag_msg(v6, state, sport, dport, src, dst, uid, inode)));
        }
        bytes.extend(message(3, seq, &0i32.to_ne_bytes())); // NLMSG_DONE
        let mut out = Replies::default();
        prop_assert_eq!(parse_replies(&bytes, Dump::Tcp6, Some(seq), &mut out).unwrap(), Progress::Done);
        prop_assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        prop_assert_eq!(out.inet.len(), sockets.len());
        for (got, &(v6, state, sport, dport, src, dst, uid, inode)) in out.inet.iter().zip(&sockets) {
            prop_assert_eq!((got.state, got.uid, got.inode), (state, uid, inode));
            prop_assert_eq!(got.local, std::net::SocketAddr::new(address(v6, src), sport));
            prop_assert_eq!(got.remote, std::net::SocketAddr::new(address(v6, dst), dport));
        }
    }

    #[test]
    fn unix_replies_round_trip(
        sockets in prop::collection::vec(
            (prop::sample::select(vec![1u8, 2, 5]), any::<u8>(), any::<u32>(), any::<u32>(), "[a-z/]{1,40}"),
            0..20,
        ),
    ) {
        let mut bytes = Vec::new();
        for (kind, state, inode, peer, path) in &sockets {
            // struct unix_diag_msg: family, type, state, pad, ino, cookie.
            let mut p = vec![1u8, *kind, *state, 0];
            p.extend_from_slice(&inode.to_ne_bytes());
            p.extend_from_slice(&[0; 8]);
            // UNIX_DIAG_NAME (0): the path; UNIX_DIAG_PEER (2): the peer's inode.
            let mut attribute = |kind: u16, value: &[u8]| {
                p.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
                p.extend_from_slice(&kind.to_ne_bytes());
                p.extend_from_slice(value);
                p.resize((p.len() + 3) & !3, 0);
            };
            // The kernel's pathname includes its terminating NUL.
            attribute(0, format!("{path}\0").as_bytes());
            attribute(2, &peer.to_ne_bytes());
            bytes.extend(message(20, 7, &p));
        }
        bytes.extend(message(3, 7, &0i32.to_ne_bytes()));
        let mut out = Replies::default();
        prop_assert_eq!(parse_replies(&bytes, Dump::Unix, Some(7), &mut out).unwrap(), Progress::Done);
        prop_assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        prop_assert_eq!(out.unix.len(), sockets.len());
        for (got, (_, state, inode, peer, path)) in out.unix.iter().zip(&sockets) {
            prop_assert_eq!((got.state, got.inode, got.peer, &got.name), (*state, *inode, *peer, path));
        }
    }
}
