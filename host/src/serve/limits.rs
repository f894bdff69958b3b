//! Connection bounds: how many connections the server holds, per peer and in all, and
//! which one goes when a new one needs the room.
//!
//! Every accepted connection is admitted here first. A peer is an IPv4 address or an
//! IPv6 /64 (one machine's share of addresses). When the peer already holds
//! `max_per_peer` connections, or the server holds `max_connections`, an older
//! connection that is not running a request is evicted to make room: first one that is
//! idle (waiting for a request), then one stuck writing a response (a slow reader),
//! oldest first, from the peer itself when it is at its cap, else from the peer that
//! holds the most. A connection is refused only when every candidate is busy running a
//! request. So a scrape from a new peer gets in however many idle or slow connections
//! others hold, and no peer can take the whole server.
//!
//! Each connection's [`Phase`] says what it is doing and since when; the connection
//! task ([`super::conn`]) enforces the deadlines on it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The server's connection limits and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections held at once, all peers together.
    pub max_connections: usize,
    /// Connections held at once from one peer.
    pub max_per_peer: usize,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a request head may take once its first byte has arrived.
    pub header_timeout: Duration,
    /// Time a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time a write may make no progress (the peer reads nothing).
    pub write_timeout: Duration,
    /// Time one response may take to be written, however slowly the peer reads.
    pub response_timeout: Duration,
    /// Time a connection may live; then it is closed after its current request.
    pub max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_per_peer: 64,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(600),
        }
    }
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for the TLS handshake or the next request.
    Idle = 0,
    /// A request head is arriving.
    Reading = 1,
    /// A request is being answered (the handler runs).
    Handling = 2,
    /// The answer is being written.
    Writing = 3,
}

/// A connection's phase and when it began, shared by the connection's parts.
#[derive(Debug)]
pub struct ConnState {
    phase: AtomicU8,
    since_ms: AtomicU64,
    write_blocked_ms: AtomicU64,
    epoch: Instant,
}

/// `write_blocked_ms` when no write is blocked.
const NOT_BLOCKED: u64 = u64::MAX;

impl ConnState {
    fn new(epoch: Instant) -> Self {
        let state = ConnState {
            phase: AtomicU8::new(Phase::Idle as u8),
            since_ms: AtomicU64::new(0),
            write_blocked_ms: AtomicU64::new(NOT_BLOCKED),
            epoch,
        };
        state.set(Phase::Idle);
        state
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Reading,
            2 => Phase::Handling,
            3 => Phase::Writing,
            _ => Phase::Idle,
        }
    }

    /// Enters `phase` now.
    pub fn set(&self, phase: Phase) {
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Enters `to` if the phase is `from` (a read while idle starts a request head).
    pub fn advance(&self, from: Phase, to: Phase) {
        if self.phase.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.since_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    /// Time in the current phase.
    pub fn in_phase(&self) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(self.since_ms.load(Ordering::Acquire)))
    }

    /// A write could not proceed (the socket is full); the first one counts.
    pub fn write_blocked(&self) {
        let now = self.now_ms();
        let _ = self.write_blocked_ms.compare_exchange(NOT_BLOCKED, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A write proceeded.
    pub fn write_progressed(&self) {
        self.write_blocked_ms.store(NOT_BLOCKED, Ordering::Release);
    }

    /// How long writes have made no progress.
    pub fn write_stalled(&self) -> Duration {
        match self.write_blocked_ms.load(Ordering::Acquire) {
            NOT_BLOCKED => Duration::ZERO,
            since => Duration::from_millis(self.now_ms().saturating_sub(since)),
        }
    }
}

/// A peer: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer(IpAddr);

impl Peer {
    /// The peer of an address.
    pub fn of(ip: IpAddr) -> Peer {
        match ip {
            IpAddr::V4(v4) => Peer(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Peer(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Peer(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
                }
            },
        }
    }
}

struct Entry {
    peer: Peer,
    opened: Instant,
    state: Arc<ConnState>,
    evict: Arc<Notify>,
}

#[derive(Default)]
struct Held {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    per_peer: HashMap<Peer, usize>,
}

/// Counters of the registry (self-metrics, tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    /// Connections held now.
    pub open: usize,
    /// Connections admitted so far.
    pub admitted: u64,
    /// Connections evicted to make room.
    pub evicted: u64,
    /// Connections refused (every candidate was busy).
    pub refused: u64,
}

/// The connections the server holds.
pub struct Registry {
    limits: Limits,
    epoch: Instant,
    held: Mutex<Held>,
    stats: Mutex<RegistryStats>,
}

/// A connection's place in the registry; dropping it frees the place.
pub struct Ticket {
    registry: Arc<Registry>,
    id: u64,
    /// The connection's phase.
    pub state: Arc<ConnState>,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Resolves when the registry evicts this connection to make room for another.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

impl Registry {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: Limits) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            held: Mutex::new(Held::default()),
            stats: Mutex::new(RegistryStats::default()),
        })
    }

    /// The limits enforced.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The counters now.
    pub fn stats(&self) -> RegistryStats {
        let open = lock(&self.held).conns.len();
        RegistryStats { open, ..*lock(&self.stats) }
    }

    /// Admits a connection from `ip`, evicting another to make room if it must;
    /// `None`: refused.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let peer = Peer::of(ip);
        let mut held = lock(&self.held);
        let at_peer_cap = held.per_peer.get(&peer).copied().unwrap_or(0) >= self.limits.max_per_peer.max(1);
        let full = held.conns.len() >= self.limits.max_connections.max(1);
        if at_peer_cap || full {
            let from = if at_peer_cap {
                Some(peer)
            } else {
                // The peer holding the most (ties: any); a new peer is never the one evicted from.
                held.per_peer.iter().filter(|(p, _)| **p != peer).max_by_key(|(_, n)| **n).map(|(p, _)| *p)
            };
            let victim = from
                .and_then(|p| victim(&held, Some(p)))
                .or_else(|| if at_peer_cap { None } else { victim(&held, None) });
            let Some(id) = victim else {
                lock(&self.stats).refused += 1;
                return None;
            };
            if let Some(entry) = remove(&mut held, id) {
                entry.evict.notify_one();
                lock(&self.stats).evicted += 1;
            }
        }
        let id = held.next_id;
        held.next_id += 1;
        let state = Arc::new(ConnState::new(self.epoch));
        let evict = Arc::new(Notify::new());
        held.conns.insert(id, Entry { peer, opened: Instant::now(), state: state.clone(), evict: evict.clone() });
        *held.per_peer.entry(peer).or_default() += 1;
        drop(held);
        lock(&self.stats).admitted += 1;
        Some(Ticket { registry: self.clone(), id, state, evict })
    }

    fn release(&self, id: u64) {
        remove(&mut lock(&self.held), id);
    }
}

/// The connection to evict among `peer`'s (or everyone's): idle before writing, reading
/// (a head trickling in) last, oldest first; never one running a request.
fn victim(held: &Held, peer: Option<Peer>) -> Option<u64> {
    let rank = |phase: Phase| match phase {
        Phase::Idle => Some(0),
        Phase::Writing => Some(1),
        Phase::Reading => Some(2),
        Phase::Handling => None,
    };
    held.conns
        .iter()
        .filter(|(_, e)| peer.is_none_or(|p| e.peer == p))
        .filter_map(|(id, e)| rank(e.state.phase()).map(|r| (r, e.opened, *id)))
        .min()
        .map(|(_, _, id)| id)
}

fn remove(held: &mut Held, id: u64) -> Option<Entry> {
    let entry = held.conns.remove(&id)?;
    if let Some(n) = held.per_peer.get_mut(&entry.peer) {
        *n -= 1;
        if *n == 0 {
            held.per_peer.remove(&entry.peer);
        }
    }
    Some(entry)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    fn limits(max: usize, per_peer: usize) -> Limits {
        Limits { max_connections: max, max_per_peer: per_peer, ..Limits::default() }
    }

    #[test]
    fn a_new_peer_gets_in_past_a_full_server() {
        let registry = Registry::new(limits(4, 4));
        let held: Vec<Ticket> = (0..4).map(|_| registry.admit(ip(2)).unwrap()).collect();
        let scrape = registry.admit(ip(1)).expect("a new peer is admitted");
        assert_eq!(registry.stats().open, 4);
        assert_eq!(registry.stats().evicted, 1);
        // The oldest idle connection of the biggest peer went.
        let evicted: Vec<bool> = held.iter().map(|t| t.evict.notified().now_or_never_is_ready()).collect();
        assert_eq!(evicted, [true, false, false, false]);
        drop(scrape);
        assert_eq!(registry.stats().open, 3);
    }

    #[test]
    fn a_peer_at_its_cap_evicts_its_own_oldest_idle_connection() {
        let registry = Registry::new(limits(100, 2));
        let a = registry.admit(ip(2)).unwrap();
        let b = registry.admit(ip(2)).unwrap();
        a.state.set(Phase::Handling);
        let _c = registry.admit(ip(2)).expect("b is idle and goes");
        assert!(b.evict.notified().now_or_never_is_ready());
        assert!(!a.evict.notified().now_or_never_is_ready());
        assert_eq!(registry.stats().open, 2);
        let other = registry.admit(ip(3));
        assert!(other.is_some(), "other peers are not affected");
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let registry = Registry::new(limits(2, 2));
        let a = registry.admit(ip(2)).unwrap();
        let b = registry.admit(ip(3)).unwrap();
        a.state.set(Phase::Handling);
        b.state.set(Phase::Handling);
        assert!(registry.admit(ip(4)).is_none());
        assert_eq!(registry.stats().refused, 1);
        b.state.set(Phase::Writing);
        assert!(registry.admit(ip(4)).is_some(), "a slow reader makes room");
    }

    #[test]
    fn ipv6_peers_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Peer::of(a), Peer::of(b));
        assert_ne!(Peer::of(a), Peer::of(c));
        let mapped: IpAddr = "::ffff:127.0.0.7".parse().unwrap();
        assert_eq!(Peer::of(mapped), Peer::of(ip(7)));
    }

    #[test]
    fn phases_and_stalls_are_timed() {
        let state = ConnState::new(Instant::now());
        assert_eq!(state.phase(), Phase::Idle);
        state.advance(Phase::Idle, Phase::Reading);
        assert_eq!(state.phase(), Phase::Reading);
        state.advance(Phase::Idle, Phase::Handling);
        assert_eq!(state.phase(), Phase::Reading, "advance only from the given phase");
        assert_eq!(state.write_stalled(), Duration::ZERO);
        state.write_blocked();
        std::thread::sleep(Duration::from_millis(5));
        assert!(state.write_stalled() >= Duration::from_millis(5));
        state.write_progressed();
        assert_eq!(state.write_stalled(), Duration::ZERO);
    }

    trait NowOrNever {
        fn now_or_never_is_ready(self) -> bool;
    }

    impl<F: std::future::Future> NowOrNever for F {
        fn now_or_never_is_ready(self) -> bool {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut fut = std::pin::pin!(self);
            fut.as_mut().poll(&mut cx).is_ready()
        }
    }
}
