//! The `[observe]` section of the configuration file.
//!
//! ```toml
//! [observe]
//! process = true
//! process_diff_interval = "15s"
//! taskstats = true      # exit records: names of short-lived processes, exit CPU and memory
//! batch_max_wait = "200ms"
//! batch_max_events = 1000
//! chain = []            # observe probes called first, in this order
//! lag_interval = "1m"   # observation-lag canaries; "0s" = off
//!
//! [observe.files]
//! enabled = true
//! roots = ["/etc"]
//! exclude = []          # globs or path prefixes; /proc, /sys and /dev always
//! hidden = false
//! max_watches = 8192    # inotify watches at most (one per directory)
//!
//! [observe.logs]
//! files = ["/var/log/*.log", "/var/log/syslog", "/var/log/messages"]
//! journal = "auto"
//! kmsg = true
//! follow_symlinks = false      # links only within the globs' directories
//! allow_other_owners = false   # files and links owned by root or gomon's user only
//! max_line_bytes = 65536       # longer lines are cut and marked truncated
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Paths never watched for file events, whatever the configuration says:
/// the kernel's pseudo filesystems (their "files" change without writes,
/// and inotify reports nothing useful on them).
pub const ALWAYS_EXCLUDED: &[&str] = &["/proc", "/sys", "/dev"];

/// `[observe.files] max_watches` by default.
pub const DEFAULT_MAX_WATCHES: u32 = 8192;
/// `[observe.logs] max_line_bytes` by default.
pub const DEFAULT_MAX_LINE_BYTES: u32 = 64 * 1024;
/// The bounds of `max_line_bytes`.
pub const MAX_LINE_BYTES_RANGE: std::ops::RangeInclusive<u32> = 64..=(16 << 20);

/// What the host observes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObserveConfig {
    /// Process events (fork, exec, exit with its code, uid and gid changes)
    /// from the netlink proc connector, which needs CAP_NET_ADMIN (root).
    /// Without it, new and vanished processes are found by diffing the
    /// process table every `process_diff_interval`.
    pub process: bool,
    /// How often the fallback diffs the process table.
    #[serde(with = "humantime_serde")]
    pub process_diff_interval: Duration,
    /// With the proc connector, also read taskstats exit records (needs
    /// CAP_NET_ADMIN): they name processes gone before /proc could be read
    /// (their exec and exit wait up to a second for the record) and give
    /// each exit its CPU time and peak memory. `false`: nothing waits, and
    /// such processes stay nameless.
    pub taskstats: bool,
    /// A batch of events is handed on at most this long after its first event.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Most events in one batch.
    pub batch_max_events: u32,
    /// File events (inotify).
    pub files: FilesConfig,
    /// Log lines.
    pub logs: LogsConfig,
    /// Order of the observe probes: these first, in this order, then the
    /// other observe probes (built-ins first, then by name). Empty: the
    /// built-in `observe` probe first, then operators' probes by name.
    pub chain: Vec<String>,
    /// How often gomon measures its own observation lag (a canary process,
    /// file write and log line; `gomon_observation_lag_seconds{source}`).
    /// `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub lag_interval: Duration,
}

/// `[observe.files]`: file events under some directories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Watch for file events at all.
    pub enabled: bool,
    /// Directories watched, each with everything beneath it on the same
    /// kind of filesystem (one inotify watch per directory). Symbolic links
    /// are not followed. `/` is a poor choice: it needs a watch for every
    /// directory of the machine.
    pub roots: Vec<PathBuf>,
    /// Paths not watched: a glob — without a `/` it matches names (`*.swp`,
    /// `*~`), with one whole paths (`/etc/**/*.dpkg-*`; `*` stops at `/`,
    /// `**` does not) — or else a path prefix matched by whole components
    /// (`/etc/ssl/certs`). `/proc`, `/sys` and `/dev` are always excluded,
    /// and so are mounts of kernel pseudo filesystems.
    pub exclude: Vec<String>,
    /// Report files and directories whose name starts with a dot.
    pub hidden: bool,
    /// Most inotify watches held (one per directory). Directories found
    /// beyond it are not watched (nor walked), which is logged once and
    /// counted (`gomon_observer_file_unwatched_directories_total`), so that a
    /// user who creates directories without end under a root cannot take
    /// every watch of gomon's user.
    pub max_watches: u32,
}

/// `[observe.logs]`: where log lines come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Log files to tail: absolute paths or globs, matched again every few
    /// seconds so that new files are picked up. Rotated and truncated files
    /// are followed. `[]` tails nothing.
    pub files: Vec<String>,
    /// The systemd journal (through `journalctl`): `auto` reads it when
    /// journald is present, `on` always (an error if it cannot), `off` never.
    pub journal: JournalMode,
    /// Kernel messages from /dev/kmsg (needs CAP_SYSLOG, or root, when
    /// `kernel.dmesg_restrict` is 1).
    pub kmsg: bool,
    /// Follow a symbolic link (or linked directory) that leads out of the
    /// directories the globs name. Off: such a file is skipped, with a
    /// warning naming where it leads.
    pub follow_symlinks: bool,
    /// Tail files, and follow links, owned by users other than root and
    /// gomon's effective user. Off: they are skipped, with a warning.
    pub allow_other_owners: bool,
    /// A line longer than this (bytes) is cut to it and marked
    /// `truncated="true"`; the rest of the line, up to its newline, is
    /// skipped. Also bounds journal messages.
    pub max_line_bytes: u32,
}

/// Whether to read the systemd journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalMode {
    /// When journald is present (`/run/systemd/journal/socket`, or journal
    /// files under /var/log/journal or /run/log/journal).
    Auto,
    /// Always; failing to read it is an error.
    On,
    /// Never.
    Off,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        ObserveConfig {
            process: true,
            process_diff_interval: Duration::from_secs(15),
            taskstats: true,
            batch_max_wait: Duration::from_millis(200),
            batch_max_events: 1000,
            files: FilesConfig::default(),
            logs: LogsConfig::default(),
            chain: Vec::new(),
            lag_interval: Duration::from_secs(60),
        }
    }
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            enabled: true,
            roots: vec![PathBuf::from("/etc")],
            exclude: Vec::new(),
            hidden: false,
            max_watches: DEFAULT_MAX_WATCHES,
        }
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            files: vec!["/var/log/*.log".into(), "/var/log/syslog".into(), "/var/log/messages".into()],
            journal: JournalMode::Auto,
            kmsg: true,
            follow_symlinks: false,
            allow_other_owners: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// A setting of `[observe]` that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("observe.{key}: {reason}")]
pub struct ConfigError {
    /// The key at fault, e.g. `files.exclude`.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ObserveConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, reason: String| Err(ConfigError { key, reason });
        if self.batch_max_events == 0 || self.batch_max_events > 100_000 {
            return bad("batch_max_events", format!("{} is not between 1 and 100000", self.batch_max_events));
        }
        if self.batch_max_wait < Duration::from_millis(1) || self.batch_max_wait > Duration::from_secs(60) {
            return bad("batch_max_wait", format!("{:?} is not between 1ms and 60s", self.batch_max_wait));
        }
        if self.process_diff_interval < Duration::from_secs(1) {
            return bad("process_diff_interval", format!("{:?} is too short (minimum 1s)", self.process_diff_interval));
        }
        if self.files.max_watches == 0 {
            return bad(
                "files.max_watches",
                "0 watches would watch nothing (set files.enabled = false instead)".into(),
            );
        }
        if !MAX_LINE_BYTES_RANGE.contains(&self.logs.max_line_bytes) {
            return bad(
                "logs.max_line_bytes",
                format!(
                    "{} is not between {} and {}",
                    self.logs.max_line_bytes,
                    MAX_LINE_BYTES_RANGE.start(),
                    MAX_LINE_BYTES_RANGE.end()
                ),
            );
        }
        for root in &self.files.roots {
            if !root.is_absolute() {
                return bad("files.roots", format!("{} is not an absolute path", root.display()));
            }
        }
        for pattern in &self.files.exclude {
            if pattern.is_empty() {
                return bad("files.exclude", "an empty pattern".into());
            }
            if is_glob(pattern) {
                glob::Pattern::new(pattern).map_err(|e| ConfigError {
                    key: "files.exclude",
                    reason: format!("{pattern:?} is not a valid glob: {e}"),
                })?;
            }
        }
        for pattern in &self.logs.files {
            if !Path::new(pattern).is_absolute() {
                return bad("logs.files", format!("{pattern:?} is not an absolute path or glob"));
            }
            glob::Pattern::new(pattern).map_err(|e| ConfigError {
                key: "logs.files",
                reason: format!("{pattern:?} is not a valid glob: {e}"),
            })?;
        }
        Ok(())
    }
}

/// Whether `pattern` uses glob syntax (else it is a path prefix).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ObserveConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, ObserveConfig::default());
        assert!(c.process && c.files.enabled && c.logs.kmsg);
        assert!(!c.logs.follow_symlinks && !c.logs.allow_other_owners, "safe by default");
        assert_eq!((c.files.max_watches, c.logs.max_line_bytes), (8192, 65536));
        assert_eq!(c.files.roots, [PathBuf::from("/etc")]);
        assert_eq!(c.logs.journal, JournalMode::Auto);
        c.validate().unwrap();
    }

    #[test]
    fn round_trips_and_refuses_unknown_keys() {
        let mut c = ObserveConfig::default();
        c.files.exclude = vec!["/etc/ssl".into(), "*.swp".into()];
        c.logs.journal = JournalMode::Off;
        let text = toml::to_string_pretty(&c).unwrap();
        assert!(text.contains("journal = \"off\""), "{text}");
        assert_eq!(parse(&text).unwrap(), c);
        let e = parse("[files]\nroot = [\"/\"]\n").unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
        let e = parse("[logs]\njournal = \"sometimes\"\n").unwrap_err();
        assert!(e.to_string().contains("sometimes"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let check = |text: &str| parse(text).unwrap().validate().unwrap_err();
        assert_eq!(check("batch_max_events = 0").key, "batch_max_events");
        assert_eq!(check("batch_max_wait = \"0s\"").key, "batch_max_wait");
        assert_eq!(check("process_diff_interval = \"10ms\"").key, "process_diff_interval");
        assert_eq!(check("[files]\nroots = [\"etc\"]").key, "files.roots");
        let e = check("[files]\nexclude = [\"/etc/[x\"]");
        assert_eq!(e.key, "files.exclude");
        assert!(e.to_string().starts_with("observe.files.exclude: \"/etc/[x\""), "{e}");
        assert_eq!(check("[logs]\nfiles = [\"*.log\"]").key, "logs.files");
        assert_eq!(check("[files]\nmax_watches = 0").key, "files.max_watches");
        assert_eq!(check("[logs]\nmax_line_bytes = 10").key, "logs.max_line_bytes");
        let e = check("[logs]\nmax_line_bytes = 999999999");
        assert_eq!(e.to_string(), "observe.logs.max_line_bytes: 999999999 is not between 64 and 16777216");
    }
}
