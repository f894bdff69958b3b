//! The netlink proc connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): the
//! kernel multicasts one datagram per process event to every subscribed
//! socket.
//!
//! ```text
//! nlmsghdr   len u32 │ type u16 (NLMSG_DONE) │ flags u16 │ seq u32 │ pid u32          16 bytes
//! cn_msg     idx u32 (CN_IDX_PROC = 1) │ val u32 (CN_VAL_PROC = 1) │ seq u32 │ ack u32 │ len u16 │ flags u16   20 bytes
//! proc_event what u32 │ cpu u32 │ timestamp_ns u64 (CLOCK_MONOTONIC) │ event_data …
//!   FORK   0x1         parent_pid, parent_tgid, child_pid, child_tgid              (i32 each)
//!   EXEC   0x2         process_pid, process_tgid
//!   UID    0x4         process_pid, process_tgid, ruid, euid
//!   GID    0x40        process_pid, process_tgid, rgid, egid
//!   EXIT   0x80000000  process_pid, process_tgid, exit_code, exit_signal[, parent_pid, parent_tgid (4.17+)]
//!   NONE   0x0         err (the answer to PROC_CN_MCAST_LISTEN)
//! ```
//!
//! (include/uapi/linux/cn_proc.h, include/uapi/linux/connector.h; every
//! integer in the machine's byte order.) SID, PTRACE, COMM, COREDUMP and
//! NONZERO_EXIT events are read and ignored. `exit_code` is the wait status
//! (`status << 8`, or the killing signal in the low 7 bits, 0x80 for a core
//! dump); `exit_signal` is the signal the parent is sent (SIGCHLD), not
//! the cause of death.
//!
//! No maintained crate parses these (`cnproc` and `proc-connector` are
//! small one-author crates; `neli` and `nlink` are whole netlink stacks), so
//! the ~100 lines are here, on top of `netlink-sys`'s socket. Subscribing
//! needs CAP_NET_ADMIN on kernels before 6.6; on later ones any user may.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_sys::protocols::NETLINK_CONNECTOR;
use netlink_sys::{Socket, SocketAddr};

/// connector.h: the proc connector's index and value.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// netlink.h: the message type the connector uses.
const NLMSG_DONE: u16 = 3;
/// cn_proc.h: enum proc_cn_mcast_op.
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_HEADER: usize = 16;
const CN_MSG_HEADER: usize = 20;
/// cn_proc.h: what, cpu, timestamp_ns.
const PROC_EVENT_HEADER: usize = 16;

/// cn_proc.h: enum proc_event.what.
const PROC_EVENT_NONE: u32 = 0x0;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_UID: u32 = 0x4;
const PROC_EVENT_GID: u32 = 0x40;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One proc connector event, as the kernel sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// PROC_EVENT_FORK: a new task (a process, or a thread when
    /// `child_pid != child_tgid`).
    Fork {
        /// fork_proc_event parent_pid: the parent's task (thread) id.
        parent_pid: u32,
        /// fork_proc_event parent_tgid: the parent's process.
        parent_tgid: u32,
        /// fork_proc_event child_pid: the new task's id.
        child_pid: u32,
        /// fork_proc_event child_tgid: the new task's process.
        child_tgid: u32,
    },
    /// PROC_EVENT_EXEC: a task ran a new program.
    Exec {
        /// exec_proc_event process_pid: the task (thread) id.
        pid: u32,
        /// exec_proc_event process_tgid: its process.
        tgid: u32,
    },
    /// PROC_EVENT_UID: a task's uids changed.
    Uid {
        /// id_proc_event process_pid: the task (thread) id.
        pid: u32,
        /// id_proc_event process_tgid: its process.
        tgid: u32,
        /// id_proc_event r.ruid: the new real uid.
        ruid: u32,
        /// id_proc_event e.euid: the new effective uid.
        euid: u32,
    },
    /// PROC_EVENT_GID: a task's gids changed.
    Gid {
        /// id_proc_event process_pid: the task (thread) id.
        pid: u32,
        /// id_proc_event process_tgid: its process.
        tgid: u32,
        /// id_proc_event r.rgid: the new real gid.
        rgid: u32,
        /// id_proc_event e.egid: the new effective gid.
        egid: u32,
    },
    /// PROC_EVENT_EXIT: a task ended. `parent_tgid` is `None` on kernels
    /// before 4.17.
    Exit {
        /// exit_proc_event process_pid: the task (thread) id.
        pid: u32,
        /// exit_proc_event process_tgid: its process.
        tgid: u32,
        /// exit_proc_event exit_code: the wait status ([`decode_exit`]).
        exit_code: u32,
        /// exit_proc_event exit_signal: the signal the parent is sent
        /// (SIGCHLD), not the cause of death.
        exit_signal: u32,
        /// exit_proc_event parent_tgid: the parent's process.
        parent_tgid: Option<u32>,
    },
    /// The answer to a subscription: 0 or an errno.
    Ack {
        /// proc_event ack.err (PROC_EVENT_NONE): 0, or a positive errno.
        err: u32,
    },
    /// SID, PTRACE, COMM, COREDUMP, NONZERO_EXIT and anything newer.
    Other {
        /// proc_event what.
        what: u32,
    },
}

/// An event and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent {
    /// proc_event timestamp_ns: CLOCK_MONOTONIC nanoseconds.
    pub timestamp_ns: u64,
    /// The event's data.
    pub event: ProcEvent,
}

/// Why a datagram did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed proc connector message: {0}")]
pub struct Malformed(pub String);

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses every netlink message of one datagram. Messages that are not
/// proc connector messages (another connector index) are skipped.
pub fn parse_datagram(buf: &[u8], out: &mut Vec<RawEvent>) -> Result<(), Malformed> {
    let mut rest = buf;
    while rest.len() >= NLMSG_HEADER {
        let len = u32_at(rest, 0).unwrap_or(0) as usize;
        if len < NLMSG_HEADER || len > rest.len() {
            return Err(Malformed(format!("nlmsg_len {len} with {} bytes left", rest.len())));
        }
        let message = &rest[..len];
        // nlmsghdr.nlmsg_type: the connector sends NLMSG_DONE.
        if u16_at(message, 4) == Some(NLMSG_DONE)
            && let Some(event) = parse_cn_msg(&message[NLMSG_HEADER..])?
        {
            out.push(event);
        }
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
    }
    Ok(())
}

/// One cn_msg; `None` if it is not from the proc connector.
fn parse_cn_msg(b: &[u8]) -> Result<Option<RawEvent>, Malformed> {
    let short = || Malformed(format!("cn_msg of {} bytes", b.len()));
    // cn_msg.id.idx and id.val: which connector.
    let (idx, val) = (u32_at(b, 0).ok_or_else(short)?, u32_at(b, 4).ok_or_else(short)?);
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC) {
        return Ok(None);
    }
    // cn_msg.len: the payload's length.
    let data_len = usize::from(u16_at(b, 16).ok_or_else(short)?);
    let data = b
        .get(CN_MSG_HEADER..CN_MSG_HEADER + data_len)
        .ok_or_else(|| Malformed(format!("cn_msg.len {data_len} past the message's {} bytes", b.len())))?;
    parse_proc_event(data).map(Some)
}

/// One struct proc_event.
pub fn parse_proc_event(d: &[u8]) -> Result<RawEvent, Malformed> {
    let short = |what: &str| Malformed(format!("{what} event of {} bytes", d.len()));
    let what = u32_at(d, 0).ok_or_else(|| short("an"))?; // proc_event.what
    let timestamp_ns = u64_at(d, 8).ok_or_else(|| short("an"))?; // proc_event.timestamp_ns
    let field = |i: usize, name: &str| u32_at(d, PROC_EVENT_HEADER + 4 * i).ok_or_else(|| short(name));
    let event = match what {
        // ack.err
        PROC_EVENT_NONE => ProcEvent::Ack { err: field(0, "a NONE")? },
        // fork_proc_event: parent_pid, parent_tgid, child_pid, child_tgid
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_pid: field(0, "a FORK")?,
            parent_tgid: field(1, "a FORK")?,
            child_pid: field(2, "a FORK")?,
            child_tgid: field(3, "a FORK")?,
        },
        // exec_proc_event: process_pid, process_tgid
        PROC_EVENT_EXEC => ProcEvent::Exec { pid: field(0, "an EXEC")?, tgid: field(1, "an EXEC")? },
        // id_proc_event: process_pid, process_tgid, r.ruid, e.euid
        PROC_EVENT_UID => ProcEvent::Uid {
            pid: field(0, "a UID")?,
            tgid: field(1, "a UID")?,
            ruid: field(2, "a UID")?,
            euid: field(3, "a UID")?,
        },
        // id_proc_event: process_pid, process_tgid, r.rgid, e.egid
        PROC_EVENT_GID => ProcEvent::Gid {
            pid: field(0, "a GID")?,
            tgid: field(1, "a GID")?,
            rgid: field(2, "a GID")?,
            egid: field(3, "a GID")?,
        },
        // exit_proc_event: process_pid, process_tgid, exit_code, exit_signal, parent_pid, parent_tgid
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: field(0, "an EXIT")?,
            tgid: field(1, "an EXIT")?,
            exit_code: field(2, "an EXIT")?,
            exit_signal: field(3, "an EXIT")?,
            parent_tgid: field(5, "an EXIT").ok(),
        },
        what => ProcEvent::Other { what },
    };
    Ok(RawEvent { timestamp_ns, event })
}

/// The wait status in an EXIT event: (exit status, killing signal).
pub fn decode_exit(exit_code: u32) -> (Option<i32>, Option<u32>) {
    match exit_code & 0x7f {
        0 => (Some(((exit_code >> 8) & 0xff) as i32), None),
        signal => (None, Some(signal)),
    }
}

/// The subscription request: nlmsghdr + cn_msg + PROC_CN_MCAST_LISTEN.
pub fn listen_request() -> Vec<u8> {
    let total = NLMSG_HEADER + CN_MSG_HEADER + 4;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
    m.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it in
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes()); // cn_msg.id.idx
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes()); // cn_msg.id.val
    m.extend_from_slice(&0u32.to_ne_bytes()); // cn_msg.seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // cn_msg.ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // cn_msg.len
    m.extend_from_slice(&0u16.to_ne_bytes()); // cn_msg.flags
    m.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

/// Why the connector could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A socket call failed.
    #[error("{step}: {source}")]
    Io {
        /// The call (`bind to CN_IDX_PROC`, `poll`, …).
        step: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The subscription's ack carried an errno.
    #[error("the kernel refused the subscription: {0}")]
    Refused(io::Error),
    /// No ack within the wait given.
    #[error("no answer to the subscription within {0:?} (another network namespace, or no CONFIG_PROC_EVENTS)")]
    NoAnswer(Duration),
    /// A datagram did not parse.
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

impl ConnectorError {
    /// Whether this is a lack of privilege.
    pub fn is_permission(&self) -> bool {
        let errno = match self {
            ConnectorError::Io { source, .. } => source.raw_os_error(),
            ConnectorError::Refused(e) => e.raw_os_error(),
            _ => None,
        };
        matches!(errno, Some(libc::EPERM | libc::EACCES))
    }
}

/// A subscribed proc connector socket.
pub struct Connector {
    socket: Socket,
    buf: Vec<u8>,
}

/// How long to wait for the kernel's answer to the subscription.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The socket's receive buffer (bursts of forks are fast).
const RECEIVE_BUFFER: usize = 4 << 20;

impl Connector {
    /// Opens the socket, joins the proc connector group and subscribes;
    /// events that arrive while waiting for the answer are kept in `early`.
    pub fn open(early: &mut Vec<RawEvent>) -> Result<Connector, ConnectorError> {
        let io = |step| move |source| ConnectorError::Io { step, source };
        let mut socket = Socket::new(NETLINK_CONNECTOR).map_err(io("socket(NETLINK_CONNECTOR)"))?;
        socket.bind(&SocketAddr::new(0, CN_IDX_PROC)).map_err(io("bind to CN_IDX_PROC"))?;
        set_receive_buffer(&socket, RECEIVE_BUFFER);
        let request = listen_request();
        socket.send_to(&request, &SocketAddr::new(0, 0), 0).map_err(io("send PROC_CN_MCAST_LISTEN"))?;
        let mut connector = Connector { socket, buf: Vec::with_capacity(64 * 1024) };
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(connector.socket.as_fd(), left).map_err(io("poll"))? {
                return Err(ConnectorError::NoAnswer(ANSWER_WITHIN));
            }
            let mut events = Vec::new();
            connector.recv(&mut events).map_err(io("recv"))?;
            for event in events {
                match event.event {
                    ProcEvent::Ack { err: 0 } => {
                        early.retain(|e| !matches!(e.event, ProcEvent::Ack { .. }));
                        return Ok(connector);
                    }
                    ProcEvent::Ack { err } => {
                        return Err(ConnectorError::Refused(io::Error::from_raw_os_error(err as i32)));
                    }
                    _ => early.push(event),
                }
            }
        }
    }

    /// The socket, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Receives one datagram (blocking) and appends its events. A malformed
    /// datagram is skipped with an error message in `Ok(Some(..))`.
    pub fn recv(&mut self, out: &mut Vec<RawEvent>) -> io::Result<Option<Malformed>> {
        self.buf.clear();
        loop {
            match self.socket.recv(&mut self.buf, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(parse_datagram(&self.buf, out).err())
    }
}

/// Asks for a receive buffer of `size` bytes (beyond rmem_max when privileged).
pub(super) fn set_receive_buffer(socket: &Socket, size: usize) {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: the fd is open; `size` is a valid c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// Waits until `fd` is readable or `timeout` passes; whether it is.
pub(super) fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, millis) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests;
