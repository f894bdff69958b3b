//! Least privilege: which feature needs which Linux capability, what this process holds,
//! and what each missing one costs. One table ([`REQUIREMENTS`]) drives the log line, the
//! `capabilities` health check, the `gomon_capability_missing` gauge and the README's table.
//!
//! | feature | needs | without it |
//! |---|---|---|
//! | `process-connections` | `CAP_SYS_PTRACE` + `CAP_DAC_READ_SEARCH` | other users' sockets are not tied to their processes (`/proc/<pid>/fd`) |
//! | `process-io` | `CAP_SYS_PTRACE` + `CAP_DAC_READ_SEARCH` | other users' processes have no I/O counters (`/proc/<pid>/io`) |
//! | `process-details` | `CAP_SYS_PTRACE` | other users' processes show no executable or working directory |
//! | `process-events` | `CAP_NET_ADMIN` | no proc connector: the process table is diffed instead (no exit status, short-lived processes missed) |
//! | `kernel-messages` | `CAP_SYSLOG` (while `kernel.dmesg_restrict` = 1) | `/dev/kmsg` is not read |
//! | `log-files` | `CAP_DAC_READ_SEARCH` | log files only root (or group adm) may read are not tailed |
//! | `file-events` | `CAP_DAC_READ_SEARCH` | directories only root may list are not watched |
//! | `journal` | group `systemd-journal` | the journal shows only gomon's own entries |
//!
//! Found by test, feature by feature, as user `nobody` under `setpriv` (Linux 6.18): reading
//! another user's `/proc/<pid>/fd` or `/proc/<pid>/io` needs both `CAP_SYS_PTRACE` (the
//! ptrace access check) and `CAP_DAC_READ_SEARCH` (the 0500/0400 modes); `exe` and `cwd`
//! need only the first; binding the proc connector needs `CAP_NET_ADMIN` even on 6.18;
//! `/dev/kmsg` needs `CAP_SYSLOG` while `dmesg_restrict` = 1; an inotify watch on a 0700
//! directory of root's, like reading a 0640 log, needs `CAP_DAC_READ_SEARCH`. The journal
//! is read by a `journalctl` child, and children get no capabilities (see
//! [`drop_ambient`]), so it takes the group instead. Never setuid: run as root, or as the
//! `gomon` user with ambient capabilities from the unit, or grant file capabilities
//! ([`SETCAP`]).

use std::path::Path;

use gomon_sink_prometheus::MetricFamily;

/// A Linux capability gomon uses: its name and bit (`linux/capability.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capability {
    /// `CAP_SYS_PTRACE`, …
    pub name: &'static str,
    /// Its bit in the capability masks.
    pub bit: u32,
}

/// `CAP_DAC_READ_SEARCH`: read any file, list any directory.
pub const CAP_DAC_READ_SEARCH: Capability = Capability { name: "CAP_DAC_READ_SEARCH", bit: 2 };
/// `CAP_NET_ADMIN`: the netlink proc connector (and taskstats).
pub const CAP_NET_ADMIN: Capability = Capability { name: "CAP_NET_ADMIN", bit: 12 };
/// `CAP_SYS_PTRACE`: the ptrace access check on other users' `/proc/<pid>/…`.
pub const CAP_SYS_PTRACE: Capability = Capability { name: "CAP_SYS_PTRACE", bit: 19 };
/// `CAP_SYSLOG`: `/dev/kmsg` while `kernel.dmesg_restrict` = 1.
pub const CAP_SYSLOG: Capability = Capability { name: "CAP_SYSLOG", bit: 34 };

/// Every capability some feature needs: the unit's `AmbientCapabilities=` and
/// `CapabilityBoundingSet=` (a test keeps them equal to this).
pub const ALL: [Capability; 4] = [CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_SYSLOG];

/// The `setcap` command that grants them to an executable run by hand.
pub const SETCAP: &str = "setcap cap_dac_read_search,cap_net_admin,cap_sys_ptrace,cap_syslog+ep";

/// The group whose members may read the whole systemd journal.
pub const JOURNAL_GROUP: &str = "systemd-journal";

/// What a feature needs beyond an unprivileged user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every one of these capabilities.
    Capabilities(&'static [Capability]),
    /// Membership of this group.
    Group(&'static str),
}

/// Which features are on (from the configuration and the machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// `[observe] process`.
    pub process_events: bool,
    /// `[observe.logs] kmsg` while `kernel.dmesg_restrict` = 1.
    pub restricted_kmsg: bool,
    /// `[observe.logs] files` is not empty.
    pub log_files: bool,
    /// `[observe.files] enabled`.
    pub file_events: bool,
    /// The journal is read (`journal = "on"`, or `"auto"` with journald present).
    pub journal: bool,
}

impl Features {
    /// The features `config` turns on, on this machine.
    pub fn of(config: &crate::config::Config) -> Features {
        use crate::observe::config::JournalMode;
        let logs = &config.observe.logs;
        Features {
            process_events: config.observe.process,
            restricted_kmsg: logs.kmsg && dmesg_restricted(&config.sample.proc_root),
            log_files: !logs.files.is_empty(),
            file_events: config.observe.files.enabled,
            journal: match logs.journal {
                JournalMode::On => true,
                JournalMode::Off => false,
                JournalMode::Auto => crate::observe::logs::journal::journald_present(),
            },
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    /// The feature, as the gauge's `feature` label.
    pub feature: &'static str,
    /// What it needs.
    pub need: Need,
    /// What is lost without it.
    pub cost: &'static str,
    /// Whether the feature is on.
    pub enabled: fn(&Features) -> bool,
}

/// The table: feature → what it needs → what is lost without it.
pub const REQUIREMENTS: [Requirement; 8] = [
    Requirement {
        feature: "process-connections",
        need: Need::Capabilities(&[CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH]),
        cost: "other users' sockets are not tied to their processes (their /proc/<pid>/fd is unreadable), \
               so the connection graph misses their connections",
        enabled: |_| true,
    },
    Requirement {
        feature: "process-io",
        need: Need::Capabilities(&[CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH]),
        cost: "other users' processes have no I/O counters (/proc/<pid>/io is unreadable)",
        enabled: |_| true,
    },
    Requirement {
        feature: "process-details",
        need: Need::Capabilities(&[CAP_SYS_PTRACE]),
        cost: "other users' processes show no executable or working directory (/proc/<pid>/exe, cwd)",
        enabled: |_| true,
    },
    Requirement {
        feature: "process-events",
        need: Need::Capabilities(&[CAP_NET_ADMIN]),
        cost: "process events do not come from the netlink proc connector: the process table is diffed \
               every process_diff_interval instead (no exit status, short-lived processes missed)",
        enabled: |f| f.process_events,
    },
    Requirement {
        feature: "kernel-messages",
        need: Need::Capabilities(&[CAP_SYSLOG]),
        cost: "kernel messages (/dev/kmsg) are not observed while kernel.dmesg_restrict = 1",
        enabled: |f| f.restricted_kmsg,
    },
    Requirement {
        feature: "log-files",
        need: Need::Capabilities(&[CAP_DAC_READ_SEARCH]),
        cost: "log files that only root (or group adm) may read are not tailed",
        enabled: |f| f.log_files,
    },
    Requirement {
        feature: "file-events",
        need: Need::Capabilities(&[CAP_DAC_READ_SEARCH]),
        cost: "directories under the watched roots that only root may list are not watched",
        enabled: |f| f.file_events,
    },
    Requirement {
        feature: "journal",
        need: Need::Group(JOURNAL_GROUP),
        cost: "the systemd journal shows only gomon's own entries (journalctl runs without capabilities)",
        enabled: |f| f.journal,
    },
];

/// What this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The effective capability mask (`CapEff`).
    pub effective: u64,
    /// Running as root (uid 0): every file and group check passes.
    pub root: bool,
    /// The names of the groups this process is in.
    pub groups: Vec<String>,
}

impl Held {
    /// What this process holds now: `<proc_root>/self/status` and its groups. `None` when
    /// the status file cannot be read.
    pub fn current(proc_root: &Path) -> Option<Held> {
        let effective = effective(proc_root)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        Some(Held { effective, root, groups: group_names() })
    }

    fn has(&self, capability: Capability) -> bool {
        self.effective & (1 << capability.bit) != 0
    }
}

/// A need of an enabled feature that this process lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The capability (`CAP_SYSLOG`), or the group as `group systemd-journal`.
    pub capability: String,
    /// The feature that degrades.
    pub feature: &'static str,
    /// What is lost.
    pub cost: &'static str,
}

impl Missing {
    /// One line for the log: which feature degrades, and which capability would enable it.
    pub fn message(&self) -> String {
        if self.capability.starts_with("group ") {
            format!(
                "Without {}, {} (feature {}): add the user to it (`adduser <user> {JOURNAL_GROUP}`).",
                self.capability, self.cost, self.feature
            )
        } else {
            format!(
                "Without {}, {} (feature {}): grant it with AmbientCapabilities= in the unit, or `{SETCAP} <gomon>`.",
                self.capability, self.cost, self.feature
            )
        }
    }
}

/// One gauge series: `(capability, feature, missing)`.
pub type Row = (String, &'static str, bool);

/// The needs of the enabled features, each with whether it is missing.
pub fn assess(features: &Features, held: &Held) -> Vec<Row> {
    let mut rows = Vec::new();
    for requirement in REQUIREMENTS.iter().filter(|r| (r.enabled)(features)) {
        match requirement.need {
            Need::Capabilities(capabilities) => {
                for &capability in capabilities {
                    rows.push((capability.name.to_owned(), requirement.feature, !held.has(capability)));
                }
            }
            Need::Group(group) => {
                let member = held.root || held.groups.iter().any(|g| g == group);
                rows.push((format!("group {group}"), requirement.feature, !member));
            }
        }
    }
    rows
}

/// The missing needs of the enabled features.
pub fn missing(features: &Features, held: &Held) -> Vec<Missing> {
    assess(features, held)
        .into_iter()
        .filter(|(_, _, missing)| *missing)
        .map(|(capability, feature, _)| {
            let cost = REQUIREMENTS.iter().find(|r| r.feature == feature).map_or("", |r| r.cost);
            Missing { capability, feature, cost }
        })
        .collect()
}

/// The assessment of a running agent: made once at start, logged once, served by the
/// health check and the gauge.
#[derive(Debug, Clone)]
pub struct Assessment {
    rows: Vec<Row>,
    missing: Vec<Missing>,
}

impl Assessment {
    /// Assesses `features` against what this process holds (`None`: unknown, nothing
    /// reported missing).
    pub fn new(features: &Features, held: Option<&Held>) -> Assessment {
        match held {
            Some(held) => Assessment { rows: assess(features, held), missing: missing(features, held) },
            None => Assessment { rows: Vec::new(), missing: Vec::new() },
        }
    }

    /// Logs each missing need once, as a warning naming the capability.
    pub fn log(&self) {
        for missing in &self.missing {
            tracing::warn!(capability = %missing.capability, feature = missing.feature, "{}", missing.message());
        }
    }

    /// The missing needs.
    pub fn missing(&self) -> &[Missing] {
        &self.missing
    }

    /// One sentence for the health check, or `None` when nothing is missing.
    pub fn summary(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let parts: Vec<String> =
            self.missing.iter().map(|m| format!("without {} ({}), {}", m.capability, m.feature, m.cost)).collect();
        Some(format!(
            "degraded: {}. Grant the capabilities in the unit (AmbientCapabilities=) or with `{SETCAP} <gomon>`, \
             or run as root.",
            parts.join("; ")
        ))
    }

    /// `gomon_capability_missing{capability,feature}`: 1 for each need of an enabled
    /// feature this process lacks, 0 for those it holds.
    pub fn family(&self) -> MetricFamily {
        let mut family = MetricFamily::gauge(
            "gomon_capability_missing",
            "1 when gomon lacks a capability (or group) that an enabled feature needs, 0 when it holds it.",
        )
        .labels(["capability", "feature"]);
        for (capability, feature, missing) in &self.rows {
            family.push(&[capability.as_str(), feature], if *missing { 1.0 } else { 0.0 });
        }
        family
    }
}

/// Whether `kernel.dmesg_restrict` is 1 (`<proc_root>/sys/kernel/dmesg_restrict`); an
/// unreadable file counts as restricted.
pub fn dmesg_restricted(proc_root: &Path) -> bool {
    // /proc/sys/kernel/dmesg_restrict: "0" or "1".
    std::fs::read_to_string(proc_root.join("sys/kernel/dmesg_restrict")).map_or(true, |s| s.trim() != "0")
}

/// The effective capability mask of this process: `<proc_root>/self/status` `CapEff` (hex).
pub fn effective(proc_root: &Path) -> Option<u64> {
    let status = std::fs::read_to_string(proc_root.join("self/status")).ok()?;
    parse_cap_eff(&status)
}

/// `CapEff:\t0000003fffffffff` → the mask.
fn parse_cap_eff(status: &str) -> Option<u64> {
    // /proc/<pid>/status `CapEff`: the effective capability set, hexadecimal.
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// The names of this process's groups (real, effective and supplementary).
fn group_names() -> Vec<String> {
    let mut gids = vec![0 as libc::gid_t; 256];
    // SAFETY: getgroups writes at most `gids.len()` entries into the buffer it is given.
    let n = unsafe { libc::getgroups(gids.len() as libc::c_int, gids.as_mut_ptr()) };
    gids.truncate(usize::try_from(n).unwrap_or(0));
    // SAFETY: getgid and getegid have no preconditions and cannot fail.
    gids.extend(unsafe { [libc::getgid(), libc::getegid()] });
    gids.sort_unstable();
    gids.dedup();
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    gids.iter().filter_map(|gid| group_name(&groups, *gid)).collect()
}

/// The name of `gid` in an `/etc/group` text (`name:x:gid:members`).
fn group_name(groups: &str, gid: libc::gid_t) -> Option<String> {
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: libc::gid_t = fields.nth(1)?.parse().ok()?;
        (id == gid).then(|| name.to_owned())
    })
}

/// Clears this thread's ambient capability set, so that programs gomon starts (`dot`,
/// `journalctl`) run with none, whatever the unit grants gomon itself; gomon keeps its
/// permitted and effective sets. Call first thing in `main`, before any thread starts
/// (the sets are per thread and threads inherit them). Errors are ignored: a kernel
/// without ambient capabilities has none to clear.
pub fn drop_ambient() {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers; it only changes this thread's
    // ambient set and fails harmlessly (EINVAL) where ambient capabilities do not exist.
    unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomon_sink_prometheus::Value;

    fn held(caps: &[Capability], groups: &[&str]) -> Held {
        Held {
            effective: caps.iter().fold(0, |mask, c| mask | (1 << c.bit)),
            root: false,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    const EVERYTHING: Features =
        Features { process_events: true, restricted_kmsg: true, log_files: true, file_events: true, journal: true };

    #[test]
    fn cap_eff_is_read() {
        let status = "Name:\tgomon\nCapInh:\t0000000000000000\nCapEff:\t0000000000080004\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some((1 << 19) | (1 << 2)));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn every_capability_of_the_table_is_in_all_and_setcap() {
        for requirement in REQUIREMENTS {
            if let Need::Capabilities(capabilities) = requirement.need {
                for c in capabilities {
                    assert!(ALL.contains(c), "{} of {} is not in ALL", c.name, requirement.feature);
                }
            }
        }
        for c in ALL {
            assert!(SETCAP.contains(&c.name.to_lowercase()), "{SETCAP} lacks {}", c.name);
            assert!(REQUIREMENTS.iter().any(|r| matches!(r.need, Need::Capabilities(cs) if cs.contains(&c))));
        }
    }

    #[test]
    fn all_held_misses_nothing_and_none_held_misses_every_need() {
        assert!(missing(&EVERYTHING, &held(&ALL, &[JOURNAL_GROUP])).is_empty());
        let none = missing(&EVERYTHING, &held(&[], &[]));
        let pairs: Vec<(&str, &str)> = none.iter().map(|m| (m.capability.as_str(), m.feature)).collect();
        assert!(pairs.contains(&("CAP_SYS_PTRACE", "process-connections")), "{pairs:?}");
        assert!(pairs.contains(&("CAP_DAC_READ_SEARCH", "process-connections")), "{pairs:?}");
        assert!(pairs.contains(&("CAP_NET_ADMIN", "process-events")), "{pairs:?}");
        assert!(pairs.contains(&("CAP_SYSLOG", "kernel-messages")), "{pairs:?}");
        assert!(pairs.contains(&("group systemd-journal", "journal")), "{pairs:?}");
        let root = Held { root: true, ..held(&ALL, &[]) };
        assert!(missing(&EVERYTHING, &root).is_empty());
    }

    #[test]
    fn dropping_one_capability_names_it_and_only_its_features() {
        for dropped in ALL {
            let rest: Vec<Capability> = ALL.into_iter().filter(|c| *c != dropped).collect();
            let found = missing(&EVERYTHING, &held(&rest, &[JOURNAL_GROUP]));
            assert!(!found.is_empty(), "nothing missing without {}", dropped.name);
            for m in &found {
                assert_eq!(m.capability, dropped.name);
                assert!(m.message().contains(dropped.name), "{}", m.message());
            }
        }
    }

    #[test]
    fn disabled_features_need_nothing() {
        let off = Features::default();
        let found = missing(&off, &held(&[], &[]));
        let features: Vec<&str> = found.iter().map(|m| m.feature).collect();
        assert_eq!(
            features,
            ["process-connections", "process-connections", "process-io", "process-io", "process-details"]
        );
    }

    #[test]
    fn the_gauge_has_one_series_per_need_and_the_summary_names_what_is_missing() {
        let assessment = Assessment::new(&EVERYTHING, Some(&held(&[CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH], &[])));
        let family = assessment.family();
        assert_eq!(family.name, "gomon_capability_missing");
        let value = |cap: &str, feature: &str| {
            family
                .samples
                .iter()
                .find(|s| s.label_values == [cap, feature])
                .map(|s| s.value.clone())
                .unwrap_or_else(|| panic!("no series {cap} {feature}: {:?}", family.samples))
        };
        assert_eq!(value("CAP_NET_ADMIN", "process-events"), Value::Scalar(1.0));
        assert_eq!(value("CAP_SYS_PTRACE", "process-io"), Value::Scalar(0.0));
        let summary = assessment.summary().unwrap();
        assert!(summary.contains("CAP_NET_ADMIN") && summary.contains("CAP_SYSLOG"), "{summary}");
        assert!(!summary.contains("CAP_SYS_PTRACE"), "{summary}");
        assert!(Assessment::new(&EVERYTHING, None).summary().is_none());
    }

    #[test]
    fn the_unit_grants_exactly_the_table_and_the_readme_documents_it() {
        let unit = include_str!("../../../assets/gomon.service");
        let mut want: Vec<&str> = ALL.iter().map(|c| c.name).collect();
        want.sort_unstable();
        for key in ["AmbientCapabilities=", "CapabilityBoundingSet="] {
            let line = unit.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in the unit"));
            let mut got: Vec<&str> = line[key.len()..].split_whitespace().collect();
            got.sort_unstable();
            assert_eq!(got, want, "{key} of assets/gomon.service");
        }
        let readme = include_str!("../../../README.md");
        assert!(readme.contains(SETCAP), "the README gives the setcap line `{SETCAP}`");
        for requirement in REQUIREMENTS {
            assert!(
                readme.contains(&format!("`{}`", requirement.feature)),
                "the README's table lacks {}",
                requirement.feature
            );
        }
    }

    #[test]
    fn group_names_are_looked_up() {
        let groups = "root:x:0:\nadm:x:4:syslog\nsystemd-journal:x:999:gomon\n";
        assert_eq!(group_name(groups, 999).as_deref(), Some("systemd-journal"));
        assert_eq!(group_name(groups, 5), None);
        assert_eq!(group_name("broken\n::\n", 0), None);
    }
}
