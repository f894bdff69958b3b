//! Opening a tailed file without being tricked into reading what the
//! operator did not mean to publish.
//!
//! A path the globs match is opened only when all of these hold (each
//! refusal says why, see [`Refusal`]):
//!
//! | check | how | unless |
//! |---|---|---|
//! | it is a regular file | `stat` before opening (a FIFO, device or socket is never opened), `fstat` on the descriptor after | — |
//! | a symbolic link is owned by root or by gomon's effective user | `lstat` of the matched path | `allow_other_owners` |
//! | the file is owned by root or by gomon's effective user | `fstat` on the descriptor | `allow_other_owners` |
//! | the file opened lies in a directory the globs name | the descriptor's own path (`/proc/self/fd/N`), so a link swapped between check and open is caught | `follow_symlinks` |
//!
//! The descriptor is opened with `O_NONBLOCK | O_CLOEXEC | O_NOCTTY` (and
//! `O_NOFOLLOW` when the matched path is not a link), so even a FIFO that
//! replaces a file between the `stat` and the `open` cannot block the tail
//! thread; `O_NONBLOCK` is cleared once the descriptor is known to be a
//! regular file. Hard links are left to the kernel's
//! `fs.protected_hardlinks` (on by default: no one links a file they do not
//! own).

use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::super::config::is_glob;

/// Who may own what gomon tails, and where links may lead.
#[derive(Debug, Clone)]
pub struct OpenPolicy {
    /// The globs, for the directories they name.
    patterns: Vec<String>,
    /// Follow links wherever they lead (the ownership rule still holds).
    pub follow_symlinks: bool,
    /// Read links and files of any owner.
    pub allow_other_owners: bool,
    /// gomon's effective uid.
    euid: u32,
}

/// Why a matched path is not tailed.
#[derive(Debug)]
pub enum Refusal {
    /// Not a regular file: `directory`, `FIFO`, `device`, `socket`.
    NotRegular(&'static str),
    /// A symbolic link owned by another user.
    LinkOwner(u32),
    /// A file owned by another user.
    FileOwner(u32),
    /// The file opened is outside the globs' directories (a link led there).
    OutsideGlobDirs(PathBuf),
    /// It could not be looked at or opened.
    Io(io::Error),
}

impl Refusal {
    /// A short, stable key, so that a path's refusal is logged once per reason.
    pub fn key(&self) -> String {
        match self {
            Refusal::NotRegular(kind) => format!("type:{kind}"),
            Refusal::LinkOwner(uid) => format!("link-owner:{uid}"),
            Refusal::FileOwner(uid) => format!("owner:{uid}"),
            Refusal::OutsideGlobDirs(to) => format!("outside:{}", to.display()),
            Refusal::Io(e) => format!("io:{:?}", e.kind()),
        }
    }

    /// Whether this is a failure to read (counted as an error) rather than a
    /// policy refusal.
    pub fn is_io(&self) -> bool {
        matches!(self, Refusal::Io(_))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotRegular(kind) => write!(f, "it is a {kind}, not a regular file"),
            Refusal::LinkOwner(uid) => write!(
                f,
                "it is a symbolic link owned by uid {uid}, neither root nor gomon's user \
                 (observe.logs.allow_other_owners = true reads it)"
            ),
            Refusal::FileOwner(uid) => write!(
                f,
                "it is owned by uid {uid}, neither root nor gomon's user \
                 (observe.logs.allow_other_owners = true reads it)"
            ),
            Refusal::OutsideGlobDirs(to) => write!(
                f,
                "it leads to {}, outside the directories of observe.logs.files \
                 (observe.logs.follow_symlinks = true follows it)",
                to.display()
            ),
            Refusal::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Refusal {
        Refusal::Io(e)
    }
}

/// The name of a file type that is not a regular file.
fn kind_of(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_char_device() || t.is_block_device() {
        Some("device")
    } else if t.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    }
}

impl OpenPolicy {
    /// The policy for `patterns` (absolute paths or globs).
    pub fn new(patterns: &[String], follow_symlinks: bool, allow_other_owners: bool) -> OpenPolicy {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        OpenPolicy { patterns: patterns.to_vec(), follow_symlinks, allow_other_owners, euid }
    }

    fn trusted(&self, uid: u32) -> bool {
        self.allow_other_owners || uid == 0 || uid == self.euid
    }

    /// Opens `path` for reading (blocking reads), or says why not.
    pub fn open(&self, path: &Path) -> Result<(File, Metadata), Refusal> {
        let link = std::fs::symlink_metadata(path)?;
        let is_link = link.file_type().is_symlink();
        if is_link && !self.trusted(link.uid()) {
            return Err(Refusal::LinkOwner(link.uid()));
        }
        // Never open what is not a regular file: opening a FIFO waits for a
        // writer, and opening a device can do things.
        let target = if is_link { std::fs::metadata(path)? } else { link };
        if let Some(kind) = kind_of(&target) {
            return Err(Refusal::NotRegular(kind));
        }
        let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        if !is_link {
            flags |= libc::O_NOFOLLOW;
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path)?;
        // What was opened, whatever was swapped in since the checks above.
        let meta = file.metadata()?;
        if let Some(kind) = kind_of(&meta) {
            return Err(Refusal::NotRegular(kind));
        }
        if !self.trusted(meta.uid()) {
            return Err(Refusal::FileOwner(meta.uid()));
        }
        if !self.follow_symlinks {
            let real = opened_path(&file).or_else(|_| std::fs::canonicalize(path))?;
            if !self.in_glob_dirs(&real) {
                return Err(Refusal::OutsideGlobDirs(real));
            }
        }
        clear_nonblock(&file)?;
        Ok((file, meta))
    }

    /// Whether `real` (an absolute path without links) lies directly in a
    /// directory that one of the globs names.
    pub fn in_glob_dirs(&self, real: &Path) -> bool {
        let Some(parent) = real.parent() else { return false };
        let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        self.patterns.iter().filter_map(|p| glob_dir(p)).any(|dir| match glob::Pattern::new(&dir) {
            Ok(pattern) => pattern.matches_path_with(parent, options),
            Err(_) => false,
        })
    }
}

/// The directory part of a pattern, its literal leading directories
/// resolved (`/var/run/app/*.log` → `/run/app`), as a glob.
pub fn glob_dir(pattern: &str) -> Option<String> {
    let dir = Path::new(pattern).parent()?;
    let mut literal = PathBuf::new();
    let mut rest = PathBuf::new();
    for component in dir.components() {
        let text = component.as_os_str().to_string_lossy();
        if rest.as_os_str().is_empty() && !is_glob(&text) && !matches!(component, Component::ParentDir) {
            literal.push(component);
        } else {
            rest.push(component);
        }
    }
    let literal = std::fs::canonicalize(&literal).unwrap_or(literal);
    let literal = glob::Pattern::escape(&literal.to_string_lossy());
    if rest.as_os_str().is_empty() {
        Some(literal)
    } else {
        Some(format!("{}/{}", literal.trim_end_matches('/'), rest.to_string_lossy()))
    }
}

/// The path of an open descriptor, from /proc/self/fd.
fn opened_path(file: &File) -> io::Result<PathBuf> {
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    if real.is_absolute() { Ok(real) } else { Err(io::Error::other("not a path")) }
}

fn clear_nonblock(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL takes the flags as an int.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const NOBODY: u32 = 65534;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn policy(dir: &Path) -> OpenPolicy {
        OpenPolicy::new(&[format!("{}/*.log", dir.display())], false, false)
    }

    #[test]
    fn glob_dirs_resolve_their_literal_part() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        symlink(&real, dir.path().join("alias")).unwrap();
        let pattern = format!("{}/alias/*.log", dir.path().display());
        let canonical = std::fs::canonicalize(&real).unwrap();
        assert_eq!(glob_dir(&pattern).unwrap(), canonical.display().to_string());
        let p = OpenPolicy::new(&[pattern], false, false);
        assert!(p.in_glob_dirs(&canonical.join("x.log")));
        assert!(!p.in_glob_dirs(&canonical.join("sub/x.log")));
        let p = OpenPolicy::new(&[format!("{}/*/app/*.log", dir.path().display())], false, false);
        assert!(p.in_glob_dirs(&std::fs::canonicalize(dir.path()).unwrap().join("a/app/x.log")));
        assert!(!p.in_glob_dirs(&std::fs::canonicalize(dir.path()).unwrap().join("a/b/app/x.log")));
    }

    #[test]
    fn regular_files_open_and_are_blocking() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        let (file, meta) = policy(dir.path()).open(&dir.path().join("a.log")).unwrap();
        assert!(meta.is_file());
        // SAFETY: F_GETFL on an open descriptor.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
        assert_ne!(
            // SAFETY: F_GETFD on an open descriptor.
            unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC,
            0
        );
    }

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = policy(dir.path()).open(&fifo).unwrap_err();
        assert!(matches!(e, Refusal::NotRegular("FIFO")), "{e}");
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let e = policy(dir.path()).open(&dir.path().join("d.log")).unwrap_err();
        assert!(matches!(e, Refusal::NotRegular("directory")), "{e}");
        // A link to a device.
        symlink("/dev/zero", dir.path().join("z.log")).unwrap();
        let e = policy(dir.path()).open(&dir.path().join("z.log")).unwrap_err();
        assert!(matches!(e, Refusal::NotRegular("device")), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn links_out_of_the_glob_dirs_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let secret = dir.path().join("secret");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(secret.join("s.txt"), "secret\n").unwrap();
        std::fs::write(logs.join("inside.txt"), "ok\n").unwrap();
        symlink(secret.join("s.txt"), logs.join("evil.log")).unwrap();
        symlink(logs.join("inside.txt"), logs.join("fine.log")).unwrap();
        let e = policy(&logs).open(&logs.join("evil.log")).unwrap_err();
        assert!(matches!(&e, Refusal::OutsideGlobDirs(p) if p.ends_with("secret/s.txt")), "{e}");
        assert!(e.to_string().contains("follow_symlinks"), "{e}");
        policy(&logs).open(&logs.join("fine.log")).unwrap();
        let follow = OpenPolicy::new(&[format!("{}/*.log", logs.display())], true, false);
        follow.open(&logs.join("evil.log")).unwrap();
        // A directory link in the path is caught the same way.
        symlink(&secret, logs.join("sub")).unwrap();
        let p = OpenPolicy::new(&[format!("{}/*/*.txt", logs.display())], false, false);
        let e = p.open(&logs.join("sub/s.txt")).unwrap_err();
        assert!(matches!(e, Refusal::OutsideGlobDirs(_)), "{e}");
    }

    #[test]
    fn other_owners_are_refused_unless_allowed() {
        if !is_root() {
            eprintln!("skipped: needs root to give files away");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("theirs.log");
        std::fs::write(&path, "x\n").unwrap();
        std::os::unix::fs::chown(&path, Some(NOBODY), None).unwrap();
        let e = policy(dir.path()).open(&path).unwrap_err();
        assert!(matches!(e, Refusal::FileOwner(NOBODY)), "{e}");
        OpenPolicy::new(&[format!("{}/*.log", dir.path().display())], false, true).open(&path).unwrap();
        // A link owned by someone else, to a root-only file beside it.
        let root_only = dir.path().join("root-only.txt");
        std::fs::write(&root_only, "root\n").unwrap();
        std::fs::set_permissions(&root_only, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.log");
        symlink(&root_only, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(NOBODY), None).unwrap();
        let e = policy(dir.path()).open(&link).unwrap_err();
        assert!(matches!(e, Refusal::LinkOwner(NOBODY)), "{e}");
        assert!(e.to_string().contains("allow_other_owners"), "{e}");
    }
}
