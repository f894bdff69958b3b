//! The `gomon` command.

mod cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use gomon::config::{Config, LogFormat};

const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (probe contract gomon:probe@0.2.0, wasmtime 48.0.8)");

/// A Linux system monitor whose metrics come from sandboxed WebAssembly probes.
///
/// Without a command, gomon runs the collector: it samples the system on an
/// interval, calls its probes and serves /metrics over HTTPS.
#[derive(Parser)]
#[command(name = "gomon", version, long_version = LONG_VERSION, about, long_about)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags that override the configuration file.
#[derive(Args)]
struct Options {
    /// TOML configuration file (see `gomon config` for every key).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to serve on [default: 127.0.0.1:1234].
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// State directory: TLS certificate, compiled-probe cache, probes.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// PEM certificate to serve instead of the generated one (with --tls-key).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (only where nothing untrusted can connect).
    #[arg(long, global = true)]
    plain_http: bool,
    /// exporter-toolkit web configuration file (YAML: tls_server_config,
    /// http_server_config, basic_auth_users, rate_limit), as node_exporter's.
    #[arg(long = "web.config.file", global = true, value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Sampling interval, e.g. 15s, 1m [default: 15s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Directory of operator probes (*.wasm) [default: <state-dir>/probes].
    #[arg(long, global = true, value_name = "DIR")]
    probe_dir: Option<PathBuf>,
    /// Push observations to this Loki (http(s)://HOST:PORT/loki/api/v1/push), or
    /// `off`. Without it: a Loki on localhost:3100 while it answers, else
    /// <state-dir>/observations/observations.ndjson.
    #[arg(long, global = true, value_name = "URL")]
    loki_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Log level filter (RUST_LOG syntax), e.g. info, gomon=debug.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector (the default).
    Run,
    /// Print the effective configuration (defaults, file and flags) as TOML.
    Config,
    /// Work with probe modules.
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// The Grafana data source plugin.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the manual page (roff) on stdout: `gomon man | man -l -`; with
    /// --dir, write it and one page per subcommand (gomon-run.1, …) there.
    Man {
        /// Write every page into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script on stdout, e.g.
    /// `gomon completions bash > /etc/bash_completion.d/gomon`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Sample once and print the snapshot a probe receives, as JSON.
    Snapshot {
        /// Show only what a probe with these grants sees (comma-separated:
        /// system, filesystems, disks, network, ...). Default: everything.
        #[arg(long, value_delimiter = ',', conflicts_with = "probe")]
        grants: Vec<String>,
        /// Show only what the named loaded or configured probe is granted.
        #[arg(long, value_name = "NAME")]
        probe: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProbeCommand {
    /// Check a component against the probe contract: world, contract
    /// version, imports, exports and the grants it needs.
    Check {
        /// The component file.
        file: PathBuf,
    },
    /// List the probes a running gomon has loaded (asks its /api/probes).
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a new Rust probe crate that builds to a component with
    /// `cargo build --release`.
    New {
        /// The probe's name ([a-z0-9-]+); also the directory created.
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Lay out the plugin directory as Grafana loads it: plugin.json, module.js,
    /// img/, README.md, LICENSE, CHANGELOG.md and this executable as
    /// <executable>_linux_<arch>; or, with --zip, the archive `grafana cli
    /// --pluginUrl FILE plugins install` installs (the executable stripped).
    Package {
        /// The plugin directory to write, e.g.
        /// /var/lib/grafana/plugins/gomon-host-datasource.
        #[arg(required_unless_present = "zip", conflicts_with = "zip")]
        dir: Option<PathBuf>,
        /// Write a zip archive instead: one folder named after the plugin id.
        #[arg(long, value_name = "FILE")]
        zip: Option<PathBuf>,
        /// The built frontend (`npm run build` in assets/plugin).
        #[arg(long, value_name = "PATH", default_value = cmd::plugin::DEFAULT_FRONTEND)]
        frontend: PathBuf,
        /// Write into DIR even if it is not empty, or over an existing FILE.
        #[arg(long)]
        force: bool,
    },
}

impl Options {
    /// The file's configuration with the flags applied.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = dir.clone();
        }
        if let Some(cert) = &self.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            config.tls.key = Some(key.clone());
        }
        config.tls.plain_http |= self.plain_http;
        if let Some(file) = &self.web_config_file {
            config.web.config_file = Some(file.clone());
        }
        if let Some(interval) = self.interval {
            config.interval = interval;
        }
        if let Some(dir) = &self.probe_dir {
            config.probes.dir = Some(dir.clone());
        }
        if let Some(url) = &self.loki_url {
            config.loki.url = Some(url.clone());
        }
        if let Some(format) = self.log_format {
            config.log.format = format;
        }
        if let Some(level) = &self.log_level {
            config.log.level = level.clone();
        }
        config.validate()?;
        Ok(config)
    }
}

/// The manual pages generated from the command-line definition, `(file name, roff)`: gomon.1
/// first, then one per subcommand (`gomon-probe-check.1`), as the SUBCOMMANDS sections name them.
fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn render(cmd: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut out = Vec::new();
        man.render(&mut out).expect("rendering into memory cannot fail");
        pages.push((man.get_filename(), out));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            render(sub.clone(), pages);
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    render(cmd, &mut pages);
    pages
}

/// `gomon man [--dir DIR]`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    let pages = man_pages();
    let Some(dir) = dir else { return print_bytes(&pages[0].1) };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The completion script for `shell`.
fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gomon", &mut out);
    out
}

/// Writes generated text to stdout; a closed pipe (`gomon man | head`) is not an error.
fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    // Programs gomon starts (dot, journalctl) get no capabilities, whatever the unit grants
    // gomon itself; first, while this is the only thread.
    gomon::agent::privileges::drop_ambient();
    // One TLS crypto provider (ring) for every client and server in the process
    // (reqwest is built without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Grafana starts its plugins with a magic cookie in the environment and no
    // arguments: plugin mode, before any argument parsing.
    match gomon::plugin::requested() {
        Ok(false) => {}
        Ok(true) => {
            let result = gomon::plugin::config_from_env().and_then(gomon::plugin::run);
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gomon: error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(e) => {
            eprintln!("gomon: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    let result = cli.options.config().and_then(|config| match cli.command {
        Some(Command::Config) => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Some(Command::Run) | None => cmd::run::run(config),
        Some(Command::Probe(ProbeCommand::Check { file })) => cmd::probe::check(&config, &file),
        Some(Command::Probe(ProbeCommand::List { json })) => cmd::probe::list(&config, json),
        Some(Command::Probe(ProbeCommand::New { name, dir })) => cmd::probe::new(&name, dir.as_deref()),
        Some(Command::Man { dir }) => man(dir.as_deref()),
        Some(Command::Completions { shell }) => print_bytes(&completions(shell)),
        Some(Command::Plugin(PluginCommand::Package { dir, zip, frontend, force })) => match (dir, zip) {
            (_, Some(zip)) => cmd::plugin::package_zip(&zip, &frontend, force),
            (Some(dir), None) => cmd::plugin::package(&dir, &frontend, force),
            (None, None) => unreachable!("clap requires DIR or --zip"),
        },
        Some(Command::Snapshot { grants, probe }) => cmd::snapshot::print(&config, &grants, probe.as_deref()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gomon: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Debian package ships these files (host/Cargo.toml `[package.metadata.deb]`); they
    /// are generated from the CLI and must stay equal to what it generates.
    /// `GOMON_BLESS=1 cargo test --release -p gomon --bin gomon` rewrites them.
    #[test]
    fn the_packaged_man_page_and_completions_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/debian");
        let mut generated = vec![
            ("completions/gomon.bash".to_owned(), completions(clap_complete::Shell::Bash)),
            ("completions/_gomon".to_owned(), completions(clap_complete::Shell::Zsh)),
            ("completions/gomon.fish".to_owned(), completions(clap_complete::Shell::Fish)),
        ];
        let pages = man_pages();
        generated.extend(pages.iter().map(|(name, text)| (format!("man/{name}"), text.clone())));
        let bless = std::env::var_os("GOMON_BLESS").is_some();
        if bless {
            let _ = std::fs::remove_dir_all(dir.join("man"));
        }
        let mut committed: Vec<String> = std::fs::read_dir(dir.join("man"))
            .map(|entries| {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        committed.sort();
        let mut want: Vec<String> = pages.iter().map(|(name, _)| name.clone()).collect();
        want.sort();
        if !bless {
            assert_eq!(committed, want, "assets/debian/man/ holds other pages than the CLI generates");
        }
        for (name, text) in generated {
            let path = dir.join(name);
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == text,
                "{} differs from what the CLI generates: regenerate it with \
                 `GOMON_BLESS=1 cargo test --release -p gomon --bin gomon`",
                path.display()
            );
        }
    }

    #[test]
    fn every_subcommand_has_its_page() {
        let pages = man_pages();
        assert_eq!(pages[0].0, "gomon.1");
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(main.contains("\\-\\-config"), "the main page lists the options");
        for name in
            ["gomon-run.1", "gomon-probe-check.1", "gomon-plugin-package.1", "gomon-man.1", "gomon-completions.1"]
        {
            assert!(pages.iter().any(|(n, _)| n == name), "no page {name}");
            let title = name.trim_end_matches(".1");
            assert!(
                main.contains(&title.replace('-', "\\-")) || name.matches('-').count() > 1,
                "gomon.1 does not name {title}"
            );
        }
    }
}
