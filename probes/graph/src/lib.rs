//! The built-in `graph` probe: the connection graph of processes, remote
//! hosts and data (pipes, FIFOs, sockets without a process at the other
//! end), drawn from the snapshot's `processes` and `connections` for the
//! /gomon page and Grafana's node graph.
//!
//! It follows the original gomon's selection (its §4.4), fixing its bugs.
//!
//! **Which processes.** `query.pid` absent, or a pid that is not in the
//! snapshot's process table (an exited process, pid 0), draws the
//! *overview*: every process that is not a direct child of init (ppid > 1)
//! and is not a kernel thread, every process with a remote host; the
//! processes these are connected to; and the ancestors of all of them. No
//! data nodes. A pid in the table draws the *focused* view: the process,
//! its ancestors and descendants, every process connected to it and their
//! ancestors; its remote hosts and its data nodes (not those of the other
//! processes).
//!
//! **Edges.** Host → process (hosts on the left); process → data;
//! process ↔ process, one edge per pair of processes, from the shallower in
//! the tree to the deeper (on a tie, the lower pid first), drawn whenever
//! both are shown; parent → child for the tree. Several connections share
//! their pair's edge; its `details` has one line per connection,
//! `tcp:nginx[812] → curl[4410]`, `tcp:203.0.113.5:443 → curl[4410]`,
//! `bash[100] → pipe:4242`, with the tree's `parent:bash[100] → vim[200]`
//! first and the rest sorted. Self-connections and pid 0 are left out.
//!
//! **Connections.** A socket whose `peer-inode` is held by other processes
//! links to them, TCP and UDP between local processes too (the original
//! drew those as a shared "host"). A pipe or FIFO links every two of its
//! holders; one held by a single process, or by more than 16 (a make
//! jobserver), is a data node instead. A TCP/UDP socket with no local peer, a remote address that is
//! not loopback or unspecified and a port is a remote host,
//! `host:<address>`, one node per address whatever the port. Listening and
//! bound sockets, unconnected sockets and sockets whose peer no process in
//! the snapshot holds are data nodes, `data:<kind>:<inode>`.
//!
//! **Nodes.** Processes: title comm, subtitle and secondary stat the pid,
//! main stat the resident memory, arc `process`, details (pid, ppid, state,
//! threads, memory, CPU time, …), depth in the tree (1 for children of
//! init). Hosts: title the reverse-DNS name when the host knew it
//! (`remote-host-name`, from its cache, so it may lag a cycle), else the
//! address; subtitle the address; main stat the services
//! (`TCP:443`: the remote port, or the local one when something here
//! listens on it), arc `host`. Data: arc `socket` for listening and bound
//! sockets, `data` for FIFOs, `kernel` for pipes and other sockets.
//!
//! **Order.** Hosts by address, processes by depth then comm then pid, data
//! by kind then inode; edges by (source, target) in that node order. The
//! same snapshot always draws the same graph.

mod draw;
mod links;
mod table;

use gomon_probe::{Capability, Graph, GraphProbe, GraphQuery, ProbeInfo, Snapshot};

/// The probe; stateless.
#[derive(Default)]
struct GraphDrawer;

impl GraphProbe for GraphDrawer {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "graph",
            env!("CARGO_PKG_VERSION"),
            "The connection graph of processes, remote hosts and data.",
            [Capability::Processes, Capability::Connections],
        )
    }

    fn draw(&mut self, now: &Snapshot, query: &GraphQuery) -> Result<Graph, String> {
        if now.processes.is_empty() {
            return Err(
                "the snapshot has no processes: is the `processes` capability granted?".into()
            );
        }
        Ok(draw::graph(now, query.pid))
    }
}

gomon_probe::export_graph_probe!(GraphDrawer);

#[cfg(test)]
mod tests;
