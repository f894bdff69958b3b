//! An example probe, `process-groups`: processes grouped by name, the way
//! [process-exporter](https://github.com/ncabatoff/process-exporter) groups
//! them, with one set of series per group instead of one per process.
//!
//! Settings (`[probe.process-groups] settings = { … }`; every value is text):
//!
//! | key        | default | meaning |
//! |------------|---------|---------|
//! | `names`    | (all)   | comma-separated comm values (`"postgres, nginx, sshd"`); each is a group of the processes whose comm is exactly that. Unset: every comm is a group, and all kernel threads are one group, `[kernel threads]` (16 characters, so no user process's comm — at most 15 — can take it) |
//! | `children` | `true`  | with `names`: a process that matches no name joins the group of its nearest ancestor that does (process-exporter's `-children`) |
//!
//! Families, labelled `{group}`:
//!
//! ```text
//! gomon_group_processes{group}                    gauge    members now
//! gomon_group_cpu_seconds{group,mode}             counter  user and system CPU time (see below)
//! gomon_group_resident_bytes{group}               gauge    sum of members' resident memory
//! gomon_group_threads{group}                      gauge    sum of members' threads
//! gomon_group_open_fds{group}                     gauge    sum of members' open descriptors (known ones)
//! gomon_group_oldest_start_time_seconds{group}    gauge    Unix start time of the oldest member
//! ```
//!
//! With `names`, every named group is always reported (with 0 members when
//! none runs; `oldest_start_time` is then omitted). Without, a group is
//! reported while it has members.
//!
//! **Why the CPU counter is accumulated, not summed.** The sum of the
//! members' CPU totals is not monotonic: when a member exits, its CPU time
//! leaves the sum and the "counter" drops, which `rate()` would read as a
//! reset and turn into a huge spike. So, as process-exporter does, the
//! probe keeps a counter per group and each call adds, per member:
//!
//! - a member seen in the previous call too (same pid and start time): the
//!   growth of its CPU time since then;
//! - a member that started after the previous call: all of its CPU time
//!   (it was all used in the interval);
//! - any other new member (one that joined by `exec`): nothing this time;
//!   its growth counts from the next call.
//!
//! A group appearing for the first time (the first call, or a new comm)
//! starts at its members' total. A member's CPU time between the previous
//! call and its exit is lost, which keeps the counter monotonic at the cost
//! of slightly under-counting short bursts before exits. Group membership
//! is decided once per process and then kept (like process-exporter
//! without `-recheck`): a child that `exec`s another program stays in its
//! parent's group, and stays when the parent exits.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 --manifest-path probes/Cargo.toml -p example-process-groups
//! # → probes/target/wasm32-wasip2/release/example_process_groups.wasm
//! ```

use std::collections::{BTreeMap, HashMap};

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Process, Snapshot};

/// The group of every kernel thread when `names` is unset.
pub const KERNEL_GROUP: &str = "[kernel threads]";

/// A process's identity: pid and start time (pids are reused).
type Key = (u32, u64);

fn key(p: &Process) -> Key {
    (p.pid, p.start_time_seconds.to_bits())
}

/// What the previous call saw.
#[derive(Debug, Default)]
struct Previous {
    taken_at_seconds: f64,
    /// CPU (user, system) seconds of every grouped process.
    cpu: HashMap<Key, [f64; 2]>,
    /// The named group (index into `names`) of every grouped process.
    membership: HashMap<Key, usize>,
}

/// The probe; its state is the settings, the counters and the previous call.
#[derive(Debug)]
struct ProcessGroups {
    /// `None`: group by every comm.
    names: Option<Vec<String>>,
    children: bool,
    previous: Option<Previous>,
    /// Accumulated CPU (user, system) seconds per group.
    cpu: BTreeMap<String, [f64; 2]>,
}

impl Default for ProcessGroups {
    fn default() -> Self {
        ProcessGroups { names: None, children: true, previous: None, cpu: BTreeMap::new() }
    }
}

/// A group's sums for one call.
#[derive(Debug, Default)]
struct Aggregate {
    processes: u32,
    resident_bytes: u64,
    threads: u64,
    open_fds: u64,
    oldest_start_time_seconds: Option<f64>,
    /// CPU (user, system) to add to the group's counter.
    cpu_added: [f64; 2],
}

impl Probe for ProcessGroups {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "process-groups",
            env!("CARGO_PKG_VERSION"),
            "Processes grouped by name: count, CPU, memory, threads, descriptors.",
            [Capability::Processes],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["names", "children"])?;
        if let Some(text) = gomon_probe::setting(settings, "names") {
            let mut names: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(format!(
                    "setting `names`: {text:?} names no process (leave it out to group every process)"
                ));
            }
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            self.names = Some(names);
        }
        if let Some(text) = gomon_probe::setting(settings, "children") {
            self.children = match text.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("setting `children`: {text:?} is not true or false")),
            };
        }
        Ok(())
    }

    fn measure(&mut self, now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        if now.processes.is_empty() {
            return Err(
                "the snapshot has no processes: is the `processes` capability granted?".into()
            );
        }
        let (groups, membership) =
            assign(self.names.as_deref(), self.children, self.previous.as_ref(), &now.processes);
        let aggregates = self.aggregate(now, &groups);

        // Fold this call's additions into the counters.
        for (&group, a) in &aggregates {
            let cpu = self.cpu.entry(group.to_owned()).or_default();
            cpu[0] += a.cpu_added[0];
            cpu[1] += a.cpu_added[1];
        }
        match &self.names {
            // Every named group has a counter from the first call on, so a
            // member joining later is counted by the member rules.
            Some(names) => {
                for name in names {
                    self.cpu.entry(name.clone()).or_default();
                }
            }
            // A comm with no process left is forgotten.
            None => self.cpu.retain(|group, _| aggregates.contains_key(group.as_str())),
        }
        let families = self.families(&aggregates);

        let cpu = now
            .processes
            .iter()
            .zip(&groups)
            .filter(|(_, g)| g.is_some())
            .map(|(p, _)| (key(p), [p.user_seconds, p.system_seconds]))
            .collect();
        self.previous = Some(Previous { taken_at_seconds: now.taken_at_seconds, cpu, membership });
        Ok(families)
    }
}

gomon_probe::export_probe!(ProcessGroups);

/// The group of every process (`None`: in no group), and the named
/// membership to remember for the next call.
fn assign<'a>(
    names: Option<&'a [String]>,
    children: bool,
    previous: Option<&Previous>,
    processes: &'a [Process],
) -> (Vec<Option<&'a str>>, HashMap<Key, usize>) {
    let Some(names) = names else {
        let groups = processes
            .iter()
            .map(|p| Some(if p.kernel_thread { KERNEL_GROUP } else { p.comm.as_str() }))
            .collect();
        return (groups, HashMap::new());
    };
    let index: HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let by_pid: HashMap<u32, usize> =
        processes.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let remembered = previous.map(|p| &p.membership);
    // Decided group per process: None = not yet decided, Some(None) = no group.
    let mut decided: Vec<Option<Option<usize>>> = vec![None; processes.len()];
    let mut chain = Vec::new();
    for start in 0..processes.len() {
        chain.clear();
        let mut at = start;
        let group = loop {
            if let Some(known) = decided[at] {
                break known;
            }
            let p = &processes[at];
            // A direct match, then what this process was in before.
            let own = index
                .get(p.comm.as_str())
                .copied()
                .or_else(|| remembered.and_then(|m| m.get(&key(p)).copied()));
            if own.is_some() {
                decided[at] = Some(own);
                break own;
            }
            chain.push(at);
            if !children || chain.len() > processes.len() {
                break None;
            }
            match by_pid.get(&p.ppid) {
                Some(&parent) if parent != at => at = parent,
                _ => break None,
            }
        };
        for &i in &chain {
            decided[i] = Some(group);
        }
    }
    let mut membership = HashMap::new();
    let groups = processes
        .iter()
        .zip(decided)
        .map(|(p, d)| {
            let g = d.flatten()?;
            membership.insert(key(p), g);
            Some(names[g].as_str())
        })
        .collect();
    (groups, membership)
}

impl ProcessGroups {
    /// Sums per group, and what each group's CPU counter grows by.
    fn aggregate<'a>(
        &self,
        now: &Snapshot,
        groups: &[Option<&'a str>],
    ) -> BTreeMap<&'a str, Aggregate> {
        let mut out: BTreeMap<&'a str, Aggregate> = BTreeMap::new();
        for (p, group) in now.processes.iter().zip(groups) {
            let Some(group) = *group else { continue };
            let a = out.entry(group).or_default();
            a.processes += 1;
            a.resident_bytes += p.resident_bytes;
            a.threads += u64::from(p.threads);
            a.open_fds += u64::from(p.open_fds.unwrap_or(0));
            a.oldest_start_time_seconds = Some(
                a.oldest_start_time_seconds
                    .map_or(p.start_time_seconds, |o| o.min(p.start_time_seconds)),
            );
            let added = self.cpu_added(p, group);
            a.cpu_added[0] += added[0];
            a.cpu_added[1] += added[1];
        }
        out
    }

    /// What member `p` of `group` adds to the group's CPU counter; see the
    /// module docs.
    fn cpu_added(&self, p: &Process, group: &str) -> [f64; 2] {
        let now = [p.user_seconds, p.system_seconds];
        let Some(previous) = &self.previous else { return now };
        if !self.cpu.contains_key(group) {
            return now; // a new group starts at its members' totals
        }
        match previous.cpu.get(&key(p)) {
            Some(before) => [(now[0] - before[0]).max(0.0), (now[1] - before[1]).max(0.0)],
            None if p.start_time_seconds >= previous.taken_at_seconds => now,
            None => [0.0, 0.0],
        }
    }

    fn families(&self, aggregates: &BTreeMap<&str, Aggregate>) -> Vec<MetricFamily> {
        let mut processes =
            Family::gauge("gomon_group_processes", "Processes in the group.").labels(&["group"]);
        let mut cpu = Family::counter(
            "gomon_group_cpu_seconds",
            "CPU time used by the group's processes, accumulated across members that come and go.",
        )
        .labels(&["group", "mode"]);
        let mut resident = Family::gauge(
            "gomon_group_resident_bytes",
            "Resident memory of the group's processes.",
        )
        .labels(&["group"]);
        let mut threads = Family::gauge("gomon_group_threads", "Threads of the group's processes.")
            .labels(&["group"]);
        let mut fds = Family::gauge(
            "gomon_group_open_fds",
            "Open file descriptors of the group's processes.",
        )
        .labels(&["group"]);
        let mut oldest = Family::gauge(
            "gomon_group_oldest_start_time_seconds",
            "Unix time the group's oldest process started.",
        )
        .labels(&["group"]);
        let empty = Aggregate::default();
        let groups: Vec<&str> = match &self.names {
            Some(names) => {
                let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
                names.sort_unstable();
                names
            }
            None => aggregates.keys().copied().collect(),
        };
        for group in groups {
            let a = aggregates.get(group).unwrap_or(&empty);
            let labels = [group];
            processes.push(&labels, a.processes.into());
            let [user, system] = self.cpu.get(group).copied().unwrap_or_default();
            cpu.push(&[group, "user"], user);
            cpu.push(&[group, "system"], system);
            resident.push(&labels, a.resident_bytes as f64);
            threads.push(&labels, a.threads as f64);
            fds.push(&labels, a.open_fds as f64);
            if let Some(start) = a.oldest_start_time_seconds {
                oldest.push(&labels, start);
            }
        }
        vec![processes, cpu, resident, threads, fds, oldest]
    }
}

#[cfg(test)]
mod tests;
