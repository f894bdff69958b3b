//! Socket discovery on captured kernel replies and on this machine.
//!
//! The fixtures `host/sample/tests/fixtures/netlink/{tcp4,tcp6,udp4,udp6,unix}.bin`
//! are the raw datagrams the kernel sent for each dump, concatenated (a
//! valid netlink message stream). They were captured by
//! [`capture_netlink_fixtures`] while it held the sockets listed in
//! `host/sample/tests/fixtures/netlink/README.md`; re-capture with
//!
//! ```sh
//! cargo test --release -p gomon-sample --lib sockets::tests::capture_netlink_fixtures -- --ignored
//! ```

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::fds::FdTable;
use super::inet::{InetSocket, Protocol, state};
use super::netlink::{DiagSocket, Dump, Progress, Replies, parse_replies};
use super::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netlink")
}

/// Ports and paths the capture binds (fixed, so the fixtures can be
/// checked; the capture is a one-off by hand).
const PORT_LISTEN: u16 = 47123;
const PORT_UDP_SERVER: u16 = 47124;
const PORT_UDP_A: u16 = 47125;
const PORT_UDP_B: u16 = 47126;
const UNIX_PATH: &str = "/tmp/gomon-fixture.sock";
const UNIX_ABSTRACT: &[u8] = b"gomon-fixture";
/// Socket pairs added to the unix dump so that it spans several datagrams.
const UNIX_FILLER_PAIRS: usize = 600;

fn inode_of(fd: RawFd) -> u64 {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fd is open; st is writable.
    assert_eq!(unsafe { libc::fstat(fd, st.as_mut_ptr()) }, 0, "fstat");
    // SAFETY: filled by fstat.
    unsafe { st.assume_init() }.st_ino
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn abstract_datagram(name: &[u8]) -> std::io::Result<UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixDatagram::bind_addr(&address)
}

/// The sockets the fixtures were captured with.
struct Known {
    _tcp: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
    _udp: Vec<UdpSocket>,
    _unix: Vec<UnixStream>,
    _unix_listener: UnixListener,
    _dgram: UnixDatagram,
    _seqpacket: (OwnedFd, OwnedFd),
    _filler: Vec<(UnixStream, UnixStream)>,
}

fn open_known_sockets() -> Known {
    let mut listeners = Vec::new();
    let mut tcp = Vec::new();
    for host in ["127.0.0.1", "::1"] {
        let listener = TcpListener::bind((host, PORT_LISTEN)).expect("bind the fixture port");
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        listeners.push(listener);
        tcp.extend([client, accepted]);
    }
    let mut udp = Vec::new();
    for host in ["127.0.0.1", "::1"] {
        udp.push(UdpSocket::bind((host, PORT_UDP_SERVER)).unwrap());
    }
    let a = UdpSocket::bind(("127.0.0.1", PORT_UDP_A)).unwrap();
    let b = UdpSocket::bind(("127.0.0.1", PORT_UDP_B)).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    udp.extend([a, b]);
    let _ = fs::remove_file(UNIX_PATH);
    let unix_listener = UnixListener::bind(UNIX_PATH).unwrap();
    let client = UnixStream::connect(UNIX_PATH).unwrap();
    let (accepted, _) = unix_listener.accept().unwrap();
    let filler = (0..UNIX_FILLER_PAIRS).map(|_| UnixStream::pair().unwrap()).collect();
    Known {
        _tcp: tcp,
        _listeners: listeners,
        _udp: udp,
        _unix: vec![client, accepted],
        _unix_listener: unix_listener,
        _dgram: abstract_datagram(UNIX_ABSTRACT).unwrap(),
        _seqpacket: seqpacket_pair(),
        _filler: filler,
    }
}

/// Captures live dumps and checks they parse whole. With
/// `GOMON_CAPTURE_FIXTURES=1` it writes them as the fixtures (see the module
/// documentation); otherwise into a temporary directory.
#[test]
fn capture_netlink_fixtures() {
    let known = open_known_sockets();
    let tmp = tempfile::tempdir().unwrap();
    let dir = if std::env::var_os("GOMON_CAPTURE_FIXTURES").is_some() { fixture_dir() } else { tmp.path().to_owned() };
    fs::create_dir_all(&dir).unwrap();
    let mut socket = DiagSocket::open().unwrap();
    for dump in Dump::ALL {
        let mut bytes = Vec::new();
        let mut replies = Replies::default();
        socket.dump(dump, &mut replies, Some(&mut bytes)).unwrap();
        let path = dir.join(format!("{}.bin", dump.name()));
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        let mut reparsed = Replies::default();
        assert_eq!(parse_replies(&bytes, dump, None, &mut reparsed).unwrap(), Progress::Done, "{}", dump.name());
        eprintln!(
            "{}: {} bytes, {} inet, {} unix sockets",
            path.display(),
            bytes.len(),
            replies.inet.len(),
            replies.unix.len()
        );
    }
    drop(known);
    let _ = fs::remove_file(UNIX_PATH);
}

fn parse_fixture(dump: Dump) -> Replies {
    let bytes = fs::read(fixture_dir().join(format!("{}.bin", dump.name()))).unwrap();
    let mut whole = Replies::default();
    assert_eq!(parse_replies(&bytes, dump, None, &mut whole).unwrap(), Progress::Done, "{}", dump.name());
    assert!(whole.skipped.is_empty(), "{:?}", whole.skipped);
    // Message by message, as if each came in its own datagram: the same.
    let mut split = Replies::default();
    let mut offset = 0;
    let mut progress = Progress::More;
    while offset < bytes.len() {
        let len = u32::from_ne_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        let end = (offset + ((len + 3) & !3)).min(bytes.len());
        progress = parse_replies(&bytes[offset..end], dump, None, &mut split).unwrap();
        offset = end;
    }
    assert_eq!(progress, Progress::Done);
    assert_eq!(split, whole);
    whole
}

fn find_inet(sockets: &[InetSocket], state: u8, local: &str, remote: &str) -> InetSocket {
    let (local, remote): (SocketAddr, SocketAddr) = (local.parse().unwrap(), remote.parse().unwrap());
    sockets
        .iter()
        .find(|s| s.state == state && s.local == local && (remote.port() == 0 || s.remote == remote))
        .unwrap_or_else(|| panic!("no socket {local} -> {remote} in state {state}: {sockets:#?}"))
        .clone()
}

#[test]
fn fixture_tcp4_and_tcp6_pair_their_loopback_ends() {
    for (dump, host, wildcard) in [(Dump::Tcp4, "127.0.0.1", "0.0.0.0"), (Dump::Tcp6, "[::1]", "[::]")] {
        let replies = parse_fixture(dump);
        assert!(replies.inet.iter().all(|s| s.protocol == Protocol::Tcp));
        let listener =
            find_inet(&replies.inet, state::LISTEN, &format!("{host}:{PORT_LISTEN}"), &format!("{wildcard}:0"));
        assert_ne!(listener.inode, 0);
        let accepted = replies
            .inet
            .iter()
            .find(|s| s.state == state::ESTABLISHED && s.local == listener.local)
            .expect("the accepted end")
            .clone();
        let client =
            find_inet(&replies.inet, state::ESTABLISHED, &accepted.remote.to_string(), &accepted.local.to_string());
        let mut out = Vec::new();
        pair::assemble(&replies.inet, &[], &FdTable::default(), &HashSet::new(), &mut out);
        let record = |inode: u32| out.iter().find(|c| c.inode == u64::from(inode)).unwrap();
        assert_eq!(record(client.inode).peer_inode, u64::from(accepted.inode));
        assert_eq!(record(accepted.inode).peer_inode, u64::from(client.inode));
        assert_eq!(record(listener.inode).state, "listen");
        assert_eq!(record(client.inode).remote_port, PORT_LISTEN);
        if dump == Dump::Tcp6 {
            assert_eq!(record(client.inode).local_address, "::1");
            assert!(listener.family == libc::AF_INET6 as u8);
        }
    }
}

#[test]
fn fixture_udp_has_servers_and_a_connected_pair() {
    let udp4 = parse_fixture(Dump::Udp4);
    let server = find_inet(&udp4.inet, state::CLOSE, &format!("127.0.0.1:{PORT_UDP_SERVER}"), "0.0.0.0:0");
    assert_eq!(server.state, state::CLOSE);
    let a = find_inet(
        &udp4.inet,
        state::ESTABLISHED,
        &format!("127.0.0.1:{PORT_UDP_A}"),
        &format!("127.0.0.1:{PORT_UDP_B}"),
    );
    let b = find_inet(
        &udp4.inet,
        state::ESTABLISHED,
        &format!("127.0.0.1:{PORT_UDP_B}"),
        &format!("127.0.0.1:{PORT_UDP_A}"),
    );
    let mut out = Vec::new();
    pair::assemble(&udp4.inet, &[], &FdTable::default(), &HashSet::new(), &mut out);
    let record = |inode: u32| out.iter().find(|c| c.inode == u64::from(inode)).unwrap();
    assert_eq!((record(a.inode).peer_inode, record(b.inode).peer_inode), (u64::from(b.inode), u64::from(a.inode)));
    assert_eq!(record(server.inode).state, "unconnected");
    let udp6 = parse_fixture(Dump::Udp6);
    find_inet(&udp6.inet, state::CLOSE, &format!("[::1]:{PORT_UDP_SERVER}"), "[::]:0");
}

#[test]
fn fixture_unix_spans_datagrams_and_names_peers() {
    let bytes = fs::read(fixture_dir().join("unix.bin")).unwrap();
    assert!(bytes.len() > 40 * 1024, "the unix fixture should span several datagrams ({} bytes)", bytes.len());
    let replies = parse_fixture(Dump::Unix);
    assert!(replies.unix.len() >= 2 * UNIX_FILLER_PAIRS, "{}", replies.unix.len());
    let by_inode: std::collections::HashMap<u32, &unix::UnixSocket> =
        replies.unix.iter().map(|s| (s.inode, s)).collect();
    // Every connected socket's peer names it back.
    let mut pairs = 0;
    for s in replies.unix.iter().filter(|s| s.peer != 0 && s.kind == ConnectionKind::UnixStream) {
        if let Some(peer) = by_inode.get(&s.peer) {
            assert_eq!(peer.peer, s.inode, "{s:?} / {peer:?}");
            pairs += 1;
        }
    }
    assert!(pairs >= 2 * UNIX_FILLER_PAIRS, "{pairs}");
    let listener = replies.unix.iter().find(|s| s.name == UNIX_PATH && s.state == state::LISTEN).expect("the listener");
    assert_eq!(listener.kind, ConnectionKind::UnixStream);
    let accepted = replies
        .unix
        .iter()
        .find(|s| s.name == UNIX_PATH && s.state == state::ESTABLISHED)
        .expect("the accepted end carries the listener's name");
    let client = by_inode[&accepted.peer];
    assert_eq!(client.name, "");
    let dgram = replies.unix.iter().find(|s| s.name == "@gomon-fixture").expect("the abstract datagram socket");
    assert_eq!((dgram.kind, dgram.state), (ConnectionKind::UnixDatagram, state::CLOSE));
    let seqpacket: Vec<_> = replies.unix.iter().filter(|s| s.kind == ConnectionKind::UnixSeqpacket).collect();
    assert!(seqpacket.iter().any(|s| by_inode.get(&s.peer).is_some_and(|p| p.peer == s.inode)), "{seqpacket:?}");
    let mut out = Vec::new();
    pair::assemble(&[], &replies.unix, &FdTable::default(), &HashSet::new(), &mut out);
    let record = out.iter().find(|c| c.inode == u64::from(client.inode)).unwrap();
    assert_eq!((record.remote_address.as_str(), record.peer_inode), (UNIX_PATH, u64::from(accepted.inode)));
}

// ---------------------------------------------------------------- live

/// Kills and reaps a child on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn record(connections: &[Connection], kind: ConnectionKind, inode: u64) -> &Connection {
    connections
        .iter()
        .find(|c| c.kind == kind && c.inode == inode)
        .unwrap_or_else(|| panic!("no {kind:?} connection with inode {inode}"))
}

/// Holds a descriptor in a child process whose pid we know: `sleep` with
/// the descriptor as its stdout.
fn child_holding(fd: OwnedFd) -> Reaped {
    Reaped(Command::new("sleep").arg("30").stdin(Stdio::null()).stdout(Stdio::from(fd)).spawn().unwrap())
}

#[test]
fn live_discovery_finds_known_connections() {
    let me = std::process::id();

    // TCP: a listener, a client and the accepted end, all in this process.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    // A second client held by a child only, to check its pid.
    let child_client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (child_accepted, _) = listener.accept().unwrap();
    let child_client_inode = inode_of(child_client.as_raw_fd());
    let tcp_child = child_holding(OwnedFd::from(child_client));
    // UDP: a connected client of an unconnected server.
    let udp_server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_client = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_client.connect(udp_server.local_addr().unwrap()).unwrap();
    // Unix: a stream pair, a datagram pair, a seqpacket pair, a named listener.
    let (stream_a, stream_b) = UnixStream::pair().unwrap();
    let (dgram_a, dgram_b) = UnixDatagram::pair().unwrap();
    let (seq_a, seq_b) = seqpacket_pair();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("live.sock");
    let unix_listener = UnixListener::bind(&socket_path).unwrap();
    let unix_client = UnixStream::connect(&socket_path).unwrap();
    let (unix_accepted, _) = unix_listener.accept().unwrap();
    // A pipe to a child: we write, cat reads.
    let cat = Reaped(Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("cat"));
    let pipe_inode = inode_of(cat.0.stdin.as_ref().unwrap().as_raw_fd());
    let cat_pid = cat.0.id();
    // A FIFO: we read, a child writes.
    let fifo_path = dir.path().join("live.fifo");
    let c_path = std::ffi::CString::new(fifo_path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c_path is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let fifo_reader = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo_path).unwrap();
    let fifo_writer = File::options().write(true).open(&fifo_path).unwrap();
    let fifo_inode = inode_of(fifo_reader.as_raw_fd());
    let fifo_child = child_holding(OwnedFd::from(fifo_writer));

    let discovery = SocketDiscovery::manual(SocketConfig::default());
    let snapshot = discovery.discover_now();
    assert!(snapshot.error.is_none(), "{:?}", snapshot.error);
    assert!(snapshot.taken_at.is_some() && snapshot.duration > Duration::ZERO);
    assert_eq!((snapshot.attempts, snapshot.failures), (1, 0));
    let c = snapshot.connections.as_slice();
    let inode = |fd: RawFd| inode_of(fd);

    let l = record(c, ConnectionKind::Tcp, inode(listener.as_raw_fd()));
    assert_eq!((l.state.as_str(), l.local_address.as_str(), l.peer_inode), ("listen", "127.0.0.1", 0));
    assert!(l.pids.contains(&me), "{l:?}");
    let cl = record(c, ConnectionKind::Tcp, inode(client.as_raw_fd()));
    let ac = record(c, ConnectionKind::Tcp, inode(accepted.as_raw_fd()));
    assert_eq!(cl.state, "established");
    assert_eq!((cl.peer_inode, ac.peer_inode), (ac.inode, cl.inode));
    assert_eq!((cl.remote_port, ac.local_port), (listener.local_addr().unwrap().port(), cl.remote_port));
    assert!(cl.pids.contains(&me) && ac.pids.contains(&me));
    let cc = record(c, ConnectionKind::Tcp, child_client_inode);
    assert!(cc.pids.contains(&tcp_child.0.id()), "{cc:?}");
    assert!(!cc.pids.contains(&me), "{cc:?}");
    assert_eq!(cc.peer_inode, inode(child_accepted.as_raw_fd()));

    let us = record(c, ConnectionKind::Udp, inode(udp_server.as_raw_fd()));
    let uc = record(c, ConnectionKind::Udp, inode(udp_client.as_raw_fd()));
    assert_eq!((us.state.as_str(), uc.state.as_str()), ("unconnected", "established"));
    assert_eq!((uc.peer_inode, us.peer_inode), (us.inode, 0));

    for (kind, a, b) in [
        (ConnectionKind::UnixStream, stream_a.as_raw_fd(), stream_b.as_raw_fd()),
        (ConnectionKind::UnixDatagram, dgram_a.as_raw_fd(), dgram_b.as_raw_fd()),
        (ConnectionKind::UnixSeqpacket, seq_a.as_raw_fd(), seq_b.as_raw_fd()),
    ] {
        let (ra, rb) = (record(c, kind, inode(a)), record(c, kind, inode(b)));
        assert_eq!((ra.peer_inode, rb.peer_inode), (rb.inode, ra.inode), "{kind:?}");
        assert_eq!(ra.state, "established");
        assert!(ra.pids.contains(&me) && rb.pids.contains(&me));
    }
    let path = socket_path.to_str().unwrap();
    let ul = record(c, ConnectionKind::UnixStream, inode(unix_listener.as_raw_fd()));
    assert_eq!((ul.state.as_str(), ul.local_address.as_str()), ("listen", path));
    let ucl = record(c, ConnectionKind::UnixStream, inode(unix_client.as_raw_fd()));
    assert_eq!((ucl.peer_inode, ucl.remote_address.as_str()), (inode(unix_accepted.as_raw_fd()), path));

    let pipe = record(c, ConnectionKind::Pipe, pipe_inode);
    assert!(pipe.pids.contains(&me) && pipe.pids.contains(&cat_pid), "{pipe:?}");
    assert!(pipe.state.starts_with("w:") && pipe.state.contains(&me.to_string()), "{pipe:?}");
    let readers = pipe.state.split_once(" r:").unwrap().1;
    assert!(readers.split(',').any(|p| p == cat_pid.to_string()), "{pipe:?}");
    assert_eq!(pipe.peer_inode, pipe_inode);

    let fifo = record(c, ConnectionKind::Fifo, fifo_inode);
    assert_eq!(fifo.local_address, fifo_path.to_str().unwrap());
    let fifo_child_pid = fifo_child.0.id().to_string();
    let (writers, readers) = fifo.state.strip_prefix("w:").unwrap().split_once(" r:").unwrap();
    assert!(writers.split(',').any(|p| p == fifo_child_pid), "{fifo:?}");
    assert!(readers.split(',').any(|p| p == me.to_string()), "{fifo:?}");

    let stats = snapshot.stats;
    assert!(stats.inet_sockets >= 6 && stats.unix_sockets >= 8 && stats.processes >= 3, "{stats:?}");
    eprintln!(
        "discovery: {:?} (netlink {:?}, fd walk {:?}, assemble {:?}); {} connections, {stats:?}",
        snapshot.duration,
        stats.netlink,
        stats.fd_walk,
        stats.assemble,
        c.len()
    );
    drop((cat, fifo_child, tcp_child));
}

/// A stand-in discovery: counts its runs, announces each start on
/// `started` and then waits for a word on `release` (or runs through when
/// `release` is `None`); its result holds as many connections as runs so far.
fn counting_discovery(
    runs: Arc<std::sync::atomic::AtomicUsize>,
    started: std::sync::mpsc::Sender<()>,
    release: Option<std::sync::mpsc::Receiver<()>>,
) -> DiscoverFn {
    Box::new(move || {
        let n = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let _ = started.send(());
        if let Some(release) = &release {
            release.recv().map_err(|_| SampleError::Syscall {
                call: "test",
                source: std::io::Error::other("released by nobody"),
            })?;
        }
        Ok(Discovery { connections: vec![Connection::default(); n], ..Discovery::default() })
    })
}

/// Polls `condition` until it holds, failing after 20 s.
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn get_runs_a_discovery_only_when_the_last_is_too_old() {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (started, _starts) = std::sync::mpsc::channel();
    let discovery =
        SocketDiscovery::with_discover(Duration::from_secs(3600), counting_discovery(runs.clone(), started, None));
    let count = || runs.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(discovery.latest().attempts, 0, "nothing runs before it is asked");
    assert_eq!(count(), 0);
    let first = discovery.get(Duration::from_secs(3600));
    assert_eq!((count(), first.attempts, first.connections.len()), (1, 1, 1));
    // Young enough: the same result, no new discovery.
    let again = discovery.get(Duration::from_secs(3600));
    assert!(Arc::ptr_eq(&first, &again));
    assert!(Arc::ptr_eq(&first, &discovery.fresh()));
    assert_eq!(count(), 1);
    // A maximum age of zero: always a new one, recorded with its cost.
    let second = discovery.get(Duration::ZERO);
    assert_eq!((count(), second.attempts, second.connections.len()), (2, 2, 2));
    assert!(second.error.is_none() && second.taken_at.is_some());
    assert!(Arc::ptr_eq(&second, &discovery.latest()));
    assert!(Arc::ptr_eq(&discovery.discover_now(), &discovery.latest()));
    assert_eq!(count(), 3);
}

#[test]
fn concurrent_callers_share_the_discovery_in_flight() {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (started, starts) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel();
    let discovery = Arc::new(SocketDiscovery::with_discover(
        Duration::from_secs(15),
        counting_discovery(runs.clone(), started, Some(released)),
    ));
    let caller = |discovery: &Arc<SocketDiscovery>| {
        let discovery = Arc::clone(discovery);
        std::thread::spawn(move || discovery.get(Duration::ZERO))
    };
    // The first caller starts a discovery and is held inside it.
    let first = caller(&discovery);
    starts.recv_timeout(Duration::from_secs(20)).expect("the first discovery starts");
    // Three more ask while it runs: they wait for it rather than start one.
    let others: Vec<_> = (0..3).map(|_| caller(&discovery)).collect();
    wait_for("three waiting callers", || discovery.waiting() == 3);
    release.send(()).unwrap();
    let first = first.join().unwrap();
    let others: Vec<_> = others.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "one discovery for four callers");
    assert!(others.iter().all(|o| Arc::ptr_eq(o, &first)));
    assert_eq!((first.attempts, first.connections.len()), (1, 1));
    assert_eq!(discovery.waiting(), 0);
    assert!(starts.try_recv().is_err(), "no second discovery started");
}

#[test]
fn a_discovery_that_panics_fails_and_frees_the_next_one() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let discovery = SocketDiscovery::with_discover(
        Duration::from_secs(15),
        Box::new(move || {
            if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("a stand-in discovery panics");
            }
            Ok(Discovery::default())
        }),
    );
    let failed = discovery.get(Duration::ZERO);
    assert!(failed.error.as_ref().is_some_and(|e| e.to_string().contains("panicked")), "{:?}", failed.error);
    assert_eq!((failed.attempts, failed.failures), (1, 1));
    // A failed result is a result: not retried before it is too old.
    assert!(Arc::ptr_eq(&failed, &discovery.get(Duration::from_secs(3600))));
    let next = discovery.get(Duration::ZERO);
    assert!(next.error.is_none());
    assert_eq!((next.attempts, next.failures), (2, 1));
}

#[test]
fn a_failed_discovery_keeps_the_previous_connections() {
    let discovery = SocketDiscovery::manual(SocketConfig::default());
    let first = discovery.discover_now();
    assert!(first.error.is_none());
    // Point the walker at a proc root that does not exist.
    let mut broken = Discoverer::new("/nonexistent-proc");
    *lock(&discovery.engine) = Box::new(move || broken.discover());
    let second = discovery.discover_now();
    let error = second.error.as_ref().expect("an error").to_string();
    assert!(error.starts_with("/nonexistent-proc:"), "{error}");
    assert!(Arc::ptr_eq(&first.connections, &second.connections));
    assert_eq!(second.taken_at, first.taken_at);
    assert_eq!((second.attempts, second.failures), (2, 1));
}

#[test]
fn interface_addresses_include_loopback() {
    let addresses = interface_addresses().unwrap();
    assert!(addresses.contains(&IpAddr::from([127, 0, 0, 1])), "{addresses:?}");
}

#[test]
fn connections_serialize_with_wit_names() {
    let connection = Connection {
        kind: ConnectionKind::UnixSeqpacket,
        state: "established".into(),
        inode: 7,
        local_address: "@x".into(),
        local_port: 0,
        remote_address: String::new(),
        remote_port: 0,
        remote_host_name: None,
        peer_inode: 8,
        pids: vec![1, 2],
    };
    assert_eq!(
        serde_json::to_string(&connection).unwrap(),
        r#"{"kind":"unix-seqpacket","state":"established","inode":7,"local_address":"@x","local_port":0,"remote_address":"","remote_port":0,"remote_host_name":null,"peer_inode":8,"pids":[1,2]}"#
    );
    for kind in [
        ConnectionKind::Tcp,
        ConnectionKind::Udp,
        ConnectionKind::UnixStream,
        ConnectionKind::UnixDatagram,
        ConnectionKind::UnixSeqpacket,
        ConnectionKind::Pipe,
        ConnectionKind::Fifo,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
    }
}

#[test]
fn discovery_names_remote_hosts_from_the_cache_a_discovery_later() {
    // A UDP socket connected to TEST-NET-1 (RFC 5737): connect sends
    // nothing, it only needs a route.
    let remote = UdpSocket::bind("0.0.0.0:0").unwrap();
    if let Err(e) = remote.connect("192.0.2.1:9") {
        eprintln!("skipped: no route to 192.0.2.1 ({e})");
        return;
    }
    let remote_inode = inode_of(remote.as_raw_fd());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let local_inode = inode_of(local.as_raw_fd());

    let names = dns::HostNames::with_lookup(dns::ResolverConfig::default(), |ip| match ip {
        IpAddr::V4(v4) if v4.octets() == [192, 0, 2, 1] => Ok("test-net.example".to_owned()),
        other => Err(format!("no name for {other}")),
    })
    .unwrap();
    let mut discoverer = Discoverer::new("/proc");
    discoverer.set_host_names(Some(names));
    let first = discoverer.discover().unwrap();
    assert_eq!(record(&first.connections, ConnectionKind::Udp, remote_inode).remote_host_name, None, "a miss");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = discoverer.host_names().unwrap().stats();
        if stats.lookups >= 1 && stats.queued == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the lookup never finished: {stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let later = discoverer.discover().unwrap();
    let udp = record(&later.connections, ConnectionKind::Udp, remote_inode);
    assert_eq!((udp.remote_address.as_str(), udp.remote_port), ("192.0.2.1", 9));
    assert_eq!(udp.remote_host_name.as_deref(), Some("test-net.example"));
    assert_eq!(record(&later.connections, ConnectionKind::Tcp, local_inode).remote_host_name, None, "loopback");
}
