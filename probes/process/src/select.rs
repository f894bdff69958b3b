//! Which processes the probe reports: CPU used since the previous call,
//! per process identity (pid and start time), and the processes that
//! appeared and disappeared in between.

use std::cmp::Ordering;
use std::collections::HashMap;

use gomon_probe::Process;

/// A process's identity: pid and start time. A pid alone is not one: the
/// kernel reuses pids. The start time is compared bit for bit; the host
/// computes it the same way every time.
pub type Key = (u32, u64);

/// The identity of `p`.
pub fn key(p: &Process) -> Key {
    (p.pid, p.start_time_seconds.to_bits())
}

/// CPU time (user + system) of `p`, in seconds.
pub fn cpu_total(p: &Process) -> f64 {
    p.user_seconds + p.system_seconds
}

/// What the previous call saw, and what was counted since the probe started.
#[derive(Debug, Default)]
pub struct Tracker {
    /// CPU total per identity at the previous call; `None` before the first.
    previous: Option<HashMap<Key, f64>>,
    /// Identities seen that the previous call had not seen.
    pub started: u64,
    /// Identities of the previous call that are gone.
    pub exited: u64,
}

/// One call's view: the CPU each process (by index) used in the interval.
#[derive(Debug)]
pub struct Observed {
    pub cpu_used: Vec<f64>,
}

impl Tracker {
    /// Compares `processes` with the previous call's, counts arrivals and
    /// departures, and remembers `processes` for the next call.
    ///
    /// A process known to the previous call used the difference of its CPU
    /// totals (never negative); a new one used its whole total, since it
    /// started within the interval; on the first call every process counts
    /// its total.
    pub fn observe(&mut self, processes: &[Process]) -> Observed {
        let mut current = HashMap::with_capacity(processes.len());
        let mut cpu_used = Vec::with_capacity(processes.len());
        for p in processes {
            let total = cpu_total(p);
            let used = match &self.previous {
                None => total,
                Some(previous) => match previous.get(&key(p)) {
                    Some(&before) => (total - before).max(0.0),
                    None => {
                        self.started += 1;
                        total
                    }
                },
            };
            cpu_used.push(used);
            current.insert(key(p), total);
        }
        if let Some(previous) = &self.previous {
            self.exited += previous.keys().filter(|k| !current.contains_key(k)).count() as u64;
        }
        self.previous = Some(current);
        Observed { cpu_used }
    }
}

/// The `n` processes that used the most CPU (`cpu_used[i]` for
/// `processes[i]`), most first; ties go to the larger total, then the lower
/// pid.
pub fn rank<'a>(processes: &'a [Process], cpu_used: &[f64], n: usize) -> Vec<&'a Process> {
    let order = |&a: &usize, &b: &usize| -> Ordering {
        let (pa, pb) = (&processes[a], &processes[b]);
        cpu_used[b]
            .total_cmp(&cpu_used[a])
            .then_with(|| cpu_total(pb).total_cmp(&cpu_total(pa)))
            .then_with(|| pa.pid.cmp(&pb.pid))
    };
    let mut indices: Vec<usize> = (0..processes.len().min(cpu_used.len())).collect();
    if n < indices.len() {
        if n > 0 {
            indices.select_nth_unstable_by(n - 1, order);
        }
        indices.truncate(n);
    }
    indices.sort_unstable_by(order);
    indices.into_iter().map(|i| &processes[i]).collect()
}
