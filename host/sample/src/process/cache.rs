//! The per-process cache of static facts (executable, working directory,
//! command line), keyed by pid and start time.
//!
//! A pid alone is not an identity: pids are reused. (pid, start time in
//! ticks after boot) is, for as long as the machine is up. The facts are
//! read once per identity and then cloned from here every cycle. An `exec`
//! keeps both pid and start time but replaces the program, so an entry
//! whose process's comm changed is read again (an exec of a program with
//! the same name, `bash` running `exec bash`, is not noticed). Entries of
//! processes not seen in a cycle are dropped by [`DetailsCache::prune`].

use std::collections::HashMap;

use crate::model::ProcessDetails;

/// Static facts of running processes; see the module docs.
#[derive(Debug, Default)]
pub struct DetailsCache {
    entries: HashMap<u32, Entry>,
    /// Incremented by [`begin`](Self::begin); entries carry the cycle they
    /// were last seen in.
    cycle: u64,
}

#[derive(Debug)]
struct Entry {
    start_ticks: u64,
    comm: String,
    details: ProcessDetails,
    seen: u64,
}

impl DetailsCache {
    /// Starts a cycle: every entry not looked up before the next
    /// [`prune`](Self::prune) goes then.
    pub fn begin(&mut self) {
        self.cycle += 1;
    }

    /// The cached details of the process (`pid`, `start_ticks`) whose comm
    /// is `comm`, if any; marks them seen in this cycle.
    pub fn get(&mut self, pid: u32, start_ticks: u64, comm: &str) -> Option<&ProcessDetails> {
        let cycle = self.cycle;
        let entry = self.entries.get_mut(&pid).filter(|e| e.start_ticks == start_ticks && e.comm == comm)?;
        entry.seen = cycle;
        Some(&entry.details)
    }

    /// Whether [`get`](Self::get) would find the details.
    pub fn contains(&self, pid: u32, start_ticks: u64, comm: &str) -> bool {
        self.entries.get(&pid).is_some_and(|e| e.start_ticks == start_ticks && e.comm == comm)
    }

    /// Caches the details of the process (`pid`, `start_ticks`, `comm`),
    /// replacing any of an earlier process with that pid.
    pub fn insert(&mut self, pid: u32, start_ticks: u64, comm: &str, details: ProcessDetails) {
        let entry = Entry { start_ticks, comm: comm.to_owned(), details, seen: self.cycle };
        self.entries.insert(pid, entry);
    }

    /// The details of the process (`pid`, `start_ticks`) whose comm is
    /// `comm`, calling `read` only when they are not cached (a new process,
    /// a reused pid, or an exec that changed comm). Returns them and whether
    /// `read` was called.
    pub fn get_or_read(
        &mut self,
        pid: u32,
        start_ticks: u64,
        comm: &str,
        read: impl FnOnce() -> ProcessDetails,
    ) -> (&ProcessDetails, bool) {
        let fresh = !self.contains(pid, start_ticks, comm);
        let cycle = self.cycle;
        let entry = self.entries.entry(pid).or_insert_with(|| Entry {
            start_ticks,
            comm: String::new(),
            details: ProcessDetails::default(),
            seen: cycle,
        });
        if fresh {
            *entry = Entry { start_ticks, comm: comm.to_owned(), details: read(), seen: cycle };
        }
        entry.seen = cycle;
        (&entry.details, fresh)
    }

    /// Drops the entries not looked up since [`begin`](Self::begin): their
    /// processes exited.
    pub fn prune(&mut self) {
        let cycle = self.cycle;
        self.entries.retain(|_, e| e.seen == cycle);
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Processes cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn details(exe: &str) -> ProcessDetails {
        ProcessDetails { executable: exe.into(), ..ProcessDetails::default() }
    }

    #[test]
    fn read_once_per_pid_and_start_time() {
        let mut cache = DetailsCache::default();
        let reads = Cell::new(0);
        let read = |exe: &'static str| {
            let reads = &reads;
            move || {
                reads.set(reads.get() + 1);
                details(exe)
            }
        };
        for _ in 0..3 {
            cache.begin();
            assert_eq!(cache.get_or_read(10, 500, "sleep", read("/bin/sleep")).0.executable, "/bin/sleep");
            cache.get_or_read(11, 501, "cat", read("/bin/cat"));
            cache.prune();
        }
        assert_eq!(reads.get(), 2, "two processes, read once each over three cycles");

        // Pid 10 reused by a new process: new start time, read again.
        cache.begin();
        let (d, fresh) = cache.get_or_read(10, 900, "sleep", read("/usr/bin/sleep"));
        assert!(fresh);
        assert_eq!(d.executable, "/usr/bin/sleep");
        // Pid 11 exec'd another program: same start time, new comm.
        let (d, fresh) = cache.get_or_read(11, 501, "grep", read("/bin/grep"));
        assert!(fresh);
        assert_eq!(d.executable, "/bin/grep");
        assert_eq!(reads.get(), 4);
        cache.prune();
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn exited_processes_are_pruned() {
        let mut cache = DetailsCache::default();
        cache.begin();
        cache.get_or_read(1, 1, "a", || details("a"));
        cache.get_or_read(2, 2, "b", || details("b"));
        cache.prune();
        assert_eq!(cache.len(), 2);
        cache.begin();
        cache.get_or_read(2, 2, "b", || unreachable!("cached"));
        cache.prune();
        assert_eq!(cache.len(), 1);
        cache.begin();
        cache.prune();
        assert!(cache.is_empty());
    }
}
