//! The few system calls the samplers make, through libc (Linux).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::limits::Rlimit;
use super::model::FilesystemUsage;

/// USER_HZ: the unit of the tick counts in /proc/stat and /proc/<pid>/stat.
/// `None` if sysconf does not know it.
pub fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

fn getrlimit(resource: Resource) -> io::Result<Rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on 64-bit Linux, not everywhere
    Ok(Rlimit::from_raw(limit.rlim_cur as u64, limit.rlim_max as u64, libc::RLIM_INFINITY as u64))
}

/// RLIMIT_NOFILE of this process: open file descriptors.
pub fn open_files_limit() -> io::Result<Rlimit> {
    getrlimit(libc::RLIMIT_NOFILE)
}

/// RLIMIT_NPROC of this process: processes (threads) of its real user.
pub fn processes_limit() -> io::Result<Rlimit> {
    getrlimit(libc::RLIMIT_NPROC)
}

/// RLIMIT_AS of this process: address space, in bytes.
pub fn address_space_limit() -> io::Result<Rlimit> {
    getrlimit(libc::RLIMIT_AS)
}

/// statvfs(3) of a mount point.
///
/// statvfs rather than Linux statfs(2) because POSIX names the unit of the
/// block counts: `f_blocks`, `f_bfree` and `f_bavail` count `f_frsize`-byte
/// fragments, while `f_bsize` is only the preferred I/O size, which differs on
/// some filesystems (network ones especially). glibc fills `f_frsize` from
/// statfs's `f_frsize`, or `f_bsize` on kernels that leave it 0. So
/// size = f_blocks × f_frsize, free = f_bfree × f_frsize (root included),
/// available = f_bavail × f_frsize (unprivileged users).
pub fn statvfs(path: &Path) -> io::Result<FilesystemUsage> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut buf = MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is NUL-terminated and `buf` is writable and large enough.
    if unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs succeeded, so it filled the struct (which was zeroed anyway).
    let s = unsafe { buf.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types are u64 on 64-bit Linux, not everywhere
    let (blocks, bfree, bavail, files, ffree, frsize, bsize) = (
        s.f_blocks as u64,
        s.f_bfree as u64,
        s.f_bavail as u64,
        s.f_files as u64,
        s.f_ffree as u64,
        s.f_frsize as u64,
        s.f_bsize as u64,
    );
    let unit = if frsize > 0 { frsize } else { bsize };
    Ok(FilesystemUsage {
        size_bytes: blocks.saturating_mul(unit),
        free_bytes: bfree.saturating_mul(unit),
        available_bytes: bavail.saturating_mul(unit),
        files,
        files_free: ffree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_answers() {
        let ticks = clock_ticks_per_second().unwrap();
        assert!(ticks >= 1.0, "{ticks}");
        let nofile = open_files_limit().unwrap();
        assert!(nofile.soft.is_some_and(|soft| soft > 0));
        let root = statvfs(Path::new("/")).unwrap();
        assert!(root.size_bytes > 0 && root.size_bytes >= root.free_bytes && root.free_bytes >= root.available_bytes);
        assert!(statvfs(Path::new("/no/such/mount/point")).is_err());
        assert!(statvfs(Path::new("/bad\0path")).is_err());
    }
}
