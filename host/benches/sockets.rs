//! Socket discovery costs: a sock_diag TCP dump against reading and parsing
//! /proc/net/tcp{,6}, the /proc/<pid>/fd walk, and a whole discovery; with
//! this machine's sockets as they are, then with 2500 loopback TCP
//! connections (5000 sockets) that the bench opens itself.
//!
//! ```sh
//! cargo bench -p gomon --bench sockets            # default: 2500 pairs, 41 rounds
//! cargo bench -p gomon --bench sockets -- 5000 61 # pairs, rounds
//! ```
//!
//! Prints the median (and min, max) of each measurement and the ratio of
//! /proc/net/tcp to sock_diag. Not a test: timings live in benches.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "support/load.rs"]
mod load;
#[path = "support/proc_net.rs"]
mod proc_net;

use gomon::sample::sockets::Discoverer;
use gomon::sample::sockets::fds::{FdTable, FdWalker};
use gomon::sample::sockets::netlink::{DiagSocket, Dump, Replies};
use load::{open_pairs, raise_nofile};
use proc_net::{ProcRow, read_proc_net};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let pairs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2500);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(41);
    raise_nofile(pairs * 2 + 256);

    println!("socket discovery bench: {rounds} rounds each, medians (min … max)\n");
    let mut bench = Bench::new();
    bench.run("as the machine is", rounds);
    let (listener, connections) = open_pairs(pairs);
    bench.run(&format!("with {pairs} loopback TCP connections ({} sockets) more", pairs * 2), rounds);
    drop((listener, connections));
}

struct Bench {
    diag: DiagSocket,
    replies: Replies,
    proc_text: Vec<u8>,
    proc_rows: Vec<ProcRow>,
    walker: FdWalker,
    table: FdTable,
    discoverer: Discoverer,
}

impl Bench {
    fn new() -> Self {
        Bench {
            diag: DiagSocket::open().expect("netlink sock_diag socket"),
            replies: Replies::default(),
            proc_text: Vec::with_capacity(1 << 20),
            proc_rows: Vec::new(),
            walker: FdWalker::new("/proc"),
            table: FdTable::default(),
            discoverer: Discoverer::new("/proc"),
        }
    }

    fn run(&mut self, title: &str, rounds: usize) {
        println!("== {title}");
        // Interleave the two TCP readers round by round so that both see
        // the same machine.
        let mut diag = Vec::with_capacity(rounds);
        let mut proc = Vec::with_capacity(rounds);
        let (mut diag_count, mut proc_count) = (0, 0);
        for _ in 0..rounds {
            diag.push(time(|| {
                self.replies.clear();
                for dump in [Dump::Tcp4, Dump::Tcp6] {
                    self.diag.dump(dump, &mut self.replies, None).expect("sock_diag dump");
                }
                diag_count = black_box(self.replies.inet.len());
            }));
            proc.push(time(|| {
                self.proc_rows.clear();
                for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
                    read_proc_net(file, &mut self.proc_text, &mut self.proc_rows);
                }
                proc_count = black_box(self.proc_rows.len());
            }));
        }
        let (d, p) = (median(&mut diag), median(&mut proc));
        println!("  sock_diag TCP dump (v4 + v6)        {}   {diag_count} sockets", summary(&mut diag));
        println!("  /proc/net/tcp + tcp6, read + parse   {}   {proc_count} sockets", summary(&mut proc));
        println!("  ratio /proc / sock_diag              {:.2}×", p.as_secs_f64() / d.as_secs_f64());

        let mut dumps = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            dumps.push(time(|| {
                self.replies.clear();
                for dump in Dump::ALL {
                    self.diag.dump(dump, &mut self.replies, None).expect("sock_diag dump");
                }
            }));
        }
        println!(
            "  sock_diag all five dumps             {}   {} inet, {} unix",
            summary(&mut dumps),
            self.replies.inet.len(),
            self.replies.unix.len()
        );

        let mut walks = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            walks.push(time(|| self.walker.walk(&mut self.table).expect("fd walk")));
        }
        let stats = self.table.stats;
        println!(
            "  /proc/<pid>/fd walk                  {}   {} processes ({} unreadable), {} fds",
            summary(&mut walks),
            stats.processes,
            stats.unreadable,
            stats.fds
        );

        let mut whole = Vec::with_capacity(rounds);
        let mut connections = 0;
        for _ in 0..rounds {
            whole.push(time(|| {
                connections = self.discoverer.discover().expect("discovery").connections.len();
            }));
        }
        println!("  whole discovery                      {}   {connections} connections\n", summary(&mut whole));
    }
}

fn time(mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn summary(samples: &mut [Duration]) -> String {
    let m = median(samples);
    format!(
        "{:>9.3} ms ({:.3} … {:.3})",
        m.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    )
}
