//! The process table and its tree (ppid links): ancestors, descendants and
//! depths.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gomon_probe::Process;

/// The snapshot's processes by pid, with the tree their ppids make.
pub struct Table<'a> {
    by_pid: BTreeMap<u32, &'a Process>,
    children: HashMap<u32, Vec<u32>>,
    depths: HashMap<u32, u32>,
}

impl<'a> Table<'a> {
    /// The table of `processes`. Pid 0 (the kernel's idle task, never a real
    /// process) is left out; of two records with one pid the first wins.
    pub fn new(processes: &'a [Process]) -> Self {
        let mut by_pid = BTreeMap::new();
        for p in processes.iter().filter(|p| p.pid != 0) {
            by_pid.entry(p.pid).or_insert(p);
        }
        let mut table = Table { by_pid, children: HashMap::new(), depths: HashMap::new() };
        let pids: Vec<u32> = table.by_pid.keys().copied().collect();
        for &pid in &pids {
            if let Some(parent) = table.parent(pid) {
                table.children.entry(parent).or_default().push(pid);
            }
        }
        for &pid in &pids {
            let depth = table.ancestors(pid).len() as u32;
            table.depths.insert(pid, depth);
        }
        table
    }

    /// The process with this pid.
    pub fn get(&self, pid: u32) -> Option<&'a Process> {
        self.by_pid.get(&pid).copied()
    }

    /// Whether the table has this pid.
    pub fn contains(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// All processes, by pid.
    pub fn processes(&self) -> impl Iterator<Item = &'a Process> + '_ {
        self.by_pid.values().copied()
    }

    /// The parent of `pid`, when it is in the table.
    pub fn parent(&self, pid: u32) -> Option<u32> {
        let ppid = self.get(pid)?.ppid;
        (ppid != pid && self.contains(ppid)).then_some(ppid)
    }

    /// The ancestors of `pid` in the table, nearest first. A ppid loop (a
    /// malformed snapshot) ends the walk.
    pub fn ancestors(&self, pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([pid]);
        let mut at = pid;
        while let Some(parent) = self.parent(at) {
            if !seen.insert(parent) {
                break;
            }
            out.push(parent);
            at = parent;
        }
        out
    }

    /// All descendants of `pid` in the table.
    pub fn descendants(&self, pid: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        let mut stack = vec![pid];
        while let Some(at) = stack.pop() {
            for &child in self.children.get(&at).into_iter().flatten() {
                if child != pid && out.insert(child) {
                    stack.push(child);
                }
            }
        }
        out
    }

    /// The depth of `pid` in the tree: how many of its ancestors are in the
    /// table (0 for init and for a process whose parent is not in the
    /// table, 1 for the children of init).
    pub fn depth(&self, pid: u32) -> u32 {
        self.depths.get(&pid).copied().unwrap_or(0)
    }

    /// `comm[pid]`, the name of a process in details lines.
    pub fn label(&self, pid: u32) -> String {
        match self.get(pid) {
            Some(p) => format!("{}[{pid}]", p.comm),
            None => format!("[{pid}]"),
        }
    }

    /// The order of processes in the graph: shallower first, then by comm,
    /// then by pid.
    pub fn order_key(&self, pid: u32) -> (u32, &'a str, u32) {
        (self.depth(pid), self.get(pid).map_or("", |p| p.comm.as_str()), pid)
    }
}

#[cfg(test)]
mod tests {
    use gomon_probe::testing::process;

    use super::*;

    #[test]
    fn tree_walks() {
        let procs = vec![
            process(1, 0, "init"),
            process(100, 1, "bash"),
            process(200, 100, "vim"),
            process(300, 200, "sh"),
            process(400, 999, "orphan"),
            process(0, 0, "swapper"),
        ];
        let t = Table::new(&procs);
        assert!(!t.contains(0));
        assert_eq!(t.ancestors(300), [200, 100, 1]);
        assert_eq!(t.descendants(100), BTreeSet::from([200, 300]));
        assert_eq!([t.depth(1), t.depth(100), t.depth(300), t.depth(400)], [0, 1, 3, 0]);
        assert_eq!(t.label(200), "vim[200]");
    }

    #[test]
    fn ppid_loops_end() {
        let procs = vec![process(5, 6, "a"), process(6, 5, "b"), process(7, 7, "self")];
        let t = Table::new(&procs);
        assert_eq!(t.ancestors(5), [6]);
        assert_eq!(t.descendants(5), BTreeSet::from([6]));
        assert_eq!(t.parent(7), None);
        assert_eq!(t.depth(7), 0);
    }
}
