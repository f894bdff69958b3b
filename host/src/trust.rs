//! StrictModes: which files and directories gomon may trust to decide what
//! it runs.
//!
//! gomon runs as root (or a capable service user) and loads code and
//! settings from disk: probe components, compiled artifacts, the compile
//! cache's key, the configuration, the TLS key. Like sshd's `StrictModes`,
//! a path is trusted only when nobody but gomon's own user or root can
//! change what it holds:
//!
//! - the path and **each of its ancestors** are owned by the effective user
//!   or by root;
//! - the path itself is not writable by group or others;
//! - an ancestor directory is not writable by group or others, unless it
//!   is sticky (`/tmp`, mode 1777): there others can add entries but cannot
//!   remove or rename one they do not own, and the entry below it is
//!   checked for its owner like every other component, so a directory that
//!   another user created first in `/tmp` is refused;
//! - symbolic links are followed one component at a time, and each link
//!   must itself be owned by the effective user or root (its target is then
//!   checked the same way); more than 40 links is an error;
//! - a file is a regular file (not a FIFO or a device), a directory a
//!   directory.
//!
//! A refusal is one line naming the path at fault, its owner and mode, and
//! the fix:
//!
//! ```text
//! /srv/probes is writable by group and others (owner root, mode 0777): gomon
//! (running as root) refuses it; fix: chmod go-w /srv/probes
//! ```
//!
//! [`create_private_dir`] makes the directories gomon keeps its own state
//! in: created 0700, and then (or when they already exist) verified to be
//! owned by the effective user with no group or other permission at all.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Most symbolic links followed while checking one path (Linux's own limit).
const MAX_LINKS: u32 = 40;

/// Mode bits: written by group or others.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// Mode bits: any permission for group or others.
const GROUP_OTHER_ANY: u32 = 0o077;
/// The sticky bit.
const STICKY: u32 = 0o1000;

/// What a path was expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "a regular file",
            Kind::Directory => "a directory",
        })
    }
}

/// Why a path is not trusted. `Display` is one line naming the path at
/// fault, its owner and mode, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The path (or a component of it) cannot be examined.
    #[error("cannot check {}: {error}", path.display())]
    Io {
        /// The path that could not be examined.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Owned by a user other than gomon's and root.
    #[error(
        "{} is owned by {} (mode {}): gomon (running as {}) trusts only what it or root owns; fix: chown {} {}",
        culprit.path.display(), culprit.owner(), culprit.mode(), user_label(culprit.euid), chown_user(culprit.euid),
        culprit.path.display()
    )]
    Owner {
        /// The path at fault.
        culprit: Culprit,
    },
    /// Writable by group or others.
    #[error(
        "{} is writable by {} (owner {}, mode {}): gomon (running as {}) refuses it; fix: chmod go-w {}",
        culprit.path.display(), culprit.writers(), culprit.owner(), culprit.mode(), user_label(culprit.euid),
        culprit.path.display()
    )]
    Writable {
        /// The path at fault.
        culprit: Culprit,
    },
    /// A private directory or file that group or others may read or enter.
    #[error(
        "{} is open to group or others (owner {}, mode {}): it must be private to gomon; fix: chmod go-rwx {}",
        culprit.path.display(), culprit.owner(), culprit.mode(), culprit.path.display()
    )]
    NotPrivate {
        /// The path at fault.
        culprit: Culprit,
    },
    /// Not what it should be (a FIFO where a file should be, a file where a
    /// directory should be, a symbolic link where none may be).
    #[error("{} is {found}, not {expected}: gomon refuses it", path.display())]
    WrongType {
        /// The path at fault.
        path: PathBuf,
        /// What it should be.
        expected: Kind,
        /// What it is.
        found: &'static str,
    },
    /// Too many symbolic links, or a loop.
    #[error("{}: more than {MAX_LINKS} symbolic links (a loop?)", path.display())]
    TooManyLinks {
        /// The path being checked.
        path: PathBuf,
    },
}

impl TrustError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            TrustError::Io { path, .. } | TrustError::WrongType { path, .. } | TrustError::TooManyLinks { path } => {
                path
            }
            TrustError::Owner { culprit } | TrustError::Writable { culprit } | TrustError::NotPrivate { culprit } => {
                &culprit.path
            }
        }
    }

    fn io(path: &Path, error: std::io::Error) -> Self {
        TrustError::Io { path: path.to_owned(), error }
    }
}

/// A path that failed a check, with what the check saw.
#[derive(Debug, Clone)]
pub struct Culprit {
    /// The path (a component of the path checked, or a link on the way).
    pub path: PathBuf,
    /// Its owner's uid.
    pub uid: u32,
    /// Its mode bits (permissions, setuid, setgid, sticky).
    pub mode: u32,
    /// gomon's effective uid.
    pub euid: u32,
}

impl Culprit {
    fn new(path: &Path, meta: &std::fs::Metadata, euid: u32) -> Self {
        Culprit { path: path.to_owned(), uid: meta.uid(), mode: meta.mode() & 0o7777, euid }
    }

    fn owner(&self) -> String {
        user_label(self.uid)
    }

    fn mode(&self) -> String {
        format!("{:04o}", self.mode)
    }

    fn writers(&self) -> &'static str {
        match (self.mode & 0o020 != 0, self.mode & 0o002 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        }
    }
}

/// `name` for a uid with a name, else `uid N`.
fn user_label(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The user to give to chown: its name, else the number.
fn chown_user(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// The name of user `uid` (getpwuid_r), `None` when it has none.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pwd = std::mem::MaybeUninit::<libc::passwd>::zeroed();
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
        let name = unsafe { std::ffi::CStr::from_ptr((*result).pw_name) };
        return Some(String::from_utf8_lossy(name.to_bytes()).into_owned());
    }
}

/// gomon's effective uid.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks that `path` is a regular file gomon may trust (see the module
/// docs): it and its ancestors owned by gomon's user or root, nothing on
/// the way writable by others.
pub fn check_file(path: &Path) -> Result<(), TrustError> {
    Checker::new(effective_uid()).check(path, Kind::File).map(drop)
}

/// Checks that `path` is a directory gomon may trust (see the module docs).
pub fn check_dir(path: &Path) -> Result<(), TrustError> {
    Checker::new(effective_uid()).check(path, Kind::Directory).map(drop)
}

/// Checks that `path` is a file only gomon's user can read or write: a
/// trusted regular file (see [`check_file`]) owned by the effective user
/// with no permission for group or others (a key, a credential).
pub fn check_private_file(path: &Path) -> Result<(), TrustError> {
    let checker = Checker::new(effective_uid());
    let resolved = checker.check(path, Kind::File)?;
    checker.check_private(&resolved)
}

/// Creates `path` (and its missing ancestors) as a directory of mode 0700,
/// or accepts it if it exists; either way it must then be a trusted
/// directory (see [`check_dir`]) owned by the effective user and open to
/// neither group nor others. A directory another user created first, or
/// one with group or other permissions, is refused rather than used.
pub fn create_private_dir(path: &Path) -> Result<(), TrustError> {
    let checker = Checker::new(effective_uid());
    let absolute = absolute(path)?;
    // Create what is missing, one component at a time, each 0700.
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        missing.push(existing.to_owned());
        existing = match existing.parent() {
            Some(parent) => parent,
            None => break,
        };
    }
    for dir in missing.iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            // Created meanwhile by someone else: the checks below decide.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(TrustError::io(dir, e)),
        }
    }
    let resolved = checker.check(&absolute, Kind::Directory)?;
    checker.check_private(&resolved)
}

/// `path` made absolute against the current directory (not resolved).
fn absolute(path: &Path) -> Result<PathBuf, TrustError> {
    std::path::absolute(path).map_err(|e| TrustError::io(path, e))
}

/// The checks, for one effective uid (a parameter, so tests can check
/// paths as another user would).
struct Checker {
    euid: u32,
}

impl Checker {
    fn new(euid: u32) -> Self {
        Checker { euid }
    }

    fn trusted_owner(&self, uid: u32) -> bool {
        uid == self.euid || uid == 0
    }

    /// Walks `path` one component at a time from `/`, following links as
    /// the kernel would, checking each directory passed through, each link
    /// and the final target; returns the resolved path.
    fn check(&self, path: &Path, kind: Kind) -> Result<PathBuf, TrustError> {
        let absolute = absolute(path)?;
        let mut resolved = PathBuf::from("/");
        self.check_ancestor(&resolved)?;
        let mut pending: VecDeque<OsString> = VecDeque::new();
        push_front_components(&mut pending, &absolute);
        let mut links = 0;
        // Whether `resolved` has been checked as the final component.
        let mut leaf_checked = false;
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                resolved.pop();
                leaf_checked = false;
                continue;
            }
            let next = resolved.join(&name);
            let meta = std::fs::symlink_metadata(&next).map_err(|e| TrustError::io(&next, e))?;
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(TrustError::TooManyLinks { path: absolute });
                }
                if !self.trusted_owner(meta.uid()) {
                    return Err(TrustError::Owner { culprit: Culprit::new(&next, &meta, self.euid) });
                }
                let target = std::fs::read_link(&next).map_err(|e| TrustError::io(&next, e))?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                push_front_components(&mut pending, &target);
                continue;
            }
            if pending.is_empty() {
                self.check_leaf(&next, &meta, kind)?;
                leaf_checked = true;
            } else {
                self.check_dir_meta(&next, &meta, true)?;
            }
            resolved = next;
        }
        if !leaf_checked {
            // The path ended in `..` or was `/`: check where it led as the target.
            let meta = std::fs::symlink_metadata(&resolved).map_err(|e| TrustError::io(&resolved, e))?;
            self.check_leaf(&resolved, &meta, kind)?;
        }
        Ok(resolved)
    }

    fn check_ancestor(&self, dir: &Path) -> Result<(), TrustError> {
        let meta = std::fs::symlink_metadata(dir).map_err(|e| TrustError::io(dir, e))?;
        self.check_dir_meta(dir, &meta, true)
    }

    /// A directory on the way (`ancestor`) may be sticky and writable by
    /// others; the checked directory itself may not.
    fn check_dir_meta(&self, path: &Path, meta: &std::fs::Metadata, ancestor: bool) -> Result<(), TrustError> {
        if !meta.is_dir() {
            return Err(TrustError::WrongType { path: path.to_owned(), expected: Kind::Directory, found: what(meta) });
        }
        let culprit = || Culprit::new(path, meta, self.euid);
        if !self.trusted_owner(meta.uid()) {
            return Err(TrustError::Owner { culprit: culprit() });
        }
        let mode = meta.permissions().mode();
        if mode & GROUP_OTHER_WRITE != 0 && !(ancestor && mode & STICKY != 0) {
            return Err(TrustError::Writable { culprit: culprit() });
        }
        Ok(())
    }

    fn check_leaf(&self, path: &Path, meta: &std::fs::Metadata, kind: Kind) -> Result<(), TrustError> {
        match kind {
            Kind::Directory => self.check_dir_meta(path, meta, false),
            Kind::File => {
                if !meta.is_file() {
                    return Err(TrustError::WrongType {
                        path: path.to_owned(),
                        expected: Kind::File,
                        found: what(meta),
                    });
                }
                let culprit = || Culprit::new(path, meta, self.euid);
                if !self.trusted_owner(meta.uid()) {
                    return Err(TrustError::Owner { culprit: culprit() });
                }
                if meta.permissions().mode() & GROUP_OTHER_WRITE != 0 {
                    return Err(TrustError::Writable { culprit: culprit() });
                }
                Ok(())
            }
        }
    }

    /// Owned by the effective user itself, no permission for group or others.
    fn check_private(&self, path: &Path) -> Result<(), TrustError> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| TrustError::io(path, e))?;
        let culprit = || Culprit::new(path, &meta, self.euid);
        if meta.uid() != self.euid {
            return Err(TrustError::Owner { culprit: culprit() });
        }
        if meta.permissions().mode() & GROUP_OTHER_ANY != 0 {
            return Err(TrustError::NotPrivate { culprit: culprit() });
        }
        Ok(())
    }
}

/// Puts the components of `path` (without its root) in front of `pending`,
/// in order; `.` components are dropped.
fn push_front_components(pending: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

/// What a non-matching path is, for messages.
fn what(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

#[cfg(test)]
mod tests;
