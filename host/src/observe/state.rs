//! Positions the log sources keep across restarts, in `<state_dir>/observe/`:
//!
//! | file | what |
//! |---|---|
//! | `offsets.json` | per tailed file (device, inode, path): the offset after the last line queued |
//! | `kmsg.json` | the boot id and the sequence number of the last kernel record queued |
//! | `journal-cursor` | the journal cursor of the last entry queued |
//!
//! Each file is written whole to a temporary name and renamed over the
//! old one, so a crash leaves the old or the new content, never half.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where one kind of position is kept. `None` directory: nothing is kept
/// (the state directory could not be created).
#[derive(Debug, Clone)]
pub struct StateFile {
    path: Option<PathBuf>,
}

impl StateFile {
    /// `<dir>/<name>`, or nowhere when `dir` is `None`.
    pub fn new(dir: Option<&Path>, name: &str) -> StateFile {
        StateFile { path: dir.map(|d| d.join(name)) }
    }

    /// The path, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The saved value; `None` when there is none or it cannot be read
    /// (which is logged: the source then starts afresh).
    pub fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let path = self.path.as_ref()?;
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!("observers: cannot read {}: {e}; starting afresh", path.display());
                return None;
            }
        };
        match serde_json::from_slice(&text) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!("observers: {} is not valid ({e}); starting afresh", path.display());
                None
            }
        }
    }

    /// Reads the file as text (the journal cursor).
    pub fn load_text(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// Saves `value` as JSON.
    pub fn save<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        self.save_bytes(&text)
    }

    /// Saves raw text.
    pub fn save_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

/// Creates `<state_dir>/observe`; `None` (logged) when it cannot.
pub fn state_dir(state_dir: &Path) -> Option<PathBuf> {
    let dir = state_dir.join("observe");
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!(
                "observers: cannot create {}: {e}; log positions are not kept, so a restart starts at the end of each log",
                dir.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(Some(dir.path()), "x.json");
        assert_eq!(file.load::<Vec<u32>>(), None);
        file.save(&vec![1u32, 2]).unwrap();
        assert_eq!(file.load::<Vec<u32>>(), Some(vec![1, 2]));
        assert!(!dir.path().join("x.json.tmp").exists());
        std::fs::write(dir.path().join("x.json"), "{not json").unwrap();
        assert_eq!(file.load::<Vec<u32>>(), None);
        let nowhere = StateFile::new(None, "x.json");
        nowhere.save(&1).unwrap();
        assert_eq!(nowhere.load::<u32>(), None);
        let text = StateFile::new(Some(dir.path()), "cursor");
        text.save_bytes(b"s=1;i=2\n").unwrap();
        assert_eq!(text.load_text().as_deref(), Some("s=1;i=2"));
    }
}
