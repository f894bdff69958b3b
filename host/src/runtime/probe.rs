//! One loaded probe: its compiled component, its live instance, its limits
//! and its record of calls and failures.
//!
//! A call that traps, runs past its deadline or grows memory past the limit
//! fails only this probe's call: the instance is thrown away and a fresh one
//! is made from the pre-linked component before the next call. A probe that
//! keeps failing is backed off (see [`super::ProbeSet`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{
    self, GraphPre, GraphWorld, Measure, MeasurePre, ObservePre, ObserveWorld, host, topology, types,
};
use super::engine::{EPOCH_TICK, Ticker};
use super::wasi::{self, BoundedIo, DeadlineExceeded};

/// Per-probe limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory, all memories of the instance together.
    pub memory_bytes: u64,
    /// Wall-clock time of one call.
    pub call_timeout: Duration,
    /// Series one call may return.
    pub max_series: u32,
}

/// Why a call failed; the `kind` label of `gomon_probe_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The guest trapped (panic, unreachable, out-of-bounds access, …).
    Trap,
    /// The call ran past its deadline and was interrupted.
    Timeout,
    /// The guest asked for more memory than its limit.
    Memory,
    /// The guest's output broke the contract (bad names, too many series).
    Contract,
    /// The probe returned an error of its own.
    Probe,
}

impl ErrorKind {
    /// Every kind, in label order.
    pub const ALL: [ErrorKind; 5] =
        [ErrorKind::Trap, ErrorKind::Timeout, ErrorKind::Memory, ErrorKind::Contract, ErrorKind::Probe];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Trap => "trap",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Memory => "memory",
            ErrorKind::Contract => "contract",
            ErrorKind::Probe => "probe",
        }
    }
}

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} error: {message}", kind.as_str())]
pub struct CallError {
    /// What went wrong, as a label value.
    pub kind: ErrorKind,
    /// The detail, for the log.
    pub message: String,
}

impl CallError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallError { kind, message: message.into() }
    }
}

/// The store data of one probe instance.
pub struct ProbeState {
    name: Arc<str>,
    limiter: MemoryLimiter,
    wasi: WasiCtx,
    table: ResourceTable,
    logs_this_call: u32,
    /// When the guest call in progress must end: WASI calls that wait
    /// (`wasi:io/poll`, blocking stream calls) give up then.
    deadline: Instant,
}

/// Most WASI resources (pollables, streams) a probe may hold at once, and
/// most component-model handles in its store: a probe needs a handful; a
/// loop creating them would otherwise grow host memory outside its limit.
const MAX_HANDLES: usize = 10_000;

/// Most log lines a probe may write per call; the rest are dropped.
const MAX_LOGS_PER_CALL: u32 = 32;
/// Longest log line a probe may write; the rest is cut.
const MAX_LOG_BYTES: usize = 4096;

impl ProbeState {
    fn new(name: Arc<str>, memory_limit: u64, deadline: Instant) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        ProbeState {
            name,
            limiter: MemoryLimiter::new(memory_limit),
            wasi: wasi::sandbox_ctx(),
            table,
            logs_this_call: 0,
            deadline,
        }
    }
}

impl WasiView for ProbeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for ProbeState {}

impl host::Host for ProbeState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        self.logs_this_call += 1;
        if self.logs_this_call > MAX_LOGS_PER_CALL {
            if self.logs_this_call == MAX_LOGS_PER_CALL + 1 {
                tracing::warn!(probe = %self.name, "Probe logs too much; dropping the rest of this call's lines.");
            }
            return;
        }
        let message = truncate(&message, MAX_LOG_BYTES);
        let probe = &*self.name;
        match level {
            host::LogLevel::Trace => tracing::trace!(probe, "{message}"),
            host::LogLevel::Debug => tracing::debug!(probe, "{message}"),
            host::LogLevel::Info => tracing::info!(probe, "{message}"),
            host::LogLevel::Warn => tracing::warn!(probe, "{message}"),
            host::LogLevel::Error => tracing::error!(probe, "{message}"),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Bytes one table slot is counted as: a funcref or externref slot is a
/// pointer.
pub const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;
/// Most core instances one probe's store may hold (a component built by
/// `wasm32-wasip2` has about five; componentize-py's about twenty).
pub const MAX_INSTANCES: usize = 64;
/// Most tables one probe's store may hold.
pub const MAX_TABLES: usize = 64;
/// Most linear memories one probe's store may hold (each reserves address
/// space; their bytes count against the memory limit).
pub const MAX_MEMORIES: usize = 16;

/// Limits what an instance can grow — its linear memories and its tables
/// (slots × [`TABLE_ELEMENT_BYTES`]), all counted against one limit — and
/// the number of instances, tables and memories; remembers whether a growth
/// was refused (to tell memory failures from other traps) and how much the
/// instance holds.
struct MemoryLimiter {
    limit: u64,
    total: u64,
    exceeded: bool,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter { limit, total: 0, exceeded: false }
    }

    fn grow(&mut self, growth: u64, what: std::fmt::Arguments<'_>) -> wasmtime::Result<bool> {
        if self.total.saturating_add(growth) > self.limit {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit of {} bytes exceeded: {what} on top of the {} bytes of memories and tables held",
                self.limit,
                self.total
            );
        }
        self.total += growth;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        self.grow(growth, format_args!("a memory asked to grow from {current} to {desired} bytes"))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let growth = (desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow(growth, format_args!("a table asked to grow from {current} to {desired} slots ({growth} bytes)"))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Adds the contract's imports and the sandbox's WASI ([`wasi`]) to a linker.
pub fn link(linker: &mut Linker<ProbeState>) -> anyhow::Result<()> {
    Measure::add_to_linker::<ProbeState, HasSelf<ProbeState>>(linker, |state| state)?;
    wasi::add_to_linker(linker, |state| BoundedIo { table: &mut state.table, deadline: state.deadline })?;
    Ok(())
}

/// A pre-linked component, by the world it implements.
#[derive(Clone)]
pub enum Pre {
    /// World `measure`.
    Measure(MeasurePre<ProbeState>),
    /// World `graph`.
    Graph(GraphPre<ProbeState>),
    /// World `observe`.
    Observe(ObservePre<ProbeState>),
}

/// A live instance's exports, by world.
enum Bindings {
    Measure(Measure),
    Graph(GraphWorld),
    Observe(ObserveWorld),
}

impl Bindings {
    fn describe(&self, store: &mut Store<ProbeState>) -> wasmtime::Result<types::ProbeInfo> {
        match self {
            Bindings::Measure(b) => b.gomon_probe_probe().call_describe(store),
            Bindings::Graph(b) => b.gomon_probe_probe().call_describe(store),
            Bindings::Observe(b) => b.gomon_probe_probe().call_describe(store),
        }
    }

    // The generated bindings take `&Vec`.
    #[allow(clippy::ptr_arg)]
    fn configure(
        &self,
        store: &mut Store<ProbeState>,
        settings: &Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Bindings::Measure(b) => b.gomon_probe_probe().call_configure(store, settings),
            Bindings::Graph(b) => b.gomon_probe_probe().call_configure(store, settings),
            Bindings::Observe(b) => b.gomon_probe_probe().call_configure(store, settings),
        }
    }
}

struct Live {
    store: Store<ProbeState>,
    bindings: Bindings,
    configured: bool,
}

/// A loaded, pre-linked probe and its current instance.
pub struct Instance {
    name: Arc<str>,
    engine: Engine,
    ticker: Arc<Ticker>,
    pre: Pre,
    limits: Limits,
    /// `None` until the host knows the probe's name and so its settings;
    /// from then on every new instance is configured before its first call.
    settings: Option<Vec<(String, String)>>,
    live: Option<Live>,
    /// Whether calls run under the wall-time guard (always, but for
    /// measuring its cost: see [`Instance::set_wall_guard`]).
    guard: bool,
}

impl Instance {
    /// Prepares a probe; no guest code runs yet.
    pub fn new(name: &str, engine: Engine, ticker: Arc<Ticker>, pre: Pre, limits: Limits) -> Self {
        Instance { name: name.into(), engine, ticker, pre, limits, settings: None, live: None, guard: true }
    }

    /// Turns the wall-time guard (the epoch ticker and the deadlines of the
    /// guest and of its WASI waits) off or on, for the next calls. Off, a
    /// probe can run and block forever: only `host/examples/call_cost.rs`
    /// turns it off, to measure what it costs.
    #[doc(hidden)]
    pub fn set_wall_guard(&mut self, on: bool) {
        self.guard = on;
    }

    /// Sets the limits for the next calls; a new memory limit discards the
    /// live instance, so that the next call makes one under it.
    pub fn set_limits(&mut self, limits: Limits) {
        if limits.memory_bytes != self.limits.memory_bytes {
            // The live instance was made under the old memory limit.
            self.live = None;
        }
        self.limits = limits;
    }

    /// Hands the operator's settings to the probe now, and to every
    /// instance made after a failure.
    pub fn configure(&mut self, settings: Vec<(String, String)>) -> Result<(), CallError> {
        self.settings = Some(settings);
        self.call(|_| Ok(()))
    }

    /// Renames the probe (once `describe` has told its real name).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.into();
        if let Some(live) = &mut self.live {
            live.store.data_mut().name = self.name.clone();
        }
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<types::ProbeInfo, CallError> {
        self.call(|live| live.bindings.describe(&mut live.store))
    }

    /// Calls `measure`.
    pub fn measure(&mut self, snapshot: &types::Snapshot) -> Result<Vec<types::MetricFamily>, CallError> {
        let max_series = self.limits.max_series as usize;
        let families = self
            .call(|live| match &live.bindings {
                Bindings::Measure(b) => b.gomon_probe_metrics().call_measure(&mut live.store, snapshot),
                Bindings::Graph(_) | Bindings::Observe(_) => Ok(Err("only a measure probe has measure".to_owned())),
            })?
            .map_err(|message| CallError::new(ErrorKind::Probe, message))?;
        let series: usize = families.iter().map(|f| f.series.len()).sum();
        if series > max_series {
            return Err(CallError::new(
                ErrorKind::Contract,
                format!("returned {series} series, more than the limit of {max_series}"),
            ));
        }
        Ok(families)
    }

    /// Calls `draw`.
    pub fn draw(
        &mut self,
        snapshot: &types::Snapshot,
        query: &topology::GraphQuery,
    ) -> Result<topology::Graph, CallError> {
        self.call(|live| match &live.bindings {
            Bindings::Graph(b) => b.gomon_probe_topology().call_draw(&mut live.store, snapshot, *query),
            Bindings::Measure(_) | Bindings::Observe(_) => Ok(Err("only a graph probe has draw".to_owned())),
        })?
        .map_err(|message| CallError::new(ErrorKind::Probe, message))
    }

    /// Calls `observe`. A probe may return more than it got (one event
    /// becoming two lines), but not more than `max_series` observations.
    pub fn observe(&mut self, batch: &[types::Observation]) -> Result<Vec<types::Observation>, CallError> {
        let max = self.limits.max_series as usize;
        let out = self
            .call(|live| match &live.bindings {
                Bindings::Observe(b) => b.gomon_probe_observations().call_observe(&mut live.store, batch),
                Bindings::Measure(_) | Bindings::Graph(_) => Ok(Err("only an observe probe has observe".to_owned())),
            })?
            .map_err(|message| CallError::new(ErrorKind::Probe, message))?;
        if out.len() > max.max(batch.len()) {
            return Err(CallError::new(
                ErrorKind::Contract,
                format!(
                    "returned {} observations for a batch of {}, more than the limit of {max}",
                    out.len(),
                    batch.len()
                ),
            ));
        }
        Ok(out)
    }

    /// Linear memories and tables the live instance holds, in bytes (0 when none).
    pub fn memory_bytes(&self) -> u64 {
        self.live.as_ref().map_or(0, |live| live.store.data().limiter.total)
    }

    /// Runs one guest call with a fresh deadline, instantiating and
    /// configuring first if needed; a failed call discards the instance.
    fn call<R>(&mut self, f: impl FnOnce(&mut Live) -> wasmtime::Result<R>) -> Result<R, CallError> {
        let ticker = self.ticker.clone();
        let _busy = self.guard.then(|| ticker.enter());
        if self.live.is_none() {
            self.live = Some(self.instantiate()?);
        }
        let ticks = self.deadline_ticks();
        let timeout = self.limits.call_timeout;
        let guard = self.guard;
        let live = self.live.as_mut().expect("instantiated above");
        live.store.data_mut().logs_this_call = 0;
        if guard {
            live.store.data_mut().deadline = Instant::now() + timeout;
            live.store.set_epoch_deadline(ticks);
        } else {
            // Relative to the current epoch: far away, without overflowing.
            live.store.set_epoch_deadline(u64::MAX / 2);
        }
        if let (false, Some(settings)) = (live.configured, &self.settings) {
            match live.bindings.configure(&mut live.store, settings) {
                Ok(Ok(())) => live.configured = true,
                Ok(Err(message)) => {
                    self.live = None;
                    return Err(CallError::new(ErrorKind::Probe, format!("configure refused the settings: {message}")));
                }
                Err(error) => {
                    let exceeded = live.store.data().limiter.exceeded;
                    self.live = None;
                    return Err(classify(&error, exceeded, timeout));
                }
            }
            if guard {
                live.store.data_mut().deadline = Instant::now() + timeout;
                live.store.set_epoch_deadline(ticks);
            }
        }
        match f(live) {
            Ok(result) => Ok(result),
            Err(error) => {
                let exceeded = live.store.data().limiter.exceeded;
                self.live = None;
                Err(classify(&error, exceeded, timeout))
            }
        }
    }

    fn instantiate(&mut self) -> Result<Live, CallError> {
        let timeout = self.limits.call_timeout;
        let state = ProbeState::new(self.name.clone(), self.limits.memory_bytes, Instant::now() + timeout);
        let mut store = Store::new(&self.engine, state);
        store.set_max_component_handles(MAX_HANDLES);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        let bindings = match &self.pre {
            Pre::Measure(pre) => pre.instantiate(&mut store).map(Bindings::Measure),
            Pre::Graph(pre) => pre.instantiate(&mut store).map(Bindings::Graph),
            Pre::Observe(pre) => pre.instantiate(&mut store).map(Bindings::Observe),
        };
        match bindings {
            Ok(bindings) => Ok(Live { store, bindings, configured: false }),
            Err(error) => Err(classify(&error, store.data().limiter.exceeded, timeout)),
        }
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.call_timeout.as_millis() / EPOCH_TICK.as_millis();
        // One extra tick: the first may come at once.
        (ticks as u64).max(1) + 1
    }
}

/// Tells a timeout and a memory overrun from other traps, and keeps the
/// message to one line: the causes, without wasmtime's backtrace.
fn classify(error: &wasmtime::Error, memory_exceeded: bool, timeout: Duration) -> CallError {
    let kind = if memory_exceeded {
        ErrorKind::Memory
    } else if matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
        return CallError::new(
            ErrorKind::Timeout,
            format!("call ran past its deadline ({}) and was stopped", humantime::format_duration(timeout)),
        );
    } else if let Some(blocked) = error.downcast_ref::<DeadlineExceeded>() {
        return CallError::new(
            ErrorKind::Timeout,
            format!(
                "call blocked in {} until its deadline ({}) and was stopped",
                blocked.call,
                humantime::format_duration(timeout)
            ),
        );
    } else {
        ErrorKind::Trap
    };
    let causes: Vec<String> = error
        .chain()
        .map(|cause| cause.to_string())
        .filter(|text| !text.starts_with("error while executing at wasm backtrace"))
        .map(|text| text.lines().next().unwrap_or_default().to_owned())
        .collect();
    let message = if causes.is_empty() { "trapped".to_owned() } else { causes.join(": ") };
    CallError::new(kind, message)
}

/// The probe's self-accounting, turned into metrics by the host.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Calls of `measure` made (not counting skipped ones).
    pub calls: u64,
    /// Failed calls by kind, in [`ErrorKind::ALL`] order.
    pub errors: [u64; 5],
    /// Call durations.
    pub durations: Histogram,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// No calls before this instant.
    pub backoff_until: Option<Instant>,
    /// Whether the last call succeeded.
    pub up: bool,
    /// The last failure, for `gomon probe list` and logs.
    pub last_error: Option<String>,
    /// When it was last called (to take the probes waiting longest first).
    pub last_called: Option<Instant>,
    /// Calls put off to a later cycle because the cycle's time for operator
    /// probes was spent.
    pub deferred: u64,
    /// How long the last call took, and whether it ran into its deadline.
    pub last_duration: Option<(Duration, bool)>,
}

impl Stats {
    /// The time to set aside for the next call in a cycle's budget: the
    /// whole deadline for a probe never called or whose last call ran into
    /// it, else twice its last call (at least 1 ms, at most the deadline).
    pub fn reserve(&self, call_timeout: Duration) -> Duration {
        match self.last_duration {
            Some((took, false)) => (took * 2).max(Duration::from_millis(1)).min(call_timeout),
            _ => call_timeout,
        }
    }

    /// Records one failure.
    pub fn fail(&mut self, kind: ErrorKind, message: String) {
        let index = ErrorKind::ALL.iter().position(|k| *k == kind).expect("kind is in ALL");
        self.errors[index] += 1;
        self.consecutive_failures += 1;
        self.up = false;
        self.last_error = Some(message);
    }
}

/// A fixed-bucket histogram of call durations, in seconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Upper bounds.
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative).
    pub counts: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Buckets from 10 µs to 2.5 s.
pub const DURATION_BUCKETS: &[f64] =
    &[0.00001, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

impl Default for Histogram {
    fn default() -> Self {
        Histogram { bounds: DURATION_BUCKETS, counts: vec![0; DURATION_BUCKETS.len()], sum: 0.0, count: 0 }
    }
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Adds another histogram's observations (same buckets).
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// Cumulative `(upper bound, count)` pairs, without `+Inf`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut running = 0;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(|(bound, count)| {
                running += count;
                (*bound, running)
            })
            .collect()
    }
}

/// The contract version, re-exported for messages.
pub use bindings::CONTRACT_VERSION;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.00005);
        h.observe(0.003);
        h.observe(10.0);
        let c = h.cumulative();
        assert_eq!(c[0], (0.00001, 0));
        assert_eq!(c[1], (0.0001, 1));
        assert_eq!(c.last().unwrap().1, 2);
        assert_eq!(h.count, 3);
    }

    #[test]
    fn limiter_counts_all_memories_together() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert!(l.memory_growing(30, 50, None).is_err());
        assert!(l.exceeded);
        assert_eq!(l.total, 90);
    }

    #[test]
    fn limiter_counts_tables_with_memories() {
        let mut l = MemoryLimiter::new(64 << 20);
        // 60 MiB of memory, then a table of 1 Mi slots (8 MiB): over the limit together.
        assert!(l.memory_growing(0, 60 << 20, None).unwrap());
        assert!(l.table_growing(0, 1000, None).unwrap());
        let err = l.table_growing(1000, 1 << 20, None).unwrap_err().to_string();
        assert!(err.contains("table") && err.contains(&(1u64 << 20).to_string()), "{err}");
        assert!(l.exceeded);
        assert_eq!(l.total, (60 << 20) + 1000 * TABLE_ELEMENT_BYTES);
        // Instances, tables and memories are bounded in number too.
        assert_eq!((l.instances(), l.tables(), l.memories()), (MAX_INSTANCES, MAX_TABLES, MAX_MEMORIES));
    }

    #[test]
    fn a_probe_reserves_its_deadline_until_it_has_been_quick() {
        let timeout = Duration::from_millis(500);
        let mut stats = Stats::default();
        assert_eq!(stats.reserve(timeout), timeout, "never called");
        stats.last_duration = Some((Duration::from_micros(20), false));
        assert_eq!(stats.reserve(timeout), Duration::from_millis(1));
        stats.last_duration = Some((Duration::from_millis(100), false));
        assert_eq!(stats.reserve(timeout), Duration::from_millis(200));
        stats.last_duration = Some((Duration::from_millis(400), false));
        assert_eq!(stats.reserve(timeout), timeout);
        stats.last_duration = Some((Duration::from_millis(500), true));
        assert_eq!(stats.reserve(timeout), timeout, "ran into its deadline");
    }

    #[test]
    fn truncates_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
