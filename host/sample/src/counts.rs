//! What sampling lost, counted: every file that could not be read or parsed
//! (and every value that disagreed with another source) is counted by
//! `(collector, file, kind)`, cumulatively since start, for
//! `gomon_sample_errors_total{collector,file,kind}`:
//!
//! ```text
//! gomon_sample_errors_total{collector="system",file="/proc/uptime",kind="missing"} 3
//! gomon_sample_errors_total{collector="process",file="/proc/<pid>/status",kind="denied"} 120
//! gomon_sample_errors_total{collector="network",file="/sys/class/net/<device>/statistics/rx_bytes",kind="malformed"} 1
//! ```
//!
//! `file` is the path under the configured proc or sys root, shown under
//! `/proc` or `/sys`, with pids replaced by `<pid>`, other numbers by `<n>`
//! and interface and block-device names by `<device>`, so the label's
//! cardinality stays bounded whatever runs on the host (and past
//! [`MAX_KEYS`] keys, further ones are counted under `file="<other>"`).
//!
//! Each key is logged at WARN the first time, then at DEBUG, and at WARN
//! again at most once per [`WARN_EVERY`] while it keeps happening.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::SampleError;
use crate::os;

/// Distinct `(collector, file, kind)` keys kept; later keys count under
/// `file="<other>"`.
pub const MAX_KEYS: usize = 256;

/// A key that keeps failing is logged at WARN again after this long.
pub const WARN_EVERY: Duration = Duration::from_secs(3600);

/// At most this many recent errors are kept for
/// [`Sampler::take_warnings`](crate::Sampler::take_warnings).
const MAX_RECENT: usize = 64;

/// How a file failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The file does not exist (ENOENT).
    Missing,
    /// Reading it was not permitted (EACCES, EPERM).
    Denied,
    /// Any other read error.
    Unreadable,
    /// It was read but did not parse (a line of it, or the whole file).
    Malformed,
    /// It disagrees with another source (a stat whose pid is not its
    /// directory's).
    Mismatch,
    /// A system call failed (`file` is the call).
    Syscall,
}

impl ErrorKind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Missing => "missing",
            ErrorKind::Denied => "denied",
            ErrorKind::Unreadable => "unreadable",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Syscall => "syscall",
        }
    }

    /// The kind of a sampling error.
    pub fn of(error: &SampleError) -> Self {
        match error {
            SampleError::Read { source, .. } => match os::errno(source) {
                Some(rustix::io::Errno::NOENT) => ErrorKind::Missing,
                _ if os::is_denied(source) => ErrorKind::Denied,
                _ => ErrorKind::Unreadable,
            },
            SampleError::Parse { .. } => ErrorKind::Malformed,
            SampleError::Mismatch { .. } => ErrorKind::Mismatch,
            SampleError::Syscall { .. } => ErrorKind::Syscall,
        }
    }
}

/// One cumulative count, as [`Sampler::error_counts`](crate::Sampler::error_counts) gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleErrorCount {
    /// The collector that lost data: `system`, `filesystem`, `disk`,
    /// `network` or `process`.
    pub collector: &'static str,
    /// The file, with bounded cardinality (see the module docs).
    pub file: String,
    /// How it failed.
    pub kind: ErrorKind,
    /// Times since the sampler started.
    pub count: u64,
}

#[derive(Debug)]
struct Entry {
    count: u64,
    warned: Instant,
}

/// Counts and logs sampling errors; owned by the [`Sampler`](crate::Sampler).
#[derive(Debug)]
pub(crate) struct ErrorCounter {
    proc_root: PathBuf,
    sys_root: PathBuf,
    counts: BTreeMap<(&'static str, String, ErrorKind), Entry>,
    recent: VecDeque<SampleError>,
}

impl ErrorCounter {
    pub(crate) fn new(proc_root: &Path, sys_root: &Path) -> Self {
        ErrorCounter {
            proc_root: proc_root.to_owned(),
            sys_root: sys_root.to_owned(),
            counts: BTreeMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// Counts `error` against `collector`, logs it (WARN the first time per
    /// key and then hourly, else DEBUG) and keeps it among the recent ones.
    pub(crate) fn record(&mut self, collector: &'static str, error: SampleError) {
        let kind = ErrorKind::of(&error);
        let mut file = match &error {
            SampleError::Syscall { call, .. } => (*call).to_owned(),
            _ => error.file().map_or_else(String::new, |f| file_label(f, &self.proc_root, &self.sys_root)),
        };
        if !self.counts.contains_key(&(collector, file.clone(), kind)) && self.counts.len() >= MAX_KEYS {
            file = "<other>".to_owned();
        }
        let now = Instant::now();
        let mut warn = false;
        let entry = self.counts.entry((collector, file.clone(), kind)).or_insert_with(|| {
            warn = true;
            Entry { count: 0, warned: now }
        });
        entry.count = entry.count.saturating_add(1);
        if !warn && now.duration_since(entry.warned) >= WARN_EVERY {
            entry.warned = now;
            warn = true;
        }
        let kind = kind.as_str();
        if warn {
            tracing::warn!(
                collector,
                file,
                kind,
                "Sampling lost part of a sample: {error} (counted in gomon_sample_errors_total; \
                 repeats are logged at DEBUG)"
            );
        } else {
            tracing::debug!(collector, file, kind, "Sampling lost part of a sample: {error}");
        }
        if self.recent.len() == MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(error);
    }

    /// Every count so far, sorted by collector, file and kind.
    pub(crate) fn counts(&self) -> Vec<SampleErrorCount> {
        self.counts
            .iter()
            .map(|((collector, file, kind), entry)| SampleErrorCount {
                collector,
                file: file.clone(),
                kind: *kind,
                count: entry.count,
            })
            .collect()
    }

    /// The recent errors, oldest first; empties the list.
    pub(crate) fn take_recent(&mut self) -> Vec<SampleError> {
        self.recent.drain(..).collect()
    }
}

/// The `file` label of a path read under `proc_root` or `sys_root`: shown
/// under `/proc` or `/sys`, pids as `<pid>`, other numbers as `<n>`, the
/// device name under `/sys/class/net` or `/sys/block` as `<device>`. A path
/// under neither root is shown as is.
pub fn file_label(path: &Path, proc_root: &Path, sys_root: &Path) -> String {
    let (base, rest) = if let Ok(rest) = path.strip_prefix(proc_root) {
        ("/proc", rest)
    } else if let Ok(rest) = path.strip_prefix(sys_root) {
        ("/sys", rest)
    } else {
        return path.display().to_string();
    };
    let parts: Vec<_> = rest
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy()),
            _ => None,
        })
        .collect();
    let mut label = String::from(base);
    let mut numbers = 0;
    for (i, part) in parts.iter().enumerate() {
        let device =
            base == "/sys" && ((i == 2 && parts[0] == "class" && parts[1] == "net") || (i == 1 && parts[0] == "block"));
        label.push('/');
        if device {
            label.push_str("<device>");
        } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            label.push_str(if base == "/proc" && numbers == 0 && i == 0 { "<pid>" } else { "<n>" });
            numbers += 1;
        } else {
            label.push_str(part);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(path: &str) -> String {
        file_label(Path::new(path), Path::new("/host/proc"), Path::new("/host/sys"))
    }

    #[test]
    fn labels_have_bounded_cardinality() {
        assert_eq!(label("/host/proc/stat"), "/proc/stat");
        assert_eq!(label("/host/proc/sys/fs/file-max"), "/proc/sys/fs/file-max");
        assert_eq!(label("/host/proc/4242/status"), "/proc/<pid>/status");
        assert_eq!(label("/host/proc/4242/fd/17"), "/proc/<pid>/fd/<n>");
        assert_eq!(label("/host/proc/self/mountinfo"), "/proc/self/mountinfo");
        assert_eq!(
            label("/host/sys/class/net/veth1a2b/statistics/rx_bytes"),
            "/sys/class/net/<device>/statistics/rx_bytes"
        );
        assert_eq!(label("/host/sys/class/net/eth0/mtu"), "/sys/class/net/<device>/mtu");
        assert_eq!(label("/host/sys/block/sda/stat"), "/sys/block/<device>/stat");
        assert_eq!(label("/elsewhere/x"), "/elsewhere/x");
    }

    /// Whatever fails, the key set stays bounded: past MAX_KEYS distinct
    /// keys, further ones count under `<other>`; pids never reach a label.
    #[test]
    fn keys_are_capped() {
        let mut counter = ErrorCounter::new(Path::new("/proc"), Path::new("/sys"));
        let missing =
            |file: String| SampleError::Read { file: file.into(), source: std::io::Error::from_raw_os_error(2) };
        for pid in 0..10_000 {
            counter.record("process", missing(format!("/proc/{pid}/status")));
        }
        assert_eq!(counter.counts().len(), 1);
        assert_eq!(counter.counts()[0].count, 10_000);
        for i in 0..2 * MAX_KEYS {
            counter.record("system", missing(format!("/elsewhere/file-{i}")));
        }
        let counts = counter.counts();
        assert_eq!(counts.len(), MAX_KEYS + 1);
        let other = counts.iter().find(|c| c.file == "<other>").unwrap();
        assert_eq!((other.collector, other.kind, other.count), ("system", ErrorKind::Missing, MAX_KEYS as u64 + 1));
        assert_eq!(counter.take_recent().len(), MAX_RECENT);
    }
}
