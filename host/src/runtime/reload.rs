//! Keeps the loaded probes in step with the probe directory.
//!
//! The directory is polled every [`POLL`] rather than watched with inotify:
//! polling works on every filesystem (NFS, overlay, bind mounts from a
//! container host), and it gives a simple answer to half-written files — a
//! file is loaded only once its size, modification time and inode have stayed
//! the same for one poll, so `cp` or `scp` into the directory is never caught
//! mid-write. A new or changed file is compiled without holding the probe
//! set (running probes keep being called meanwhile); a replacement that
//! fails to load is rejected with a log line and the old version keeps
//! running; a removed file unloads its probe and restores a built-in it
//! had replaced.
//!
//! Nothing is loaded from a directory or file gomon cannot trust
//! ([`crate::trust`], StrictModes): a probe directory writable by group or
//! others, or owned by another user, is refused as a whole (one log line
//! naming it and the fix; probes already loaded from it keep running, and
//! loading resumes once it is fixed); a probe file owned by another user or
//! writable by others is refused by name. A change of owner or mode
//! (`chown`, `chmod`) counts as a change of the file, so a fixed file is
//! loaded at the next poll.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{LoadError, Loader, Prepared, ProbeSet, Source};
use crate::trust::{self, TrustError};

/// How often the directory is looked at. A change is acted on after two
/// looks, so within about a second.
pub const POLL: Duration = Duration::from_millis(500);

/// What identifies a version of a file (its inode change time moves with
/// `chmod` and `chown` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    changed: (i64, i64),
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// Whether probes may be loaded from `dir` (a missing directory is fine:
/// it has none).
pub fn check_probe_dir(dir: &Path) -> Result<(), TrustError> {
    match trust::check_dir(dir) {
        Err(TrustError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The `*.wasm` files of a directory, sorted; a missing directory has none.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads and prepares one probe file, if gomon can trust it.
pub fn prepare_file(loader: &Loader, path: &Path) -> Result<Prepared, LoadError> {
    let label = path.display().to_string();
    trust::check_file(path).map_err(|e| LoadError::new(label.clone(), format!("refused: {e}")))?;
    let bytes = std::fs::read(path).map_err(|e| LoadError::new(label.clone(), e.to_string()))?;
    loader.prepare(&bytes, Source::File(path.to_owned()), &label)
}

/// Polls a probe directory on its own thread.
pub struct Reloader {
    dir: PathBuf,
    probes: Arc<Mutex<ProbeSet>>,
    /// Versions acted on (loaded or rejected).
    known: HashMap<PathBuf, Fingerprint>,
    /// Versions seen once, waiting to be seen unchanged.
    pending: HashMap<PathBuf, Fingerprint>,
    /// Why the directory is refused now, if it is (logged when it changes).
    refused: Option<String>,
}

impl Reloader {
    /// A reloader for `dir`; nothing is loaded until [`Reloader::spawn`].
    pub fn new(dir: PathBuf, probes: Arc<Mutex<ProbeSet>>) -> Self {
        Reloader { dir, probes, known: HashMap::new(), pending: HashMap::new(), refused: None }
    }

    /// Loads every file present now, without waiting for it to settle (a
    /// file there at start is taken as complete). Returns whether any loaded.
    pub fn load_present(&mut self) -> bool {
        if !self.dir_trusted() {
            return false;
        }
        let mut changed = false;
        for path in wasm_files(&self.dir).unwrap_or_default() {
            if let Some(now) = fingerprint(&path) {
                self.known.insert(path.clone(), now);
                changed |= self.load(&path);
            }
        }
        changed
    }

    /// Loads the files present, then polls until `stop` returns true; calls
    /// `changed` after every change to the probe set (to sample at once
    /// rather than at the next tick). Compiling happens on this thread, so
    /// a large component never delays serving.
    pub fn spawn(mut self, stop: impl Fn() -> bool + Send + 'static, changed: impl Fn() + Send + 'static) {
        // WASI calls made while loading (a probe that prints in `describe`)
        // run on the caller's async runtime rather than start one of their own.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("gomon-reload".into())
            .spawn(move || {
                let _runtime = runtime.as_ref().map(|handle| handle.enter());
                if self.load_present() {
                    changed();
                }
                while !stop() {
                    std::thread::sleep(POLL);
                    if self.poll() {
                        changed();
                    }
                }
            })
            .expect("cannot start the probe reload thread");
    }

    /// One look at the directory; returns whether the probe set changed.
    pub fn poll(&mut self) -> bool {
        if !self.dir_trusted() {
            return false;
        }
        let files = match wasm_files(&self.dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "Cannot read the probe directory: {e}");
                return false;
            }
        };
        let mut changed = false;
        let mut present = Vec::with_capacity(files.len());
        for path in files {
            let Some(now) = fingerprint(&path) else { continue };
            present.push(path.clone());
            if self.known.get(&path) == Some(&now) {
                self.pending.remove(&path);
                continue;
            }
            if self.pending.get(&path) != Some(&now) {
                // First sight of this version: wait for it to settle.
                self.pending.insert(path, now);
                continue;
            }
            self.pending.remove(&path);
            self.known.insert(path.clone(), now);
            changed |= self.load(&path);
        }
        let gone: Vec<PathBuf> = self.known.keys().filter(|p| !present.contains(p)).cloned().collect();
        for path in gone {
            self.known.remove(&path);
            self.lock().remove_file(&path);
            changed = true;
        }
        self.pending.retain(|p, _| present.contains(p));
        changed
    }

    /// Checks the directory, logging when it becomes refused or trusted again.
    fn dir_trusted(&mut self) -> bool {
        match check_probe_dir(&self.dir) {
            Ok(()) => {
                if self.refused.take().is_some() {
                    tracing::info!(dir = %self.dir.display(), "The probe directory is trusted again; loading from it.");
                }
                true
            }
            Err(e) => {
                let reason = e.to_string();
                if self.refused.as_deref() != Some(reason.as_str()) {
                    tracing::error!(
                        dir = %self.dir.display(),
                        "Refusing to load probes from the probe directory: {reason}"
                    );
                    self.refused = Some(reason);
                }
                false
            }
        }
    }

    fn load(&mut self, path: &Path) -> bool {
        let loader = self.lock().loader();
        let result = prepare_file(&loader, path).and_then(|prepared| self.lock().insert_file(prepared));
        super::release_compiler_memory();
        match result {
            Ok(()) => true,
            Err(e) => {
                let loaded = self.lock().probes().iter().any(|p| p.source == Source::File(path.to_owned()));
                if loaded {
                    tracing::error!("Rejected a new version of a probe; the previous version keeps running: {e}");
                } else {
                    tracing::error!("Probe not loaded: {e}");
                }
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProbeSet> {
        self.probes.lock().unwrap_or_else(|e| e.into_inner())
    }
}
