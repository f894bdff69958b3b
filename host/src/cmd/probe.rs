//! `gomon probe check | list | new`.

use std::path::Path;

use anyhow::Context;

use gomon::config::Config;
use gomon::runtime::bindings::CONTRACT_VERSION;
use gomon::runtime::{DEFAULT_GRANTS, Loader, Prepared, ProbeSummary, capability_name};

/// Validates a component and prints what it is. Fails with a plain message
/// for garbage, a core module, another contract version or a missing world.
pub fn check(config: &Config, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut options = config.runtime_options();
    options.cache_dir = None;
    let loader = Loader::new(options)?;
    let label = file.display().to_string();
    let (shape, prepared) = loader.inspect(&bytes, &label);
    let shape = shape.map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.reason))?;

    println!("file:      {} ({} bytes)", file.display(), bytes.len());
    let versions = shape.contract_versions();
    println!("contract:  gomon:probe@{} (this gomon: {CONTRACT_VERSION})", versions.join(", "));
    println!("exports:   {}", shape.exports.join(", "));
    let wasi: Vec<&str> = shape.wasi_imports().collect();
    let own: Vec<&str> = shape.imports.iter().map(String::as_str).filter(|i| !i.starts_with("wasi:")).collect();
    println!("imports:   {}", if own.is_empty() { "(none)".to_owned() } else { own.join(", ") });
    if !wasi.is_empty() {
        println!("wasi:      {} interfaces, linked deny-all (no files, network, environment or stdio)", wasi.len());
        for import in wasi {
            println!("           {import}");
        }
    }
    let world = shape.check().map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!("world:     {world}");
    match prepared {
        Some(Ok(Prepared::Probe(probe))) => {
            println!("probe:     {} {} — {}", probe.name, probe.version, probe.description);
            let needs: Vec<&str> = probe.needs.iter().map(|c| capability_name(*c)).collect();
            println!("needs:     {}", if needs.is_empty() { "(nothing)".to_owned() } else { needs.join(", ") });
            let extra: Vec<&str> =
                probe.needs.iter().filter(|c| !DEFAULT_GRANTS.contains(c)).map(|c| capability_name(*c)).collect();
            if !extra.is_empty() {
                println!(
                    "grants:    beyond the defaults, needs [probe.{}] grants = [{}]",
                    probe.name,
                    probe.needs.iter().map(|c| format!("\"{}\"", capability_name(*c))).collect::<Vec<_>>().join(", ")
                );
            }
            println!("load:      {:.1} ms (compile, link, describe, configure)", probe.load_time.as_secs_f64() * 1e3);
            println!("ok");
            Ok(())
        }
        Some(Ok(Prepared::Disabled(name))) => {
            println!("probe:     {name} (disabled by the configuration)");
            println!("ok");
            Ok(())
        }
        Some(Err(e)) if e.refused_settings => {
            println!("configure: refused the settings of this configuration: {}", e.reason);
            println!(
                "ok (the component is sound; give it settings with [probe.NAME] settings = {{ ... }} and --config)"
            );
            Ok(())
        }
        Some(Err(e)) => Err(anyhow::anyhow!("{}: {}", file.display(), e.reason)),
        None => unreachable!("a parsed shape is always prepared"),
    }
}

/// Asks the running gomon (at the configured address) for its probes.
pub fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let summaries = fetch_probes(config)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    println!(
        "{:<18} {:<8} {:<10} {:>8} {:>7} {:>10} {:>10}  SOURCE",
        "PROBE", "VERSION", "STATE", "CALLS", "ERRORS", "MEAN CALL", "MEMORY"
    );
    for p in &summaries {
        let errors: u64 = p.errors.values().sum();
        println!(
            "{:<18} {:<8} {:<10} {:>8} {:>7} {:>8.3}ms {:>8}KiB  {}",
            p.name,
            p.version,
            p.state,
            p.calls,
            errors,
            p.mean_call_seconds * 1e3,
            p.memory_bytes / 1024,
            p.source
        );
        if let Some(error) = p.last_error.as_deref().filter(|_| p.state != "ok") {
            println!("{:<18} last error: {error}", "");
        }
    }
    Ok(())
}

fn fetch_probes(config: &Config) -> anyhow::Result<Vec<ProbeSummary>> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut client = reqwest::Client::builder();
    let url = if config.tls.plain_http {
        format!("http://{addr}/api/probes")
    } else {
        let ca = config.tls.cert.clone().unwrap_or_else(|| config.state_dir.join("tls/cert.pem"));
        let pem = std::fs::read(&ca).with_context(|| format!("cannot read the server certificate {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).with_context(|| format!("bad certificate {}", ca.display()))?;
        client = client.tls_certs_only([cert]);
        // The generated certificate names localhost and the loopback addresses.
        format!("https://{addr}/api/probes")
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = client.timeout(std::time::Duration::from_secs(10)).build()?;
        let response =
            client.get(&url).send().await.with_context(|| format!("cannot reach gomon at {url} (is it running?)"))?;
        let response = response.error_for_status().with_context(|| url.to_string())?;
        let summaries: Vec<ProbeSummary> = response.json().await.context("unexpected answer from /api/probes")?;
        Ok(summaries)
    })
}

/// Files of a new probe crate.
struct Template {
    path: &'static str,
    text: &'static str,
}

/// The guest SDK, vendored into every new probe so it builds anywhere.
const SDK: &[Template] = &[
    Template { path: "gomon-probe/src/lib.rs", text: include_str!("../../../probes/sdk/src/lib.rs") },
    Template { path: "gomon-probe/src/bindings.rs", text: include_str!("../../../probes/sdk/src/bindings.rs") },
    Template { path: "gomon-probe/src/family.rs", text: include_str!("../../../probes/sdk/src/family.rs") },
    Template { path: "gomon-probe/src/graph.rs", text: include_str!("../../../probes/sdk/src/graph.rs") },
    Template {
        path: "gomon-probe/src/graph_bindings.rs",
        text: include_str!("../../../probes/sdk/src/graph_bindings.rs"),
    },
    Template {
        path: "gomon-probe/src/metrics_bindings.rs",
        text: include_str!("../../../probes/sdk/src/metrics_bindings.rs"),
    },
    Template { path: "gomon-probe/src/info.rs", text: include_str!("../../../probes/sdk/src/info.rs") },
    Template { path: "gomon-probe/src/instance.rs", text: include_str!("../../../probes/sdk/src/instance.rs") },
    Template { path: "gomon-probe/src/observe.rs", text: include_str!("../../../probes/sdk/src/observe.rs") },
    Template {
        path: "gomon-probe/src/observe_bindings.rs",
        text: include_str!("../../../probes/sdk/src/observe_bindings.rs"),
    },
    Template { path: "gomon-probe/src/log.rs", text: include_str!("../../../probes/sdk/src/log.rs") },
    Template { path: "gomon-probe/src/probe.rs", text: include_str!("../../../probes/sdk/src/probe.rs") },
    Template { path: "gomon-probe/src/table.rs", text: include_str!("../../../probes/sdk/src/table.rs") },
    Template { path: "gomon-probe/src/testing.rs", text: include_str!("../../../probes/sdk/src/testing.rs") },
    Template { path: "gomon-probe/src/value.rs", text: include_str!("../../../probes/sdk/src/value.rs") },
    Template { path: "gomon-probe/wit/probe.wit", text: include_str!("../../../probes-wit/wit/probe.wit") },
];

const SDK_MANIFEST: &str = r#"[package]
name = "gomon-probe"
description = "Guest SDK for gomon probes (vendored by `gomon probe new`)"
version = "0.1.0"
edition = "2024"
publish = false

[features]
testing = []

[dependencies]
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"] }
"#;

const CRATE: &[Template] = &[
    Template { path: "Cargo.toml", text: include_str!("../../../probes/template/Cargo.toml.in") },
    Template { path: "src/lib.rs", text: include_str!("../../../probes/template/src/lib.rs.in") },
    Template { path: ".cargo/config.toml", text: include_str!("../../../probes/template/cargo-config.toml.in") },
    Template { path: "README.md", text: include_str!("../../../probes/template/README.md.in") },
    Template { path: ".gitignore", text: "/target\n" },
];

/// Writes a new probe crate named `name` under `dir`.
pub fn new(name: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase();
    if !valid {
        anyhow::bail!("invalid probe name `{name}`: use lowercase letters, digits and '-', starting with a letter");
    }
    let root = dir.unwrap_or(Path::new(".")).join(name);
    if root.exists() {
        anyhow::bail!("{} already exists", root.display());
    }
    let crate_name = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    let fill =
        |text: &str| text.replace("{{name}}", name).replace("{{crate}}", &crate_name).replace("{{type}}", &type_name);
    let mut files: Vec<(String, String)> = CRATE.iter().map(|t| (t.path.to_owned(), fill(t.text))).collect();
    files.push(("gomon-probe/Cargo.toml".to_owned(), SDK_MANIFEST.to_owned()));
    for t in SDK {
        let text = if t.path.ends_with("bindings.rs") {
            t.text.replace("path: \"../../probes-wit/wit\"", "path: \"wit\"")
        } else {
            t.text.to_owned()
        };
        files.push((t.path.to_owned(), text));
    }
    for (path, text) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("Created probe `{name}` in {}.", root.display());
    println!("Build it:     cd {} && cargo build --release", root.display());
    println!("Check it:     gomon probe check target/wasm32-wasip2/release/{crate_name}.wasm");
    println!("Load it:      copy that file into the probe directory (<state-dir>/probes)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SDK;

    /// Every source file of the SDK is vendored into new probe crates (a
    /// file added to probes/sdk/src and not to `SDK` breaks `gomon probe new`).
    #[test]
    fn the_template_vendors_every_sdk_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../probes/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("probes/sdk/src")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".rs"))
            .map(|name| format!("gomon-probe/src/{name}"))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> =
            SDK.iter().map(|t| t.path.to_owned()).filter(|p| p.starts_with("gomon-probe/src/")).collect();
        vendored.sort();
        assert_eq!(vendored, on_disk);
    }
}
