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
use std::fs;
use std::io::{self, Write as _};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sample::SampleError;

/// Which end of a pipe or FIFO a descriptor holds (`flags & O_ACCMODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

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
    match flags & libc::O_ACCMODE as u32 {
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
    pub inode: u64,
    pub pid: u32,
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
    pub fifos: Vec<FifoEnd>,
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

/// Room for a link text: PATH_MAX and a bit.
const LINK_BUFFER: usize = 4096 + 64;

/// Walks /proc; keeps its buffers from walk to walk. Not shared between
/// threads.
pub struct FdWalker {
    proc_root: PathBuf,
    /// Scratch for NUL-terminated paths.
    path: Vec<u8>,
    link: Vec<u8>,
    info: Vec<u8>,
    /// statx(2) refused (kernel < 4.11, or a seccomp filter): use fstatat.
    no_statx: bool,
}

impl FdWalker {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        FdWalker {
            proc_root: proc_root.into(),
            path: Vec::with_capacity(256),
            link: vec![0; LINK_BUFFER],
            info: vec![0; 512],
            no_statx: false,
        }
    }

    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// Fills `table` (cleared first) with every socket, pipe and FIFO
    /// descriptor of every process. Fails only if the proc root itself
    /// cannot be listed.
    pub fn walk(&mut self, table: &mut FdTable) -> Result<(), SampleError> {
        table.clear();
        let entries = fs::read_dir(&self.proc_root)
            .map_err(|source| SampleError::Read { file: self.proc_root.clone(), source })?;
        for entry in entries {
            // An error here is a directory entry the kernel could not give
            // (a process exiting as we list): skip it.
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(pid) = parse_pid(name.as_bytes()) else { continue };
            self.walk_process(pid, table);
        }
        table.finish();
        Ok(())
    }

    fn walk_process(&mut self, pid: u32, table: &mut FdTable) {
        let mut fd_dir = match self.open_dir(pid, b"fd") {
            Ok(dir) => dir,
            Err(e) => {
                match e.raw_os_error() {
                    Some(libc::EACCES | libc::EPERM) => table.stats.unreadable += 1,
                    _ => table.stats.vanished += 1,
                }
                return;
            }
        };
        table.stats.processes += 1;
        let dirfd = fd_dir.fd;
        let mut fdinfo_dir: Option<Dir> = None;
        while let Some(name) = fd_dir.next_name() {
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            table.stats.fds += 1;
            // SAFETY: dirfd is open while fd_dir is; name is NUL-terminated;
            // link has link.len() writable bytes.
            let n = unsafe { libc::readlinkat(dirfd, name.as_ptr(), self.link.as_mut_ptr().cast(), self.link.len()) };
            if n <= 0 {
                continue; // closed since readdir
            }
            let n = n as usize;
            match parse_fd_target(&self.link[..n]) {
                FdTarget::Socket(inode) => table.sockets.push((inode, pid)),
                FdTarget::Pipe(inode) => {
                    if let Some(access) = self.access(pid, &mut fdinfo_dir, name) {
                        table.pipes.push((inode, pid, access));
                    }
                }
                FdTarget::Path(_) => {
                    let Some((dev, inode)) = self.fifo_identity(dirfd, name) else { continue };
                    let path = String::from_utf8_lossy(&self.link[..n]).into_owned();
                    if let Some(access) = self.access(pid, &mut fdinfo_dir, name) {
                        table.fifos.push(FifoEnd { dev, inode, pid, access, path });
                    }
                }
                FdTarget::Other => {}
            }
        }
    }

    /// `(dev, inode)` if the fd is a FIFO.
    fn fifo_identity(&mut self, dirfd: libc::c_int, name: &CStr) -> Option<(u64, u64)> {
        if !self.no_statx {
            let mut stx = MaybeUninit::<libc::statx>::zeroed();
            // SAFETY: dirfd is open, name NUL-terminated, stx writable.
            let rc = unsafe {
                libc::statx(
                    dirfd,
                    name.as_ptr(),
                    libc::AT_STATX_DONT_SYNC,
                    libc::STATX_TYPE | libc::STATX_INO,
                    stx.as_mut_ptr(),
                )
            };
            if rc == 0 {
                // SAFETY: statx filled it (and it was zeroed before).
                let stx = unsafe { stx.assume_init() };
                if u32::from(stx.stx_mode) & libc::S_IFMT != libc::S_IFIFO {
                    return None;
                }
                return Some((libc::makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino));
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::ENOSYS | libc::EPERM) => self.no_statx = true,
                _ => return None,
            }
        }
        let mut st = MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: as above.
        if unsafe { libc::fstatat(dirfd, name.as_ptr(), st.as_mut_ptr(), 0) } != 0 {
            return None;
        }
        // SAFETY: fstatat filled it.
        let st = unsafe { st.assume_init() };
        #[allow(clippy::unnecessary_cast)] // dev_t and ino_t widths differ between targets
        (st.st_mode & libc::S_IFMT == libc::S_IFIFO).then_some((st.st_dev as u64, st.st_ino as u64))
    }

    /// The access mode of fd `name` of `pid`, from its fdinfo (the fdinfo
    /// directory is opened once per process, when first needed).
    fn access(&mut self, pid: u32, fdinfo_dir: &mut Option<Dir>, name: &CStr) -> Option<Access> {
        if fdinfo_dir.is_none() {
            *fdinfo_dir = Some(self.open_dir(pid, b"fdinfo").ok()?);
        }
        let dir = fdinfo_dir.as_ref()?;
        // SAFETY: dir's fd is open, name NUL-terminated.
        let fd = unsafe { libc::openat(dir.fd, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is open; info has info.len() writable bytes.
        let n = unsafe { libc::read(fd, self.info.as_mut_ptr().cast(), self.info.len()) };
        // SAFETY: fd is ours and closed once.
        unsafe { libc::close(fd) };
        if n <= 0 {
            return None;
        }
        parse_fdinfo_access(&self.info[..n as usize])
    }

    /// Opens `<proc_root>/<pid>/<sub>` as a directory stream.
    fn open_dir(&mut self, pid: u32, sub: &[u8]) -> io::Result<Dir> {
        self.path.clear();
        self.path.extend_from_slice(self.proc_root.as_os_str().as_bytes());
        self.path.push(b'/');
        // A u32 in decimal, without allocating.
        let _ = write!(self.path, "{pid}");
        self.path.push(b'/');
        self.path.extend_from_slice(sub);
        self.path.push(0);
        let path = CStr::from_bytes_with_nul(&self.path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        Dir::open(path)
    }
}

/// A pid directory name: digits only, fitting a u32.
fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// A directory stream (opendir/readdir), closed on drop.
struct Dir {
    dir: std::ptr::NonNull<libc::DIR>,
    /// The stream's descriptor (dirfd), open as long as the stream is.
    fd: libc::c_int,
}

impl Dir {
    fn open(path: &CStr) -> io::Result<Dir> {
        // SAFETY: path is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is an open directory; on success DIR owns it.
        let dir = unsafe { libc::fdopendir(fd) };
        match std::ptr::NonNull::new(dir) {
            Some(dir) => Ok(Dir { dir, fd }),
            None => {
                let e = io::Error::last_os_error();
                // SAFETY: fdopendir failed, so fd is still ours.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }

    /// The next entry's name; `None` at the end (or on an error, which in
    /// /proc means the process is gone).
    fn next_name(&mut self) -> Option<&CStr> {
        // SAFETY: the stream is open; the entry stays valid until the next
        // readdir on this stream, which needs the `&mut self` this borrows.
        unsafe {
            let entry = libc::readdir(self.dir.as_ptr());
            if entry.is_null() {
                return None;
            }
            Some(CStr::from_ptr((*entry).d_name.as_ptr()))
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: opened by fdopendir, closed exactly once.
        unsafe { libc::closedir(self.dir.as_ptr()) };
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
    fn pids_and_table_lookups() {
        assert_eq!(parse_pid(b"1234"), Some(1234));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"99999999999"), None);
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
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let mut st = MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fds[0] is open; st writable.
        assert_eq!(unsafe { libc::fstat(fds[0], st.as_mut_ptr()) }, 0);
        // SAFETY: filled by fstat.
        let inode = unsafe { st.assume_init() }.st_ino;
        let mut walker = FdWalker::new("/proc");
        let mut table = FdTable::default();
        walker.walk(&mut table).unwrap();
        let me = std::process::id();
        let ends: Vec<_> = table.pipes.iter().filter(|p| p.0 == inode).collect();
        assert_eq!(ends, vec![&(inode, me, Access::Read), &(inode, me, Access::Write)]);
        assert!(table.stats.processes >= 1 && table.stats.fds >= 2, "{:?}", table.stats);
        // SAFETY: ours, closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn walk_of_a_missing_root_names_it() {
        let mut walker = FdWalker::new("/nonexistent-proc");
        let e = walker.walk(&mut FdTable::default()).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent-proc:"), "{e}");
    }
}
