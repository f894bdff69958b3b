//! The built-in `process` probe: the processes that used the most CPU, and
//! a summary of all of them, from the snapshot's `processes` part.
//!
//! **Which processes.** Each call ranks every process by the CPU time
//! (user + system) it used since the previous call: a process seen then
//! (same pid *and* start time) counts the difference, a process new since
//! then counts all of its CPU time (it started within the interval). The
//! first call after the instance starts has no previous call and ranks by
//! total CPU time. Ties go to the larger total, then the lower pid, so an
//! idle machine reports a stable set. The `top` (setting, default 20)
//! first are reported; `top = 0` reports only the summary.
//!
//! **Per-process families**, labelled `{pid, comm}` (never the command
//! line, which may hold secrets and is unbounded); counters are named
//! without `_total`, which the host appends:
//!
//! ```text
//! gomon_process_cpu_seconds{pid,comm,mode="user"|"system"}            counter
//! gomon_process_resident_bytes, _virtual_bytes, _shared_bytes,
//!   _peak_resident_bytes                                               gauges
//! gomon_process_minor_faults, _major_faults                            counters
//! gomon_process_context_switches{pid,comm,kind="voluntary"|"involuntary"} counter
//! gomon_process_read_bytes, _written_bytes          (storage: io read_bytes, write_bytes) counters
//! gomon_process_syscall_read_bytes, _syscall_written_bytes (io rchar, wchar)             counters
//! gomon_process_read_syscalls, _write_syscalls      (io syscr, syscw)                     counters
//! gomon_process_threads, _open_fds, _nice, _start_time_seconds         gauges
//! gomon_process_state{pid,comm,state} 1                                gauge
//! ```
//!
//! The context switches are those of the main thread: the kernel counts
//! them per thread, and /proc/<pid>/status shows the main thread's.
//! `gomon_process_state` is info-style: one series per process, for its
//! current state, with value 1 (not one series per possible state with 0s,
//! which would be nine times the series for the same information). When a
//! process changes state its old series ends and a new one starts.
//! Counters of a process restart from 0 when its pid is reused; Prometheus
//! treats that as a counter reset.
//!
//! **Summary**, over every process:
//!
//! ```text
//! gomon_processes                    gauge    processes (kernel threads included)
//! gomon_processes_by_state{state}    gauge    one series per state, 0 included
//! gomon_threads                      gauge    threads of all processes
//! gomon_processes_started            counter  processes seen that were not seen in the previous call
//! gomon_processes_exited             counter  processes seen in the previous call and gone now
//! ```
//!
//! The two counters count what this probe saw since its instance started
//! (a process that starts and exits between two calls is in neither), so
//! they restart at 0 when the host recycles the instance; for every fork
//! and clone the kernel made, see the `system` probe's `gomon_forks_total`.
//! State values are `running`, `sleeping`, `disk_sleep`, `stopped`,
//! `tracing_stop`, `zombie`, `dead`, `idle` and `other`.

mod select;

use gomon_probe::{
    Capability, Family, MetricFamily, Probe, ProbeInfo, Process, ProcessState, Snapshot,
};

use select::{Tracker, rank};

/// The default of setting `top`.
const DEFAULT_TOP: usize = 20;

/// The probe. Its state is the parsed setting and what the previous call saw.
struct ProcessProbe {
    top: usize,
    tracker: Tracker,
}

impl Default for ProcessProbe {
    fn default() -> Self {
        ProcessProbe { top: DEFAULT_TOP, tracker: Tracker::default() }
    }
}

impl Probe for ProcessProbe {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "process",
            env!("CARGO_PKG_VERSION"),
            "The processes that used the most CPU, and a count of all by state.",
            [Capability::Processes],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["top"])?;
        if let Some(text) = gomon_probe::setting(settings, "top") {
            self.top = text.trim().parse().map_err(|_| {
                format!("setting `top`: {text:?} is not a whole number of processes")
            })?;
        }
        Ok(())
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        if now.processes.is_empty() {
            return Err(
                "the snapshot has no processes: is the `processes` capability granted?".into()
            );
        }
        let observed = self.tracker.observe(&now.processes);
        let top: Vec<&Process> = rank(&now.processes, &observed.cpu_used, self.top);
        let mut out = per_process(&top);
        out.extend(summary(&now.processes, self.tracker.started, self.tracker.exited));
        Ok(out)
    }
}

gomon_probe::export_probe!(ProcessProbe);

/// Every state, in WIT order, with its label value.
const STATES: [(ProcessState, &str); 9] = [
    (ProcessState::Running, "running"),
    (ProcessState::Sleeping, "sleeping"),
    (ProcessState::DiskSleep, "disk_sleep"),
    (ProcessState::Stopped, "stopped"),
    (ProcessState::TracingStop, "tracing_stop"),
    (ProcessState::Zombie, "zombie"),
    (ProcessState::Dead, "dead"),
    (ProcessState::Idle, "idle"),
    (ProcessState::Other, "other"),
];

fn state_name(state: ProcessState) -> &'static str {
    STATES.iter().find(|(s, _)| *s == state).map_or("other", |(_, name)| name)
}

/// One family per column, one series per process, labelled `{pid, comm}`.
/// A value the host could not sample (`None`: its file was missing,
/// unreadable or malformed) gives no series.
struct Column {
    family: fn() -> Family,
    value: fn(&Process) -> Option<f64>,
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    Column { family: || Family::gauge("gomon_process_resident_bytes", "Resident memory of the process (stat rss)."), value: |p| Some(p.resident_bytes as f64) },
    Column { family: || Family::gauge("gomon_process_virtual_bytes", "Virtual memory size of the process (stat vsize)."), value: |p| Some(p.virtual_bytes as f64) },
    Column { family: || Family::gauge("gomon_process_shared_bytes", "Resident memory shared with others: file mappings and shared memory (status RssFile + RssShmem)."), value: |p| p.shared_bytes.map(|v| v as f64) },
    Column { family: || Family::gauge("gomon_process_peak_resident_bytes", "Peak resident memory of the process (status VmHWM)."), value: |p| p.peak_resident_bytes.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_minor_faults", "Page faults served without I/O."), value: |p| Some(p.minor_faults as f64) },
    Column { family: || Family::counter("gomon_process_major_faults", "Page faults that needed I/O."), value: |p| Some(p.major_faults as f64) },
    Column { family: || Family::counter("gomon_process_read_bytes", "Bytes the process caused to be fetched from storage (io read_bytes)."), value: |p| p.read_bytes.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_written_bytes", "Bytes the process caused to be sent toward storage (io write_bytes)."), value: |p| p.written_bytes.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_syscall_read_bytes", "Bytes returned by read-like system calls, from storage, cache, pipes or sockets (io rchar)."), value: |p| p.read_chars.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_syscall_written_bytes", "Bytes passed to write-like system calls (io wchar)."), value: |p| p.written_chars.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_read_syscalls", "Read-like system calls (io syscr)."), value: |p| p.read_syscalls.map(|v| v as f64) },
    Column { family: || Family::counter("gomon_process_write_syscalls", "Write-like system calls (io syscw)."), value: |p| p.write_syscalls.map(|v| v as f64) },
    Column { family: || Family::gauge("gomon_process_threads", "Threads of the process."), value: |p| Some(p.threads.into()) },
    Column { family: || Family::gauge("gomon_process_open_fds", "Open file descriptors of the process."), value: |p| p.open_fds.map(f64::from) },
    Column { family: || Family::gauge("gomon_process_nice", "Nice value of the process, -20 (favoured) to 19."), value: |p| Some(p.nice.into()) },
    Column { family: || Family::gauge("gomon_process_start_time_seconds", "Unix time the process started."), value: |p| Some(p.start_time_seconds) },
];

/// The per-process families for the selected processes.
fn per_process(top: &[&Process]) -> Vec<MetricFamily> {
    const PROCESS: [&str; 2] = ["pid", "comm"];
    let mut cpu =
        Family::counter("gomon_process_cpu_seconds", "CPU time the process used, by mode.")
            .labels(&["pid", "comm", "mode"]);
    let mut switches = Family::counter(
        "gomon_process_context_switches",
        "Context switches of the process's main thread: voluntary (it blocked) or involuntary (it was preempted).",
    )
    .labels(&["pid", "comm", "kind"]);
    let mut state =
        Family::gauge("gomon_process_state", "1 for the process's current scheduler state.")
            .labels(&["pid", "comm", "state"]);
    let mut columns: Vec<MetricFamily> =
        COLUMNS.iter().map(|c| (c.family)().labels(&PROCESS)).collect();
    for p in top {
        let pid = p.pid.to_string();
        let (pid, comm) = (pid.as_str(), p.comm.as_str());
        cpu.push(&[pid, comm, "user"], p.user_seconds);
        cpu.push(&[pid, comm, "system"], p.system_seconds);
        if let Some(n) = p.voluntary_context_switches {
            switches.push(&[pid, comm, "voluntary"], n as f64);
        }
        if let Some(n) = p.involuntary_context_switches {
            switches.push(&[pid, comm, "involuntary"], n as f64);
        }
        state.push(&[pid, comm, state_name(p.state)], 1.0);
        for (family, column) in columns.iter_mut().zip(COLUMNS) {
            if let Some(value) = (column.value)(p) {
                family.push(&[pid, comm], value);
            }
        }
    }
    let mut out = vec![cpu];
    out.extend(columns);
    out.push(switches);
    out.push(state);
    out
}

/// The summary families, over every process.
fn summary(processes: &[Process], started: u64, exited: u64) -> Vec<MetricFamily> {
    let mut by_state =
        Family::gauge("gomon_processes_by_state", "Processes in each scheduler state.")
            .labels(&["state"]);
    for (state, name) in STATES {
        by_state.push(&[name], processes.iter().filter(|p| p.state == state).count() as f64);
    }
    let threads: u64 = processes.iter().map(|p| u64::from(p.threads)).sum();
    vec![
        Family::gauge("gomon_processes", "Processes, kernel threads included.")
            .value(processes.len() as f64),
        by_state,
        Family::gauge("gomon_threads", "Threads of all processes.").value(threads as f64),
        Family::counter(
            "gomon_processes_started",
            "Processes seen that were not there at the previous sample, since the probe started.",
        )
        .value(started as f64),
        Family::counter(
            "gomon_processes_exited",
            "Processes seen at the previous sample that are gone, since the probe started.",
        )
        .value(exited as f64),
    ]
}

#[cfg(test)]
mod tests;
