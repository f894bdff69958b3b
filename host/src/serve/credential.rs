//! The credential gomon generates at first start, the way it generates its certificate:
//! a random token in `<state-dir>/credentials/token` (directory 0700, file 0600), its
//! path logged at every start. The page takes it as HTTP basic auth (user
//! [`BASIC_USER`], password the token, so a browser prompts for it) or as
//! `Authorization: Bearer <token>`; `gomon probe list` reads it from the state
//! directory; a Grafana data source in agent mode sends it as its *Agent token*.
//!
//! A credential file or directory that others may read or write, that is a link, or
//! that another user owns is refused, never used: anyone who can read the token can
//! read everything gomon knows.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The basic-auth user name that goes with the generated token.
pub const BASIC_USER: &str = "gomon";

/// The credential's directory in a state directory.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("credentials")
}

/// The token file in a state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("token")
}

/// The generated token and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The token file.
    pub path: PathBuf,
    /// The token (64 hex digits).
    pub token: String,
    /// Whether it was generated on this start.
    pub generated: bool,
}

/// The state directory's token, generated when absent.
pub fn ensure(state_dir: &Path) -> anyhow::Result<Credential> {
    let dir = dir(state_dir);
    crate::trust::create_private_dir(&dir)?;
    let path = path(state_dir);
    let token = hex::encode(super::crypto::random_bytes::<32>().context("cannot generate a credential")?);
    // O_EXCL: a file already there (even a link planted there) is never written through.
    let created =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&path);
    match created {
        Ok(mut file) => {
            file.write_all(format!("{token}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the credential {}", path.display()))?;
            Ok(Credential { path, token, generated: true })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let token = read(&path)?;
            Ok(Credential { path, token, generated: false })
        }
        Err(e) => Err(e).with_context(|| format!("cannot create the credential {}", path.display())),
    }
}

/// Reads a token file, refusing one others may read or write, a link, or one another
/// user owns. Errors name the file.
pub fn read(path: &Path) -> anyhow::Result<String> {
    check_private(path)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the credential {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(!token.is_empty(), "the credential {} is empty", path.display());
    anyhow::ensure!(
        token.len() <= 1024 && token.bytes().all(|b| b.is_ascii_graphic()),
        "the credential {} is not a token (printable ASCII, at most 1024 bytes)",
        path.display()
    );
    Ok(token.to_owned())
}

/// `path` must be a regular file itself (a link is refused: a token is never read
/// through one) that StrictModes trusts and that is private to gomon's user
/// ([`crate::trust::check_private_file`]: it and its ancestors owned by this user or
/// root, nothing on the way writable by others, the file open to neither group nor
/// others).
fn check_private(path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "the credential file {} is not a file (a link?): refusing it", path.display());
    Ok(crate::trust::check_private_file(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_private_and_reused() {
        let state = tempfile::tempdir().unwrap();
        let first = ensure(state.path()).unwrap();
        assert!(first.generated);
        assert_eq!(first.token.len(), 64);
        assert!(first.token.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.path), 0o600);
        assert_eq!(mode(&dir(state.path())), 0o700);
        let second = ensure(state.path()).unwrap();
        assert!(!second.generated);
        assert_eq!(second.token, first.token);
        assert_ne!(ensure(tempfile::tempdir().unwrap().path()).unwrap().token, first.token, "random per state dir");
    }

    #[test]
    fn an_open_or_linked_credential_is_refused() {
        let state = tempfile::tempdir().unwrap();
        let credential = ensure(state.path()).unwrap();
        std::fs::set_permissions(&credential.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = ensure(state.path()).unwrap_err().to_string();
        assert!(error.contains("0644") && error.contains("token"), "{error}");
        std::fs::remove_file(&credential.path).unwrap();
        let elsewhere = state.path().join("planted");
        std::fs::write(&elsewhere, "attacker-known-token\n").unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &credential.path).unwrap();
        let error = ensure(state.path()).unwrap_err().to_string();
        assert!(error.contains("link"), "{error}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "attacker-known-token\n", "never written through");
        let dir = dir(state.path());
        std::fs::remove_file(&credential.path).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ensure(state.path()).unwrap_err().to_string().contains("0755"));
    }
}
