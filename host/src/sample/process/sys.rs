//! The system calls of the process sampler (Linux): `*at` calls relative to
//! a /proc/<pid> directory descriptor, so that every file of one process is
//! read from the same process even if its pid is reused meanwhile (a stale
//! descriptor fails with ESRCH or ENOENT instead), and `getdents64` into a
//! reused buffer, so listing /proc allocates nothing per entry.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// PROC_SUPER_MAGIC from linux/magic.h.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Opens a directory by path.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c_path` is NUL-terminated; open has no other preconditions.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    owned(fd)
}

/// Opens `name` in `dir` read-only (`O_DIRECTORY` when `directory`).
pub fn open_at(dir: BorrowedFd<'_>, name: &CStr, directory: bool) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | if directory { libc::O_DIRECTORY } else { 0 };
    // SAFETY: `dir` is an open descriptor and `name` is NUL-terminated.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    owned(fd)
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads the whole of `name` in `dir` into `buf` (see [`read_whole`]).
pub fn read_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    let fd = open_at(dir, name, false)?;
    read_whole(fd.as_fd(), buf)
}

/// Reads an open file from its start into `buf`, replacing its contents
/// and keeping its capacity, with `pread` (so a descriptor can be read again
/// and again).
///
/// A short read is taken as the end: procfs builds these files whole on
/// each read from offset 0 and hands over all that fits, and asking again
/// at a later offset would make it build the file a second time just to
/// skip into it. When the buffer fills, it grows and the file is read again
/// from the start.
pub fn read_whole(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let spare = buf.spare_capacity_mut();
        // SAFETY: `spare` is writable for `spare.len()` bytes; pread writes at most that.
        let n = unsafe { libc::pread(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n < spare.len() {
            // SAFETY: pread initialised the first `n` bytes of the spare capacity.
            unsafe { buf.set_len(n) };
            return Ok(());
        }
        if buf.capacity() >= 16 << 20 {
            return Err(io::Error::other("file larger than 16 MiB"));
        }
        buf.reserve(buf.capacity() * 2);
    }
}

/// Raises the soft RLIMIT_NOFILE of this process to its hard limit (as the
/// Go runtime does for every Go program) and returns the soft limit now.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `raised` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on 64-bit Linux, not everywhere
    Ok(limit.rlim_cur as u64)
}

/// The target of the symbolic link `name` in `dir`, into `buf`.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut capacity = 256;
    loop {
        buf.reserve(capacity);
        let spare = buf.spare_capacity_mut();
        // SAFETY: `spare` is writable for `spare.len()` bytes; readlinkat writes at most that.
        let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), spare.as_mut_ptr().cast(), spare.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < spare.len() {
            // SAFETY: readlinkat initialised the first `n` bytes of the spare capacity.
            unsafe { buf.set_len(n) };
            return Ok(());
        }
        // Possibly truncated: try again with more room.
        capacity = spare.len() * 2;
        if capacity > 1 << 20 {
            return Err(io::Error::other("link target longer than 1 MiB"));
        }
    }
}

/// `st_size` of `name` in `dir` (without following a final link).
pub fn size_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<u64> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `name` is NUL-terminated and `st` is writable.
    if unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}

/// Calls `each` with the name of every entry of the open directory `dir`
/// (`.` and `..` included), reading with getdents64 into `buf`.
pub fn for_each_entry(dir: &OwnedFd, buf: &mut Vec<u8>, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    if buf.len() < 32 * 1024 {
        buf.resize(32 * 1024, 0);
    }
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes; the kernel writes at most that.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(());
        }
        // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        let mut records = &buf[..n as usize];
        while records.len() >= 19 {
            let reclen = usize::from(u16::from_ne_bytes([records[16], records[17]]));
            if reclen < 19 || reclen > records.len() {
                return Err(io::Error::other("malformed getdents64 record"));
            }
            let name = &records[19..reclen];
            let name = name.iter().position(|&b| b == 0).map_or(name, |nul| &name[..nul]);
            each(name);
            records = &records[reclen..];
        }
    }
}

/// Whether `path` is on a procfs mount.
pub fn is_procfs(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else { return false };
    let mut st = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c_path` is NUL-terminated and `st` is writable.
    if unsafe { libc::statfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, other widths elsewhere
    let magic = st.f_type as i64;
    magic == PROC_SUPER_MAGIC
}

/// The page size, for stat's rss.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
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
        // SAFETY: on success `result` points to `pwd`, whose pw_name points into `buf`.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        return Some(String::from_utf8_lossy(name.to_bytes()).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process() {
        let proc = open_dir(Path::new("/proc/self")).unwrap();
        let mut buf = Vec::new();
        read_at(proc.as_fd(), c"stat", &mut buf).unwrap();
        assert!(buf.starts_with(std::process::id().to_string().as_bytes()));
        readlink_at(proc.as_fd(), c"exe", &mut buf).unwrap();
        assert_eq!(Path::new(std::ffi::OsStr::from_bytes(&buf)), std::env::current_exe().unwrap());
        assert!(read_at(proc.as_fd(), c"no-such-file", &mut buf).is_err());
        // A held descriptor reads the file anew each time, from the start.
        let status = open_at(proc.as_fd(), c"status", false).unwrap();
        let mut small = Vec::new();
        read_whole(status.as_fd(), &mut small).unwrap();
        let first = small.clone();
        read_whole(status.as_fd(), &mut small).unwrap();
        assert!(small.starts_with(b"Name:") && small.len() > 500 && small.len().abs_diff(first.len()) < 64);
        assert!(is_procfs(Path::new("/proc")));
        assert!(!is_procfs(Path::new("/")));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert!(page_size() >= 4096);
        assert!(raise_open_files_limit().unwrap() >= 1024);
    }

    #[test]
    fn directory_entries() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..500 {
            std::fs::write(dir.path().join(format!("entry-with-a-long-name-{i:04}")), "").unwrap();
        }
        let fd = open_dir(dir.path()).unwrap();
        let mut names = Vec::new();
        let mut buf = Vec::new();
        for_each_entry(&fd, &mut buf, |n| names.push(n.to_vec())).unwrap();
        names.sort();
        assert_eq!(names.len(), 502);
        assert_eq!(names[0], b".");
        assert_eq!(names[2], b"entry-with-a-long-name-0000");
    }
}
