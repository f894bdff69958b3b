//! Which processes hold which sockets, pipes and FIFOs: one walk over
//! `/proc/<pid>/fd/*`.
//!
//! ```text
//! /proc/1234/fd/3 -> socket:[49812]        a socket: its inode
//! /proc/1234/fd/4 -> pipe:[49815]          a pipe: its inode; which end from fdinfo
//! /proc/1234/fd/5 -> /run/app/control      a path: a FIFO if statx says S_IFIFO
//! /proc/1234/fdinfo/4: "pos:\t0\nflags:\t01\n…"   flags (octal) & O_ACCMODE: 0 read, 1 write, 2 both
//! ```
//!
//! Only thread-group leaders are listed in /proc (threads share their
//! leader's fd table), so each process is walked once. A process that exits
//! mid-walk is normal; one whose fd directory we may not read (another
//! user's, without CAP_SYS_PTRACE or root) is counted, not an error.
//!
//! The walk never touches the filesystems the fds live on, so a dead NFS or
//! FUSE mount cannot hang it: readlink on `/proc/<pid>/fd/N` only formats the
//! path, and the one `statx` on path targets (to find FIFOs) passes
//! `AT_STATX_DONT_SYNC`, which NFS, FUSE and CIFS answer from their cache.
//! All syscalls take paths relative to a directory fd and names straight
//! from `readdir`; the buffers are kept from walk to walk.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::SampleError;
use crate::os::{self, PidPath};

/// Which end of a pipe or FIFO a descriptor holds (`flags & O_ACCMODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// O_RDONLY.
    Read,
    /// O_WRONLY.
    Write,
    /// O_RDWR.
    ReadWrite,
}

impl Access {
    /// Reads from the pipe.
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

    /// Writes to the pipe.
    pub fn writes(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// What an fd link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdTarget<'a> {
    /// `socket:[inode]`
    Socket(u64),
    /// `pipe:[inode]`
    Pipe(u64),
    /// An absolute path: a file, directory, device or FIFO (maybe with
    /// " (deleted)" after it).
    Path(&'a [u8]),
    /// `anon_inode:[eventfd]`, `net:[…]`, `/memfd:…` and the like.
    Other,
}

/// Classifies the text of a `/proc/<pid>/fd/N` link.
pub fn parse_fd_target(link: &[u8]) -> FdTarget<'_> {
    fn inode(rest: &[u8]) -> Option<u64> {
        let digits = rest.strip_prefix(b"[")?.strip_suffix(b"]")?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }
    if let Some(rest) = link.strip_prefix(b"socket:") {
        return inode(rest).map_or(FdTarget::Other, FdTarget::Socket);
    }
    if let Some(rest) = link.strip_prefix(b"pipe:") {
        return inode(rest).map_or(FdTarget::Other, FdTarget::Pipe);
    }
    // memfd links read "/memfd:name (deleted)": never a FIFO.
    if link.first() == Some(&b'/') && !link.starts_with(b"/memfd:") {
        return FdTarget::Path(link);
    }
    FdTarget::Other
}

/// The access mode in the `flags:` line of `/proc/<pid>/fdinfo/<fd>`
/// (octal, e.g. `flags:\t0100001` for O_WRONLY|O_LARGEFILE).
pub fn parse_fdinfo_access(text: &[u8]) -> Option<Access> {
    let line = text.split(|&b| b == b'\n').find_map(|line| line.strip_prefix(b"flags:"))?;
    let digits = std::str::from_utf8(line).ok()?.trim();
    let flags = u32::from_str_radix(digits, 8).ok()?;
    // O_ACCMODE: the low two bits.
    match flags & 0o3 {
        0 => Some(Access::Read),
        1 => Some(Access::Write),
        2 => Some(Access::ReadWrite),
        _ => None,
    }
}

/// One descriptor of a FIFO.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FifoEnd {
    /// The FIFO's device and inode (statx); together, its identity.
    pub dev: u64,
    /// The FIFO's inode.
    pub inode: u64,
    /// The process holding it.
    pub pid: u32,
    /// Which end.
    pub access: Access,
    /// The link text: the FIFO's path, " (deleted)" after it if unlinked.
    pub path: String,
}

/// Counts of one walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Processes whose fd directory was read.
    pub processes: usize,
    /// Processes whose fd directory could not be opened for lack of
    /// permission (EACCES, EPERM).
    pub unreadable: usize,
    /// Processes that exited during the walk.
    pub vanished: usize,
    /// Descriptors looked at.
    pub fds: usize,
}

/// The holders found by a walk. Every list is sorted and free of duplicates
/// after [`FdTable::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdTable {
    /// (socket inode, pid).
    pub sockets: Vec<(u64, u32)>,
    /// (pipe inode, pid, access).
    pub pipes: Vec<(u64, u32, Access)>,
    /// FIFO ends.
    pub fifos: Vec<FifoEnd>,
    /// What the walk saw.
    pub stats: WalkStats,
}

impl FdTable {
    /// Empties the table, keeping its capacity.
    pub fn clear(&mut self) {
        self.sockets.clear();
        self.pipes.clear();
        self.fifos.clear();
        self.stats = WalkStats::default();
    }

    /// Sorts every list and drops duplicates (a descriptor dup'd or
    /// inherited within one process).
    pub fn finish(&mut self) {
        self.sockets.sort_unstable();
        self.sockets.dedup();
        self.pipes.sort_unstable();
        self.pipes.dedup();
        self.fifos.sort_unstable();
        self.fifos.dedup_by(|a, b| (a.dev, a.inode, a.pid, a.access) == (b.dev, b.inode, b.pid, b.access));
    }

    /// The processes holding a socket, ascending (after `finish`).
    pub fn socket_pids(&self, inode: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.sockets.partition_point(|&(i, _)| i < inode);
        self.sockets[start..].iter().take_while(move |&&(i, _)| i == inode).map(|&(_, pid)| pid)
    }
}

/// Walks /proc; keeps its buffers from walk to walk. Not shared between
/// threads.
pub struct FdWalker {
    proc_root: PathBuf,
    /// getdents64 records (the walker of [`os::for_each_entry`]).
    dirents: Vec<u8>,
    /// Names in a process's fd directory, NUL-separated, of the current
    /// process (listed first, then looked at, so that the listing buffer
    /// is free again).
    names: Vec<u8>,
    pids: Vec<u32>,
    link: Vec<u8>,
    info: Vec<u8>,
    /// statx(2) refused (kernel < 4.11, or a seccomp filter): use fstatat.
    no_statx: bool,
}

impl FdWalker {
    /// A walker of `<proc_root>/<pid>/fd`.
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        FdWalker {
            proc_root: proc_root.into(),
            dirents: Vec::new(),
            names: Vec::new(),
            pids: Vec::new(),
            link: Vec::with_capacity(4096 + 64),
            info: Vec::with_capacity(512),
            no_statx: false,
        }
    }

    /// The proc root it walks.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// Fills `table` (cleared first) with every socket, pipe and FIFO
    /// descriptor of every process. Fails only if the proc root itself
    /// cannot be listed.
    pub fn walk(&mut self, table: &mut FdTable) -> Result<(), SampleError> {
        table.clear();
        let error = |source| SampleError::Read { file: self.proc_root.clone(), source };
        let root = os::open_dir(&self.proc_root).map_err(error)?;
        let mut pids = std::mem::take(&mut self.pids);
        pids.clear();
        let listed = os::for_each_entry(root.as_fd(), &mut self.dirents, |name| {
            if let Some(pid) = os::parse_pid(name.to_bytes()) {
                pids.push(pid);
            }
        });
        if let Err(source) = listed {
            self.pids = pids;
            return Err(SampleError::Read { file: self.proc_root.clone(), source });
        }
        for &pid in &pids {
            self.walk_process(root.as_fd(), pid, table);
        }
        self.pids = pids;
        table.finish();
        Ok(())
    }

    fn walk_process(&mut self, root: BorrowedFd<'_>, pid: u32, table: &mut FdTable) {
        let mut path = PidPath::new(pid);
        let fd_dir = match os::open_at(root, path.file("fd"), true) {
            Ok(dir) => dir,
            Err(e) => {
                if os::is_denied(&e) {
                    table.stats.unreadable += 1;
                } else {
                    table.stats.vanished += 1;
                }
                return;
            }
        };
        table.stats.processes += 1;
        let mut names = std::mem::take(&mut self.names);
        names.clear();
        // A listing cut short means the process exited meanwhile: what was
        // listed is still looked at (and fails as it is gone).
        let _ = os::for_each_entry(fd_dir.as_fd(), &mut self.dirents, |name| {
            if name.to_bytes().first() != Some(&b'.') {
                names.extend_from_slice(name.to_bytes_with_nul());
            }
        });
        let mut fdinfo_dir: Option<OwnedFd> = None;
        for name in names.split_inclusive(|&b| b == 0) {
            let Ok(name) = CStr::from_bytes_with_nul(name) else { continue };
            table.stats.fds += 1;
            if os::readlink_at(fd_dir.as_fd(), name, &mut self.link).is_err() {
                continue; // closed since the listing
            }
            let pipe = match parse_fd_target(&self.link) {
                FdTarget::Socket(inode) => {
                    table.sockets.push((inode, pid));
                    continue;
                }
                FdTarget::Pipe(inode) => Some(inode),
                FdTarget::Path(_) => None,
                FdTarget::Other => continue,
            };
            let fifo = match pipe {
                Some(_) => None,
                None => match os::fifo_identity(fd_dir.as_fd(), name, &mut self.no_statx) {
                    Some(identity) => Some(identity),
                    None => continue,
                },
            };
            // Which end: the fdinfo directory is opened once per process,
            // when first needed.
            if fdinfo_dir.is_none() {
                fdinfo_dir = os::open_at(root, path.file("fdinfo"), true).ok();
            }
            let Some(info_dir) = &fdinfo_dir else { continue };
            if os::read_at(info_dir.as_fd(), name, &mut self.info).is_err() {
                continue;
            }
            let Some(access) = parse_fdinfo_access(&self.info) else { continue };
            match (pipe, fifo) {
                (Some(inode), _) => table.pipes.push((inode, pid, access)),
                (None, Some((dev, inode))) => {
                    let path = String::from_utf8_lossy(&self.link).into_owned();
                    table.fifos.push(FifoEnd { dev, inode, pid, access, path });
                }
                (None, None) => {}
            }
        }
        self.names = names;
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_targets() {
        assert_eq!(parse_fd_target(b"socket:[49812]"), FdTarget::Socket(49812));
        assert_eq!(parse_fd_target(b"pipe:[7]"), FdTarget::Pipe(7));
        assert_eq!(parse_fd_target(b"/run/app/control"), FdTarget::Path(b"/run/app/control"));
        assert_eq!(parse_fd_target(b"/tmp/f (deleted)"), FdTarget::Path(b"/tmp/f (deleted)"));
        assert_eq!(parse_fd_target(b"/memfd:wayland-shm (deleted)"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"anon_inode:[eventfd]"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"net:[4026531840]"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"socket:[]"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"socket:[12"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"socket:[-1]"), FdTarget::Other);
        assert_eq!(parse_fd_target(b"socket:[99999999999999999999999]"), FdTarget::Other);
        assert_eq!(parse_fd_target(b""), FdTarget::Other);
    }

    #[test]
    fn fdinfo_access() {
        assert_eq!(parse_fdinfo_access(b"pos:\t0\nflags:\t0100000\nmnt_id:\t15\nino:\t4\n"), Some(Access::Read));
        assert_eq!(parse_fdinfo_access(b"pos:\t0\nflags:\t01\nmnt_id:\t15\n"), Some(Access::Write));
        assert_eq!(parse_fdinfo_access(b"pos:\t0\nflags:\t02004002\n"), Some(Access::ReadWrite));
        assert_eq!(parse_fdinfo_access(b"pos:\t0\nflags:\t03\n"), None);
        assert_eq!(parse_fdinfo_access(b"pos:\t0\nflags:\tzz\n"), None);
        assert_eq!(parse_fdinfo_access(b"pos:\t0\n"), None);
    }

    #[test]
    fn table_lookups() {
        let mut table = FdTable { sockets: vec![(9, 3), (5, 2), (9, 1), (9, 3), (7, 1)], ..FdTable::default() };
        table.finish();
        assert_eq!(table.sockets, vec![(5, 2), (7, 1), (9, 1), (9, 3)]);
        assert_eq!(table.socket_pids(9).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(table.socket_pids(6).count(), 0);
        assert_eq!(table.socket_pids(10).count(), 0);
    }

    /// This process's own pipe, both ends, found with the right access.
    #[test]
    fn walk_finds_own_pipe_ends() {
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let inode = rustix::fs::fstat(&reader).unwrap().st_ino;
        let mut walker = FdWalker::new("/proc");
        let mut table = FdTable::default();
        walker.walk(&mut table).unwrap();
        let me = std::process::id();
        let ends: Vec<_> = table.pipes.iter().filter(|p| p.0 == inode).collect();
        assert_eq!(ends, vec![&(inode, me, Access::Read), &(inode, me, Access::Write)]);
        assert!(table.stats.processes >= 1 && table.stats.fds >= 2, "{:?}", table.stats);
        drop((reader, writer));
    }

    #[test]
    fn walk_of_a_missing_root_names_it() {
        let mut walker = FdWalker::new("/nonexistent-proc");
        let e = walker.walk(&mut FdTable::default()).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent-proc:"), "{e}");
    }
}
