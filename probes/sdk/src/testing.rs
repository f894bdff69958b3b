//! Fixtures and contract checks for probes' native unit tests (feature
//! `testing`).
//!
//! ```
//! use gomon_probe::{Family, testing};
//!
//! let families = vec![Family::gauge("gomon_cpus", "Logical CPUs.").value(2.0)];
//! testing::check(&families).unwrap();
//! assert_eq!(testing::sample(&families, "gomon_cpus", &[]), 2.0);
//! ```

use std::collections::HashSet;

use crate::{
    Connection, ConnectionKind, Cpu, CpuTimes, Disk, Filesystem, FilesystemUsage, Graph, Limits,
    Load, Memory, MetricFamily, MetricKind, NetworkInterface, NodeKind, Process, ProcessState,
    Snapshot, System, VmEvents,
};

/// Checks families against the contract's rules: valid and unique names,
/// non-empty help, counters without `_total`, a `unit` that is the name's
/// suffix, one label value per label name and no duplicate label sets.
pub fn check(families: &[MetricFamily]) -> Result<(), String> {
    let mut names = HashSet::new();
    for f in families {
        let name = &f.name;
        if !valid_name(name) {
            return Err(format!("{name}: invalid metric name"));
        }
        if !names.insert(name) {
            return Err(format!("{name}: family appears twice"));
        }
        if f.help.is_empty() {
            return Err(format!("{name}: no help text"));
        }
        if f.kind == MetricKind::Counter && name.ends_with("_total") {
            return Err(format!("{name}: counters are named without `_total`"));
        }
        if !f.unit.is_empty() && !name.ends_with(&format!("_{}", f.unit)) {
            return Err(format!("{name}: does not end in its unit `{}`", f.unit));
        }
        let mut label_sets = HashSet::new();
        for s in &f.series {
            if s.labels.len() != f.label_names.len() {
                return Err(format!("{name}: labels {:?} for names {:?}", s.labels, f.label_names));
            }
            if !label_sets.insert(&s.labels) {
                return Err(format!("{name}: series {:?} appears twice", s.labels));
            }
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The family called `name`; panics (failing the test) when there is none.
pub fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no family {name}"))
}

/// The value of the series of `name` with these label values; panics when
/// there is none.
pub fn sample(families: &[MetricFamily], name: &str, labels: &[&str]) -> f64 {
    family(families, name)
        .series
        .iter()
        .find(|s| s.labels == labels)
        .unwrap_or_else(|| panic!("no series {name}{labels:?}"))
        .value
}

/// The names of all families, in order.
pub fn names(families: &[MetricFamily]) -> Vec<&str> {
    families.iter().map(|f| f.name.as_str()).collect()
}

/// CPU times whose fields count up from `base`: user = base + 1, nice =
/// base + 2, … guest-nice = base + 10.
pub fn cpu_times(base: f64) -> CpuTimes {
    CpuTimes {
        user_seconds: base + 1.0,
        nice_seconds: base + 2.0,
        system_seconds: base + 3.0,
        idle_seconds: base + 4.0,
        iowait_seconds: base + 5.0,
        irq_seconds: base + 6.0,
        softirq_seconds: base + 7.0,
        steal_seconds: base + 8.0,
        guest_seconds: base + 9.0,
        guest_nice_seconds: base + 10.0,
    }
}

/// A two-CPU machine with distinct, recognisable values everywhere.
pub fn system() -> System {
    System {
        hostname: Some("testhost".into()),
        kernel_release: Some("6.1.0-test".into()),
        boot_time_seconds: Some(1_700_000_000.0),
        uptime_seconds: Some(3600.5),
        cpu_total: Some(cpu_times(100.0)),
        cpus: vec![Cpu { id: 0, times: cpu_times(10.0) }, Cpu { id: 1, times: cpu_times(20.0) }],
        memory: Some(Memory {
            total_bytes: 8_000,
            free_bytes: 1_000,
            available_bytes: 5_000,
            buffers_bytes: 100,
            cached_bytes: 2_000,
            shared_bytes: 50,
            slab_reclaimable_bytes: 300,
            dirty_bytes: 7,
            writeback_bytes: 3,
            swap_total_bytes: 4_000,
            swap_free_bytes: 3_500,
            swap_cached_bytes: 20,
        }),
        load: Some(Load {
            one_minute: 0.5,
            five_minutes: 0.25,
            fifteen_minutes: 0.125,
            runnable: 2,
            entities: 400,
        }),
        context_switches: Some(123_456),
        forks: Some(789),
        interrupts: Some(654_321),
        procs_running: Some(3),
        procs_blocked: Some(1),
        vm: Some(VmEvents {
            page_faults: 1_000,
            major_page_faults: 10,
            pages_swapped_in: 4,
            pages_swapped_out: 5,
            paged_in_bytes: 4_096,
            paged_out_bytes: 8_192,
            oom_kills: 1,
        }),
        limits: Limits {
            file_max: Some(9_223_372_036_854_775_807),
            files_allocated: Some(2_048),
            pid_max: Some(4_194_304),
            threads_max: Some(63_000),
            open_files_soft: Some(1_024),
            open_files_hard: Some(524_288),
            processes_soft: Some(31_000),
            processes_hard: None,
            address_space_soft_bytes: None,
            address_space_hard_bytes: None,
        },
    }
}

/// Two mounts: `/` (ext4, healthy) and `/mnt/nfs` (read-only, statfs failed).
pub fn filesystems() -> Vec<Filesystem> {
    vec![
        Filesystem {
            device: "/dev/sda1".into(),
            mount_point: "/".into(),
            fs_type: "ext4".into(),
            read_only: false,
            usage: Ok(FilesystemUsage {
                size_bytes: 10_000,
                free_bytes: 4_000,
                available_bytes: 3_500,
                files: 640,
                files_free: 600,
            }),
        },
        Filesystem {
            device: "server:/export".into(),
            mount_point: "/mnt/nfs".into(),
            fs_type: "nfs4".into(),
            read_only: true,
            usage: Err("statfs timed out".into()),
        },
    ]
}

/// One disk, `sda`, whose counters count up from 1 in field order.
pub fn disks() -> Vec<Disk> {
    vec![Disk {
        name: "sda".into(),
        major: 8,
        minor: 0,
        reads_completed: 1,
        reads_merged: 2,
        read_bytes: 3 * 512,
        read_seconds: 4.0,
        writes_completed: 5,
        writes_merged: 6,
        written_bytes: 7 * 512,
        write_seconds: 8.0,
        ios_in_progress: 9,
        io_seconds: 10.0,
        weighted_io_seconds: 11.0,
        discards_completed: 12,
        discards_merged: 13,
        discarded_bytes: 14 * 512,
        discard_seconds: 15.0,
        flushes_completed: 16,
        flush_seconds: 17.0,
    }]
}

/// Two interfaces: `lo` (operstate unknown, no MAC, no speed) and `eth0` (up,
/// MTU 1500, 1 Gbit/s), whose counters count up from 1 in field order.
pub fn interfaces() -> Vec<NetworkInterface> {
    let counters = |name: &str, base: u64| NetworkInterface {
        name: name.into(),
        receive_bytes: base + 1,
        receive_packets: base + 2,
        receive_errors: base + 3,
        receive_dropped: base + 4,
        receive_fifo_errors: base + 5,
        receive_frame_errors: base + 6,
        receive_compressed: base + 7,
        receive_multicast: base + 8,
        transmit_bytes: base + 9,
        transmit_packets: base + 10,
        transmit_errors: base + 11,
        transmit_dropped: base + 12,
        transmit_fifo_errors: base + 13,
        transmit_collisions: base + 14,
        transmit_carrier_errors: base + 15,
        transmit_compressed: base + 16,
        oper_state: "unknown".into(),
        mtu: None,
        mac_address: None,
        speed_bits_per_second: None,
    };
    let lo = NetworkInterface { mtu: Some(65_536), ..counters("lo", 100) };
    let eth0 = NetworkInterface {
        oper_state: "up".into(),
        mtu: Some(1_500),
        mac_address: Some("52:54:00:12:34:56".into()),
        speed_bits_per_second: Some(1_000_000_000),
        ..counters("eth0", 0)
    };
    vec![lo, eth0]
}

/// A snapshot with every part the built-in probes read (no processes or
/// connections).
pub fn snapshot() -> Snapshot {
    Snapshot {
        taken_at_seconds: 1_700_003_600.5,
        system: Some(system()),
        filesystems: filesystems(),
        disks: disks(),
        interfaces: interfaces(),
        processes: Vec::new(),
        connections: Vec::new(),
    }
}

/// A snapshot with no parts, as a probe granted nothing sees it.
pub fn empty_snapshot() -> Snapshot {
    Snapshot {
        taken_at_seconds: 0.0,
        system: None,
        filesystems: Vec::new(),
        disks: Vec::new(),
        interfaces: Vec::new(),
        processes: Vec::new(),
        connections: Vec::new(),
    }
}

/// A sleeping user process `comm` with pid `pid` and parent `ppid`, and
/// small, recognisable values elsewhere (1 MiB resident per pid, 0.5 s of
/// user CPU per pid, one thread). Change fields with struct update syntax.
///
/// ```
/// let nginx = gomon_probe::testing::process(812, 1, "nginx");
/// assert_eq!((nginx.pid, nginx.ppid, nginx.comm.as_str()), (812, 1, "nginx"));
/// ```
pub fn process(pid: u32, ppid: u32, comm: &str) -> Process {
    Process {
        pid,
        ppid,
        process_group: pid,
        session: pid,
        comm: comm.into(),
        state: ProcessState::Sleeping,
        kernel_thread: false,
        start_time_seconds: 1_700_000_000.0,
        uid: Some(1000),
        gid: Some(1000),
        nice: 0,
        priority: 20,
        threads: 1,
        user_seconds: 0.5 * f64::from(pid),
        system_seconds: 0.25,
        virtual_bytes: 16 << 20,
        resident_bytes: u64::from(pid) << 20,
        shared_bytes: Some(1 << 20),
        peak_resident_bytes: Some(u64::from(pid) << 21),
        minor_faults: 100,
        major_faults: 1,
        voluntary_context_switches: Some(10),
        involuntary_context_switches: Some(2),
        read_bytes: Some(4_096),
        written_bytes: Some(8_192),
        read_chars: Some(40_960),
        written_chars: Some(81_920),
        read_syscalls: Some(40),
        write_syscalls: Some(80),
        open_fds: Some(8),
        details: None,
    }
}

/// An endpoint of `kind` with this inode, held by `pids`: no state, no
/// addresses, no peer. Set the other fields with struct update syntax.
///
/// ```
/// use gomon_probe::{ConnectionKind, testing};
///
/// let pipe = testing::connection(ConnectionKind::Pipe, 9001, &[100, 200]);
/// assert_eq!(pipe.pids, [100, 200]);
/// ```
pub fn connection(kind: ConnectionKind, inode: u64, pids: &[u32]) -> Connection {
    Connection {
        kind,
        state: String::new(),
        inode,
        local_address: String::new(),
        local_port: 0,
        remote_address: String::new(),
        remote_port: 0,
        remote_host_name: None,
        peer_inode: 0,
        pids: pids.to_vec(),
    }
}

/// A snapshot with these processes and connections and no other parts.
pub fn process_snapshot(processes: Vec<Process>, connections: Vec<Connection>) -> Snapshot {
    Snapshot { processes, connections, ..empty_snapshot() }
}

/// Checks a graph against the contract's rules: unique node ids of the
/// right form for their kind (a pid in decimal, `host:<address>`,
/// `data:<kind>:<inode>`), depth 0 for hosts and data, arcs whose
/// fractions sum to 1, unique edge ids of the form `<source>-><target>`,
/// and edges between existing, distinct nodes.
pub fn check_graph(graph: &Graph) -> Result<(), String> {
    let mut ids = HashSet::new();
    for node in &graph.nodes {
        let id = &node.id;
        if !ids.insert(id.as_str()) {
            return Err(format!("node {id} appears twice"));
        }
        let well_formed = match node.kind {
            NodeKind::Process => {
                id.parse::<u32>().is_ok_and(|pid| pid > 0 && pid.to_string() == *id)
            }
            NodeKind::Host => id.strip_prefix("host:").is_some_and(|a| !a.is_empty()),
            NodeKind::Data => id
                .strip_prefix("data:")
                .and_then(|rest| rest.rsplit_once(':'))
                .is_some_and(|(kind, inode)| !kind.is_empty() && inode.parse::<u64>().is_ok()),
        };
        if !well_formed {
            return Err(format!("node {id}: not a valid id for a {:?} node", node.kind));
        }
        if node.kind != NodeKind::Process && node.depth != 0 {
            return Err(format!("node {id}: depth {} for a {:?} node", node.depth, node.kind));
        }
        let sum: f64 = node.arcs.iter().map(|a| a.fraction).sum();
        if node.arcs.is_empty() || (sum - 1.0).abs() > 1e-9 {
            return Err(format!("node {id}: arc fractions sum to {sum}"));
        }
    }
    let mut edge_ids = HashSet::new();
    for edge in &graph.edges {
        let id = &edge.id;
        if *id != format!("{}->{}", edge.source, edge.target) {
            return Err(format!("edge {id}: id is not `<source>-><target>`"));
        }
        if !edge_ids.insert(id.as_str()) {
            return Err(format!("edge {id} appears twice"));
        }
        if edge.source == edge.target {
            return Err(format!("edge {id}: a node connected to itself"));
        }
        for end in [&edge.source, &edge.target] {
            if !ids.contains(end.as_str()) {
                return Err(format!("edge {id}: no node {end}"));
            }
        }
    }
    Ok(())
}
