//! Recent samples in memory, for the plugin's `metrics` queries, its live stream and
//! an agent's `/api/series`.
//!
//! The collector's exposition is recorded once per cycle: every scalar sample of every
//! family (histograms and info families are left out), keyed by the family's exposed
//! name (`gomon_cpu_seconds_total`, as `/metrics` shows it) and its label values.
//! Bounded three ways: points older than the retention (default 1 h) are dropped, a
//! series keeps at most `max_points` points, and at most `max_series` series are kept
//! (new ones beyond are counted and ignored until old ones expire).
//!
//! Queries pick a family (or the default set: CPU, memory, load), keep the series whose
//! label values match a regex, cut the time range, turn counters into per-second rates
//! and average neighbouring points down to `max_points`:
//!
//! ```text
//! gomon_system_cpu_seconds_total{mode="user"}  counter → rate, unit percentunit (1 = one CPU)
//! gomon_memory_used_bytes                      gauge,          unit bytes
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use gomon_sink_grafana::Series;
use gomon_sink_prometheus::{Kind, MetricFamily, Value};
use tokio::sync::watch;

use crate::collect::Exposition;

/// Families a `metrics` query without a metric returns: CPU, memory, load.
pub const DEFAULT_FAMILIES: [&str; 4] =
    ["gomon_system_cpu_seconds_total", "gomon_memory_used_bytes", "gomon_memory_available_bytes", "gomon_load_average"];

/// Most bytes a filter regex may compile to.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Points older than this are dropped.
    pub retention: Duration,
    /// Most series kept.
    pub max_series: usize,
    /// Most points per series.
    pub max_points: usize,
}

impl Default for Limits {
    /// One hour, 2000 series, 720 points each (an hour at a 5 s interval): at most
    /// about 23 MB, a few MB for a typical host.
    fn default() -> Self {
        Limits { retention: Duration::from_secs(3600), max_series: 2000, max_points: 720 }
    }
}

/// A question for [`History::query`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesQuery {
    /// A family's exposed name; `None` or empty: [`DEFAULT_FAMILIES`].
    pub metric: Option<String>,
    /// A regex; only series with a label value it matches (anywhere in the value).
    pub filter: Option<String>,
    /// Start of the range, ms since the epoch (inclusive).
    pub from_ms: i64,
    /// End of the range, ms since the epoch (inclusive).
    pub to_ms: i64,
    /// Most points per series; 0: no limit.
    pub max_points: usize,
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// No family of that name has been recorded.
    #[error("no metric family {name:?} in the recent history (some there are: {known})")]
    UnknownFamily {
        /// The name asked for.
        name: String,
        /// A few recorded names.
        known: String,
    },
    /// The filter is not a regex.
    #[error("filter {filter:?} is not a valid regular expression: {message}")]
    Filter {
        /// The filter.
        filter: String,
        /// Why.
        message: String,
    },
    /// The range ends before it starts.
    #[error("the time range ends ({to_ms}) before it starts ({from_ms})")]
    Range {
        /// Start.
        from_ms: i64,
        /// End.
        to_ms: i64,
    },
}

/// The recorded history.
pub struct History {
    limits: Limits,
    inner: Mutex<Inner>,
    updates: watch::Sender<i64>,
}

#[derive(Default)]
struct Inner {
    families: BTreeMap<String, FamilyHistory>,
    series: usize,
    dropped: u64,
}

struct FamilyHistory {
    kind: Kind,
    label_names: Vec<String>,
    series: HashMap<Vec<String>, VecDeque<(i64, f64)>>,
}

/// Sizes, for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Series held.
    pub series: usize,
    /// Points held.
    pub points: usize,
    /// New series ignored because `max_series` was reached.
    pub dropped_series: u64,
}

impl History {
    /// An empty history.
    pub fn new(limits: Limits) -> Self {
        History { limits, inner: Mutex::new(Inner::default()), updates: watch::Sender::new(0) }
    }

    /// Tells each receiver the time of the newest recorded cycle (ms), after it is in.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.updates.subscribe()
    }

    /// Records one cycle's families, taken at `at_ms`, and drops what is too old.
    pub fn record(&self, families: &[MetricFamily], at_ms: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner { families: recorded, series: count, dropped } = &mut *inner;
        for family in families {
            if matches!(family.kind, Kind::Histogram | Kind::Info) {
                continue;
            }
            let name = exposed_name(family);
            let entry = recorded.entry(name).or_insert_with(|| FamilyHistory {
                kind: family.kind,
                label_names: family.label_names.clone(),
                series: HashMap::new(),
            });
            if entry.kind != family.kind || entry.label_names != family.label_names {
                // A probe changed the family's shape (a reload): start it afresh.
                *count -= entry.series.len();
                entry.series.clear();
                entry.kind = family.kind;
                entry.label_names = family.label_names.clone();
            }
            for sample in &family.samples {
                let Value::Scalar(value) = sample.value else { continue };
                match entry.series.get_mut(&sample.label_values) {
                    Some(points) => {
                        if points.back().is_some_and(|(t, _)| *t >= at_ms) {
                            continue; // time only moves forward
                        }
                        points.push_back((at_ms, value));
                        if points.len() > self.limits.max_points {
                            points.pop_front();
                        }
                    }
                    None if *count >= self.limits.max_series => *dropped += 1,
                    None => {
                        entry.series.insert(sample.label_values.clone(), VecDeque::from([(at_ms, value)]));
                        *count += 1;
                    }
                }
            }
        }
        let oldest = at_ms.saturating_sub(self.limits.retention.as_millis().try_into().unwrap_or(i64::MAX));
        for family in recorded.values_mut() {
            family.series.retain(|_, points| {
                while points.front().is_some_and(|(t, _)| *t < oldest) {
                    points.pop_front();
                }
                !points.is_empty()
            });
        }
        recorded.retain(|_, f| !f.series.is_empty());
        *count = recorded.values().map(|f| f.series.len()).sum();
        drop(inner);
        self.updates.send_replace(at_ms);
    }

    /// Sizes and drops.
    pub fn stats(&self) -> HistoryStats {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        HistoryStats {
            series: inner.series,
            points: inner.families.values().flat_map(|f| f.series.values()).map(VecDeque::len).sum(),
            dropped_series: inner.dropped,
        }
    }

    /// The names of the recorded families.
    pub fn families(&self) -> Vec<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.families.keys().cloned().collect()
    }

    /// The series a query asks for, oldest point first, sorted by name then labels.
    pub fn query(&self, query: &SeriesQuery) -> Result<Vec<Series>, HistoryError> {
        if query.to_ms < query.from_ms {
            return Err(HistoryError::Range { from_ms: query.from_ms, to_ms: query.to_ms });
        }
        let filter = match query.filter.as_deref().filter(|f| !f.is_empty()) {
            None => None,
            Some(pattern) => Some(
                regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| HistoryError::Filter { filter: pattern.to_owned(), message: e.to_string() })?,
            ),
        };
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let names: Vec<&str> = match query.metric.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(name) => {
                if !inner.families.contains_key(name) {
                    let known: Vec<&str> = inner.families.keys().map(String::as_str).take(12).collect();
                    return Err(HistoryError::UnknownFamily { name: name.to_owned(), known: known.join(", ") });
                }
                vec![name]
            }
            None => DEFAULT_FAMILIES.to_vec(),
        };
        let mut out = Vec::new();
        for name in names {
            let Some(family) = inner.families.get(name) else { continue };
            let counter = family.kind == Kind::Counter;
            let mut keys: Vec<&Vec<String>> = family.series.keys().collect();
            keys.sort();
            for key in keys {
                if let Some(filter) = &filter
                    && !key.iter().any(|v| filter.is_match(v))
                {
                    continue;
                }
                let points = &family.series[key];
                let points = if counter { rates(points, query.from_ms) } else { within(points, query.from_ms) };
                let points: Vec<(i64, f64)> = points.into_iter().filter(|(t, _)| *t <= query.to_ms).collect();
                let labels: BTreeMap<String, String> =
                    family.label_names.iter().cloned().zip(key.iter().cloned()).collect();
                let selector = selector(name, &labels);
                out.push(Series {
                    name: name.to_owned(),
                    unit: grafana_unit(name, counter).to_owned(),
                    display_name: if counter { format!("rate({selector})") } else { selector },
                    labels,
                    points: downsample(points, query.max_points),
                });
            }
        }
        Ok(out)
    }
}

/// Records every exposition the collector publishes until the collector stops.
/// Spawn it next to the schedule: `tokio::spawn(history::feed(history, schedule.subscribe()))`.
pub async fn feed(history: std::sync::Arc<History>, mut expositions: watch::Receiver<std::sync::Arc<Exposition>>) {
    while expositions.changed().await.is_ok() {
        let exposition = expositions.borrow_and_update().clone();
        if exposition.generation == 0 {
            continue;
        }
        // The snapshot's own time (Unix seconds) stamps the cycle; else now.
        let at_ms = exposition
            .snapshot
            .as_ref()
            .map(|s| (s.taken_at_seconds * 1000.0) as i64)
            .filter(|ms| *ms > 0)
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            });
        let history = history.clone();
        // Recording a cycle takes well under a millisecond, but it holds a mutex.
        let _ = tokio::task::spawn_blocking(move || history.record(&exposition.families, at_ms)).await;
    }
}

/// The name `/metrics` shows: counters end in `_total`.
pub fn exposed_name(family: &MetricFamily) -> String {
    match family.kind {
        Kind::Counter => format!("{}_total", family.name),
        Kind::Info => format!("{}_info", family.name),
        _ => family.name.clone(),
    }
}

/// `name{a="1",b="2"}`.
fn selector(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", pairs.join(","))
}

/// The Grafana unit of a series: rates of seconds are a fraction of one CPU (or of
/// wall-clock time), rates of bytes are bytes per second.
fn grafana_unit(name: &str, counter: bool) -> &'static str {
    let base = name.strip_suffix("_total").unwrap_or(name);
    match (counter, base) {
        (true, b) if b.ends_with("_seconds") => "percentunit",
        (true, b) if b.ends_with("_bytes") => "Bps",
        (true, _) => "suffix:/s",
        (false, b) if b.ends_with("_bytes") => "bytes",
        (false, b) if b.ends_with("_seconds") => "s",
        (false, b) if b.ends_with("_ratio") => "percentunit",
        (false, _) => "",
    }
}

/// Points at or after `from_ms`.
fn within(points: &VecDeque<(i64, f64)>, from_ms: i64) -> Vec<(i64, f64)> {
    points.iter().copied().filter(|(t, _)| *t >= from_ms).collect()
}

/// Per-second rates between neighbouring points (stamped with the later one) at or
/// after `from_ms`. A decrease is a counter reset: the increase is the new value.
fn rates(points: &VecDeque<(i64, f64)>, from_ms: i64) -> Vec<(i64, f64)> {
    points
        .iter()
        .zip(points.iter().skip(1))
        .filter(|(_, (t1, _))| *t1 >= from_ms)
        .filter_map(|((t0, v0), (t1, v1))| {
            let seconds = (t1 - t0) as f64 / 1000.0;
            let increase = if v1 >= v0 { v1 - v0 } else { *v1 };
            (seconds > 0.0).then(|| (*t1, increase / seconds))
        })
        .collect()
}

/// At most `max` points: neighbours averaged in equal runs, each stamped with its
/// run's last time. `max` 0 keeps everything.
fn downsample(points: Vec<(i64, f64)>, max: usize) -> Vec<(i64, f64)> {
    if max == 0 || points.len() <= max {
        return points;
    }
    let run = points.len().div_ceil(max);
    points
        .chunks(run)
        .map(|chunk| {
            let time = chunk.last().map_or(0, |(t, _)| *t);
            (time, chunk.iter().map(|(_, v)| v).sum::<f64>() / chunk.len() as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(cpu_user: f64, load: f64, comms: &[(&str, f64)]) -> Vec<MetricFamily> {
        let mut cpu = MetricFamily::counter("gomon_system_cpu_seconds_total", "").labels(["mode"]);
        cpu.push(&["user"], cpu_user);
        let mut load_average = MetricFamily::gauge("gomon_load_average", "").labels(["window"]);
        load_average.push(&["1m"], load);
        let mut rss = MetricFamily::gauge("gomon_process_resident_bytes", "").labels(["pid", "comm"]);
        for (i, (comm, v)) in comms.iter().enumerate() {
            rss.push(&[&i.to_string(), comm], *v);
        }
        let mut histogram = MetricFamily::histogram("gomon_probe_call_duration_seconds", "").labels(["probe"]);
        histogram.push_histogram(&["x"], vec![(1.0, 1)], 0.5, 1);
        vec![cpu, load_average, rss, histogram]
    }

    fn all(metric: Option<&str>) -> SeriesQuery {
        SeriesQuery { metric: metric.map(str::to_owned), from_ms: 0, to_ms: i64::MAX, ..Default::default() }
    }

    #[test]
    fn counters_become_rates_and_gauges_stay() {
        let history = History::new(Limits::default());
        history.record(&cycle(10.0, 0.5, &[]), 1_000);
        history.record(&cycle(12.0, 0.7, &[]), 3_000);
        history.record(&cycle(1.0, 0.9, &[]), 5_000); // reset
        let series = history.query(&all(None)).unwrap();
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gomon_system_cpu_seconds_total", "gomon_load_average"], "default set, in its order");
        assert_eq!(series[0].points, vec![(3_000, 1.0), (5_000, 0.5)]);
        assert_eq!(series[0].unit, "percentunit");
        assert_eq!(series[0].display_name, "rate(gomon_system_cpu_seconds_total{mode=\"user\"})");
        assert_eq!(series[1].points, vec![(1_000, 0.5), (3_000, 0.7), (5_000, 0.9)]);
        assert_eq!(series[1].labels["window"], "1m");
        assert!(history.families().iter().all(|f| !f.contains("call_duration")), "histograms are not kept");
    }

    #[test]
    fn filters_ranges_and_downsampling() {
        let history = History::new(Limits::default());
        for i in 0..10 {
            history.record(&cycle(0.0, i as f64, &[("sshd", 1.0), ("nginx", 2.0)]), i * 1000);
        }
        let mut query = all(Some("gomon_process_resident_bytes"));
        query.filter = Some("^ssh".into());
        let series = history.query(&query).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].labels["comm"], "sshd");
        assert_eq!(series[0].unit, "bytes");

        let mut query = all(Some("gomon_load_average"));
        query.from_ms = 2_000;
        query.to_ms = 7_000;
        let points = &history.query(&query).unwrap()[0].points;
        assert_eq!(points.first(), Some(&(2_000, 2.0)));
        assert_eq!(points.last(), Some(&(7_000, 7.0)));
        query.max_points = 2;
        assert_eq!(history.query(&query).unwrap()[0].points, vec![(4_000, 3.0), (7_000, 6.0)]);
    }

    #[test]
    fn bad_questions_get_clear_answers() {
        let history = History::new(Limits::default());
        history.record(&cycle(0.0, 1.0, &[]), 1_000);
        let error = history.query(&all(Some("gomon_nope"))).unwrap_err().to_string();
        assert!(error.contains("gomon_nope") && error.contains("gomon_load_average"), "{error}");
        let mut query = all(None);
        query.filter = Some("(".into());
        assert!(matches!(history.query(&query), Err(HistoryError::Filter { .. })));
        query.filter = None;
        query.from_ms = 10;
        query.to_ms = 5;
        assert!(matches!(history.query(&query), Err(HistoryError::Range { .. })));
    }

    #[test]
    fn limits_bound_memory() {
        let limits = Limits { retention: Duration::from_secs(10), max_series: 3, max_points: 4 };
        let history = History::new(limits);
        for i in 0..20 {
            history.record(&cycle(i as f64, 1.0, &[("a", 1.0), ("b", 1.0)]), i * 1000);
        }
        let stats = history.stats();
        assert_eq!(stats.series, 3, "cpu, load and one process; the second process is over the limit");
        assert!(stats.dropped_series > 0);
        assert_eq!(stats.points, 3 * 4);
        // Retention: a cycle 11 s after the last drops everything but itself.
        history.record(&cycle(0.0, 1.0, &[]), 30_000);
        assert_eq!(history.stats().points, 2);
    }

    #[test]
    fn updates_are_announced() {
        let history = History::new(Limits::default());
        let rx = history.subscribe();
        history.record(&cycle(0.0, 1.0, &[]), 42);
        assert_eq!(*rx.borrow(), 42);
    }
}
