//! The WASM runtime: one engine, the probes it has loaded, and the calls
//! into them.
//!
//! Loading a probe goes: check the component's shape against the contract
//! ([`contract`]) → compile, or load the compiled form from the binary
//! (built-ins, [`builtin`]) or the authenticated cache
//! ([`cache::ComponentCache`]) → pre-link against the host's imports
//! (the contract and the sandbox's WASI, [`wasi`]) → instantiate,
//! `describe`, `configure` → check its needs against its grants. Each step's
//! failure names the probe and the reason. What probes return goes through
//! [`names`]: gomon's and the built-ins' names are reserved.

pub mod bindings;
pub mod builtin;
pub mod cache;
pub mod config;
pub mod contract;
pub mod engine;
pub mod names;
pub mod probe;
pub mod reload;
pub mod wasi;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gomon_sink_prometheus::{Kind, MetricFamily, Sample, Value};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use bindings::topology;
use bindings::types::{self, Capability};
use builtin::BuiltinProbe;
use cache::ComponentCache;
pub use cache::Origin;
use config::ProbeConfig;
use contract::{ComponentShape, World};
use names::{Names, Reason};
use probe::{CallError, ErrorKind, Instance, Limits, Pre, ProbeState, Stats};

/// Where a probe came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Embedded in the binary.
    Builtin,
    /// A file in the probe directory.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builtin => f.write_str("built-in"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A probe that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("probe {probe}: {reason}")]
pub struct LoadError {
    /// The probe's name or file.
    pub probe: String,
    /// Why, in one line.
    pub reason: String,
    /// Whether the component is sound and only refused the operator's
    /// settings in `configure`.
    pub refused_settings: bool,
}

impl LoadError {
    fn new(probe: impl Into<String>, reason: impl Into<String>) -> Self {
        LoadError { probe: probe.into(), reason: reason.into(), refused_settings: false }
    }
}

/// A loaded probe.
pub struct LoadedProbe {
    /// Its name, from `describe`.
    pub name: String,
    /// Its own version, from `describe`.
    pub version: String,
    /// One line about it, from `describe`.
    pub description: String,
    /// Built-in or file.
    pub source: Source,
    /// The world it implements.
    pub world: World,
    /// What it reads (all granted: a probe needing more is refused).
    pub needs: Vec<Capability>,
    /// What the operator grants it.
    pub grants: Vec<Capability>,
    /// Where its compiled form came from: the binary, the cache or the compiler.
    pub origin: Origin,
    /// Time from bytes to a configured instance.
    pub load_time: Duration,
    /// The limits its calls run under.
    pub limits: Limits,
    /// Calls, errors, durations.
    pub stats: Stats,
    /// Series it returned from its last successful call.
    pub last_series: usize,
    /// Families dropped from its output, by [`Reason`] (in `Reason::ALL` order).
    pub dropped_families: [u64; 4],
    instance: Instance,
}

impl LoadedProbe {
    /// Whether it holds a built-in's names: a built-in, or a probe that
    /// replaces one under its name.
    fn builtin_names(&self) -> bool {
        self.source == Source::Builtin || builtin::BUILTIN_PROBES.iter().any(|b| b.name == self.name)
    }
}

/// What [`Loader::prepare`] made of a component.
pub enum Prepared {
    /// Ready to call.
    Probe(Box<LoadedProbe>),
    /// A valid probe that the configuration disables, by name.
    Disabled(String),
}

/// Settings for the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Directory for compiled components; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Limits for every probe without its own.
    pub limits: Limits,
    /// The sampling interval: the unit of failure back-off.
    pub interval: Duration,
    /// Per-probe configuration, by name.
    pub probe_config: BTreeMap<String, ProbeConfig>,
}

/// Everything probes can be granted, except process details and
/// observations, which an operator grants explicitly.
pub const DEFAULT_GRANTS: &[Capability] =
    &[Capability::System, Capability::Filesystems, Capability::Disks, Capability::Network];

/// The share of an interval that operator probes' calls may take in one
/// cycle (see [`ProbeSet::measure_all`]).
pub const OPERATOR_BUDGET: f64 = 0.75;

/// Longest back-off of a failing probe.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Turns component bytes into ready probes: the engine, the linker, the
/// compile cache and the configuration. Shared, so that compiling a new
/// probe never holds up the running ones.
pub struct Loader {
    engine: Engine,
    ticker: Arc<engine::Ticker>,
    linker: Linker<ProbeState>,
    cache: ComponentCache,
    options: RuntimeOptions,
}

impl Loader {
    /// A loader with a new engine.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let (engine, ticker) = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        probe::link(&mut linker)?;
        let cache = ComponentCache::new(options.cache_dir.clone());
        Ok(Loader { engine, ticker, linker, cache, options })
    }

    /// The configuration of a probe by name (defaults when absent).
    pub fn config_of(&self, name: &str) -> ProbeConfig {
        self.options.probe_config.get(name).cloned().unwrap_or_default()
    }

    /// Checks, compiles, links, describes and configures a probe.
    pub fn prepare(&self, bytes: &[u8], source: Source, label: &str) -> Result<Prepared, LoadError> {
        let fail = |reason: String| LoadError::new(label, reason);
        let started = Instant::now();
        let shape = ComponentShape::parse(bytes).map_err(|e| fail(e.to_string()))?;
        let world = shape.check().map_err(|e| fail(e.to_string()))?;
        let (component, origin) =
            self.cache.load(&self.engine, bytes).map_err(|e| fail(format!("does not compile: {e:#}")))?;
        self.finish(component, origin, world, source, label, started)
    }

    /// Loads a built-in probe from the binary: its precompiled form when it
    /// matches this engine, else (with a log line) compiled now. Never from
    /// disk.
    pub fn prepare_builtin(&self, builtin: &BuiltinProbe) -> Result<Prepared, LoadError> {
        let label = builtin.name;
        let fail = |reason: String| LoadError::new(label, reason);
        let started = Instant::now();
        let embedded = builtin.precompiled.and_then(|artifact| {
            // SAFETY: the artifact is part of gomon's own binary: build.rs
            // compiled it with `Engine::precompile_component` from the
            // component beside it, with this engine's settings
            // (engine_config.rs). wasmtime checks that it matches this
            // engine (version, settings, CPU features) before using it.
            match unsafe { Component::deserialize(&self.engine, artifact) } {
                Ok(component) => {
                    // wasmtime copied the code into memory of its own: the
                    // binary's pages that held it are not needed again.
                    release_pages(artifact);
                    Some(component)
                }
                Err(e) => {
                    tracing::info!(
                        probe = label,
                        "The built-in probe's precompiled form does not match this machine ({e:#}); compiling it now."
                    );
                    None
                }
            }
        });
        let (component, origin) = match embedded {
            Some(component) => (component, Origin::Embedded),
            None => {
                ComponentShape::parse(builtin.component)
                    .and_then(|shape| shape.check())
                    .map_err(|e| fail(e.to_string()))?;
                let component = Component::new(&self.engine, builtin.component)
                    .map_err(|e| fail(format!("does not compile: {e:#}")))?;
                (component, Origin::Compiled)
            }
        };
        let world = ComponentShape::of_component(&component, &self.engine).check().map_err(|e| fail(e.to_string()))?;
        self.finish(component, origin, world, Source::Builtin, label, started)
    }

    /// Links, instantiates, describes and configures a compiled component,
    /// and checks its needs against its grants.
    fn finish(
        &self,
        component: Component,
        origin: Origin,
        world: World,
        source: Source,
        label: &str,
        started: Instant,
    ) -> Result<Prepared, LoadError> {
        let fail = |reason: String| LoadError::new(label, reason);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| match world {
                World::Measure => bindings::MeasurePre::new(pre).map(Pre::Measure),
                World::Graph => bindings::GraphPre::new(pre).map(Pre::Graph),
                World::Observe => bindings::ObservePre::new(pre).map(Pre::Observe),
            })
            .map_err(|e| fail(format!("cannot be linked: {e:#}")))?;
        // Until `describe` names the probe its own limits are unknown: it
        // describes itself under the largest memory limit configured for any
        // probe (so one given more memory can load), and then gets its own.
        let describe_limits = Limits {
            memory_bytes: self
                .options
                .probe_config
                .values()
                .filter_map(|c| c.memory_limit_bytes)
                .fold(self.options.limits.memory_bytes, u64::max),
            ..self.options.limits.clone()
        };
        let mut instance = Instance::new(label, self.engine.clone(), self.ticker.clone(), pre, describe_limits);
        let info = instance.describe().map_err(|e| fail(format!("describe failed: {e}")))?;
        check_name(&info.name).map_err(fail)?;
        let fail = |reason: String| LoadError::new(format!("{} ({label})", info.name), reason);
        let config = self.config_of(&info.name);
        if !config.enabled {
            return Ok(Prepared::Disabled(info.name));
        }
        let grants: Vec<Capability> = match (&config.grants, &source) {
            (Some(names), _) => names.iter().filter_map(|n| capability_from_name(n)).collect(),
            (None, Source::Builtin) => info.needs.clone(),
            (None, Source::File(_)) => DEFAULT_GRANTS.to_vec(),
        };
        if let Some(missing) = info.needs.iter().find(|need| !grants.contains(need)) {
            return Err(fail(format!(
                "needs `{}`, which is not granted to it; grant it with [probe.{}] grants = [...]",
                capability_name(*missing),
                info.name
            )));
        }
        // Every event batch is observations: an observe probe reads them
        // whatever its `needs` say, so it must be granted them.
        if world == World::Observe && !grants.contains(&Capability::Observations) {
            return Err(fail(format!(
                "is an observe probe but is not granted `observations`; grant it with [probe.{}] grants = [\"observations\"]",
                info.name
            )));
        }
        let defaults = &self.options.limits;
        let limits = Limits {
            memory_bytes: config.memory_limit_bytes.unwrap_or(defaults.memory_bytes),
            call_timeout: config.call_timeout.unwrap_or(defaults.call_timeout),
            max_series: config.max_series.unwrap_or(defaults.max_series),
        };
        instance.set_name(&info.name);
        instance.set_limits(limits.clone());
        instance
            .configure(config.settings_strings())
            .map_err(|e| LoadError { refused_settings: e.kind == ErrorKind::Probe, ..fail(e.message) })?;
        Ok(Prepared::Probe(Box::new(LoadedProbe {
            name: info.name,
            version: info.version,
            description: info.description,
            source,
            world,
            needs: info.needs,
            grants,
            origin,
            load_time: started.elapsed(),
            limits,
            stats: Stats { up: true, ..Stats::default() },
            last_series: 0,
            dropped_families: [0; 4],
            instance,
        })))
    }

    /// What a component is, for `gomon probe check`: its shape and, when it
    /// loads, the probe.
    pub fn inspect(
        &self,
        bytes: &[u8],
        label: &str,
    ) -> (Result<ComponentShape, LoadError>, Option<Result<Prepared, LoadError>>) {
        let shape = ComponentShape::parse(bytes).map_err(|e| LoadError::new(label, e.to_string()));
        let prepared = shape.is_ok().then(|| self.prepare(bytes, Source::File(PathBuf::from(label)), label));
        (shape, prepared)
    }
}

/// The loaded probes, in call order.
pub struct ProbeSet {
    loader: Arc<Loader>,
    probes: Vec<LoadedProbe>,
    /// Who holds which metric names.
    names: Names,
    /// Whether calls run under the wall-time guard (see [`ProbeSet::set_wall_guard`]).
    wall_guard: bool,
    /// Built-ins replaced by a file probe of the same name, restored when
    /// that file goes away.
    shadowed: Vec<LoadedProbe>,
    /// Observe probes named here run first, in this order (`observe.chain`).
    observe_chain: Vec<String>,
}

impl ProbeSet {
    /// An empty set with a new engine.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        Ok(ProbeSet {
            loader: Arc::new(Loader::new(options)?),
            probes: Vec::new(),
            names: Names::new(),
            wall_guard: true,
            shadowed: Vec::new(),
            observe_chain: Vec::new(),
        })
    }

    /// The loader, to prepare probes without holding the set.
    pub fn loader(&self) -> Arc<Loader> {
        self.loader.clone()
    }

    /// The loaded probes, in call order.
    pub fn probes(&self) -> &[LoadedProbe] {
        &self.probes
    }

    /// Loads the built-in probes the configuration does not disable.
    pub fn load_builtins(&mut self) -> Vec<LoadError> {
        let mut errors = Vec::new();
        for builtin in builtin::BUILTIN_PROBES {
            if !self.loader.config_of(builtin.name).enabled {
                tracing::info!(probe = builtin.name, "Built-in probe disabled by configuration.");
                continue;
            }
            match self.loader.prepare_builtin(builtin) {
                Ok(Prepared::Probe(probe)) => {
                    self.insert(*probe);
                }
                Ok(Prepared::Disabled(_)) => {}
                Err(e) => errors.push(e),
            }
        }
        release_compiler_memory();
        errors
    }

    /// Loads every `*.wasm` file of a directory once (a missing directory
    /// is empty); [`reload::Reloader`] keeps it up to date afterwards.
    pub fn load_dir(&mut self, dir: &Path) -> Vec<LoadError> {
        if let Err(e) = reload::check_probe_dir(dir) {
            return vec![LoadError::new(dir.display().to_string(), format!("refused: {e}"))];
        }
        let paths = match reload::wasm_files(dir) {
            Ok(paths) => paths,
            Err(e) => return vec![LoadError::new(dir.display().to_string(), e.to_string())],
        };
        let loader = self.loader.clone();
        paths
            .into_iter()
            .filter_map(|path| reload::prepare_file(&loader, &path).and_then(|p| self.insert_file(p)).err())
            .collect()
    }

    /// Adds a prepared file probe: it replaces the earlier version from the
    /// same file (keeping its counters), shadows a built-in of the same
    /// name, and is refused if another file already uses its name.
    pub fn insert_file(&mut self, prepared: Prepared) -> Result<(), LoadError> {
        let mut probe = match prepared {
            Prepared::Probe(probe) => *probe,
            Prepared::Disabled(name) => {
                tracing::info!(probe = %name, "Probe disabled by configuration.");
                return Ok(());
            }
        };
        let clash = self
            .probes
            .iter()
            .find(|p| p.name == probe.name && p.source != Source::Builtin && p.source != probe.source);
        if let Some(other) = clash {
            return Err(LoadError::new(
                probe.source.to_string(),
                format!("{} already provides a probe named `{}`", other.source, probe.name),
            ));
        }
        if let Some(index) = self.probes.iter().position(|p| p.source == probe.source) {
            let old = self.probes.remove(index);
            tracing::info!(probe = %probe.name, version = %probe.version, replaced = %old.version, "Probe replaced.");
            if old.name == probe.name {
                carry_counters(&old, &mut probe);
            } else {
                self.forget(&old.name);
                self.restore_builtin(&old.name);
            }
        }
        self.insert(probe);
        Ok(())
    }

    /// Removes the probe loaded from `path`, restoring a built-in it shadowed.
    pub fn remove_file(&mut self, path: &Path) {
        let source = Source::File(path.to_owned());
        if let Some(index) = self.probes.iter().position(|p| p.source == source) {
            let old = self.probes.remove(index);
            tracing::info!(probe = %old.name, file = %path.display(), "Probe removed.");
            if !self.restore_builtin(&old.name) {
                self.forget(&old.name);
            }
        }
    }

    /// Frees the names of a probe no longer loaded.
    fn forget(&mut self, name: &str) {
        if !self.probes.iter().any(|p| p.name == name) {
            self.names.release(name);
        }
    }

    /// Puts back the built-in a file probe named `name` shadowed; whether
    /// there was one.
    fn restore_builtin(&mut self, name: &str) -> bool {
        if let Some(index) = self.shadowed.iter().position(|p| p.name == name) {
            let builtin = self.shadowed.remove(index);
            tracing::info!(probe = %name, "Built-in probe restored.");
            self.probes.push(builtin);
            true
        } else {
            false
        }
    }

    fn insert(&mut self, probe: LoadedProbe) {
        tracing::info!(
            probe = %probe.name,
            version = %probe.version,
            source = %probe.source,
            origin = probe.origin.as_str(),
            load_ms = probe.load_time.as_secs_f64() * 1e3,
            "Probe loaded."
        );
        if let Some(index) = self.probes.iter().position(|p| p.name == probe.name && p.source == Source::Builtin) {
            let builtin = self.probes.remove(index);
            tracing::info!(probe = %probe.name, "File probe replaces the built-in of the same name.");
            self.shadowed.push(builtin);
        }
        self.probes.push(probe);
    }

    /// Calls every probe that is not backed off with the parts of the
    /// snapshot it may see, and gathers the families they return.
    ///
    /// The built-ins come first (so that their names are theirs from the
    /// first cycle) and are always called (a file probe that replaces one is
    /// an operator probe here). Operator probes follow, the one
    /// waiting longest first, within a budget of [`OPERATOR_BUDGET`] of an
    /// interval: one is called only if the time it may take fits in what is
    /// left of the budget (the first always is), else it is put off to the
    /// next cycle, where it comes earlier. What a probe may take is its
    /// whole deadline when it is new or last ran into it, else twice its
    /// last call ([`probe::Stats::reserve`]). So probes that run to their
    /// deadline run one per cycle, fast ones all run, and samples stay
    /// fresh.
    pub fn measure_all(&mut self, snapshot: &types::Snapshot) -> Vec<MetricFamily> {
        let mut out: Vec<MetricFamily> = Vec::new();
        let mut this_cycle: HashSet<String> = HashSet::new();
        let interval = self.loader.options.interval;
        // One guard for the whole cycle: the ticker is woken once, before
        // any call is timed.
        let ticker = self.loader.ticker.clone();
        let _busy = self.wall_guard.then(|| ticker.enter());
        let budget_end = Instant::now() + interval.mul_f64(OPERATOR_BUDGET);
        let mut order: Vec<usize> =
            (0..self.probes.len()).filter(|&i| self.probes[i].world == World::Measure).collect();
        order.sort_by_key(|&i| {
            let p = &self.probes[i];
            (p.source != Source::Builtin, p.stats.last_called, p.name.clone())
        });
        let mut operator_calls = 0;
        for index in order {
            let probe = &mut self.probes[index];
            let now = Instant::now();
            if probe.stats.backoff_until.is_some_and(|until| now < until) {
                continue;
            }
            if probe.source != Source::Builtin {
                if operator_calls > 0 && now + probe.stats.reserve(probe.limits.call_timeout) > budget_end {
                    probe.stats.deferred += 1;
                    continue;
                }
                operator_calls += 1;
            }
            probe.stats.last_called = Some(now);
            let view = restrict(snapshot, &probe.needs);
            let started = Instant::now();
            let result = probe.instance.measure(&view);
            let took = started.elapsed();
            probe.stats.calls += 1;
            probe.stats.durations.observe(took.as_secs_f64());
            let timed_out = matches!(&result, Err(e) if e.kind == ErrorKind::Timeout);
            probe.stats.last_duration = Some((took, timed_out));
            let result = result.map(|families| {
                probe.last_series = families.iter().map(|f| f.series.len()).sum();
                let holder = Holder { name: &probe.name, builtin: probe.builtin_names() };
                accept(holder, families, &mut self.names, &mut this_cycle, &mut probe.dropped_families, &mut out);
            });
            settle(probe, result.err(), interval);
        }
        out
    }

    /// Runs a batch of observations through the observe probes in chain
    /// order: each gets what the previous one returned. A probe that fails
    /// or is backed off is skipped for the batch — its input goes on
    /// unchanged, so a broken filter never loses observations.
    pub fn observe_chain(&mut self, mut batch: Vec<types::Observation>) -> Vec<types::Observation> {
        let interval = self.loader.options.interval;
        let order = observe_order(&self.probes, &self.observe_chain);
        for index in order {
            let probe = &mut self.probes[index];
            if batch.is_empty() {
                break;
            }
            if probe.stats.backoff_until.is_some_and(|until| Instant::now() < until) {
                continue;
            }
            let started = Instant::now();
            let result = probe.instance.observe(&batch);
            probe.stats.calls += 1;
            probe.stats.durations.observe(started.elapsed().as_secs_f64());
            match result {
                Ok(out) => {
                    probe.last_series = out.len();
                    batch = out;
                    settle(probe, None, interval);
                }
                Err(error) => settle(probe, Some(error), interval),
            }
        }
        batch
    }

    /// Turns every loaded probe's wall-time guard off or on: only for
    /// measuring its cost (`host/examples/call_cost.rs`); see
    /// [`probe::Instance::set_wall_guard`].
    #[doc(hidden)]
    pub fn set_wall_guard(&mut self, on: bool) {
        self.wall_guard = on;
        for probe in &mut self.probes {
            probe.instance.set_wall_guard(on);
        }
    }

    /// Sets the order of the observe chain: these probes first, in this
    /// order; then the other observe probes, built-ins first, by name.
    pub fn set_observe_chain(&mut self, names: Vec<String>) {
        self.observe_chain = names;
    }

    /// The observe probes' names in the order `observe_chain` calls them.
    pub fn observe_order(&self) -> Vec<String> {
        observe_order(&self.probes, &self.observe_chain).into_iter().map(|i| self.probes[i].name.clone()).collect()
    }

    /// Asks the graph probe (the first probe of world `graph`) for the
    /// connection graph. Its failures count like any probe call's.
    pub fn draw(&mut self, snapshot: &types::Snapshot, pid: Option<u32>) -> Result<topology::Graph, DrawError> {
        let probe = self.probes.iter_mut().find(|p| p.world == World::Graph).ok_or(DrawError::NoGraphProbe)?;
        if probe.stats.backoff_until.is_some_and(|until| Instant::now() < until) {
            return Err(DrawError::BackedOff(probe.name.clone()));
        }
        let view = restrict(snapshot, &probe.needs);
        let started = Instant::now();
        let result = probe.instance.draw(&view, &topology::GraphQuery { pid });
        probe.stats.calls += 1;
        probe.stats.durations.observe(started.elapsed().as_secs_f64());
        match result {
            Ok(graph) => {
                probe.stats.consecutive_failures = 0;
                probe.stats.up = true;
                Ok(graph)
            }
            Err(CallError { kind, message }) => {
                probe.stats.fail(kind, message.clone());
                let interval = self.loader.options.interval;
                probe.stats.backoff_until =
                    backoff_until(interval, backoff(interval, probe.stats.consecutive_failures));
                tracing::warn!(probe = %probe.name, kind = kind.as_str(), "Graph probe failed: {message}");
                Err(DrawError::Failed(probe.name.clone(), message))
            }
        }
    }

    /// Whether any loaded probe reads this part of the snapshot (so the
    /// host samples it only when someone will look).
    pub fn needs(&self, part: Capability) -> bool {
        self.probes.iter().any(|p| p.needs.contains(&part))
    }

    /// One summary per probe, for `/api/probes` and `gomon probe list`.
    pub fn summaries(&self) -> Vec<ProbeSummary> {
        let now = Instant::now();
        self.probes
            .iter()
            .map(|p| ProbeSummary {
                name: p.name.clone(),
                version: p.version.clone(),
                description: p.description.clone(),
                source: p.source.to_string(),
                state: if p.stats.backoff_until.is_some_and(|until| now < until) {
                    "backed-off"
                } else if p.stats.up {
                    "ok"
                } else {
                    "failing"
                }
                .to_owned(),
                needs: p.needs.iter().map(|c| capability_name(*c).to_owned()).collect(),
                grants: p.grants.iter().map(|c| capability_name(*c).to_owned()).collect(),
                calls: p.stats.calls,
                errors: ErrorKind::ALL.iter().zip(p.stats.errors).map(|(k, n)| (k.as_str().to_owned(), n)).collect(),
                last_error: p.stats.last_error.clone(),
                mean_call_seconds: if p.stats.durations.count > 0 {
                    p.stats.durations.sum / p.stats.durations.count as f64
                } else {
                    0.0
                },
                memory_bytes: p.instance.memory_bytes(),
                series: p.last_series,
                load_seconds: p.load_time.as_secs_f64(),
                cached: p.origin != Origin::Compiled,
            })
            .collect()
    }

    /// The probes' own metrics.
    pub fn self_metrics(&self) -> Vec<MetricFamily> {
        let mut up =
            MetricFamily::gauge("gomon_probe_up", "Whether the probe's last call succeeded.").labels(["probe"]);
        let mut info = MetricFamily::gauge("gomon_probe_info", "A loaded probe, its version and where it came from.")
            .labels(["probe", "version", "source"]);
        let mut calls = MetricFamily::counter("gomon_probe_calls", "Calls made into the probe.").labels(["probe"]);
        let mut errors = MetricFamily::counter(
            "gomon_probe_errors",
            "Failed probe calls by kind: trap, timeout, memory, contract, probe.",
        )
        .labels(["probe", "kind"]);
        let mut memory =
            MetricFamily::gauge("gomon_probe_memory_bytes", "Linear memories and tables of the probe's live instance.")
                .unit("bytes")
                .labels(["probe"]);
        let mut deferred = MetricFamily::counter(
            "gomon_probe_deferred",
            "Calls put off to the next cycle because the cycle's time for operator probes was spent.",
        )
        .labels(["probe"]);
        let mut dropped = MetricFamily::counter(
            "gomon_probe_families_dropped",
            "Families dropped from a probe's output, by reason: reserved (gomon's or a built-in's name), \
             taken (another probe's), invalid, limit (too many names).",
        )
        .labels(["probe", "reason"]);
        let mut series =
            MetricFamily::gauge("gomon_probe_series", "Series the probe returned from its last successful call.")
                .labels(["probe"]);
        let mut load = MetricFamily::gauge(
            "gomon_probe_load_seconds",
            "Time the probe took to load (compile or cache, link, describe).",
        )
        .unit("seconds")
        .labels(["probe"]);
        let mut durations = MetricFamily::histogram("gomon_probe_call_duration_seconds", "Duration of probe calls.")
            .unit("seconds")
            .labels(["probe"]);
        for p in &self.probes {
            let name = p.name.as_str();
            up.push(&[name], if p.stats.up { 1.0 } else { 0.0 });
            let source = match p.source {
                Source::Builtin => "builtin",
                Source::File(_) => "file",
            };
            info.push(&[name, &p.version, source], 1.0);
            calls.push(&[name], p.stats.calls as f64);
            for (kind, count) in ErrorKind::ALL.iter().zip(p.stats.errors) {
                errors.push(&[name, kind.as_str()], count as f64);
            }
            memory.push(&[name], p.instance.memory_bytes() as f64);
            deferred.push(&[name], p.stats.deferred as f64);
            for (reason, count) in Reason::ALL.iter().zip(p.dropped_families) {
                dropped.push(&[name, reason.as_str()], count as f64);
            }
            series.push(&[name], p.last_series as f64);
            load.push(&[name], p.load_time.as_secs_f64());
            let h = &p.stats.durations;
            durations.push_histogram(&[name], h.cumulative(), h.sum, h.count);
        }
        vec![up, info, calls, errors, memory, dropped, deferred, series, load, durations]
    }
}

/// Why no graph could be drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// No probe of world `graph` is loaded.
    #[error("no graph probe is loaded")]
    NoGraphProbe,
    /// The graph probe is backed off after failures.
    #[error("graph probe {0} is backed off after repeated failures")]
    BackedOff(String),
    /// The graph probe failed this call.
    #[error("graph probe {0} failed: {1}")]
    Failed(String, String),
}

/// What `/api/probes` says about one probe.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProbeSummary {
    /// Name from `describe`.
    pub name: String,
    /// The probe's own version.
    pub version: String,
    /// One line from `describe`.
    pub description: String,
    /// `built-in` or the file.
    pub source: String,
    /// `ok`, `failing` or `backed-off`.
    pub state: String,
    /// Parts it reads.
    pub needs: Vec<String>,
    /// Parts it is granted.
    pub grants: Vec<String>,
    /// Calls made.
    pub calls: u64,
    /// Failed calls by kind.
    pub errors: BTreeMap<String, u64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Mean call duration.
    pub mean_call_seconds: f64,
    /// Linear memory of the live instance.
    pub memory_bytes: u64,
    /// Series from the last successful call.
    pub series: usize,
    /// Load time.
    pub load_seconds: f64,
    /// Whether the compiled form came from the cache.
    pub cached: bool,
}

/// Keeps the cumulative counters of a replaced probe, so `_total` series
/// stay monotonic across a reload.
fn carry_counters(old: &LoadedProbe, new: &mut LoadedProbe) {
    new.stats.calls += old.stats.calls;
    new.stats.deferred += old.stats.deferred;
    for (n, o) in new.stats.errors.iter_mut().zip(old.stats.errors) {
        *n += o;
    }
    new.stats.durations.merge(&old.stats.durations);
    for (n, o) in new.dropped_families.iter_mut().zip(old.dropped_families) {
        *n += o;
    }
}

/// Books a call's outcome: a success clears the failure streak; a failure
/// is counted, logged once per distinct message and backed off.
fn settle(probe: &mut LoadedProbe, error: Option<CallError>, interval: Duration) {
    let Some(CallError { kind, message }) = error else {
        if probe.stats.consecutive_failures > 0 {
            tracing::info!(probe = %probe.name, "Probe recovered.");
        }
        probe.stats.consecutive_failures = 0;
        probe.stats.backoff_until = None;
        probe.stats.up = true;
        return;
    };
    let repeated = probe.stats.last_error.as_deref() == Some(message.as_str());
    probe.stats.fail(kind, message.clone());
    let failures = probe.stats.consecutive_failures;
    let backoff = backoff(interval, failures);
    probe.stats.backoff_until = backoff_until(interval, backoff);
    let backoff_s = backoff.map_or(0.0, |d| d.as_secs_f64());
    if repeated {
        tracing::debug!(probe = %probe.name, kind = kind.as_str(), failures, backoff_s, "Probe call failed again: {message}");
    } else {
        tracing::warn!(probe = %probe.name, kind = kind.as_str(), failures, backoff_s, "Probe call failed: {message}");
    }
}

/// Indexes of the observe probes in chain order: the names in `chain`
/// first, in that order; then the rest, built-ins before files, by name.
fn observe_order(probes: &[LoadedProbe], chain: &[String]) -> Vec<usize> {
    let mut rest: Vec<usize> =
        (0..probes.len()).filter(|&i| probes[i].world == World::Observe && !chain.contains(&probes[i].name)).collect();
    rest.sort_by_key(|&i| (probes[i].source != Source::Builtin, probes[i].name.clone()));
    chain
        .iter()
        .filter_map(|name| probes.iter().position(|p| &p.name == name && p.world == World::Observe))
        .chain(rest)
        .collect()
}

/// `None` for the first failure (retry next cycle), then one interval,
/// two, four, … up to five minutes.
fn backoff(interval: Duration, failures: u32) -> Option<Duration> {
    if failures < 2 {
        return None;
    }
    let factor = 1u32 << (failures - 2).min(16);
    Some(interval.saturating_mul(factor).min(MAX_BACKOFF))
}

/// When a backed-off probe may be called again. Cycles come one interval
/// apart, give or take scheduling jitter, so the end is put half an
/// interval past the last cycle to skip: a back-off of N intervals skips
/// exactly the next N cycles, never N - 1 or N + 1.
fn backoff_until(interval: Duration, backoff: Option<Duration>) -> Option<Instant> {
    backoff.map(|delay| Instant::now() + delay + interval / 2)
}

/// A probe as the name registry knows it.
#[derive(Clone, Copy)]
struct Holder<'a> {
    name: &'a str,
    builtin: bool,
}

/// Checks a probe's output and moves the families it may expose to `out`.
/// A family that is invalid or uses a name the probe does not hold
/// ([`names`]) is dropped, counted by reason and logged once; the rest of
/// the output is kept and the call counts as a success.
fn accept(
    probe: Holder<'_>,
    families: Vec<types::MetricFamily>,
    names: &mut Names,
    this_cycle: &mut HashSet<String>,
    dropped: &mut [u64; 4],
    out: &mut Vec<MetricFamily>,
) {
    for family in families {
        let family = convert(family);
        let verdict = gomon_sink_prometheus::validate(&family)
            .map_err(|e| names::Refusal { reason: Reason::Invalid, message: e.to_string() })
            .and_then(|()| names.claim(probe.name, probe.builtin, &family, this_cycle));
        match verdict {
            Ok(()) => out.push(family),
            Err(refusal) => {
                let index = Reason::ALL.iter().position(|r| *r == refusal.reason).unwrap_or(0);
                dropped[index] += 1;
                if names.first_time(probe.name, &family.name, refusal.reason) {
                    tracing::warn!(
                        probe = %probe.name,
                        reason = refusal.reason.as_str(),
                        "Dropped a family the probe returned: {refusal}"
                    );
                }
            }
        }
    }
}

fn convert(family: types::MetricFamily) -> MetricFamily {
    let kind = match family.kind {
        types::MetricKind::Gauge => Kind::Gauge,
        types::MetricKind::Counter => Kind::Counter,
    };
    let samples =
        family.series.into_iter().map(|s| Sample { label_values: s.labels, value: Value::Scalar(s.value) }).collect();
    let mut out = MetricFamily::new(family.name, family.help, kind);
    out.unit = family.unit;
    out.label_names = family.label_names;
    out.samples = samples;
    out
}

/// The part of a snapshot a probe may see: the host copies only the
/// granted parts.
pub fn restrict<'a>(snapshot: &'a types::Snapshot, needs: &[Capability]) -> Cow<'a, types::Snapshot> {
    let has = |c: Capability| needs.contains(&c);
    let all = has(Capability::System)
        && has(Capability::Filesystems)
        && has(Capability::Disks)
        && has(Capability::Network)
        && (snapshot.processes.is_empty() || has(Capability::Processes))
        && (snapshot.connections.is_empty() || has(Capability::Connections));
    if all && snapshot.processes.iter().all(|p| p.details.is_none() || has(Capability::ProcessDetails)) {
        return Cow::Borrowed(snapshot);
    }
    Cow::Owned(types::Snapshot {
        taken_at_seconds: snapshot.taken_at_seconds,
        system: if has(Capability::System) { snapshot.system.clone() } else { None },
        filesystems: if has(Capability::Filesystems) { snapshot.filesystems.clone() } else { Vec::new() },
        disks: if has(Capability::Disks) { snapshot.disks.clone() } else { Vec::new() },
        interfaces: if has(Capability::Network) { snapshot.interfaces.clone() } else { Vec::new() },
        processes: if has(Capability::Processes) {
            let details = has(Capability::ProcessDetails);
            snapshot
                .processes
                .iter()
                .map(|p| types::Process { details: if details { p.details.clone() } else { None }, ..p.clone() })
                .collect()
        } else {
            Vec::new()
        },
        connections: if has(Capability::Connections) { snapshot.connections.clone() } else { Vec::new() },
    })
}

/// Drops the resident pages of a read-only part of gomon's own binary
/// (an embedded artifact, once deserialized): they count in gomon's RSS but
/// are not read again, and would be read back from the file if they were.
fn release_pages(bytes: &'static [u8]) {
    #[cfg(target_os = "linux")]
    {
        let page = 4096usize;
        let start = (bytes.as_ptr() as usize).div_ceil(page) * page;
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, a `'static` slice of
            // the binary's read-only data (include_bytes!), mapped privately
            // from the executable and never written. MADV_DONTNEED only drops
            // these clean pages from the process; any later read faults them
            // in again from the file, with the same contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}

/// Hands memory freed by the compiler back to the OS. Compiling a
/// component allocates tens of megabytes that glibc would otherwise keep.
pub fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The capability a config name stands for.
pub fn capability_from_name(name: &str) -> Option<Capability> {
    ALL_CAPABILITIES.iter().copied().find(|c| capability_name(*c) == name)
}

/// Every capability.
pub const ALL_CAPABILITIES: &[Capability] = &[
    Capability::System,
    Capability::Filesystems,
    Capability::Disks,
    Capability::Network,
    Capability::Processes,
    Capability::ProcessDetails,
    Capability::Connections,
    Capability::Observations,
];

/// The config and `describe` spelling of a capability.
pub fn capability_name(c: Capability) -> &'static str {
    match c {
        Capability::System => "system",
        Capability::Filesystems => "filesystems",
        Capability::Disks => "disks",
        Capability::Network => "network",
        Capability::Processes => "processes",
        Capability::ProcessDetails => "process-details",
        Capability::Connections => "connections",
        Capability::Observations => "observations",
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("describes itself with an invalid name `{name}` (want [a-z0-9-]+, at most 64)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_five_minutes() {
        let i = Duration::from_secs(15);
        assert_eq!(backoff(i, 1), None);
        assert_eq!(backoff(i, 2), Some(Duration::from_secs(15)));
        assert_eq!(backoff(i, 3), Some(Duration::from_secs(30)));
        assert_eq!(backoff(i, 5), Some(Duration::from_secs(120)));
        assert_eq!(backoff(i, 40), Some(MAX_BACKOFF));
    }

    #[test]
    fn probe_names_are_checked() {
        assert!(check_name("cpu-ratios").is_ok());
        assert!(check_name("CPU").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
    }

    fn family(name: &str) -> types::MetricFamily {
        types::MetricFamily {
            name: name.into(),
            help: "h".into(),
            kind: types::MetricKind::Gauge,
            unit: String::new(),
            label_names: vec!["a".into()],
            series: vec![types::Series { labels: vec!["x".into()], value: 1.0 }],
        }
    }

    #[test]
    fn drops_reserved_invalid_and_taken_families_but_keeps_the_rest() {
        let mut names = Names::new();
        let mut out = Vec::new();
        let mut cycle = HashSet::new();
        let a = Holder { name: "a", builtin: false };
        let b = Holder { name: "b", builtin: false };
        let mut dropped_a = [0; 4];
        accept(a, vec![family("gomon_ok")], &mut names, &mut cycle, &mut dropped_a, &mut out);
        let mut dropped_b = [0; 4];
        accept(
            b,
            vec![family("gomon_ok"), family("gomon_probe_up"), family("bad name"), family("gomon_fine")],
            &mut names,
            &mut cycle,
            &mut dropped_b,
            &mut out,
        );
        let kept: Vec<_> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(kept, ["gomon_ok", "gomon_fine"]);
        assert_eq!(dropped_a, [0; 4]);
        // reserved, taken, invalid, limit
        assert_eq!(dropped_b, [1, 1, 1, 0]);
        // Next cycle: the same verdicts.
        let mut cycle = HashSet::new();
        out.clear();
        accept(b, vec![family("gomon_ok"), family("gomon_fine")], &mut names, &mut cycle, &mut dropped_b, &mut out);
        accept(a, vec![family("gomon_ok")], &mut names, &mut cycle, &mut dropped_a, &mut out);
        let kept: Vec<_> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(kept, ["gomon_fine", "gomon_ok"]);
    }

    #[test]
    fn a_backoff_skips_exactly_its_number_of_cycles() {
        let interval = Duration::from_secs(10);
        let failed_at = Instant::now();
        let until = backoff_until(interval, backoff(interval, 2)).unwrap();
        // The next cycle, a little early or late, is skipped; the one after is not.
        assert!(failed_at + interval + Duration::from_millis(900) < until);
        assert!(failed_at + interval * 2 - Duration::from_millis(900) > until);
        assert_eq!(backoff_until(interval, backoff(interval, 1)), None);
    }
}
