//! What the in-process collector can see without root: the effective capabilities, and
//! what each missing one costs. Never setuid: grant file capabilities instead
//! (`setcap cap_sys_ptrace,cap_dac_read_search,cap_net_admin+ep <executable>`).

use std::path::Path;

/// A capability the collector uses, its bit and what is lost without it.
pub const CAPABILITIES: [(&str, u32, &str); 3] = [
    (
        "CAP_SYS_PTRACE",
        19,
        "other users' processes show no connections, executable, working directory or I/O counters \
         (their /proc/<pid>/fd and friends are unreadable)",
    ),
    ("CAP_DAC_READ_SEARCH", 2, "protected log files and directories cannot be observed"),
    ("CAP_NET_ADMIN", 12, "no process events (the netlink proc connector needs it)"),
];

/// The `setcap` command that grants every capability the collector uses.
pub const SETCAP: &str = "setcap cap_sys_ptrace,cap_dac_read_search,cap_net_admin+ep";

/// A missing capability and its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// `CAP_SYS_PTRACE`, …
    pub name: &'static str,
    /// What is not seen without it.
    pub cost: &'static str,
}

/// The effective capability mask of this process: /proc/self/status `CapEff` (hex).
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

/// The capabilities missing from `mask`.
pub fn missing(mask: u64) -> Vec<Missing> {
    CAPABILITIES
        .iter()
        .filter(|(_, bit, _)| mask & (1 << bit) == 0)
        .map(|(name, _, cost)| Missing { name, cost })
        .collect()
}

/// One sentence for the log and CheckHealth, or `None` when nothing is missing (or the
/// mask cannot be read).
pub fn summary(proc_root: &Path) -> Option<String> {
    let missing = missing(effective(proc_root)?);
    if missing.is_empty() {
        return None;
    }
    let costs: Vec<String> = missing.iter().map(|m| format!("without {}, {}", m.name, m.cost)).collect();
    Some(format!(
        "The collector runs unprivileged and degrades: {}. Grant them with `{SETCAP} <plugin executable>`, \
         or point the data source at a gomon agent running as root.",
        costs.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_is_read_and_missing_ones_are_named() {
        let status = "Name:\tgomon\nCapInh:\t0000000000000000\nCapEff:\t0000000000080004\nCapBnd:\t000001ffffffffff\n";
        let mask = parse_cap_eff(status).unwrap();
        assert_eq!(mask, (1 << 19) | (1 << 2));
        let names: Vec<&str> = missing(mask).iter().map(|m| m.name).collect();
        assert_eq!(names, ["CAP_NET_ADMIN"]);
        assert!(missing(u64::MAX).is_empty());
        assert_eq!(missing(0).len(), 3);
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }
}
