//! The whole pipeline without the network: samplers on a captured /proc
//! tree → snapshot → the built-in probes (real WASM components) → the
//! Prometheus encoder. Values are checked against the fixture files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gomon::runtime::builtin::BUILTIN_PROBES;
use gomon::runtime::probe::Limits;
use gomon::runtime::{Origin, Prepared, ProbeSet, RuntimeOptions, Source};
use gomon::sample::{FilesystemUsage, SampleConfig, Sampler};
use gomon::snapshot;
use gomon_sink_prometheus::{Format, MetricFamily, Value};

/// The samplers' fixture tree (host/sample/tests/fixtures).
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/tests/fixtures")
}

fn options(cache: Option<PathBuf>) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: cache,
        limits: Limits { memory_bytes: 64 << 20, call_timeout: Duration::from_secs(2), max_series: 100_000 },
        interval: Duration::from_secs(15),
        probe_config: Default::default(),
    }
}

/// A sampler over the fixture tree whose statfs answers a fixed size.
fn fixture_sampler() -> Sampler {
    sampler_on(&fixtures())
}

/// A sampler over `<root>/proc` and `<root>/sys` whose statfs answers a fixed size.
fn sampler_on(root: &Path) -> Sampler {
    let config = SampleConfig { proc_root: root.join("proc"), sys_root: root.join("sys"), ..SampleConfig::default() };
    let statfs = Arc::new(|_: &Path| {
        Ok(FilesystemUsage {
            size_bytes: 1 << 30,
            free_bytes: 1 << 29,
            available_bytes: 1 << 28,
            files: 1000,
            files_free: 10,
        })
    });
    Sampler::with_statfs(config, statfs)
}

fn fixture_value(file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(fixtures().join("proc").join(file)).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} not in {file}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn scalar(families: &[MetricFamily], name: &str, labels: &[&str]) -> f64 {
    let family = families.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no family {name}"));
    let sample = family
        .samples
        .iter()
        .find(|s| s.label_values.iter().map(String::as_str).eq(labels.iter().copied()))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    match sample.value {
        Value::Scalar(v) => v,
        _ => panic!("{name} is not a scalar"),
    }
}

fn measure_fixtures(probes: &mut ProbeSet) -> Vec<MetricFamily> {
    measure(probes, fixture_sampler())
}

fn measure(probes: &mut ProbeSet, mut sampler: Sampler) -> Vec<MetricFamily> {
    let system = sampler.system().expect("fixture /proc samples");
    let filesystems = sampler.filesystems();
    let disks = sampler.disks().ok();
    let interfaces = sampler.interfaces().ok();
    let processes = sampler.processes(false).expect("fixture processes").processes;
    let mut snapshot = snapshot::build(1_700_000_000.0, Some(system), filesystems, disks, interfaces);
    snapshot::add_processes(&mut snapshot, processes);
    probes.measure_all(&snapshot)
}

#[test]
fn builtin_probes_derive_fixture_values() {
    let mut probes = ProbeSet::new(options(None)).unwrap();
    assert!(probes.load_builtins().is_empty());
    let names: Vec<&str> = probes.probes().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[..4], ["system", "filesystem", "io", "network"], "{names:?}");

    let families = measure_fixtures(&mut probes);
    for p in probes.probes() {
        assert!(p.stats.up, "probe {} failed: {:?}", p.name, p.stats.last_error);
    }

    // /proc/meminfo is in kB; the metric is in bytes.
    let mem_total = fixture_value("meminfo", "MemTotal:") as f64 * 1024.0;
    assert_eq!(scalar(&families, "gomon_memory_total_bytes", &[]), mem_total);
    // /proc/stat's first column is user, in USER_HZ ticks.
    let user_ticks = fixture_value("stat", "cpu ") as f64;
    let hz = gomon::ticks_per_second();
    let user = scalar(&families, "gomon_system_cpu_seconds", &["user"]);
    assert!((user - user_ticks / hz).abs() < 1e-6, "user {user} vs {} ticks", user_ticks);
    // file-max parses despite its trailing newline (the original reported 0).
    let file_max = std::fs::read_to_string(fixtures().join("proc/sys/fs/file-max")).unwrap();
    assert_eq!(scalar(&families, "gomon_file_descriptors_maximum", &[]), file_max.trim().parse::<f64>().unwrap());
    // The fake statfs answers 1 GiB for every kept mount.
    let fs = families.iter().find(|f| f.name == "gomon_filesystem_size_bytes").unwrap();
    assert!(!fs.samples.is_empty());
    assert!(fs.samples.iter().all(|s| matches!(s.value, Value::Scalar(v) if v == (1u64 << 30) as f64)));
    assert!(families.iter().any(|f| f.name == "gomon_network_receive_bytes"));
    assert!(families.iter().any(|f| f.name == "gomon_disk_read_bytes"));
    // The process probe sees the fixture's processes (comm with spaces and parentheses included).
    let cpu = families.iter().find(|f| f.name == "gomon_process_cpu_seconds").expect("process families");
    assert!(cpu.samples.iter().any(|s| s.label_values.iter().any(|v| v == "a) b (c")), "{:?}", cpu.samples);

    // Everything the probes return encodes in both formats and validates.
    for family in &families {
        gomon_sink_prometheus::validate(family).unwrap();
    }
    let mut text = Vec::new();
    gomon_sink_prometheus::encode(Format::Text, &families, &mut text);
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains(&format!("gomon_memory_total_bytes {}\n", mem_total as u64)), "{text}");
    assert!(text.contains("# TYPE gomon_cpu_seconds_total counter"));
}

/// Copies a directory tree, keeping symbolic links as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every `(family, labels)` series of the families.
fn series(families: &[MetricFamily]) -> std::collections::BTreeSet<(String, Vec<String>)> {
    families.iter().flat_map(|f| f.samples.iter().map(|s| (f.name.clone(), s.label_values.clone()))).collect()
}

/// Through the real probes: without /proc/uptime only `gomon_uptime_seconds`
/// goes; without a process's `status` only that process's status series go
/// (the process probe still sees every process); every other series stays.
#[test]
fn a_missing_file_removes_only_the_series_it_feeds() {
    let mut probes = ProbeSet::new(options(None)).unwrap();
    assert!(probes.load_builtins().is_empty());
    let intact = series(&measure_fixtures(&mut probes));

    let tree = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("proc"), &tree.path().join("proc"));
    copy_tree(&fixtures().join("sys"), &tree.path().join("sys"));
    std::fs::remove_file(tree.path().join("proc/uptime")).unwrap();
    std::fs::remove_file(tree.path().join("proc/4242/status")).unwrap();
    let families = measure(&mut probes, sampler_on(tree.path()));
    for p in probes.probes() {
        assert!(p.stats.up, "probe {} failed: {:?}", p.name, p.stats.last_error);
    }
    let degraded = series(&families);
    let gone: Vec<_> = intact.difference(&degraded).cloned().collect();
    let came: Vec<_> = degraded.difference(&intact).cloned().collect();
    assert!(came.is_empty(), "{came:?}");
    let sleep = |name: &str, extra: &[&str]| {
        let mut labels = vec!["4242".to_owned(), "sleep".to_owned()];
        labels.extend(extra.iter().map(|s| (*s).to_owned()));
        (name.to_owned(), labels)
    };
    let expected = vec![
        sleep("gomon_process_context_switches", &["involuntary"]),
        sleep("gomon_process_context_switches", &["voluntary"]),
        sleep("gomon_process_peak_resident_bytes", &[]),
        sleep("gomon_process_shared_bytes", &[]),
        ("gomon_uptime_seconds".to_owned(), vec![]),
    ];
    assert_eq!(gone, expected);
    assert!(intact.len() > 100, "{} series", intact.len());
}

/// Options for loading the built-ins' components as files: each granted
/// what it needs.
fn file_options(cache: &Path) -> RuntimeOptions {
    let mut options = options(Some(cache.to_owned()));
    for builtin in BUILTIN_PROBES {
        let all = gomon::runtime::ALL_CAPABILITIES.iter().map(|c| gomon::runtime::capability_name(*c).to_owned());
        let config = gomon::config::ProbeConfig { grants: Some(all.collect()), ..Default::default() };
        options.probe_config.insert(builtin.name.to_owned(), config);
    }
    options
}

/// Loads the built-in probes' components the way files from the probe
/// directory are loaded (through the compile cache), replacing the built-ins.
fn load_as_files(probes: &mut ProbeSet, dir: &Path) -> Vec<Origin> {
    let loader = probes.loader();
    let mut origins = Vec::new();
    for builtin in BUILTIN_PROBES {
        let path = dir.join(format!("{}.wasm", builtin.name));
        let prepared = loader.prepare(builtin.component, Source::File(path.clone()), builtin.name).unwrap();
        if let Prepared::Probe(probe) = &prepared {
            origins.push(probe.origin);
        }
        probes.insert_file(prepared).unwrap();
    }
    origins
}

fn cache_files(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    files.sort();
    files
}

#[test]
fn built_in_probes_come_from_the_binary_not_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut probes = ProbeSet::new(options(Some(cache.clone()))).unwrap();
    assert!(probes.load_builtins().is_empty());
    // Precompiled by build.rs for this machine: nothing compiled, nothing cached.
    let origins: Vec<_> = probes.probes().iter().map(|p| (p.name.clone(), p.origin)).collect();
    assert!(origins.iter().all(|(_, o)| *o == Origin::Embedded), "{origins:?}");
    assert!(!cache.exists() || cache_files(&cache).is_empty());
    measure_fixtures(&mut probes);
    assert!(probes.probes().iter().all(|p| p.stats.up));
}

#[test]
fn compiled_probes_are_cached_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut first = ProbeSet::new(file_options(&cache)).unwrap();
    let origins = load_as_files(&mut first, dir.path());
    assert!(origins.iter().all(|o| *o == Origin::Compiled), "{origins:?}");
    assert_eq!(cache_files(&cache).len(), BUILTIN_PROBES.len());

    let mut second = ProbeSet::new(file_options(&cache)).unwrap();
    let origins = load_as_files(&mut second, dir.path());
    assert!(origins.iter().all(|o| *o == Origin::Cached), "{origins:?}");
    // A cached probe works like a compiled one.
    measure_fixtures(&mut second);
    assert!(second.probes().iter().all(|p| p.stats.up));

    // A corrupt cache entry is discarded and the probe recompiled.
    for path in cache_files(&cache) {
        std::fs::write(path, b"not a compiled component").unwrap();
    }
    let mut third = ProbeSet::new(file_options(&cache)).unwrap();
    let origins = load_as_files(&mut third, dir.path());
    assert!(origins.iter().all(|o| *o == Origin::Compiled), "{origins:?}");

    // One probe's authentic artifact copied over another's: refused, recompiled.
    let files = cache_files(&cache);
    let (a, b) = (&files[0], &files[1]);
    std::fs::copy(a, b).unwrap();
    let mut fourth = ProbeSet::new(file_options(&cache)).unwrap();
    let origins = load_as_files(&mut fourth, dir.path());
    assert_eq!(origins.iter().filter(|o| **o == Origin::Compiled).count(), 1, "{origins:?}");
    measure_fixtures(&mut fourth);
    assert!(fourth.probes().iter().all(|p| p.stats.up));
}

#[test]
fn an_untrusted_cache_directory_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut probes = ProbeSet::new(file_options(&cache)).unwrap();
    let origins = load_as_files(&mut probes, dir.path());
    assert!(origins.iter().all(|o| *o == Origin::Compiled), "{origins:?}");
    assert!(std::fs::read_dir(&cache).unwrap().next().is_none(), "nothing written to a 0777 cache");
}

#[test]
fn disabled_builtins_are_not_loaded() {
    let mut options = options(None);
    let off = gomon::config::ProbeConfig { enabled: false, ..Default::default() };
    options.probe_config.insert("io".into(), off.clone());
    options.probe_config.insert("network".into(), off);
    let mut probes = ProbeSet::new(options).unwrap();
    assert!(probes.load_builtins().is_empty());
    let names: Vec<&str> = probes.probes().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[..2], ["system", "filesystem"], "{names:?}");
    assert!(!names.contains(&"io") && !names.contains(&"network"), "{names:?}");
}

#[test]
fn bad_probe_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not WebAssembly").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let ignored = dir.path().join("notes.txt");
    std::fs::write(&ignored, b"not a probe").unwrap();

    let mut probes = ProbeSet::new(options(None)).unwrap();
    let errors = probes.load_dir(dir.path());
    assert_eq!(errors.len(), 2, "{errors:?}");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(messages[0].contains("core.wasm") && messages[0].contains("not a component"), "{}", messages[0]);
    assert!(messages[1].contains("garbage.wasm") && messages[1].contains("not a WebAssembly file"), "{}", messages[1]);
    assert!(probes.probes().is_empty());
    // A missing directory is simply empty.
    assert!(probes.load_dir(&dir.path().join("absent")).is_empty());
}

/// A probe gets exactly the parts of the snapshot it needs and is granted:
/// each capability alone, a pair, and none, on a snapshot with every part.
#[test]
fn each_capability_passes_exactly_its_part() {
    use gomon::runtime::bindings::types::{Capability, Connection, ConnectionKind, Snapshot};
    use gomon::runtime::restrict;
    let mut sampler = fixture_sampler();
    let system = sampler.system().expect("fixture /proc samples");
    let filesystems = sampler.filesystems();
    let disks = sampler.disks().ok();
    let interfaces = sampler.interfaces().ok();
    let processes = sampler.processes(true).expect("fixture processes").processes;
    let mut full = snapshot::build(1_700_000_000.0, Some(system), filesystems, disks, interfaces);
    snapshot::add_processes(&mut full, processes);
    full.connections.push(Connection {
        kind: ConnectionKind::Tcp,
        state: "established".into(),
        inode: 1,
        local_address: "127.0.0.1".into(),
        local_port: 1,
        remote_address: "127.0.0.1".into(),
        remote_port: 2,
        remote_host_name: None,
        peer_inode: 0,
        pids: vec![1],
    });
    assert!(full.processes.iter().any(|p| p.details.is_some()), "fixture processes have details");

    // Which parts a view holds: system, filesystems, disks, network, processes, details, connections.
    let parts = |s: &Snapshot| {
        [
            s.system.is_some(),
            !s.filesystems.is_empty(),
            !s.disks.is_empty(),
            !s.interfaces.is_empty(),
            !s.processes.is_empty(),
            s.processes.iter().any(|p| p.details.is_some()),
            !s.connections.is_empty(),
        ]
    };
    assert_eq!(parts(&full), [true; 7], "the full snapshot has every part");
    let cases: &[(&[Capability], [bool; 7])] = &[
        (&[], [false; 7]),
        (&[Capability::System], [true, false, false, false, false, false, false]),
        (&[Capability::Filesystems], [false, true, false, false, false, false, false]),
        (&[Capability::Disks], [false, false, true, false, false, false, false]),
        (&[Capability::Network], [false, false, false, true, false, false, false]),
        (&[Capability::Processes], [false, false, false, false, true, false, false]),
        // Details are a part of processes: alone they give nothing.
        (&[Capability::ProcessDetails], [false; 7]),
        (&[Capability::Processes, Capability::ProcessDetails], [false, false, false, false, true, true, false]),
        (&[Capability::Connections], [false, false, false, false, false, false, true]),
        // Observations are event batches, no part of a snapshot.
        (&[Capability::Observations], [false; 7]),
    ];
    for (needs, want) in cases {
        let view = restrict(&full, needs);
        assert_eq!(parts(&view), *want, "needs {needs:?}");
        assert_eq!(view.taken_at_seconds, full.taken_at_seconds);
    }
    // Everything at once is the snapshot itself, not a copy.
    let all = gomon::runtime::ALL_CAPABILITIES;
    assert!(matches!(restrict(&full, all), std::borrow::Cow::Borrowed(_)));
}
