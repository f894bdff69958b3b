//! The compile cache: compiled probe components on disk, authenticated.
//!
//! Loading a compiled component (`Component::deserialize`) runs the native
//! code it holds, so the cache loads only artifacts gomon can prove it
//! wrote itself. Each file carries an HMAC-SHA256 of its cache key and its
//! bytes under a per-installation key that never leaves the cache
//! directory:
//!
//! ```text
//! <cache>/key                 32 random bytes, mode 0600, created on first use
//! <cache>/<cache key>.cwasm   "gomonc01" ‖ tag (32 bytes) ‖ artifact
//!     tag = HMAC-SHA256(key, "gomon compile cache v1" ‖ 0 ‖ cache key ‖ 0 ‖ artifact)
//!     cache key = SHA-256(component bytes ‖ engine compatibility hash ‖ gomon version), first 16 bytes, hex
//! ```
//!
//! Because the tag covers the cache key, one probe's artifact copied over
//! another's is refused, like a corrupted or hand-made one: a log line
//! names the file, and the component is compiled afresh (and the file
//! rewritten). The cache directory must pass StrictModes
//! ([`crate::trust::create_private_dir`]: created 0700, owned by gomon's
//! user, open to nobody else) and the key file must be private; otherwise
//! the cache is not used at all and components are compiled in memory,
//! with one log line saying why.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::trust;

type HmacSha256 = Hmac<Sha256>;

/// The first bytes of every cache file.
const MAGIC: &[u8; 8] = b"gomonc01";
/// What the tag covers first: the format and its version.
const DOMAIN: &[u8] = b"gomon compile cache v1";
/// Length of the tag and of the key.
const TAG_LEN: usize = 32;
const KEY_LEN: usize = 32;
/// The key's file name in the cache directory.
const KEY_FILE: &str = "key";

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Precompiled when gomon was built, and embedded in the binary (the
    /// built-in probes).
    Embedded,
    /// Loaded from the compile cache.
    Cached,
    /// Compiled now (and written to the cache when possible).
    Compiled,
}

impl Origin {
    /// How it reads in logs: `embedded`, `cached`, `compiled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Embedded => "embedded",
            Origin::Cached => "cached",
            Origin::Compiled => "compiled",
        }
    }
}

/// Compiled components on disk, keyed by the component's bytes and by
/// everything about the engine that makes compiled code incompatible
/// (wasmtime version, settings, CPU features), authenticated (see the
/// module docs).
pub struct ComponentCache {
    dir: Option<PathBuf>,
    /// The key, read or created on first use; `None` when the cache cannot
    /// be used (the reason was logged).
    key: OnceLock<Option<[u8; KEY_LEN]>>,
    /// Whether an unusable directory has been reported.
    warned: AtomicBool,
}

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("{0}")]
    Trust(#[from] trust::TrustError),
    #[error("cache key file {}: {error}", path.display())]
    Key { path: PathBuf, error: String },
}

impl ComponentCache {
    /// A cache in `dir` (created on first use). `None` disables it.
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir, key: OnceLock::new(), warned: AtomicBool::new(false) }
    }

    /// Returns the compiled component, from the cache when an authentic
    /// artifact is there.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<(Component, Origin)> {
        let Some((dir, key)) = self.usable() else {
            return Ok((Component::new(engine, bytes)?, Origin::Compiled));
        };
        let cache_key = cache_key(engine, bytes);
        let path = dir.join(format!("{cache_key}.cwasm"));
        match read_authentic(&path, &key, &cache_key) {
            Ok(Some(artifact)) => {
                // SAFETY: the artifact was written by `Component::serialize` in
                // this gomon installation: its HMAC under the installation's
                // private key, over this cache key (component bytes and engine
                // compatibility hash) and the artifact, checked out. wasmtime
                // also checks its header against the engine.
                match unsafe { Component::deserialize(engine, &artifact) } {
                    Ok(component) => return Ok((component, Origin::Cached)),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        "Compiled probe in the cache does not load ({e:#}); compiling it afresh."
                    ),
                }
            }
            Ok(None) => {}
            Err(reason) => tracing::warn!(
                path = %path.display(),
                "Refusing a compiled probe in the cache: {reason}; compiling it afresh."
            ),
        }
        let component = Component::new(engine, bytes)?;
        let artifact = component.serialize()?;
        if let Err(e) = write_authentic(dir, &path, &key, &cache_key, &artifact) {
            tracing::warn!(path = %path.display(), "Cannot cache the compiled probe: {e}");
        }
        Ok((component, Origin::Compiled))
    }

    /// The directory and key, when the cache may be used; says why not
    /// (once) otherwise.
    fn usable(&self) -> Option<(&Path, [u8; KEY_LEN])> {
        let dir = self.dir.as_deref()?;
        let checked = trust::create_private_dir(dir).map_err(Unusable::from).and_then(|()| {
            let key = self.key.get_or_init(|| match load_or_create_key(&dir.join(KEY_FILE)) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!("Not using the compile cache: {e}; probes are compiled in memory.");
                    self.warned.store(true, Ordering::Relaxed);
                    None
                }
            });
            key.ok_or_else(|| Unusable::Key { path: dir.join(KEY_FILE), error: "unusable".into() })
        });
        match checked {
            Ok(key) => Some((dir, key)),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("Not using the compile cache: {e}; probes are compiled in memory.");
                }
                None
            }
        }
    }
}

/// The file name of a component's compiled form.
fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.update(engine_hash.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(&digest.finalize()[..16])
}

fn mac(key: &[u8; KEY_LEN], cache_key: &str, artifact: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(DOMAIN);
    mac.update(&[0]);
    mac.update(cache_key.as_bytes());
    mac.update(&[0]);
    mac.update(artifact);
    mac
}

/// The artifact in `path` if its tag checks out; `None` if there is no
/// file; why not otherwise.
fn read_authentic(path: &Path, key: &[u8; KEY_LEN], cache_key: &str) -> Result<Option<Vec<u8>>, String> {
    // Read into memory rather than map the file: a cache file truncated
    // under a mapping would kill the process with SIGBUS.
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if data.len() < MAGIC.len() + TAG_LEN || !data.starts_with(MAGIC) {
        return Err("not a gomon cache file (bad header)".into());
    }
    let (tag, artifact) = data[MAGIC.len()..].split_at(TAG_LEN);
    mac(key, cache_key, artifact)
        .verify_slice(tag)
        .map_err(|_| "its authentication tag does not match (not written by this gomon for this component)")?;
    Ok(Some(artifact.to_vec()))
}

/// Writes an artifact with its tag, atomically and private (0600).
fn write_authentic(
    dir: &Path,
    path: &Path,
    key: &[u8; KEY_LEN],
    cache_key: &str,
    artifact: &[u8],
) -> std::io::Result<()> {
    let tag = mac(key, cache_key, artifact).finalize().into_bytes();
    let tmp = dir.join(format!(".{cache_key}.tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = file.write_all(MAGIC).and_then(|()| file.write_all(&tag)).and_then(|()| file.write_all(artifact));
    drop(file);
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads the installation's key, or creates it (32 random bytes, 0600):
/// written to a temporary file and linked into place, so that two gomons
/// starting at once agree on one key and nobody reads a partial one.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], Unusable> {
    let fail = |error: String| Unusable::Key { path: path.to_owned(), error };
    for _ in 0..2 {
        match read_key(path) {
            Ok(key) => return Ok(key),
            Err(KeyRead::Missing) => {}
            Err(KeyRead::Refused(e)) => return Err(e.into()),
            Err(KeyRead::Bad(e)) => return Err(fail(e)),
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| fail(format!("no random numbers for a new key: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".key.tmp{}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match created {
            Ok(()) => {
                tracing::info!(path = %path.display(), "Created the compile cache's key.");
                return Ok(key);
            }
            // Another gomon made one meanwhile: read it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(format!("cannot create it: {e}"))),
        }
    }
    Err(fail("appeared and vanished while being read".into()))
}

enum KeyRead {
    Missing,
    Refused(trust::TrustError),
    Bad(String),
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], KeyRead> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(KeyRead::Missing),
        Err(e) => return Err(KeyRead::Bad(e.to_string())),
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(KeyRead::Bad("is not a regular file (a link, a FIFO?); remove it".into()));
        }
        Ok(_) => {}
    }
    trust::check_private_file(path).map_err(KeyRead::Refused)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| KeyRead::Bad(e.to_string()))?;
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    file.read_exact(&mut key)
        .and_then(|()| file.read_to_end(&mut rest))
        .map_err(|e| KeyRead::Bad(format!("cannot read {KEY_LEN} bytes: {e}; remove it to make a new one")))?;
    if !rest.is_empty() {
        return Err(KeyRead::Bad(format!("longer than {KEY_LEN} bytes; remove it to make a new one")));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];

    #[test]
    fn an_artifact_reads_back_only_under_its_own_key_and_cache_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        write_authentic(dir.path(), &path, &KEY, "aaaa", b"compiled code").unwrap();
        assert_eq!(read_authentic(&path, &KEY, "aaaa").unwrap().unwrap(), b"compiled code");
        // Another probe's cache key: refused (a swapped artifact).
        assert!(read_authentic(&path, &KEY, "bbbb").unwrap_err().contains("authentication"));
        // Another installation's key: refused.
        assert!(read_authentic(&path, &[8; KEY_LEN], "aaaa").is_err());
        // One flipped bit anywhere: refused.
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert!(read_authentic(&path, &KEY, "aaaa").is_err());
        // A bare wasmtime artifact (no header): refused.
        std::fs::write(&path, b"\x7fELF not ours").unwrap();
        assert!(read_authentic(&path, &KEY, "aaaa").unwrap_err().contains("header"));
        assert_eq!(read_authentic(&dir.path().join("none.cwasm"), &KEY, "aaaa").unwrap(), None);
    }

    #[test]
    fn the_key_is_created_private_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let key = load_or_create_key(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_key(&path).unwrap(), key);
        assert_ne!(key, [0; KEY_LEN]);
        // Readable by others: refused, not used.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_key(&path).unwrap_err().to_string();
        assert!(err.contains("chmod go-rwx"), "{err}");
        // Truncated: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }
}
