//! `ops-copilot`: one binary, a subcommand per plane.

mod docker_mcp;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ops-copilot",
    version,
    about = "A safe Docker assistant for a home media stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The MCP server: the only process that talks to the Docker Engine.
    DockerMcp(docker_mcp::Args),
}

fn init_logging() {
    // Logs go to stderr: stdout belongs to MCP in --stdio mode.
    let filter = std::env::var("LOG_LEVEL")
        .ok()
        .map(|level| level.to_ascii_lowercase())
        .and_then(|level| tracing_subscriber::EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::DockerMcp(args) => docker_mcp::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ops-copilot: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
