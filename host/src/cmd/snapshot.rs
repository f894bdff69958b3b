//! `gomon snapshot`: what a probe receives, as JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use gomon::config::Config;
use gomon::runtime::bindings::types::Capability;
use gomon::runtime::{ALL_CAPABILITIES, DEFAULT_GRANTS, builtin, capability_from_name, restrict};
use gomon::sample::Sampler;
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
    let full = snapshot::build(taken_at, system, filesystems, disks, interfaces);
    let view = restrict(&full, &granted);
    println!("{}", serde_json::to_string_pretty(&*view)?);
    Ok(())
}
