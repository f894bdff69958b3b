//! gomon's own metrics that are not about probes: build info, HTTP
//! requests, and the standard `process_*` families of the gomon process.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gomon_sink_prometheus::MetricFamily;

/// Request counters by route and status class.
#[derive(Default)]
pub struct HttpStats {
    counts: Mutex<Vec<(&'static str, u16, u64)>>,
    scrapes: AtomicU64,
}

impl HttpStats {
    /// Counts one answered request.
    pub fn record(&self, route: &'static str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match counts.iter_mut().find(|(r, s, _)| *r == route && *s == status) {
            Some(entry) => entry.2 += 1,
            None => counts.push((route, status, 1)),
        }
    }

    /// Counts one `/metrics` response.
    pub fn scraped(&self) {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
    }

    /// `gomon_http_requests_total{route,code}`.
    pub fn families(&self) -> Vec<MetricFamily> {
        let mut requests =
            MetricFamily::counter("gomon_http_requests", "HTTP requests answered, by route and status code.")
                .labels(["route", "code"]);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        counts.sort();
        for (route, status, count) in counts {
            requests.push(&[route, &status.to_string()], count as f64);
        }
        vec![requests]
    }
}

/// `gomon_build_info`.
pub fn build_info() -> MetricFamily {
    let mut info =
        MetricFamily::gauge("gomon_build_info", "gomon's version, probe contract and wasmtime version; always 1.")
            .labels(["version", "contract", "wasmtime"]);
    info.push(&[env!("CARGO_PKG_VERSION"), crate::runtime::bindings::CONTRACT_VERSION, crate::WASMTIME_VERSION], 1.0);
    info
}

/// The standard `process_*` families for the gomon process itself, from
/// /proc/self. Missing files give no families, never an error.
pub fn process_families() -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| SelfStat::parse(&s)) else {
        return out;
    };
    let ticks = crate::ticks_per_second();
    let mut cpu =
        MetricFamily::counter("process_cpu_seconds", "User and system CPU time of the gomon process.").unit("seconds");
    cpu.push(&[], (stat.utime + stat.stime) as f64 / ticks);
    out.push(cpu);
    let page = crate::sample::os::page_size();
    let mut rss =
        MetricFamily::gauge("process_resident_memory_bytes", "Resident memory of the gomon process.").unit("bytes");
    rss.push(&[], stat.rss_pages.saturating_mul(page) as f64);
    out.push(rss);
    let mut vsz =
        MetricFamily::gauge("process_virtual_memory_bytes", "Virtual memory of the gomon process.").unit("bytes");
    vsz.push(&[], stat.vsize as f64);
    out.push(vsz);
    if let Some(boot) = boot_time() {
        let mut start =
            MetricFamily::gauge("process_start_time_seconds", "Start time of the gomon process since the Unix epoch.")
                .unit("seconds");
        start.push(&[], boot + stat.starttime as f64 / ticks);
        out.push(start);
    }
    if let Some(fds) = open_fds() {
        let mut open = MetricFamily::gauge("process_open_fds", "Open file descriptors of the gomon process.");
        open.push(&[], fds as f64);
        out.push(open);
    }
    let limit = crate::sample::os::open_files_limit();
    let mut max = MetricFamily::gauge("process_max_fds", "File descriptor limit (soft) of the gomon process.");
    max.push(&[], limit.soft.map_or(f64::INFINITY, |soft| soft as f64));
    out.push(max);
    out
}

/// The fields of /proc/self/stat we use.
#[derive(Debug, PartialEq)]
struct SelfStat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

impl SelfStat {
    /// Fields after the `(comm)`, which may contain spaces and parentheses:
    /// split at the last `)`.
    fn parse(text: &str) -> Option<SelfStat> {
        let after = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after.split_ascii_whitespace().collect();
        // Field numbers from proc(5), minus 3 (pid, comm and state come first).
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        Some(SelfStat {
            utime: field(14)?,     // /proc/self/stat (14) utime, ticks
            stime: field(15)?,     // /proc/self/stat (15) stime, ticks
            starttime: field(22)?, // /proc/self/stat (22) starttime, ticks after boot
            vsize: field(23)?,     // /proc/self/stat (23) vsize, bytes
            rss_pages: field(24)?, // /proc/self/stat (24) rss, pages
        })
    }
}

/// Entries of /proc/self/fd (the descriptor of the listing itself left out),
/// through the samplers' directory walker.
fn open_fds() -> Option<usize> {
    use crate::sample::os;
    let dir = os::open_dir(std::path::Path::new("/proc/self/fd")).ok()?;
    let mut n = 0usize;
    os::for_each_entry(std::os::fd::AsFd::as_fd(&dir), &mut Vec::new(), |name| {
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            n += 1;
        }
    })
    .ok()?;
    // The listing's own descriptor is one of them.
    Some(n.saturating_sub(1))
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    // /proc/stat btime: boot time, seconds since the epoch.
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_self_stat_with_a_hostile_comm() {
        let line = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 256 18446744073709551615";
        assert_eq!(
            SelfStat::parse(line),
            Some(SelfStat { utime: 250, stime: 50, starttime: 12345, vsize: 1000000, rss_pages: 256 })
        );
        assert_eq!(SelfStat::parse("garbage"), None);
    }

    #[test]
    fn http_stats_count_by_route_and_code() {
        let stats = HttpStats::default();
        stats.record("/metrics", 200);
        stats.record("/metrics", 200);
        stats.record("other", 404);
        let f = &stats.families()[0];
        assert_eq!(f.samples.len(), 2);
    }

    #[test]
    fn own_process_families_are_present() {
        let names: Vec<String> = process_families().into_iter().map(|f| f.name).collect();
        assert!(names.iter().any(|n| n == "process_resident_memory_bytes"), "{names:?}");
        assert!(names.iter().any(|n| n == "process_cpu_seconds"), "{names:?}");
    }
}
