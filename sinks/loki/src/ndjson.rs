//! The local observation log used when no Loki URL is configured: one JSON
//! object per entry, appended to `<dir>/observations.ndjson`, rotated by size.
//!
//! ```text
//! {"time":"2025-01-01T12:00:00.123456789Z","labels":{"event":"exec","host":"h1","source":"process"},"line":"…","metadata":{"pid":"42"}}
//! ```
//!
//! `metadata` is present only when the entry has some. When appending a line
//! would take the file past `max_bytes`, the files shift
//! (`observations.ndjson` → `.1` → `.2` … up to `keep`, the oldest deleted) and a
//! new file is started. A restart appends to the existing file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::entry::Entry;
use crate::labels::Labels;

/// File name of the current log.
pub const FILE_NAME: &str = "observations.ndjson";

/// A size-rotated NDJSON file.
#[derive(Debug)]
pub struct NdjsonFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
    line: Vec<u8>,
}

impl NdjsonFile {
    /// Opens (creating `dir` and the file) `<dir>/observations.ndjson` for
    /// appending; rotates at `max_bytes`, keeping `keep` older files.
    pub fn open(dir: &Path, max_bytes: u64, keep: u32) -> io::Result<NdjsonFile> {
        let with_path = |path: &Path| {
            let path = path.to_owned();
            move |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        };
        fs::create_dir_all(dir).map_err(with_path(dir))?;
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(with_path(&path))?;
        let size = file.metadata().map_err(with_path(&path))?.len();
        Ok(NdjsonFile { path, file, size, max_bytes: max_bytes.max(1), keep, line: Vec::with_capacity(512) })
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line per entry of the stream `labels`.
    pub fn write(&mut self, labels: &Labels, entries: &[Entry]) -> io::Result<()> {
        for entry in entries {
            self.line.clear();
            // Serializing strings into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.line, &Line { labels, entry });
            self.line.push(b'\n');
            if self.size > 0 && self.size + self.line.len() as u64 > self.max_bytes {
                self.rotate()?;
            }
            self.file
                .write_all(&self.line)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
            self.size += self.line.len() as u64;
        }
        Ok(())
    }

    /// Shifts the files by one and starts a new one.
    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                match fs::rename(numbered(n), numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// One line's object.
struct Line<'a> {
    labels: &'a Labels,
    entry: &'a Entry,
}

impl Serialize for Line<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let time = UNIX_EPOCH + Duration::from_nanos(self.entry.time_nanos);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("time", &humantime::format_rfc3339_nanos(time).to_string())?;
        map.serialize_entry("labels", &Object(self.labels.iter()))?;
        map.serialize_entry("line", &self.entry.line)?;
        if !self.entry.metadata.is_empty() {
            map.serialize_entry(
                "metadata",
                &Object(self.entry.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            )?;
        }
        map.end()
    }
}

struct Object<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> Serialize for Object<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.clone() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::new([("host", "h1"), ("source", "process")]).unwrap()
    }

    #[test]
    fn writes_one_object_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = NdjsonFile::open(dir.path(), 1 << 20, 3).unwrap();
        let entries = [
            Entry::new(1_700_000_000_123_456_789, "exec \"sh\"").with_metadata("pid", "42"),
            Entry::new(1_700_000_001_000_000_000, "plain"),
        ];
        file.write(&labels(), &entries).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["time"], "2023-11-14T22:13:20.123456789Z");
        assert_eq!(lines[0]["labels"], serde_json::json!({"host": "h1", "source": "process"}));
        assert_eq!(lines[0]["line"], "exec \"sh\"");
        assert_eq!(lines[0]["metadata"], serde_json::json!({"pid": "42"}));
        assert_eq!(lines[1]["time"], "2023-11-14T22:13:21.000000000Z");
        assert!(lines[1].get("metadata").is_none());
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = NdjsonFile::open(dir.path(), 300, 2).unwrap();
        for i in 0..40 {
            file.write(&labels(), &[Entry::new(i, format!("line {i:03}"))]).unwrap();
        }
        let current = dir.path().join(FILE_NAME);
        let one = dir.path().join(format!("{FILE_NAME}.1"));
        let two = dir.path().join(format!("{FILE_NAME}.2"));
        for p in [&current, &one, &two] {
            let len = fs::metadata(p).unwrap().len();
            assert!(len > 0 && len <= 300, "{}: {len}", p.display());
        }
        assert!(!dir.path().join(format!("{FILE_NAME}.3")).exists());
        // The newest line is in the current file, older ones shifted in order.
        let last = |p: &PathBuf| -> u64 {
            let text = fs::read_to_string(p).unwrap();
            let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
            v["line"].as_str().unwrap()[5..].parse().unwrap()
        };
        assert_eq!(last(&current), 39);
        assert!(last(&one) < last(&current) && last(&two) < last(&one));
    }

    #[test]
    fn a_restart_appends() {
        let dir = tempfile::tempdir().unwrap();
        NdjsonFile::open(dir.path(), 1 << 20, 1).unwrap().write(&labels(), &[Entry::new(1, "a")]).unwrap();
        NdjsonFile::open(dir.path(), 1 << 20, 1).unwrap().write(&labels(), &[Entry::new(2, "b")]).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn unwritable_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").unwrap();
        let err = NdjsonFile::open(&blocker.join("sub"), 100, 1).unwrap_err();
        assert!(err.to_string().contains("file/sub"), "{err}");
    }
}
