//! `gomon snapshot`: what a probe receives, as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use gomon::config::Config;
use gomon::runtime::bindings::types::Capability;
use gomon::runtime::{ALL_CAPABILITIES, DEFAULT_GRANTS, builtin, capability_from_name, restrict};
use std::io::Write;

use gomon::sample::Sampler;
use gomon::sample::sockets::Discoverer;
use gomon::snapshot;

/// Samples once and prints the snapshot, restricted to `grants` or to what
/// the configuration grants `probe`.
pub fn print(config: &Config, grants: &[String], probe: Option<&str>) -> anyhow::Result<()> {
    let granted: Vec<Capability> = match probe {
        Some(name) => match config.probe.get(name).and_then(|p| p.grants.as_ref()) {
            Some(names) => names.iter().filter_map(|n| capability_from_name(n)).collect(),
            None if builtin::BUILTIN_PROBES.iter().any(|b| b.name == name) => {
                anyhow::bail!(
                    "`{name}` is a built-in probe: it is granted exactly what it needs; use --grants to choose parts"
                )
            }
            None => DEFAULT_GRANTS.to_vec(),
        },
        None if grants.is_empty() => ALL_CAPABILITIES.to_vec(),
        None => grants
            .iter()
            .map(|g| capability_from_name(g).ok_or_else(|| anyhow::anyhow!("unknown part `{g}` in --grants")))
            .collect::<anyhow::Result<_>>()?,
    };
    let mut sampler = Sampler::new(config.sample.clone());
    let taken_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let system = sampler.system().map_err(|e| eprintln!("gomon: system: {e}")).ok();
    let filesystems = sampler.filesystems();
    let disks = sampler.disks().map_err(|e| eprintln!("gomon: disks: {e}")).ok();
    let interfaces = sampler.interfaces().map_err(|e| eprintln!("gomon: network: {e}")).ok();
    for warning in sampler.take_warnings() {
        eprintln!("gomon: warning: {warning}");
    }
    let mut full = snapshot::build(taken_at, system, filesystems, disks, interfaces);
    if granted.contains(&Capability::Processes) {
        let details = granted.contains(&Capability::ProcessDetails);
        let processes = sampler.processes(details).map_err(|e| eprintln!("gomon: processes: {e}")).map(|s| s.processes);
        let connections = if granted.contains(&Capability::Connections) {
            match Discoverer::new(config.sample.proc_root.clone()).discover() {
                Ok(discovery) => discovery.connections,
                Err(e) => {
                    eprintln!("gomon: connections: {e}");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        snapshot::add_processes(&mut full, processes.unwrap_or_default());
        snapshot::set_connections(&mut full, &connections);
    }
    let view = restrict(&full, &granted);
    let mut out = std::io::stdout().lock();
    let written =
        serde_json::to_writer_pretty(&mut out, &*view).map_err(std::io::Error::from).and_then(|()| writeln!(out));
    match written {
        // `gomon snapshot | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
