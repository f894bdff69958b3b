//! Load the benches put on the machine: idle processes, loopback
//! connections, and the descriptor limit they need. (Each bench uses a part.)
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Children killed and reaped when dropped, also when a bench panics (so a
/// failed run leaves no 10,000 `sleep 600` behind).
pub struct Sleepers(pub Vec<Child>);

impl std::ops::Deref for Sleepers {
    type Target = Vec<Child>;
    fn deref(&self) -> &Vec<Child> {
        &self.0
    }
}

impl std::ops::DerefMut for Sleepers {
    fn deref_mut(&mut self) -> &mut Vec<Child> {
        &mut self.0
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// `n` idle `sleep 600` children, once each has exec'd.
pub fn spawn_sleepers(n: usize) -> Sleepers {
    let mut children = Sleepers(Vec::with_capacity(n));
    for _ in 0..n {
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sleep");
        children.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for child in children.iter() {
        let comm = PathBuf::from(format!("/proc/{}/comm", child.id()));
        while std::fs::read_to_string(&comm).map(|c| c.trim() != "sleep").unwrap_or(true) {
            assert!(Instant::now() < deadline, "children did not exec sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    children
}

/// A listener and `pairs` connections to it, both ends held here.
pub fn open_pairs(pairs: usize) -> (TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("local address");
    let mut streams = Vec::with_capacity(pairs * 2);
    for _ in 0..pairs {
        streams.push(TcpStream::connect(address).expect("connect"));
        streams.push(listener.accept().expect("accept").0);
    }
    (listener, streams)
}

/// The soft RLIMIT_NOFILE now.
pub fn nofile_soft() -> usize {
    let soft = gomon::sample::os::open_files_limit().soft;
    soft.map_or(usize::MAX, |soft| usize::try_from(soft).unwrap_or(usize::MAX))
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (through the samplers'
/// seam, as gomon's process reader does) and says when that is below `want`.
pub fn raise_nofile(want: usize) {
    let soft = gomon::sample::os::raise_open_files_limit();
    if usize::try_from(soft).is_ok_and(|soft| soft < want) {
        eprintln!("RLIMIT_NOFILE hard limit {soft} is below the {want} descriptors wanted");
    }
}
