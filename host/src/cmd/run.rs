//! `gomon` / `gomon run`: the agent and its HTTPS server until SIGINT or SIGTERM.

use anyhow::Context;

use gomon::agent::{self, Agent, Renderer};
use gomon::config::{Config, LogFormat};
use gomon::serve;

pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub fn run(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .thread_name("gomon")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_until_signal(config))
}

async fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    agent::prepare_state_dir(&config.state_dir)?;
    // Everything that can fail on a bad flag fails before any work starts.
    let server = serve::Server::bind(&serve::Settings::from_config(&config)).await?;
    let agent = Agent::start(&config, Renderer::default()).await?;
    let server = tokio::spawn(server.run(agent.local(), agent.stopping()));

    wait_for_signal().await?;
    tracing::info!("Shutting down.");
    agent.stop().await;
    let _ = server.await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
