//! The one seam between the samplers and the kernel (Linux): every system
//! call the samplers make goes through here, and through
//! [rustix](https://docs.rs/rustix) rather than raw libc, so the only
//! `unsafe` left is around the two libc *library* functions rustix does not
//! wrap (`getpwuid_r`, `getifaddrs`).
//!
//! | what | call | used by |
//! |---|---|---|
//! | USER_HZ, page size | `sysconf(_SC_CLK_TCK)`, `sysconf(_SC_PAGESIZE)` (from the aux vector) | /proc/stat, /proc/<pid>/stat |
//! | resource limits | `getrlimit`, `setrlimit` | system limits, the process reader's descriptor budget |
//! | filesystem capacity, "is this procfs?" | `statvfs`, `statfs` | filesystems, the process reader |
//! | the directory walker | `openat`, `getdents64` into a reused buffer ([`for_each_entry`]) | the process reader (/proc, /proc/<pid>/fd) and the socket fd walk |
//! | files relative to a directory | `openat`, `pread`, `readlinkat`, `fstatat`, `statx` | the process reader, the socket fd walk |
//!
//! Paths are relative to a directory descriptor wherever a process is read,
//! so that every file of one process comes from the same process even if
//! its pid is reused meanwhile (a stale descriptor fails with ESRCH or
//! ENOENT instead).

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use rustix::buffer::spare_capacity;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, StatxFlags};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit as RawRlimit};

use crate::limits::Rlimit;
use crate::model::FilesystemUsage;

/// USER_HZ on every mainstream Linux architecture; used only if the kernel
/// did not say (no `AT_CLKTCK` in the aux vector).
pub const FALLBACK_TICKS_PER_SECOND: f64 = 100.0;

/// Largest file [`read_whole`] reads (procfs files are far smaller).
const MAX_FILE_BYTES: usize = 16 << 20;

/// Largest link target [`readlink_at`] reads.
const MAX_LINK_BYTES: usize = 1 << 20;

/// USER_HZ: the unit of the tick counts in /proc/stat and /proc/<pid>/stat.
/// `None` if the kernel did not say.
pub fn clock_ticks_per_second() -> Option<f64> {
    let ticks = rustix::param::clock_ticks_per_second();
    (ticks > 0).then_some(ticks as f64)
}

/// USER_HZ, read once; [`FALLBACK_TICKS_PER_SECOND`] if the kernel did not say.
pub fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| clock_ticks_per_second().unwrap_or(FALLBACK_TICKS_PER_SECOND))
}

/// The page size in bytes (for stat's rss, in pages).
pub fn page_size() -> u64 {
    u64::try_from(rustix::param::page_size()).ok().filter(|&s| s > 0).unwrap_or(4096)
}

fn rlimit(resource: Resource) -> Rlimit {
    let RawRlimit { current, maximum } = rustix::process::getrlimit(resource);
    Rlimit { soft: current, hard: maximum }
}

/// RLIMIT_NOFILE of this process: open file descriptors.
pub fn open_files_limit() -> Rlimit {
    rlimit(Resource::Nofile)
}

/// RLIMIT_NPROC of this process: processes (threads) of its real user.
pub fn processes_limit() -> Rlimit {
    rlimit(Resource::Nproc)
}

/// RLIMIT_AS of this process: address space, in bytes.
pub fn address_space_limit() -> Rlimit {
    rlimit(Resource::As)
}

/// Raises the soft RLIMIT_NOFILE of this process to its hard limit (as the
/// Go runtime does for every Go program) and returns the soft limit now
/// (`u64::MAX` when unlimited).
pub fn raise_open_files_limit() -> u64 {
    let mut limit = rustix::process::getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = RawRlimit { current: limit.maximum, maximum: limit.maximum };
        if rustix::process::setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// statvfs(3) of a mount point.
///
/// statvfs rather than Linux statfs(2) because POSIX names the unit of the
/// block counts: `f_blocks`, `f_bfree` and `f_bavail` count `f_frsize`-byte
/// fragments, while `f_bsize` is only the preferred I/O size, which differs on
/// some filesystems (network ones especially). rustix fills `f_frsize` from
/// statfs's `f_frsize`, or `f_bsize` on kernels that leave it 0, as glibc
/// does. So size = f_blocks × f_frsize, free = f_bfree × f_frsize (root
/// included), available = f_bavail × f_frsize (unprivileged users).
pub fn statvfs(path: &Path) -> io::Result<FilesystemUsage> {
    let s = rustix::fs::statvfs(path)?;
    let unit = if s.f_frsize > 0 { s.f_frsize } else { s.f_bsize };
    Ok(FilesystemUsage {
        size_bytes: s.f_blocks.saturating_mul(unit),
        free_bytes: s.f_bfree.saturating_mul(unit),
        available_bytes: s.f_bavail.saturating_mul(unit),
        files: s.f_files,
        files_free: s.f_ffree,
    })
}

/// Whether `path` is on a procfs mount (a fixture tree is not).
pub fn is_procfs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == rustix::fs::PROC_SUPER_MAGIC)
}

/// The errno of an error that came from a system call.
pub fn errno(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw_os_error)
}

/// Whether an error means the process is gone (exited and reaped).
pub fn is_gone(e: &io::Error) -> bool {
    matches!(errno(e), Some(Errno::NOENT | Errno::SRCH))
}

/// Whether an error means we may not read the file (another user's process).
pub fn is_denied(e: &io::Error) -> bool {
    matches!(errno(e), Some(Errno::ACCESS | Errno::PERM))
}

/// Opens a directory by path.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Opens `name` in `dir` read-only (`O_DIRECTORY` when `directory`).
pub fn open_at(dir: BorrowedFd<'_>, name: &CStr, directory: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// Reads the whole of `name` in `dir` into `buf` (see [`read_whole`]).
pub fn read_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    let fd = open_at(dir, name, false)?;
    read_whole(std::os::fd::AsFd::as_fd(&fd), buf)
}

/// Reads an open file from its start into `buf`, replacing its contents
/// and keeping its capacity, with `pread` (so a descriptor can be read again
/// and again).
///
/// A short read is taken as the end: procfs builds these files whole on
/// each read from offset 0 and hands over all that fits, and asking again
/// at a later offset would make it build the file a second time just to
/// skip into it. When the buffer fills, it grows and the file is read again
/// from the start (up to 16 MiB).
pub fn read_whole(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let room = buf.capacity();
        let n = match rustix::io::pread(fd, spare_capacity(buf), 0) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n < room {
            return Ok(());
        }
        if room >= MAX_FILE_BYTES {
            return Err(io::Error::other("file larger than 16 MiB"));
        }
        buf.clear();
        buf.reserve(room.saturating_mul(2));
    }
}

/// The target of the symbolic link `name` in `dir`, into `buf` (replacing
/// its contents).
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if buf.capacity() < 256 {
        buf.reserve(256);
    }
    loop {
        let room = buf.capacity();
        let n = rustix::fs::readlinkat_raw(dir, name, spare_capacity(buf))?;
        if n < room {
            return Ok(());
        }
        // Possibly truncated: try again with more room.
        if room >= MAX_LINK_BYTES {
            return Err(io::Error::other("link target longer than 1 MiB"));
        }
        buf.clear();
        buf.reserve(room.saturating_mul(2));
    }
}

/// `st_size` of `name` in `dir` (without following a final link).
pub fn size_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<u64> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}

/// `(device, inode)` of what `name` in `dir` refers to (following links),
/// if it is a FIFO; `None` for anything else or on an error.
///
/// `statx` with `AT_STATX_DONT_SYNC`, which NFS, FUSE and CIFS answer from
/// their cache, so a dead mount cannot hang the caller; `fstatat` when the
/// kernel has no statx (< 4.11, or a seccomp filter refuses it: then
/// `*no_statx` is set and statx is not tried again).
pub fn fifo_identity(dir: BorrowedFd<'_>, name: &CStr, no_statx: &mut bool) -> Option<(u64, u64)> {
    if !*no_statx {
        match rustix::fs::statx(dir, name, AtFlags::STATX_DONT_SYNC, StatxFlags::TYPE | StatxFlags::INO) {
            Ok(stx) => {
                let fifo = FileType::from_raw_mode(u32::from(stx.stx_mode)) == FileType::Fifo;
                return fifo.then(|| (rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino));
            }
            Err(Errno::NOSYS | Errno::PERM) => *no_statx = true,
            Err(_) => return None,
        }
    }
    let st = rustix::fs::statat(dir, name, AtFlags::empty()).ok()?;
    (FileType::from_raw_mode(st.st_mode) == FileType::Fifo).then_some((st.st_dev, st.st_ino))
}

/// The directory walker: calls `each` with the name of every entry of the
/// freshly opened directory `dir` (`.` and `..` included), reading with
/// getdents64 into `buf`, so listing allocates nothing per entry. Both the
/// process reader (/proc, /proc/<pid>/fd) and the socket fd walk use it.
pub fn for_each_entry(dir: BorrowedFd<'_>, buf: &mut Vec<u8>, mut each: impl FnMut(&CStr)) -> io::Result<()> {
    buf.clear();
    if buf.capacity() < 32 * 1024 {
        buf.reserve(32 * 1024);
    }
    let spare: &mut [MaybeUninit<u8>] = buf.spare_capacity_mut();
    let mut entries = RawDir::new(dir, spare);
    while let Some(entry) = entries.next() {
        each(entry?.file_name());
    }
    Ok(())
}

/// A pid directory name: ASCII digits only, fitting a u32 (so `self`,
/// `thread-self` and `sys` are not pids).
pub fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = name.iter().try_fold(0u64, |v, &d| v.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
    u32::try_from(value).ok()
}

/// `<pid>/<file>` as a NUL-terminated path relative to /proc, built on the
/// stack.
pub struct PidPath {
    bytes: [u8; 32],
    /// Length of `<pid>/`.
    prefix: usize,
}

impl PidPath {
    /// `<pid>/`, ready for [`file`](Self::file).
    pub fn new(pid: u32) -> Self {
        let mut bytes = [0u8; 32];
        let mut digits = [0u8; 10];
        let (mut n, mut len) = (pid, 0);
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            bytes[i] = digits[len - 1 - i];
        }
        bytes[len] = b'/';
        PidPath { bytes, prefix: len + 1 }
    }

    /// `<pid>/<file>`; `file` is one of the short names the samplers read
    /// (at most 20 bytes, no NUL).
    pub fn file(&mut self, file: &str) -> &CStr {
        let file = &file.as_bytes()[..file.len().min(self.bytes.len() - 1 - self.prefix)];
        let end = self.prefix + file.len();
        self.bytes[self.prefix..end].copy_from_slice(file);
        self.bytes[end] = 0;
        // Digits, '/', a name without NUL, and one NUL.
        CStr::from_bytes_with_nul(&self.bytes[..=end]).unwrap_or_default()
    }
}

/// The name of user `uid` (getpwuid_r: /etc/passwd, or whatever NSS is
/// configured), `None` when it has none.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pwd = MaybeUninit::<libc::passwd>::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid and `buf` is writable for its length.
        let rc = unsafe { libc::getpwuid_r(uid, pwd.as_mut_ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success `result` points to `pwd`, whose pw_name points
        // into `buf`, NUL-terminated.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        return Some(String::from_utf8_lossy(name.to_bytes()).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn this_machine_answers() {
        let ticks = clock_ticks_per_second().unwrap();
        assert!(ticks >= 1.0, "{ticks}");
        assert_eq!(ticks_per_second(), ticks);
        assert!(page_size() >= 4096);
        let nofile = open_files_limit();
        assert!(nofile.soft.is_some_and(|soft| soft > 0));
        let root = statvfs(Path::new("/")).unwrap();
        assert!(root.size_bytes > 0 && root.size_bytes >= root.free_bytes && root.free_bytes >= root.available_bytes);
        assert!(statvfs(Path::new("/no/such/mount/point")).is_err());
        assert!(statvfs(Path::new("/bad\0path")).is_err());
        assert!(is_procfs(Path::new("/proc")));
        assert!(!is_procfs(Path::new("/")));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert!(raise_open_files_limit() >= 1024);
    }

    #[test]
    fn files_of_this_process() {
        let proc = open_dir(Path::new("/proc/self")).unwrap();
        let mut buf = Vec::new();
        read_at(proc.as_fd(), c"stat", &mut buf).unwrap();
        assert!(buf.starts_with(std::process::id().to_string().as_bytes()));
        readlink_at(proc.as_fd(), c"exe", &mut buf).unwrap();
        assert_eq!(Path::new(std::ffi::OsStr::from_bytes(&buf)), std::env::current_exe().unwrap());
        let e = read_at(proc.as_fd(), c"no-such-file", &mut buf).unwrap_err();
        assert!(is_gone(&e) && !is_denied(&e), "{e}");
        // A held descriptor reads the file anew each time, from the start.
        let status = open_at(proc.as_fd(), c"status", false).unwrap();
        let mut small = Vec::new();
        read_whole(status.as_fd(), &mut small).unwrap();
        let first = small.clone();
        read_whole(status.as_fd(), &mut small).unwrap();
        assert!(small.starts_with(b"Name:") && small.len() > 500 && small.len().abs_diff(first.len()) < 64);
        // A file larger than the first buffer is read whole.
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let dir_fd = open_dir(dir.path()).unwrap();
        let mut tiny = Vec::with_capacity(1);
        read_at(dir_fd.as_fd(), c"big", &mut tiny).unwrap();
        assert!(tiny == big, "{} bytes", tiny.len());
        assert!(size_at(proc.as_fd(), c"fd").is_ok());
    }

    #[test]
    fn directory_entries_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..500 {
            std::fs::write(dir.path().join(format!("entry-with-a-long-name-{i:04}")), "").unwrap();
        }
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
        let fd = open_dir(dir.path()).unwrap();
        let mut names = Vec::new();
        let mut buf = Vec::new();
        for_each_entry(fd.as_fd(), &mut buf, |n| names.push(n.to_bytes().to_vec())).unwrap();
        names.sort();
        assert_eq!(names.len(), 503);
        assert_eq!(names[0], b".");
        assert_eq!(names[2], b"entry-with-a-long-name-0000");
        let mut no_statx = false;
        let (_, inode) = fifo_identity(fd.as_fd(), c"fifo", &mut no_statx).unwrap();
        assert_eq!(inode, std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&fifo).unwrap()));
        assert_eq!(fifo_identity(fd.as_fd(), c"entry-with-a-long-name-0000", &mut no_statx), None);
        // The fstatat fallback agrees.
        let mut no_statx = true;
        assert_eq!(fifo_identity(fd.as_fd(), c"fifo", &mut no_statx).map(|(_, i)| i), Some(inode));
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"1234"), Some(1234));
        assert_eq!(parse_pid(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_pid(b"4294967296"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"12a"), None);
        assert_eq!(parse_pid(b""), None);
    }
}
