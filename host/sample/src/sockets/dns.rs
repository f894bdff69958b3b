//! Reverse DNS of the remote ends of TCP and UDP connections: a cache keyed
//! by IP address, filled by one background thread and read without ever
//! waiting for a lookup.
//!
//! A lookup (`getnameinfo` with `NI_NAMEREQD`, through the `dns-lookup`
//! crate: `/etc/hosts`, then DNS, as nsswitch says) can take seconds when a
//! name server is slow or gone, so only the `gomon-resolve` thread makes
//! one. Discovery asks the cache ([`HostNames::fill`]) and gets what it
//! holds now:
//!
//! | the cache holds for the address | answer | and then |
//! |---|---|---|
//! | a name, fresh | the name | — |
//! | a name, older than `positive_ttl` (10 min) | the old name | the address is queued to be looked up again |
//! | a failure, fresh | none | — |
//! | a failure, older than `negative_ttl` (1 min) | none | queued again |
//! | nothing | none | queued; the name appears in a later discovery |
//!
//! The queue holds at most `queue` addresses (an address waiting or being
//! looked up counts once); a miss that finds it full is dropped and asked
//! again at the next discovery. The cache holds at most `capacity`
//! addresses: when full, expired entries go first, then the one closest to
//! expiry. Loopback, unspecified, multicast and broadcast addresses are
//! never looked up, nor the remote end of a connection whose peer is on
//! this host (`peer_inode` set). A name that is not a plausible host name
//! (letters, digits, `-`, `_`, `.`; at most 253 bytes) counts as a failure,
//! so a hostile PTR record never reaches a probe or a page.
//!
//! ```text
//! Connection { kind: Tcp, remote_address: "192.0.2.7", remote_port: 443, peer_inode: 0, .. }
//!   → remote_host_name: None                       (first discovery: queued)
//!   → remote_host_name: Some("www.example.org")    (a discovery later)
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::model::{Connection, ConnectionKind};

/// How the resolver caches and queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolverConfig {
    /// How long a name is used before it is looked up again.
    pub positive_ttl: Duration,
    /// How long a failed lookup is remembered before it is tried again.
    pub negative_ttl: Duration,
    /// Most addresses cached.
    pub capacity: usize,
    /// Most addresses waiting for (or in) a lookup.
    pub queue: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            positive_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(60),
            capacity: 4096,
            queue: 256,
        }
    }
}

/// What the cache has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Addresses cached now.
    pub entries: usize,
    /// Addresses waiting for, or in, a lookup now.
    pub queued: usize,
    /// Asks answered from a fresh entry (name or failure).
    pub hits: u64,
    /// Asks that found nothing, or an expired entry.
    pub misses: u64,
    /// Lookups finished, and how many of them failed.
    pub lookups: u64,
    /// Lookups that found no (plausible) name.
    pub failures: u64,
    /// Misses not queued because the queue was full.
    pub dropped: u64,
    /// Entries removed to make room.
    pub evicted: u64,
}

/// One address's last answer.
#[derive(Debug)]
struct Entry {
    /// `None`: the lookup failed.
    name: Option<String>,
    expires: Instant,
}

/// The cache and its queue, without a thread or a clock (every call takes
/// `now`), so its rules are tested directly. [`HostNames`] wraps it.
#[derive(Debug)]
pub struct Cache {
    config: ResolverConfig,
    entries: HashMap<IpAddr, Entry>,
    /// Waiting for the worker, oldest first.
    queue: VecDeque<IpAddr>,
    /// Waiting or being looked up (so an address is queued once).
    pending: HashSet<IpAddr>,
    stats: ResolverStats,
}

impl Cache {
    /// An empty cache.
    pub fn new(config: ResolverConfig) -> Self {
        Cache {
            config,
            entries: HashMap::new(),
            queue: VecDeque::new(),
            pending: HashSet::new(),
            stats: ResolverStats::default(),
        }
    }

    /// The name cached for `ip`, if any; queues a lookup when the entry is
    /// missing or expired (an expired name is still returned meanwhile).
    pub fn get(&mut self, ip: IpAddr, now: Instant) -> Option<&str> {
        let fresh = self.entries.get(&ip).map(|e| e.expires > now);
        match fresh {
            Some(true) => self.stats.hits += 1,
            _ => {
                self.stats.misses += 1;
                self.enqueue(ip);
            }
        }
        self.entries.get(&ip).and_then(|e| e.name.as_deref())
    }

    fn enqueue(&mut self, ip: IpAddr) {
        if self.pending.contains(&ip) {
            return;
        }
        if self.pending.len() >= self.config.queue {
            self.stats.dropped += 1;
            return;
        }
        self.pending.insert(ip);
        self.queue.push_back(ip);
    }

    /// The next address to look up (it stays pending until its answer).
    pub fn next_queued(&mut self) -> Option<IpAddr> {
        self.queue.pop_front()
    }

    /// Stores a lookup's result for `ip`.
    pub fn answer(&mut self, ip: IpAddr, result: Result<String, String>, now: Instant) {
        self.pending.remove(&ip);
        self.stats.lookups += 1;
        let (name, ttl) = match result.and_then(host_name) {
            Ok(name) => (Some(name), self.config.positive_ttl),
            Err(e) => {
                tracing::debug!(address = %ip, "No reverse DNS name: {e}");
                self.stats.failures += 1;
                (None, self.config.negative_ttl)
            }
        };
        if !self.entries.contains_key(&ip) {
            self.make_room(now);
        }
        if self.config.capacity > 0 {
            self.entries.insert(ip, Entry { name, expires: now + ttl });
        }
    }

    /// Frees one place when the cache is full: every expired entry, or else
    /// the entry that expires first.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.config.capacity {
            return;
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires > now);
        if self.entries.len() >= self.config.capacity {
            let first = self.entries.iter().min_by_key(|(_, e)| e.expires).map(|(ip, _)| *ip);
            if let Some(ip) = first {
                self.entries.remove(&ip);
            }
        }
        self.stats.evicted += (before - self.entries.len()) as u64;
    }

    /// What the cache holds and has done.
    pub fn stats(&self) -> ResolverStats {
        ResolverStats { entries: self.entries.len(), queued: self.pending.len(), ..self.stats }
    }
}

/// `name` without a trailing dot if it is a plausible host name, else why not.
fn host_name(name: String) -> Result<String, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(&name);
    let plausible = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plausible { Ok(trimmed.to_owned()) } else { Err(format!("{name:?} is not a host name")) }
}

/// Whether gomon looks `ip` up at all.
pub fn resolvable(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || broadcast)
}

/// The remote address of `c` if it names another host worth a lookup: TCP
/// or UDP, a remote port, no peer on this host, a resolvable address.
pub fn remote_ip(c: &Connection) -> Option<IpAddr> {
    if !matches!(c.kind, ConnectionKind::Tcp | ConnectionKind::Udp) || c.remote_port == 0 || c.peer_inode != 0 {
        return None;
    }
    let ip: IpAddr = c.remote_address.parse().ok()?;
    resolvable(ip).then_some(ip.to_canonical())
}

/// The system's reverse lookup: `getnameinfo(NI_NAMEREQD)`. Blocks for as
/// long as the resolver takes.
pub fn system_lookup(ip: IpAddr) -> Result<String, String> {
    dns_lookup::lookup_addr(&ip).map_err(|e| e.to_string())
}

struct State {
    cache: Cache,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The cache with its `gomon-resolve` worker thread. Asking never blocks
/// on a lookup. Dropping it stops the worker after the lookup in progress
/// (it is not joined: that lookup may take seconds).
pub struct HostNames {
    shared: Arc<Shared>,
}

impl HostNames {
    /// Starts the worker with the system's resolver.
    pub fn start(config: ResolverConfig) -> io::Result<Self> {
        Self::with_lookup(config, system_lookup)
    }

    /// Starts the worker with `lookup` as the resolver (tests inject one).
    pub fn with_lookup(
        config: ResolverConfig,
        lookup: impl Fn(IpAddr) -> Result<String, String> + Send + 'static,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { cache: Cache::new(config), stop: false }),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new().name("gomon-resolve".into()).spawn(move || work(&worker, lookup))?;
        Ok(HostNames { shared })
    }

    /// The cached name of `ip`, if any; a miss queues a lookup.
    pub fn name(&self, ip: IpAddr) -> Option<String> {
        if !resolvable(ip) {
            return None;
        }
        let mut state = self.shared.lock();
        let name = state.cache.get(ip.to_canonical(), Instant::now()).map(str::to_owned);
        let queued = !state.cache.queue.is_empty();
        drop(state);
        if queued {
            self.shared.wake.notify_one();
        }
        name
    }

    /// Sets `remote_host_name` of every connection to another host from the
    /// cache (one lock for all), and queues the addresses it lacks.
    pub fn fill(&self, connections: &mut [Connection]) {
        let now = Instant::now();
        let mut state = self.shared.lock();
        for c in connections.iter_mut() {
            if let Some(ip) = remote_ip(c) {
                c.remote_host_name = state.cache.get(ip, now).map(str::to_owned);
            }
        }
        let queued = !state.cache.queue.is_empty();
        drop(state);
        if queued {
            self.shared.wake.notify_one();
        }
    }

    /// What the cache holds and has done.
    pub fn stats(&self) -> ResolverStats {
        self.shared.lock().cache.stats()
    }
}

impl Drop for HostNames {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
    }
}

/// The worker: one lookup at a time, the cache unlocked while it runs.
fn work(shared: &Shared, lookup: impl Fn(IpAddr) -> Result<String, String>) {
    loop {
        let ip = {
            let mut state = shared.lock();
            loop {
                if state.stop {
                    return;
                }
                if let Some(ip) = state.cache.next_queued() {
                    break ip;
                }
                state = shared.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lookup(ip)))
            .unwrap_or_else(|_| Err("the lookup panicked".to_owned()));
        shared.lock().cache.answer(ip, result, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn config() -> ResolverConfig {
        ResolverConfig {
            positive_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(60),
            capacity: 3,
            queue: 2,
        }
    }

    #[test]
    fn a_miss_queues_once_and_the_answer_is_a_hit() {
        let mut cache = Cache::new(config());
        let t0 = Instant::now();
        let a = ip("192.0.2.7");
        assert_eq!(cache.get(a, t0), None);
        assert_eq!(cache.get(a, t0), None, "still a miss while the lookup is pending");
        assert_eq!(cache.next_queued(), Some(a));
        assert_eq!(cache.next_queued(), None, "queued once");
        cache.answer(a, Ok("www.example.org.".into()), t0);
        assert_eq!(cache.get(a, t0 + Duration::from_secs(1)), Some("www.example.org"));
        assert_eq!(cache.next_queued(), None, "a hit queues nothing");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.lookups, stats.failures), (1, 2, 1, 0));
        assert_eq!((stats.entries, stats.queued), (1, 0));
    }

    #[test]
    fn a_failure_is_cached_until_the_negative_ttl() {
        let mut cache = Cache::new(config());
        let t0 = Instant::now();
        let a = ip("2001:db8::1");
        cache.get(a, t0);
        let queued = cache.next_queued().unwrap();
        cache.answer(queued, Err("Name or service not known".into()), t0);
        assert_eq!(cache.get(a, t0 + Duration::from_secs(59)), None);
        assert_eq!(cache.next_queued(), None, "a fresh failure is not retried");
        assert_eq!(cache.get(a, t0 + Duration::from_secs(61)), None);
        assert_eq!(cache.next_queued(), Some(a), "an expired failure is retried");
        assert_eq!(cache.stats().failures, 1);
    }

    #[test]
    fn an_expired_name_is_kept_while_it_is_looked_up_again() {
        let mut cache = Cache::new(config());
        let t0 = Instant::now();
        let a = ip("198.51.100.1");
        cache.get(a, t0);
        cache.next_queued();
        cache.answer(a, Ok("old.example".into()), t0);
        let later = t0 + Duration::from_secs(601);
        assert_eq!(cache.get(a, later), Some("old.example"));
        assert_eq!(cache.next_queued(), Some(a), "expired: looked up again");
        cache.answer(a, Ok("new.example".into()), later);
        assert_eq!(cache.get(a, later), Some("new.example"));
        cache.answer(a, Err("gone".into()), later);
        assert_eq!(cache.get(a, later), None, "a failed refresh forgets the name");
    }

    #[test]
    fn the_queue_and_the_cache_are_bounded() {
        let mut cache = Cache::new(config());
        let t0 = Instant::now();
        let addresses: Vec<IpAddr> = (1..=4).map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i))).collect();
        for &a in &addresses[..3] {
            cache.get(a, t0);
        }
        let stats = cache.stats();
        assert_eq!((stats.queued, stats.dropped), (2, 1), "queue of 2: the third miss is dropped");
        // Answers for four addresses into a cache of three; the one that
        // expires first (a failure, 1 min) goes.
        for (i, &a) in addresses.iter().enumerate() {
            let result = if i == 1 { Err("no name".to_owned()) } else { Ok(format!("h{i}.example")) };
            cache.answer(a, result, t0);
        }
        assert_eq!(cache.stats().entries, 3);
        assert_eq!(cache.stats().evicted, 1);
        assert_eq!(cache.get(addresses[0], t0), Some("h0.example"));
        assert_eq!(cache.get(addresses[3], t0), Some("h3.example"));
        assert!(!cache.entries.contains_key(&addresses[1]));
        // Expired entries are all dropped before a fresh one is.
        let later = t0 + Duration::from_secs(700);
        cache.answer(ip("192.0.2.9"), Ok("h9.example".into()), later);
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn implausible_names_are_failures() {
        assert_eq!(host_name("db-1.internal.".into()), Ok("db-1.internal".into()));
        assert_eq!(host_name("_gateway".into()), Ok("_gateway".into()));
        assert!(host_name("<script>".into()).is_err());
        assert!(host_name("a b".into()).is_err());
        assert!(host_name(String::new()).is_err());
        assert!(host_name("a".repeat(254)).is_err());
        let mut cache = Cache::new(config());
        let t0 = Instant::now();
        cache.answer(ip("192.0.2.1"), Ok("evil\n.example".into()), t0);
        assert_eq!(cache.get(ip("192.0.2.1"), t0), None);
        assert_eq!(cache.stats().failures, 1);
    }

    #[test]
    fn local_and_special_addresses_are_not_looked_up() {
        for text in ["127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1", "224.0.0.251", "ff02::fb"] {
            assert!(!resolvable(ip(text)), "{text}");
        }
        for text in ["192.0.2.7", "2001:db8::1", "10.0.0.1", "::ffff:192.0.2.7"] {
            assert!(resolvable(ip(text)), "{text}");
        }
        assert!(!resolvable(IpAddr::V4(Ipv4Addr::BROADCAST)));
        assert!(!resolvable(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    fn tcp(remote: &str, port: u16, peer: u64) -> Connection {
        Connection {
            kind: ConnectionKind::Tcp,
            remote_address: remote.into(),
            remote_port: port,
            peer_inode: peer,
            ..Connection::default()
        }
    }

    #[test]
    fn only_remote_ends_of_inet_connections_are_asked_for() {
        assert_eq!(remote_ip(&tcp("192.0.2.7", 443, 0)), Some(ip("192.0.2.7")));
        assert_eq!(remote_ip(&tcp("::ffff:192.0.2.7", 443, 0)), Some(ip("192.0.2.7")));
        assert_eq!(remote_ip(&tcp("192.0.2.7", 443, 12)), None, "the peer is on this host");
        assert_eq!(remote_ip(&tcp("192.0.2.7", 0, 0)), None, "no remote end");
        assert_eq!(remote_ip(&tcp("127.0.0.1", 5432, 0)), None);
        assert_eq!(remote_ip(&tcp("", 80, 0)), None);
        let unix = Connection { kind: ConnectionKind::UnixStream, ..tcp("192.0.2.7", 443, 0) };
        assert_eq!(remote_ip(&unix), None);
    }

    /// Polls `f` until it returns `Some`, for at most 10 s.
    fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(value) = f() {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_worker_fills_names_in_a_later_pass() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let names = HostNames::with_lookup(ResolverConfig::default(), move |ip| {
            counter.fetch_add(1, Ordering::SeqCst);
            match ip {
                IpAddr::V4(v4) if v4.octets()[3] == 7 => Ok(format!("host-{}.example.", v4.octets()[3])),
                _ => Err("Name or service not known".to_owned()),
            }
        })
        .unwrap();
        let mut connections = vec![
            tcp("192.0.2.7", 443, 0),
            tcp("192.0.2.7", 80, 0),
            tcp("192.0.2.8", 443, 0),
            tcp("127.0.0.1", 5432, 0),
            tcp("192.0.2.9", 443, 44),
        ];
        names.fill(&mut connections);
        assert!(connections.iter().all(|c| c.remote_host_name.is_none()), "a miss answers nothing at once");
        eventually(|| (names.stats().lookups == 2).then_some(()));
        names.fill(&mut connections);
        let got: Vec<Option<&str>> = connections.iter().map(|c| c.remote_host_name.as_deref()).collect();
        assert_eq!(got, [Some("host-7.example"), Some("host-7.example"), None, None, None]);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one lookup per address; none for local ends");
        assert_eq!(names.name(ip("192.0.2.7")).as_deref(), Some("host-7.example"));
        assert_eq!(names.name(ip("127.0.0.1")), None);
    }

    #[test]
    fn a_panicking_lookup_is_a_failure_and_the_worker_goes_on() {
        let names = HostNames::with_lookup(ResolverConfig::default(), |ip| match ip {
            IpAddr::V4(v4) if v4.octets()[3] == 1 => panic!("resolver bug"),
            _ => Ok("fine.example".to_owned()),
        })
        .unwrap();
        assert_eq!(names.name(ip("192.0.2.1")), None);
        eventually(|| (names.stats().failures == 1).then_some(()));
        eventually(|| names.name(ip("192.0.2.2")));
        assert_eq!(names.name(ip("192.0.2.2")).as_deref(), Some("fine.example"));
    }

    /// The first address and name of an IPv4 line of /etc/hosts.
    fn hosts_entry() -> Option<(IpAddr, String)> {
        let text = std::fs::read_to_string("/etc/hosts").ok()?;
        text.lines().find_map(|line| {
            let mut words = line.split('#').next()?.split_whitespace();
            let address: Ipv4Addr = words.next()?.parse().ok()?;
            Some((IpAddr::V4(address), words.next()?.to_owned()))
        })
    }

    #[test]
    fn the_system_resolver_reads_etc_hosts() {
        // Deterministic only through /etc/hosts (nsswitch `files` first);
        // getnameinfo answers an address's first line, first name.
        let Some((address, name)) = hosts_entry() else {
            eprintln!("skipped: /etc/hosts has no IPv4 entry");
            return;
        };
        assert_eq!(system_lookup(address), Ok(name));
    }
}
