//! The `gomon` command.

mod cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use gomon::config::{Config, LogFormat};

const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (probe contract gomon:probe@0.1.0, wasmtime 48.0.8)");

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
    /// img/, README.md, LICENSE and this executable as <executable>_linux_<arch>.
    Package {
        /// The plugin directory to write, e.g.
        /// /var/lib/grafana/plugins/gomon-host-datasource.
        dir: PathBuf,
        /// The built frontend (`npm run build` in assets/plugin).
        #[arg(long, value_name = "PATH", default_value = cmd::plugin::DEFAULT_FRONTEND)]
        frontend: PathBuf,
        /// Write into DIR even if it is not empty.
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

fn main() -> ExitCode {
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
        Some(Command::Plugin(PluginCommand::Package { dir, frontend, force })) => {
            cmd::plugin::package(&dir, &frontend, force)
        }
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
