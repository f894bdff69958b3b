//! /proc/stat: CPU times, boot time and kernel activity counters.
//!
//! ```text
//! cpu  38435 0 6039 34133 887 0 58 113 0 0        <- aggregate, USER_HZ ticks
//! cpu0 18798 0 2888 17956 140 0 6 54 0 0          <- one line per online CPU
//! intr 195350 0 0 …                               <- first field: total
//! ctxt 362537
//! btime 1795763271
//! processes 8663
//! procs_running 3
//! procs_blocked 0
//! ```
//!
//! The CPU columns are, in order: user, nice, system, idle, iowait (2.5.41),
//! irq, softirq (2.6.0), steal (2.6.11), guest (2.6.24), guest_nice (2.6.33).
//! Columns a kernel does not print are 0; columns a future kernel adds are
//! ignored. The original gomon read these one column late; the tests below
//! pin every column to its name.

use super::error::{ParseError, parse_u32, parse_u64};
use super::model::{Cpu, CpuTimes};

/// What /proc/stat holds, converted to seconds; see [`parse_stat`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// The aggregate `cpu` line.
    pub cpu_total: CpuTimes,
    /// The `cpuN` lines, in file order.
    pub cpus: Vec<Cpu>,
    /// Unix time of boot.
    pub boot_time_seconds: f64,
    /// `ctxt`: context switches since boot.
    pub context_switches: u64,
    /// `processes`: forks since boot.
    pub forks: u64,
    /// `intr`, first field: interrupts since boot.
    pub interrupts: u64,
    /// `procs_running`.
    pub procs_running: u32,
    /// `procs_blocked`.
    pub procs_blocked: u32,
}

/// /proc/stat line by line, each value `None` when its line is absent or did
/// not parse; see [`parse_stat_lines`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatLines {
    /// The aggregate `cpu` line.
    pub cpu_total: Option<CpuTimes>,
    /// The `cpuN` lines that parsed, in file order.
    pub cpus: Vec<Cpu>,
    /// `btime`: Unix time of boot.
    pub boot_time_seconds: Option<f64>,
    /// `ctxt`: context switches since boot.
    pub context_switches: Option<u64>,
    /// `processes`: forks since boot.
    pub forks: Option<u64>,
    /// `intr`, first field: interrupts since boot.
    pub interrupts: Option<u64>,
    /// `procs_running`: runnable tasks now.
    pub procs_running: Option<u32>,
    /// `procs_blocked`: tasks blocked on I/O now.
    pub procs_blocked: Option<u32>,
    /// The lines read here that did not parse; each lost only its own value.
    pub skipped: Vec<ParseError>,
}

/// Parses /proc/stat line by line, so that a malformed line loses only the
/// values it holds. `ticks_per_second` is `sysconf(_SC_CLK_TCK)` (USER_HZ);
/// it is the only thing that fails the whole parse. Lines not read here
/// (softirq, page, swap, disk_io and anything newer) are ignored.
pub fn parse_stat_lines(text: &str, ticks_per_second: f64) -> Result<StatLines, ParseError> {
    if !(ticks_per_second.is_finite() && ticks_per_second > 0.0) {
        return Err(ParseError::whole(format!("invalid ticks per second {ticks_per_second}")));
    }
    let mut stat = StatLines::default();
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let parsed = match key {
            // /proc/stat "cpu": aggregate of all CPUs.
            "cpu" => parse_cpu_times(fields, n, ticks_per_second).map(|t| stat.cpu_total = Some(t)),
            // /proc/stat "intr": first field is the total of all interrupts.
            "intr" => parse_u64(fields.next(), n, "intr").map(|v| stat.interrupts = Some(v)),
            // /proc/stat "ctxt": context switches since boot.
            "ctxt" => parse_u64(fields.next(), n, "ctxt").map(|v| stat.context_switches = Some(v)),
            // /proc/stat "btime": boot time, seconds since the epoch.
            "btime" => parse_u64(fields.next(), n, "btime").map(|v| stat.boot_time_seconds = Some(v as f64)),
            // /proc/stat "processes": forks since boot.
            "processes" => parse_u64(fields.next(), n, "processes").map(|v| stat.forks = Some(v)),
            // /proc/stat "procs_running": runnable tasks now.
            "procs_running" => parse_u32(fields.next(), n, "procs_running").map(|v| stat.procs_running = Some(v)),
            // /proc/stat "procs_blocked": tasks blocked on I/O now.
            "procs_blocked" => parse_u32(fields.next(), n, "procs_blocked").map(|v| stat.procs_blocked = Some(v)),
            // /proc/stat "cpuN": one online CPU.
            _ if key.starts_with("cpu") => key[3..]
                .parse::<u32>()
                .map_err(|_| ParseError::at(n, format!("{key:?} is not cpu<number>")))
                .and_then(|id| {
                    let times = parse_cpu_times(fields, n, ticks_per_second)?;
                    stat.cpus.push(Cpu { id, times });
                    Ok(())
                }),
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            stat.skipped.push(e);
        }
    }
    Ok(stat)
}

/// Parses /proc/stat strictly, as a reader that needs it whole does (the
/// process observer's boot time): the `cpu` line and `btime` are required,
/// any line read here that does not parse is an error naming the line;
/// `ctxt`, `processes`, `intr`, `procs_running` and `procs_blocked` are 0
/// when absent (very old kernels).
pub fn parse_stat(text: &str, ticks_per_second: f64) -> Result<Stat, ParseError> {
    let lines = parse_stat_lines(text, ticks_per_second)?;
    if let Some(first) = lines.skipped.into_iter().next() {
        return Err(first);
    }
    Ok(Stat {
        cpu_total: lines.cpu_total.ok_or_else(|| ParseError::whole("no aggregate \"cpu\" line"))?,
        cpus: lines.cpus,
        boot_time_seconds: lines.boot_time_seconds.ok_or_else(|| ParseError::whole("no \"btime\" line"))?,
        context_switches: lines.context_switches.unwrap_or(0),
        forks: lines.forks.unwrap_or(0),
        interrupts: lines.interrupts.unwrap_or(0),
        procs_running: lines.procs_running.unwrap_or(0),
        procs_blocked: lines.procs_blocked.unwrap_or(0),
    })
}

/// Maps the tick columns of a `cpu` line to their names, in kernel order.
fn parse_cpu_times<'a>(
    fields: impl Iterator<Item = &'a str>,
    line: usize,
    ticks_per_second: f64,
) -> Result<CpuTimes, ParseError> {
    // Column names in /proc/stat order (Documentation/filesystems/proc.rst).
    const NAMES: [&str; 10] =
        ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"];
    let mut seconds = [0.0_f64; 10];
    let mut count = 0;
    for (i, field) in fields.take(NAMES.len()).enumerate() {
        let ticks = parse_u64(Some(field), line, NAMES[i])? as f64;
        seconds[i] = ticks / ticks_per_second;
        count = i + 1;
    }
    if count < 4 {
        return Err(ParseError::at(line, format!("{count} CPU columns, need at least 4 (user nice system idle)")));
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = seconds;
    Ok(CpuTimes {
        user_seconds: user,             // column 1: user
        nice_seconds: nice,             // column 2: nice
        system_seconds: system,         // column 3: system
        idle_seconds: idle,             // column 4: idle
        iowait_seconds: iowait,         // column 5: iowait
        irq_seconds: irq,               // column 6: irq
        softirq_seconds: softirq,       // column 7: softirq
        steal_seconds: steal,           // column 8: steal
        guest_seconds: guest,           // column 9: guest
        guest_nice_seconds: guest_nice, // column 10: guest_nice
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/stat");
    const DISTINCT: &str = include_str!("../tests/fixtures/edge/stat-distinct-columns");
    const KERNEL_2_6_0: &str = include_str!("../tests/fixtures/edge/stat-kernel-2.6.0");
    const KERNEL_2_4: &str = include_str!("../tests/fixtures/edge/stat-kernel-2.4");
    const MALFORMED: &str = include_str!("../tests/fixtures/edge/stat-malformed");

    #[test]
    fn every_column_maps_to_its_own_name() {
        // Columns 1000 200 300 4000 50 60 70 80 90 100 at 100 ticks/s.
        let stat = parse_stat(DISTINCT, 100.0).unwrap();
        assert_eq!(
            stat.cpu_total,
            CpuTimes {
                user_seconds: 10.0,
                nice_seconds: 2.0,
                system_seconds: 3.0,
                idle_seconds: 40.0,
                iowait_seconds: 0.5,
                irq_seconds: 0.6,
                softirq_seconds: 0.7,
                steal_seconds: 0.8,
                guest_seconds: 0.9,
                guest_nice_seconds: 1.0,
            }
        );
        assert_eq!(stat.cpus.len(), 2);
        // Offline cpu1 is absent: ids keep the kernel's numbers.
        assert_eq!(stat.cpus[0].id, 0);
        assert_eq!(stat.cpus[1].id, 2);
        assert_eq!(stat.cpus[1].times.user_seconds, 5.0);
        assert_eq!(stat.cpus[1].times.guest_nice_seconds, 0.5);
        assert_eq!(stat.interrupts, 123456);
        assert_eq!(stat.context_switches, 987654);
        assert_eq!(stat.boot_time_seconds, 1_700_000_000.0);
        assert_eq!(stat.forks, 4242);
        assert_eq!(stat.procs_running, 7);
        assert_eq!(stat.procs_blocked, 2);
    }

    #[test]
    fn ticks_per_second_is_honoured() {
        let stat = parse_stat(DISTINCT, 250.0).unwrap();
        assert_eq!(stat.cpu_total.user_seconds, 4.0);
        assert!(parse_stat(DISTINCT, 0.0).is_err());
    }

    #[test]
    fn real_capture_from_this_machine() {
        // cpu  38435 0 6039 34133 887 0 58 113 0 0 (USER_HZ 100 here).
        let stat = parse_stat(REAL, 100.0).unwrap();
        assert_eq!(stat.cpu_total.user_seconds, 384.35);
        assert_eq!(stat.cpu_total.nice_seconds, 0.0);
        assert_eq!(stat.cpu_total.system_seconds, 60.39);
        assert_eq!(stat.cpu_total.idle_seconds, 341.33);
        assert_eq!(stat.cpu_total.iowait_seconds, 8.87);
        assert_eq!(stat.cpu_total.softirq_seconds, 0.58);
        assert_eq!(stat.cpu_total.steal_seconds, 1.13);
        assert_eq!(stat.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(stat.cpus[1].times.user_seconds, 196.36);
        assert_eq!(stat.interrupts, 261_984);
        assert_eq!(stat.context_switches, 362_537);
        assert_eq!(stat.boot_time_seconds, 1_795_763_271.0);
        assert_eq!(stat.forks, 8663);
        assert_eq!(stat.procs_running, 3);
        assert_eq!(stat.procs_blocked, 0);
    }

    #[test]
    fn kernel_2_6_0_has_seven_columns() {
        let stat = parse_stat(KERNEL_2_6_0, 100.0).unwrap();
        assert_eq!(stat.cpu_total.user_seconds, 73.31);
        assert_eq!(stat.cpu_total.softirq_seconds, 0.71);
        assert_eq!(stat.cpu_total.steal_seconds, 0.0);
        assert_eq!(stat.cpu_total.guest_nice_seconds, 0.0);
        assert_eq!(stat.cpus[1].times.iowait_seconds, 6.63);
        assert_eq!(stat.procs_running, 1);
    }

    #[test]
    fn kernel_2_4_has_four_columns_and_no_procs_lines() {
        let stat = parse_stat(KERNEL_2_4, 100.0).unwrap();
        assert_eq!(stat.cpu_total.idle_seconds, 1783.55);
        assert_eq!(stat.cpu_total.iowait_seconds, 0.0);
        assert_eq!(stat.procs_running, 0);
        assert_eq!(stat.forks, 1175);
        assert_eq!(stat.interrupts, 193_462);
    }

    #[test]
    fn extra_future_columns_are_ignored() {
        let text = "cpu 1 2 3 4 5 6 7 8 9 10 11 12\nbtime 1\n";
        let stat = parse_stat(text, 1.0).unwrap();
        assert_eq!(stat.cpu_total.guest_nice_seconds, 10.0);
    }

    #[test]
    fn malformed_line_is_named() {
        let err = parse_stat(MALFORMED, 100.0).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.reason.contains("system") && err.reason.contains("x150"), "{err}");
    }

    #[test]
    fn a_bad_line_loses_only_its_own_values() {
        let lines = parse_stat_lines(MALFORMED, 100.0).unwrap();
        assert!(lines.cpu_total.is_some());
        assert_eq!(lines.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), [0], "cpu1's line is malformed");
        assert_eq!(lines.skipped.len(), 1);
        assert_eq!(lines.skipped[0].line, 3);
        assert!(lines.boot_time_seconds.is_some());
        let lines = parse_stat_lines(
            "cpu 1 2 3 4\ncpu0 1 2 3 4\ncpuX 1 2\nctxt many\nbtime 7\nprocs_running 9999999999\n",
            1.0,
        )
        .unwrap();
        assert_eq!(lines.cpu_total.map(|t| t.idle_seconds), Some(4.0));
        assert_eq!(lines.cpus.len(), 1);
        assert_eq!((lines.context_switches, lines.boot_time_seconds, lines.procs_running), (None, Some(7.0), None));
        assert_eq!(lines.skipped.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4, 6]);
        // Absent lines are None, not 0.
        let lines = parse_stat_lines("", 100.0).unwrap();
        assert_eq!(lines, StatLines::default());
        assert!(parse_stat_lines("", 0.0).is_err());
    }

    #[test]
    fn too_few_columns_and_missing_lines_are_errors() {
        assert_eq!(parse_stat("cpu 1 2 3\nbtime 1\n", 100.0).unwrap_err().line, 1);
        assert!(parse_stat("btime 1\n", 100.0).unwrap_err().reason.contains("cpu"));
        assert!(parse_stat("cpu 1 2 3 4\n", 100.0).unwrap_err().reason.contains("btime"));
        assert!(parse_stat("", 100.0).is_err());
        assert_eq!(parse_stat("cpu 1 2 3 4\ncpuX 1 2 3 4\nbtime 1", 100.0).unwrap_err().line, 2);
    }
}
