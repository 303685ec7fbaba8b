//! `ops-copilot`: one binary, a subcommand per plane.

mod all_cmd;
mod docker_mcp;
mod gateway_cmd;
mod guide_config;
mod healthcheck;
mod pi_health;
mod signals;

use std::path::PathBuf;

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
    /// Everything in one process, on the embedded defaults: the quick start.
    All(all_cmd::Args),
    /// The MCP server: the only process that talks to the Docker Engine.
    DockerMcp(docker_mcp::Args),
    /// The ai-gateway: policy, approvals and audit in front of the MCP services.
    Gateway(gateway_cmd::Args),
    /// The pi-health web app: dashboard, Ops-Copilot chat, approvals and audit.
    PiHealth(pi_health::Args),
    /// Policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Exit 0 when URL answers 2xx: the containers' healthcheck (no curl in the image).
    Healthcheck(healthcheck::Args),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate tool_registry.yaml and policy.yaml without starting anything.
    Check {
        #[arg(
            long,
            env = "GATEWAY_REGISTRY",
            default_value = "config/tool_registry.yaml"
        )]
        registry: PathBuf,
        #[arg(long, env = "GATEWAY_POLICY", default_value = "config/policy.yaml")]
        policy: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain: edited, deleted or reordered records are reported.
    Verify {
        #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
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
        Command::All(args) => all_cmd::run(args).await,
        Command::DockerMcp(args) => docker_mcp::run(args).await,
        Command::Gateway(args) => gateway_cmd::run(args).await,
        Command::PiHealth(args) => pi_health::run(args).await,
        Command::Policy(PolicyCommand::Check { registry, policy }) => {
            gateway_cmd::policy_check(&registry, &policy)
        }
        Command::Audit(AuditCommand::Verify { data_dir }) => gateway_cmd::audit_verify(&data_dir),
        Command::Healthcheck(args) => healthcheck::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ops-copilot: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
