//! Socket, pipe and FIFO discovery: who talks to whom.
//!
//! | step | source | module |
//! |---|---|---|
//! | TCP and UDP over IPv4 and IPv6, every state | netlink sock_diag (`inet_diag`) | [`netlink`], [`inet`] |
//! | unix stream, datagram, seqpacket sockets, with peer inode and path | netlink sock_diag (`unix_diag`, `UDIAG_SHOW_PEER \| UDIAG_SHOW_NAME`) | [`netlink`], [`unix`] |
//! | inode → processes; pipes and FIFOs with their read and write ends | `/proc/<pid>/fd/*`, `/proc/<pid>/fdinfo/*` | [`fds`] |
//! | local TCP/UDP ends paired, unix peers named, pipes grouped | — | [`pair`] |
//! | remote hosts' names (`remote_host_name`) | reverse DNS, cached, looked up on its own thread | [`dns`] |
//!
//! Not `/proc/net/tcp*`: both walk the kernel's whole established hash, but
//! sock_diag is cheaper, gives unix peers directly and needs no text
//! parsing. Either way a dump costs milliseconds, and the fd walk costs more
//! (it grows with the number of open descriptors on the host), so discovery
//! runs only when someone needs connections, at most once per maximum age
//! the callers give, with concurrent requests coalesced
//! ([`SocketDiscovery::get`]).
//!
//! **Privileges.** sock_diag needs none: an unprivileged gomon sees every
//! socket of its network namespace, with inode and uid. What it lacks is the
//! holders: `/proc/<pid>/fd` of another user's process is unreadable without
//! root or `CAP_SYS_PTRACE` (and `CAP_DAC_READ_SEARCH`), so those sockets
//! have empty `pids` and those processes' pipes and FIFOs are missing
//! ([`DiscoveryStats::processes_unreadable`] counts them). Sockets of other
//! network namespaces (containers) are not dumped.
//!
//! **Failures.** A kernel without a dump (no `udp_diag`, IPv6 disabled)
//! answers ENOENT (or EOPNOTSUPP, EAFNOSUPPORT): that dump is skipped from
//! then on, with one warning. Any other failed dump is a warning each time
//! (and the netlink socket is reopened); discovery fails as a whole only
//! when no dump worked, the netlink socket cannot be opened, or the proc
//! root cannot be listed, and then the previous connections are kept.
//! [`SocketDiscovery`] logs warnings and failures itself (a failure once
//! while it repeats, then the recovery) and keeps them in the snapshot.
//!
//! **Namespaces.** The dumps are of gomon's network namespace; the fd walk
//! is of the pid namespace of `proc_root`. Run in a container, gomon needs
//! the host's network namespace (and the host's /proc) to see the host.

pub mod dns;
pub mod fds;
pub mod inet;
pub mod netlink;
pub mod pair;
pub mod unix;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::SampleError;
pub use super::model::{Connection, ConnectionKind};
use dns::{HostNames, ResolverConfig};
use fds::{FdTable, FdWalker};
use netlink::{DiagSocket, Dump, DumpError, Replies};

/// At most this many skipped reply messages become warnings per discovery.
const MAX_SKIPPED_WARNINGS: usize = 8;

/// How discovery runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// Where procfs is mounted (the `[sample] proc_root`).
    pub proc_root: PathBuf,
    /// The sample interval: the maximum age [`SocketDiscovery::fresh`]
    /// accepts.
    pub interval: Duration,
    /// Fill `remote_host_name` by reverse DNS (the `[sample] resolve_hosts`).
    pub resolve_hosts: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig { proc_root: PathBuf::from("/proc"), interval: Duration::from_secs(15), resolve_hosts: true }
    }
}

/// What one discovery cost and saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// The sock_diag dumps, together.
    pub netlink: Duration,
    /// The /proc/<pid>/fd walk.
    pub fd_walk: Duration,
    /// Pairing and building the records (and naming remote hosts from the
    /// reverse-DNS cache).
    pub assemble: Duration,
    /// TCP and UDP sockets dumped.
    pub inet_sockets: usize,
    /// Unix sockets dumped.
    pub unix_sockets: usize,
    /// Processes whose descriptors were read.
    pub processes: usize,
    /// Processes whose descriptors could not be read (permissions).
    pub processes_unreadable: usize,
    /// Descriptors looked at.
    pub fds: usize,
}

/// The result of one discovery.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The endpoints found, with their holders.
    pub connections: Vec<Connection>,
    /// What was lost on the way (a skipped dump, an undecodable message).
    pub warnings: Vec<SampleError>,
    /// Its phases and counts.
    pub stats: DiscoveryStats,
}

/// Does one discovery at a time, synchronously; keeps its netlink socket and
/// buffers from one to the next. [`SocketDiscovery`] runs one on a thread.
pub struct Discoverer {
    netlink: Option<DiagSocket>,
    walker: FdWalker,
    replies: Replies,
    table: FdTable,
    /// Dumps the kernel said it does not have; not asked again.
    unsupported: Vec<Dump>,
    /// Names remote hosts; `None`: no reverse DNS.
    host_names: Option<HostNames>,
}

impl Discoverer {
    /// A discoverer walking `<proc_root>/<pid>/fd`; opens its netlink socket on the first discovery.
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Discoverer {
            netlink: None,
            walker: FdWalker::new(proc_root),
            replies: Replies::default(),
            table: FdTable::default(),
            unsupported: Vec::new(),
            host_names: None,
        }
    }

    /// Names remote hosts from `names` from now on (`None`: not at all).
    pub fn set_host_names(&mut self, names: Option<HostNames>) {
        self.host_names = names;
    }

    /// The reverse-DNS cache in use, if any.
    pub fn host_names(&self) -> Option<&HostNames> {
        self.host_names.as_ref()
    }

    /// The dumps skipped because the kernel does not offer them.
    pub fn unsupported(&self) -> &[Dump] {
        &self.unsupported
    }

    /// Dumps, walks /proc and pairs. See the module documentation for what
    /// fails it.
    pub fn discover(&mut self) -> Result<Discovery, SampleError> {
        let mut warnings = Vec::new();
        let mut stats = DiscoveryStats::default();

        let started = Instant::now();
        self.dump_all(&mut warnings)?;
        stats.netlink = started.elapsed();
        stats.inet_sockets = self.replies.inet.len();
        stats.unix_sockets = self.replies.unix.len();

        let started = Instant::now();
        self.walker.walk(&mut self.table)?;
        stats.fd_walk = started.elapsed();
        stats.processes = self.table.stats.processes;
        stats.processes_unreadable = self.table.stats.unreadable;
        stats.fds = self.table.stats.fds;

        let started = Instant::now();
        let local = match interface_addresses() {
            Ok(local) => local,
            Err(source) => {
                warnings.push(SampleError::Syscall { call: "getifaddrs", source });
                HashSet::new()
            }
        };
        let mut connections = Vec::new();
        pair::assemble(&self.replies.inet, &self.replies.unix, &self.table, &local, &mut connections);
        if let Some(names) = &self.host_names {
            names.fill(&mut connections);
        }
        stats.assemble = started.elapsed();
        Ok(Discovery { connections, warnings, stats })
    }

    /// Runs every supported dump into `self.replies`.
    fn dump_all(&mut self, warnings: &mut Vec<SampleError>) -> Result<(), SampleError> {
        self.replies.clear();
        let mut socket = match self.netlink.take() {
            Some(socket) => socket,
            None => DiagSocket::open()
                .map_err(|source| SampleError::Syscall { call: "socket(AF_NETLINK, NETLINK_SOCK_DIAG)", source })?,
        };
        let mut worked = 0;
        let mut failure = None;
        let mut healthy = true;
        for dump in Dump::ALL {
            if self.unsupported.contains(&dump) {
                continue;
            }
            match socket.dump(dump, &mut self.replies, None) {
                Ok(()) => worked += 1,
                Err(e) if e.is_unsupported() => {
                    self.unsupported.push(dump);
                    warnings.push(SampleError::Syscall {
                        call: dump.call(),
                        source: io::Error::other(format!("{e}; the kernel has no such dump, skipped from now on")),
                    });
                }
                Err(e) => {
                    // The socket may hold the rest of the failed reply:
                    // open a fresh one next time.
                    if matches!(e, DumpError::Io(_) | DumpError::Malformed(_)) {
                        healthy = false;
                    }
                    let e = SampleError::Syscall { call: dump.call(), source: e.into_io() };
                    match failure {
                        None => failure = Some(e),
                        Some(_) => warnings.push(e),
                    }
                }
            }
        }
        if healthy {
            self.netlink = Some(socket);
        }
        for skipped in self.replies.skipped.iter().take(MAX_SKIPPED_WARNINGS) {
            warnings.push(SampleError::Syscall {
                call: "sock_diag",
                source: io::Error::new(io::ErrorKind::InvalidData, format!("skipped {skipped}")),
            });
        }
        match failure {
            Some(e) if worked == 0 => Err(e),
            Some(e) => {
                warnings.push(e);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The addresses of this host's interfaces (getifaddrs).
pub fn interface_addresses() -> io::Result<HashSet<IpAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: list is a valid out-pointer; freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addresses = HashSet::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: cursor is a node of the list getifaddrs returned.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr whose family says which
            // larger struct it is.
            unsafe {
                match i32::from((*entry.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                        // s_addr holds the address in network order: its bytes as stored.
                        addresses.insert(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                        addresses.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(addresses)
}

/// The last discovery as [`SocketDiscovery::latest`] gives it.
#[derive(Debug, Default)]
pub struct SocketSnapshot {
    /// From the last discovery that succeeded (empty before the first).
    pub connections: Arc<Vec<Connection>>,
    /// When those connections were taken (the start of that discovery).
    pub taken_at: Option<SystemTime>,
    /// When the last discovery, successful or not, started.
    pub attempted_at: Option<SystemTime>,
    /// How long the last discovery took (for
    /// `gomon_collector_duration_seconds{collector="sockets"}`).
    pub duration: Duration,
    /// Why the last discovery failed; `None` if it succeeded.
    pub error: Option<SampleError>,
    /// What the last discovery lost without failing.
    pub warnings: Vec<SampleError>,
    /// Phases and counts of the last discovery that succeeded.
    pub stats: DiscoveryStats,
    /// Discoveries attempted, and how many of them failed, since start.
    pub attempts: u64,
    /// Of those, how many failed.
    pub failures: u64,
}

/// One discovery: the real [`Discoverer`], or a stand-in in tests.
pub type DiscoverFn = Box<dyn FnMut() -> Result<Discovery, SampleError> + Send>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What [`SocketDiscovery`] keeps between requests.
struct State {
    latest: Arc<SocketSnapshot>,
    /// When the latest discovery started (its age counts from here).
    started: Option<Instant>,
    /// A discovery is running; callers wait for it instead of starting one.
    in_flight: bool,
    /// Discoveries finished (callers waiting for one watch this change).
    finished: u64,
    /// Callers waiting for the discovery in flight (for tests).
    waiting: usize,
}

/// Socket discovery on request: [`get`](Self::get) returns the latest
/// result if it is young enough, else runs one discovery in the caller's
/// thread; callers that ask while one runs wait for it and share its
/// result, so there are never two at once. Nothing runs in the background
/// but the reverse-DNS worker (when `resolve_hosts`).
pub struct SocketDiscovery {
    engine: Mutex<DiscoverFn>,
    state: Mutex<State>,
    done: Condvar,
    interval: Duration,
}

impl SocketDiscovery {
    /// Discovery as `config` asks; starts the reverse-DNS worker if
    /// `resolve_hosts` (a worker that cannot start is logged, and remote
    /// hosts stay unnamed). Runs no discovery yet.
    pub fn start(config: SocketConfig) -> io::Result<Self> {
        Ok(Self::manual(config))
    }

    /// The same as [`start`](Self::start), infallibly.
    pub fn manual(config: SocketConfig) -> Self {
        let mut engine = Discoverer::new(config.proc_root);
        if config.resolve_hosts {
            match HostNames::start(ResolverConfig::default()) {
                Ok(names) => engine.set_host_names(Some(names)),
                Err(e) => tracing::warn!("Reverse DNS not started; remote hosts stay unnamed: {e}"),
            }
        }
        Self::with_discover(config.interval, Box::new(move || engine.discover()))
    }

    /// Discovery by `discover` (tests inject a stand-in); `interval` is what
    /// [`fresh`](Self::fresh) accepts as young enough.
    pub fn with_discover(interval: Duration, discover: DiscoverFn) -> Self {
        SocketDiscovery {
            engine: Mutex::new(discover),
            state: Mutex::new(State {
                latest: Arc::new(SocketSnapshot::default()),
                started: None,
                in_flight: false,
                finished: 0,
                waiting: 0,
            }),
            done: Condvar::new(),
            interval,
        }
    }

    /// The connections, at most `max_age` old. Blocking (call it from a
    /// blocking thread):
    ///
    /// - the latest result, if its discovery started less than `max_age`
    ///   ago (a failed one too: it carries the previous connections and
    ///   its error, and is not retried sooner);
    /// - else, if a discovery is running, the result of that one, when it
    ///   finishes (callers coalesce: never two discoveries at once);
    /// - else one discovery, run here, whose cost is recorded in the result.
    pub fn get(&self, max_age: Duration) -> Arc<SocketSnapshot> {
        let mut state = lock(&self.state);
        if let Some(started) = state.started
            && started.elapsed() < max_age
        {
            return Arc::clone(&state.latest);
        }
        if state.in_flight {
            let finished = state.finished;
            state.waiting += 1;
            while state.in_flight && state.finished == finished {
                state = self.done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            state.waiting -= 1;
            return Arc::clone(&state.latest);
        }
        state.in_flight = true;
        let previous = Arc::clone(&state.latest);
        drop(state);
        // Clears `in_flight` and wakes the waiters even if this thread
        // unwinds.
        let mut finish = Finish { discovery: self, started: Instant::now(), snapshot: None };
        let snapshot = self.run_once(&previous);
        finish.snapshot = Some(Arc::clone(&snapshot));
        snapshot
    }

    /// [`get`](Self::get) with the configured interval as the maximum age.
    pub fn fresh(&self) -> Arc<SocketSnapshot> {
        self.get(self.interval)
    }

    /// The last result, however old; cheap (an `Arc` clone), never
    /// discovers or waits for a discovery.
    pub fn latest(&self) -> Arc<SocketSnapshot> {
        Arc::clone(&lock(&self.state).latest)
    }

    /// Discovers now (or waits for the discovery running) and returns the
    /// new result: [`get`](Self::get) with a maximum age of zero.
    pub fn discover_now(&self) -> Arc<SocketSnapshot> {
        self.get(Duration::ZERO)
    }

    /// The maximum age [`fresh`](Self::fresh) accepts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Callers now waiting for the discovery in flight.
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiting
    }

    /// One discovery; the result, with `previous`'s connections if it failed.
    fn run_once(&self, previous: &SocketSnapshot) -> Arc<SocketSnapshot> {
        let mut engine = lock(&self.engine);
        let attempted_at = SystemTime::now();
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*engine)())).unwrap_or_else(|_| {
            Err(SampleError::Syscall { call: "socket discovery", source: io::Error::other("panicked") })
        });
        let duration = started.elapsed();
        drop(engine);
        let snapshot = match result {
            Ok(discovery) => SocketSnapshot {
                connections: Arc::new(discovery.connections),
                taken_at: Some(attempted_at),
                attempted_at: Some(attempted_at),
                duration,
                error: None,
                warnings: discovery.warnings,
                stats: discovery.stats,
                attempts: previous.attempts + 1,
                failures: previous.failures,
            },
            Err(error) => SocketSnapshot {
                connections: Arc::clone(&previous.connections),
                taken_at: previous.taken_at,
                attempted_at: Some(attempted_at),
                duration,
                error: Some(error),
                warnings: Vec::new(),
                stats: previous.stats,
                attempts: previous.attempts + 1,
                failures: previous.failures + 1,
            },
        };
        log(previous, &snapshot);
        Arc::new(snapshot)
    }
}

/// Publishes the result of the discovery in flight (or, if it unwound,
/// just ends it) and wakes the callers waiting for it.
struct Finish<'a> {
    discovery: &'a SocketDiscovery,
    started: Instant,
    snapshot: Option<Arc<SocketSnapshot>>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.discovery.state);
        if let Some(snapshot) = self.snapshot.take() {
            state.latest = snapshot;
            state.started = Some(self.started);
        }
        state.in_flight = false;
        state.finished = state.finished.wrapping_add(1);
        drop(state);
        self.discovery.done.notify_all();
    }
}

/// Logs what a discovery lost, a failure (once while it repeats), and the
/// recovery after one.
fn log(previous: &SocketSnapshot, now: &SocketSnapshot) {
    for warning in &now.warnings {
        tracing::warn!(error = %warning, "Socket discovery lost part of its result.");
    }
    match (&previous.error, &now.error) {
        (Some(before), Some(error)) if before.to_string() == error.to_string() => {}
        (_, Some(error)) => {
            tracing::warn!(error = %error, "Socket discovery failed; keeping the previous connections.")
        }
        (Some(_), None) => tracing::info!("Socket discovery recovered."),
        (None, None) => {}
    }
}
