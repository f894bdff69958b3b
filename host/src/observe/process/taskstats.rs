//! Taskstats exit records over generic netlink: the kernel sends one for
//! every task that exits, with its command name, exit status, CPU time and
//! peak memory — including processes gone before /proc could be read,
//! which is what names their exec and exit events (see [`super::hold`]).
//!
//! ```text
//! nlmsghdr   len u32 │ type u16 (the family's id) │ flags u16 │ seq u32 │ pid u32            16 bytes
//! genlmsghdr cmd u8 (TASKSTATS_CMD_NEW = 2) │ version u8 │ reserved u16                       4 bytes
//! nlattr     TASKSTATS_TYPE_AGGR_PID (4), nested:
//!              TASKSTATS_TYPE_PID (1)    u32 — the task (thread) id
//!              TASKSTATS_TYPE_STATS (3)  struct taskstats
//! nlattr     TASKSTATS_TYPE_AGGR_TGID (5), nested (the last thread of a multi-threaded process):
//!              TASKSTATS_TYPE_TGID (2)   u32
//!              TASKSTATS_TYPE_STATS (3)  struct taskstats, the thread group's totals
//! ```
//!
//! `struct taskstats` (include/uapi/linux/taskstats.h; machine byte order;
//! each field is read only when the record is long enough to hold it):
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | `version` u16 | |
//! | 4 | `ac_exitcode` u32 | wait status |
//! | 80 | `ac_comm` char[32] | the command name at exit |
//! | 128 | `ac_pid` u32 | |
//! | 152, 160 | `ac_utime`, `ac_stime` u64 | µs |
//! | 200 | `hiwater_rss` u64 | KiB (CONFIG_TASK_XACCT) |
//! | 368 | `ac_tgid` u32 | version 12 and later |
//!
//! The kernel sends a task's record before the proc connector's EXIT event
//! for it (`taskstats_exit` runs early in `do_exit`, `proc_exit_connector`
//! at its end), so by the time the EXIT event is read the record is
//! waiting on this socket.
//!
//! Setting up: the family's id is looked up by name (`TASKSTATS`) from the
//! generic netlink controller (`CTRL_CMD_GETFAMILY`), then
//! `TASKSTATS_CMD_GET` with `TASKSTATS_CMD_ATTR_REGISTER_CPUMASK` (the
//! possible CPUs, `0-1`) registers this socket as a listener. That needs
//! CAP_NET_ADMIN (root), and the initial network namespace.
//!
//! The framing is `netlink-packet-core`'s (the workspace's netlink
//! crate); `netlink-packet-generic` 0.4 would bring a second, older copy of
//! it (0.8), for a four-byte header and one attribute, so the genl header is
//! written here.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkBuffer, NlasIterator};
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::{Socket, SocketAddr};

use super::connector::{Malformed, wait_readable};

/// netlink.h: message types and flags.
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// genetlink.h: the controller.
const GENL_ID_CTRL: u16 = 16;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const GENL_HEADER: usize = 4;
const NLMSG_HEADER: usize = 16;
/// taskstats.h.
/// The family's name (`TASKSTATS_GENL_NAME`).
pub const FAMILY: &str = "TASKSTATS";
const TASKSTATS_GENL_VERSION: u8 = 1;
const TASKSTATS_CMD_GET: u8 = 1;
const TASKSTATS_CMD_NEW: u8 = 2;
const TASKSTATS_TYPE_PID: u16 = 1;
const TASKSTATS_TYPE_TGID: u16 = 2;
const TASKSTATS_TYPE_STATS: u16 = 3;
const TASKSTATS_TYPE_AGGR_PID: u16 = 4;
const TASKSTATS_TYPE_AGGR_TGID: u16 = 5;
const TASKSTATS_CMD_ATTR_REGISTER_CPUMASK: u16 = 3;
const TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK: u16 = 4;

/// `struct taskstats` fields read (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// `version`.
    pub version: u16,
    /// `ac_exitcode`: the wait status.
    pub exit_code: Option<u32>,
    /// `ac_comm`, up to its NUL.
    pub comm: Option<String>,
    /// `ac_pid`.
    pub pid: Option<u32>,
    /// `ac_utime`, µs.
    pub user_us: Option<u64>,
    /// `ac_stime`, µs.
    pub system_us: Option<u64>,
    /// `hiwater_rss`, KiB.
    pub hiwater_rss_kib: Option<u64>,
    /// `ac_tgid` (version 12 and later; 0 in a thread group's totals).
    pub tgid: Option<u32>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Parses a `struct taskstats` (any version; fields past its end are `None`).
pub fn parse_stats(b: &[u8]) -> Result<Stats, Malformed> {
    let version = u16_at(b, 0).ok_or_else(|| Malformed(format!("struct taskstats of {} bytes", b.len())))?;
    let comm = b.get(80..112).map(|c| {
        let end = c.iter().position(|&x| x == 0).unwrap_or(c.len());
        String::from_utf8_lossy(&c[..end]).into_owned()
    });
    Ok(Stats {
        version,
        exit_code: u32_at(b, 4),                                 // ac_exitcode
        comm,                                                    // ac_comm
        pid: u32_at(b, 128),                                     // ac_pid
        user_us: u64_at(b, 152),                                 // ac_utime
        system_us: u64_at(b, 160),                               // ac_stime
        hiwater_rss_kib: u64_at(b, 200),                         // hiwater_rss
        tgid: if version >= 12 { u32_at(b, 368) } else { None }, // ac_tgid
    })
}

/// One exit record: a task's stats, and its thread group's totals when it
/// was the group's last task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    /// TASKSTATS_TYPE_PID: the task (thread) id.
    pub pid: u32,
    /// The task's stats.
    pub stats: Stats,
    /// TASKSTATS_TYPE_TGID and the group's stats.
    pub group: Option<(u32, Stats)>,
}

impl ExitRecord {
    /// The thread group (process) the task belonged to: `ac_tgid`, or the
    /// group of the totals, or (old kernels) the task itself.
    pub fn tgid(&self) -> u32 {
        match (self.stats.tgid, &self.group) {
            (Some(tgid), _) if tgid != 0 => tgid,
            (_, Some((tgid, _))) => *tgid,
            _ => self.pid,
        }
    }
}

/// What one datagram held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Received {
    /// Exit records.
    pub records: Vec<ExitRecord>,
    /// NLMSG_ERROR answers: 0 (an ack) or a negative errno.
    pub acks: Vec<i32>,
    /// CTRL_ATTR_FAMILY_ID of a controller answer.
    pub family_id: Option<u16>,
}

/// Parses every netlink message of one datagram. `family_id`: the
/// TASKSTATS family's id (messages of other types are skipped).
pub fn parse_datagram(buf: &[u8], family_id: u16, out: &mut Received) -> Result<(), Malformed> {
    let mut rest = buf;
    while rest.len() >= NLMSG_HEADER {
        let message = NetlinkBuffer::new_checked(rest).map_err(|e| Malformed(format!("netlink message: {e}")))?;
        let len = message.length() as usize;
        let payload = message.payload();
        match message.message_type() {
            // nlmsgerr.error: 0 for an ack, else -errno.
            NLMSG_ERROR => out
                .acks
                .push(u32_at(payload, 0).map(|e| e as i32).ok_or_else(|| Malformed("short NLMSG_ERROR".into()))?),
            GENL_ID_CTRL => out.family_id = parse_family(payload)?.or(out.family_id),
            t if t == family_id && family_id != 0 => {
                if let Some(record) = parse_exit(payload)? {
                    out.records.push(record);
                }
            }
            _ => {}
        }
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        let aligned = len.checked_add(3).map(|l| l & !3).unwrap_or(usize::MAX);
        rest = rest.get(aligned..).unwrap_or(&[]);
    }
    Ok(())
}

/// The attributes after a genl header.
fn attributes(payload: &[u8]) -> Result<NlasIterator<&[u8]>, Malformed> {
    let attrs = payload.get(GENL_HEADER..).ok_or_else(|| Malformed("no generic netlink header".into()))?;
    Ok(NlasIterator::new(attrs))
}

/// CTRL_ATTR_FAMILY_ID of a controller message, if it has one.
fn parse_family(payload: &[u8]) -> Result<Option<u16>, Malformed> {
    for nla in attributes(payload)? {
        let nla = nla.map_err(|e| Malformed(format!("controller attribute: {e}")))?;
        if nla.kind() == CTRL_ATTR_FAMILY_ID {
            return Ok(u16_at(nla.value(), 0));
        }
    }
    Ok(None)
}

/// A TASKSTATS_CMD_NEW message; `None` for another command.
fn parse_exit(payload: &[u8]) -> Result<Option<ExitRecord>, Malformed> {
    if payload.first() != Some(&TASKSTATS_CMD_NEW) {
        return Ok(None);
    }
    let mut task: Option<(u32, Stats)> = None;
    let mut group = None;
    for nla in attributes(payload)? {
        let nla = nla.map_err(|e| Malformed(format!("taskstats attribute: {e}")))?;
        let (id_kind, slot) = match nla.kind() {
            TASKSTATS_TYPE_AGGR_PID => (TASKSTATS_TYPE_PID, &mut task),
            TASKSTATS_TYPE_AGGR_TGID => (TASKSTATS_TYPE_TGID, &mut group),
            _ => continue, // TASKSTATS_TYPE_NULL padding, or newer
        };
        let (mut id, mut stats) = (None, None);
        for inner in NlasIterator::new(nla.value()) {
            let inner = inner.map_err(|e| Malformed(format!("taskstats nested attribute: {e}")))?;
            match inner.kind() {
                k if k == id_kind => id = u32_at(inner.value(), 0),
                TASKSTATS_TYPE_STATS => stats = Some(parse_stats(inner.value())?),
                _ => {}
            }
        }
        match (id, stats) {
            (Some(id), Some(stats)) => *slot = Some((id, stats)),
            _ => return Err(Malformed("taskstats aggregate without its id or stats".into())),
        }
    }
    let (pid, stats) = task.ok_or_else(|| Malformed("taskstats message without TASKSTATS_TYPE_AGGR_PID".into()))?;
    Ok(Some(ExitRecord { pid, stats, group }))
}

/// A netlink attribute: header, value, padding.
fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// A generic netlink request: nlmsghdr, genlmsghdr, one string attribute.
pub fn request(kind: u16, flags: u16, cmd: u8, version: u8, attribute: u16, text: &str) -> Vec<u8> {
    let mut m = vec![0; NLMSG_HEADER];
    m.extend_from_slice(&[cmd, version, 0, 0]);
    let mut value = text.as_bytes().to_vec();
    value.push(0);
    push_attribute(&mut m, attribute, &value);
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes()); // nlmsg_len
    m[4..6].copy_from_slice(&kind.to_ne_bytes()); // nlmsg_type
    m[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes()); // nlmsg_flags
    m[8..12].copy_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    m
}

/// The CPUs to register for: /sys/devices/system/cpu/possible (`0-1`),
/// else every CPU this process may count.
pub fn possible_cpus() -> String {
    match std::fs::read_to_string("/sys/devices/system/cpu/possible") {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => {
            let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            format!("0-{}", n.saturating_sub(1))
        }
    }
}

/// Why taskstats could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TaskstatsError {
    /// A socket call failed.
    #[error("{step}: {source}")]
    Io {
        /// The call (`bind`, `send CTRL_CMD_GETFAMILY`, `recv`, …).
        step: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The controller knows no family of this name.
    #[error("the kernel has no {0} generic netlink family (CONFIG_TASKSTATS, or another network namespace)")]
    NoFamily(String),
    /// The kernel answered a request with an errno (NLMSG_ERROR).
    #[error("the kernel refused {step}: {source}")]
    Refused {
        /// The request (`the family lookup`, `the registration`).
        step: &'static str,
        /// The errno it answered.
        #[source]
        source: io::Error,
    },
    /// No answer within the wait given.
    #[error("no answer from the kernel within {0:?}")]
    NoAnswer(Duration),
    /// An answer did not parse.
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

impl TaskstatsError {
    /// Whether this is a lack of privilege.
    pub fn is_permission(&self) -> bool {
        let errno = match self {
            TaskstatsError::Io { source, .. } | TaskstatsError::Refused { source, .. } => source.raw_os_error(),
            _ => None,
        };
        matches!(errno, Some(libc::EPERM | libc::EACCES))
    }
}

/// A socket registered for exit records.
pub struct Taskstats {
    socket: Socket,
    family_id: u16,
    cpus: String,
    buf: Vec<u8>,
}

/// How long to wait for each answer while setting up.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The socket's receive buffer (a storm of exits is fast).
const RECEIVE_BUFFER: usize = 8 << 20;

impl Taskstats {
    /// Looks the family up ([`FAMILY`]; tests name one that does not
    /// exist) and registers for the exit records of every possible CPU.
    pub fn open(family: &str) -> Result<Taskstats, TaskstatsError> {
        let io = |step| move |source| TaskstatsError::Io { step, source };
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io("socket(NETLINK_GENERIC)"))?;
        socket.bind(&SocketAddr::new(0, 0)).map_err(io("bind"))?;
        super::connector::set_receive_buffer(&socket, RECEIVE_BUFFER);
        let mut t = Taskstats { socket, family_id: 0, cpus: possible_cpus(), buf: Vec::with_capacity(64 * 1024) };
        let lookup = request(GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1, CTRL_ATTR_FAMILY_NAME, family);
        t.socket.send(&lookup, 0).map_err(io("send CTRL_CMD_GETFAMILY"))?;
        let answer = t.answer(|r| r.family_id.is_some() || !r.acks.is_empty())?;
        t.family_id = match (answer.family_id, answer.acks.first()) {
            (Some(id), _) => id,
            (None, Some(&errno)) if errno != -libc::ENOENT => {
                let source = io::Error::from_raw_os_error(errno.checked_neg().unwrap_or(libc::EINVAL));
                return Err(TaskstatsError::Refused { step: "the family lookup", source });
            }
            _ => return Err(TaskstatsError::NoFamily(family.to_owned())),
        };
        let register = request(
            t.family_id,
            NLM_F_ACK,
            TASKSTATS_CMD_GET,
            TASKSTATS_GENL_VERSION,
            TASKSTATS_CMD_ATTR_REGISTER_CPUMASK,
            &t.cpus,
        );
        t.socket.send(&register, 0).map_err(io("send TASKSTATS_CMD_ATTR_REGISTER_CPUMASK"))?;
        let answer = t.answer(|r| !r.acks.is_empty())?;
        match answer.acks.first() {
            Some(0) => {}
            Some(&errno) => {
                let source = io::Error::from_raw_os_error(errno.checked_neg().unwrap_or(libc::EINVAL));
                return Err(TaskstatsError::Refused { step: "the registration", source });
            }
            None => return Err(TaskstatsError::NoAnswer(ANSWER_WITHIN)),
        }
        t.socket.set_non_blocking(true).map_err(io("O_NONBLOCK"))?;
        Ok(t)
    }

    /// Reads until `done` holds for what arrived (exit records that come
    /// meanwhile are dropped: nothing is followed yet).
    fn answer(&mut self, done: impl Fn(&Received) -> bool) -> Result<Received, TaskstatsError> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut got = Received::default();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = wait_readable(self.socket.as_fd(), left)
                .map_err(|source| TaskstatsError::Io { step: "poll", source })?;
            if left.is_zero() || !ready {
                return Err(TaskstatsError::NoAnswer(ANSWER_WITHIN));
            }
            self.buf.clear();
            self.socket.recv(&mut self.buf, 0).map_err(|source| TaskstatsError::Io { step: "recv", source })?;
            parse_datagram(&self.buf, self.family_id, &mut got)?;
        }
        Ok(got)
    }

    /// The socket, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Reads every datagram waiting (without blocking) into `out`. A
    /// malformed one is skipped and counted in the result.
    pub fn drain(&mut self, out: &mut Vec<ExitRecord>) -> io::Result<usize> {
        let mut malformed = 0;
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(malformed),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut got = Received::default();
            if parse_datagram(&self.buf, self.family_id, &mut got).is_err() {
                malformed += 1;
            }
            out.append(&mut got.records);
        }
    }
}

impl Drop for Taskstats {
    fn drop(&mut self) {
        // Best effort: the kernel also forgets a listener whose socket is gone.
        let deregister = request(
            self.family_id,
            0,
            TASKSTATS_CMD_GET,
            TASKSTATS_GENL_VERSION,
            TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK,
            &self.cpus,
        );
        let _ = self.socket.send(&deregister, 0);
    }
}

#[cfg(test)]
mod tests;
