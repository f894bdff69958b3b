//! Builds the contract's `snapshot` record from what the samplers read.
//!
//! The sampler's model (`sample::model`) mirrors the WIT records field for
//! field, so this is a move, not a computation; it keeps the samplers free
//! of WASM types and the runtime free of OS types.

use crate::runtime::bindings::types as wit;
use crate::sample::model;

/// Moves every plain field of a model record into its WIT twin.
macro_rules! mirror {
    ($src:expr => $ty:path { $($field:ident),* $(,)? } $(, $extra:ident : $value:expr)* ) => {{
        let src = $src;
        $ty { $($field: src.$field,)* $($extra: $value,)* }
    }};
}
pub(crate) use mirror;

/// One cycle's snapshot. Parts that failed to sample are absent or empty.
pub fn build(
    taken_at_seconds: f64,
    system: Option<model::System>,
    filesystems: Vec<model::Filesystem>,
    disks: Option<Vec<model::Disk>>,
    interfaces: Option<Vec<model::NetworkInterface>>,
) -> wit::Snapshot {
    wit::Snapshot {
        taken_at_seconds,
        system: system.map(system_record),
        filesystems: filesystems.into_iter().map(filesystem).collect(),
        disks: disks.unwrap_or_default().into_iter().map(disk).collect(),
        interfaces: interfaces.unwrap_or_default().into_iter().map(interface).collect(),
        processes: Vec::new(),
        connections: Vec::new(),
    }
}

/// Adds the processes to a snapshot.
pub fn add_processes(snapshot: &mut wit::Snapshot, processes: Vec<model::Process>) {
    snapshot.processes = processes.into_iter().map(process).collect();
}

/// Sets a snapshot's connections (from socket discovery).
pub fn set_connections(snapshot: &mut wit::Snapshot, connections: &[model::Connection]) {
    snapshot.connections = connections.iter().cloned().map(connection).collect();
}

fn process(mut p: model::Process) -> wit::Process {
    let state = match p.state {
        model::ProcessState::Running => wit::ProcessState::Running,
        model::ProcessState::Sleeping => wit::ProcessState::Sleeping,
        model::ProcessState::DiskSleep => wit::ProcessState::DiskSleep,
        model::ProcessState::Stopped => wit::ProcessState::Stopped,
        model::ProcessState::TracingStop => wit::ProcessState::TracingStop,
        model::ProcessState::Zombie => wit::ProcessState::Zombie,
        model::ProcessState::Dead => wit::ProcessState::Dead,
        model::ProcessState::Idle => wit::ProcessState::Idle,
        model::ProcessState::Other => wit::ProcessState::Other,
    };
    let details = p
        .details
        .take()
        .map(|d| mirror!(d => wit::ProcessDetails { executable, working_directory, command_line, user }));
    mirror!(p => wit::Process {
        pid, ppid, process_group, session, comm, kernel_thread, start_time_seconds, uid, gid, nice,
        priority, threads, user_seconds, system_seconds, virtual_bytes, resident_bytes, shared_bytes,
        peak_resident_bytes, minor_faults, major_faults, voluntary_context_switches,
        involuntary_context_switches, read_bytes, written_bytes, read_chars, written_chars,
        read_syscalls, write_syscalls, open_fds,
    }, state: state, details: details)
}

fn connection(c: model::Connection) -> wit::Connection {
    let kind = match c.kind {
        model::ConnectionKind::Tcp => wit::ConnectionKind::Tcp,
        model::ConnectionKind::Udp => wit::ConnectionKind::Udp,
        model::ConnectionKind::UnixStream => wit::ConnectionKind::UnixStream,
        model::ConnectionKind::UnixDatagram => wit::ConnectionKind::UnixDatagram,
        model::ConnectionKind::UnixSeqpacket => wit::ConnectionKind::UnixSeqpacket,
        model::ConnectionKind::Pipe => wit::ConnectionKind::Pipe,
        model::ConnectionKind::Fifo => wit::ConnectionKind::Fifo,
    };
    mirror!(c => wit::Connection {
        state, inode, local_address, local_port, remote_address, remote_port, remote_host_name,
        peer_inode, pids,
    }, kind: kind)
}

fn cpu_times(t: model::CpuTimes) -> wit::CpuTimes {
    mirror!(t => wit::CpuTimes {
        user_seconds, nice_seconds, system_seconds, idle_seconds, iowait_seconds,
        irq_seconds, softirq_seconds, steal_seconds, guest_seconds, guest_nice_seconds,
    })
}

fn system_record(s: model::System) -> wit::System {
    let memory = mirror!(s.memory => wit::Memory {
        total_bytes, free_bytes, available_bytes, buffers_bytes, cached_bytes, shared_bytes,
        slab_reclaimable_bytes, dirty_bytes, writeback_bytes, swap_total_bytes, swap_free_bytes,
        swap_cached_bytes,
    });
    let load = mirror!(s.load => wit::Load { one_minute, five_minutes, fifteen_minutes, runnable, entities });
    let vm = mirror!(s.vm => wit::VmEvents {
        page_faults, major_page_faults, pages_swapped_in, pages_swapped_out, paged_in_bytes,
        paged_out_bytes, oom_kills,
    });
    let limits = mirror!(s.limits => wit::Limits {
        file_max, files_allocated, pid_max, threads_max, open_files_soft, open_files_hard,
        processes_soft, processes_hard, address_space_soft_bytes, address_space_hard_bytes,
    });
    wit::System {
        hostname: s.hostname,
        kernel_release: s.kernel_release,
        boot_time_seconds: s.boot_time_seconds,
        uptime_seconds: s.uptime_seconds,
        cpu_total: cpu_times(s.cpu_total),
        cpus: s.cpus.into_iter().map(|c| wit::Cpu { id: c.id, times: cpu_times(c.times) }).collect(),
        memory,
        load,
        context_switches: s.context_switches,
        forks: s.forks,
        interrupts: s.interrupts,
        procs_running: s.procs_running,
        procs_blocked: s.procs_blocked,
        vm,
        limits,
    }
}

fn filesystem(f: model::Filesystem) -> wit::Filesystem {
    let model::Filesystem { device, mount_point, fs_type, read_only, usage } = f;
    let usage = usage
        .map(|u| mirror!(u => wit::FilesystemUsage { size_bytes, free_bytes, available_bytes, files, files_free }));
    wit::Filesystem { device, mount_point, fs_type, read_only, usage }
}

fn disk(d: model::Disk) -> wit::Disk {
    mirror!(d => wit::Disk {
        name, major, minor, reads_completed, reads_merged, read_bytes, read_seconds,
        writes_completed, writes_merged, written_bytes, write_seconds, ios_in_progress,
        io_seconds, weighted_io_seconds, discards_completed, discards_merged, discarded_bytes,
        discard_seconds, flushes_completed, flush_seconds,
    })
}

fn interface(i: model::NetworkInterface) -> wit::NetworkInterface {
    mirror!(i => wit::NetworkInterface {
        name, receive_bytes, receive_packets, receive_errors, receive_dropped,
        receive_fifo_errors, receive_frame_errors, receive_compressed, receive_multicast,
        transmit_bytes, transmit_packets, transmit_errors, transmit_dropped,
        transmit_fifo_errors, transmit_collisions, transmit_carrier_errors,
        transmit_compressed, oper_state, mtu, mac_address, speed_bits_per_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_part_and_the_filesystem_error() {
        let fs = model::Filesystem { usage: Err("statfs timed out after 5s".into()), ..Default::default() };
        let snapshot = build(1.5, Some(model::System::default()), vec![fs], None, Some(vec![Default::default()]));
        assert_eq!(snapshot.taken_at_seconds, 1.5);
        assert!(snapshot.system.is_some());
        assert_eq!(snapshot.filesystems[0].usage.as_ref().unwrap_err(), "statfs timed out after 5s");
        assert!(snapshot.disks.is_empty());
        assert_eq!(snapshot.interfaces.len(), 1);
    }
}
