//! `ops-copilot`: one binary, a subcommand per plane.

mod all_cmd;
mod docker_mcp;
mod gateway_cmd;
mod guide_config;
mod healthcheck;
mod pi_health_cmd;
mod signals;

use std::path::{Path, PathBuf};

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
    PiHealth(pi_health_cmd::Args),
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
    /// Validate tool_registry.yaml and policy.yaml without starting anything: the
    /// ones given, else <data-dir>/config/ when `ops-copilot all` wrote it, else config/.
    Check {
        #[command(flatten)]
        config: gateway_cmd::ConfigArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log: its hash chain and head anchor; with the initial key every
    /// seal; with the witness every head it recorded. Says what that proves and what
    /// it does not.
    Verify {
        #[arg(long, env = "OPS_COPILOT_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// The initial sealing key, kept offline (the `.initial.N` file written on
        /// the first sealed start).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The witness file the gateway wrote heads to [default: the gateway's
        /// OPS_COPILOT_AUDIT_WITNESS_FILE, else <data-dir>.audit-witness when it exists,
        /// as `ops-copilot all` writes it].
        #[arg(long, env = "OPS_COPILOT_AUDIT_WITNESS_FILE")]
        witness: Option<PathBuf>,
    },
}

/// A command line that runs this very binary, for people to paste: its absolute
/// path (`ops-copilot` need not be on their PATH) and `args`, quoted for a POSIX
/// shell where needed. Paths among `args` should be absolute too.
pub fn printable_command<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let exe = std::env::current_exe()
        .map(|path| {
            // Linux names a binary replaced on disk since it started "PATH (deleted)".
            let text = path.to_string_lossy();
            PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text))
        })
        .unwrap_or_else(|_| PathBuf::from("ops-copilot"));
    std::iter::once(shell_quote(&exe.to_string_lossy()))
        .chain(
            args.into_iter()
                .map(|arg| shell_quote(&arg.as_ref().to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as one word for a POSIX shell: as it is when that is safe, else in single quotes.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `path` made absolute against the working directory (as it is when that fails).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// glibc's allocator, tuned for a small long-running server (elsewhere, e.g. musl,
/// nothing to tune). Measured with wrk (64 connections, 10 s) through the gateway:
/// without the trim, the gateway kept about 7 MB more heap resident after the burst,
/// for good.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod memory {
    use std::time::Duration;

    /// glibc gives each thread that allocates its own arena (up to 8 per core), and
    /// an arena keeps what was freed in it: with a Tokio worker per core (four on a
    /// Pi), its blocking pool and the audit writer, that is several partly empty
    /// heaps. Two shared arenas bound that; no loss of throughput was measured.
    const ARENA_MAX: libc::c_int = 2;
    /// How often the idle check runs.
    const TICK: Duration = Duration::from_secs(1);
    /// CPU time per tick below which the process counts as idle.
    const IDLE_CPU: Duration = Duration::from_millis(10);
    /// Idle seconds after which the second trim runs: after idle keep-alive
    /// connections are gone (the gateway drops its pooled connections to a service
    /// 10 to 20 s after their last use, and the service's ends close with them).
    const SETTLED: u32 = 30;

    /// Caps the malloc arenas, unless the environment already says how many
    /// (`MALLOC_ARENA_MAX`, or `GLIBC_TUNABLES=glibc.malloc.arena_max=N`).
    pub fn limit_arenas() {
        let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
        if !chosen {
            // SAFETY: mallopt only sets an allocator parameter; called before any
            // other thread exists.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX) };
        }
    }

    /// Hands memory freed after a burst of work back to the kernel. Once a second,
    /// the process's CPU time says whether it worked; after work, the first idle
    /// second and then [`SETTLED`] idle seconds (when idle keep-alive connections
    /// and the like have been dropped) each end with `malloc_trim(0)`, which
    /// returns the free pages of every arena. An idle process costs one `getrusage`
    /// a second; a busy one is never trimmed.
    pub async fn trim_when_idle() {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = cpu_time();
        // Idle seconds since the last work; None once everything is trimmed.
        let mut idle: Option<u32> = None;
        loop {
            ticks.tick().await;
            if cpu_time().saturating_sub(last) >= IDLE_CPU {
                idle = Some(0);
            } else if let Some(seconds) = idle.as_mut() {
                *seconds += 1;
                if *seconds == 1 || *seconds == SETTLED {
                    // SAFETY: malloc_trim has no preconditions.
                    unsafe { libc::malloc_trim(0) };
                }
                if *seconds >= SETTLED {
                    idle = None;
                }
            }
            // The trim's own CPU time does not count as work.
            last = cpu_time();
        }
    }

    /// User and system CPU time of the whole process.
    fn cpu_time() -> Duration {
        // SAFETY: getrusage writes into the struct it is given.
        let usage = unsafe {
            let mut usage = std::mem::zeroed::<libc::rusage>();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        time(usage.ru_utime) + time(usage.ru_stime)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod memory {
    pub fn limit_arenas() {}
    pub async fn trim_when_idle() {}
}

/// Open files. Every connection holds a descriptor, and in `all` the three
/// planes share the process's: their connection caps (`ops_core::net::Limits`)
/// add up to about 900 with the planes' connections to each other, close to
/// the usual soft limit of 1024, while the hard limit is usually far higher.
/// So a server raises its soft limit to the hard one (at most 65,536), as Go's
/// runtime does for every program.
#[cfg(unix)]
mod open_files {
    const ENOUGH: libc::rlim_t = 65_536;

    pub fn raise() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        let wanted = limit.rlim_max.min(ENOUGH);
        if limit.rlim_cur >= wanted {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = wanted,
                "open files limit raised"
            );
        } else {
            tracing::warn!(
                limit = limit.rlim_cur,
                error = %std::io::Error::last_os_error(),
                "cannot raise the open files limit: under a flood of connections the planes may run out of descriptors"
            );
        }
    }
}

#[cfg(not(unix))]
mod open_files {
    pub fn raise() {}
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

fn main() -> std::process::ExitCode {
    // First, while this is the only thread.
    memory::limit_arenas();
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ops-copilot: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> std::process::ExitCode {
    if matches!(
        cli.command,
        Command::All(_) | Command::DockerMcp(_) | Command::Gateway(_) | Command::PiHealth(_)
    ) {
        open_files::raise();
        tokio::spawn(memory::trim_when_idle());
    }
    let result = match cli.command {
        Command::All(args) => all_cmd::run(args).await,
        Command::DockerMcp(args) => docker_mcp::run(args).await,
        Command::Gateway(args) => gateway_cmd::run(args).await,
        Command::PiHealth(args) => pi_health_cmd::run(args).await,
        Command::Policy(PolicyCommand::Check { config }) => config
            .files()
            .and_then(|(registry, policy)| gateway_cmd::policy_check(&registry, &policy)),
        Command::Audit(AuditCommand::Verify {
            data_dir,
            key_file,
            witness,
        }) => {
            let witness = witness.or_else(|| {
                Some(all_cmd::sibling(&data_dir, ".audit-witness")).filter(|w| w.is_file())
            });
            gateway_cmd::audit_verify(&data_dir, key_file.as_deref(), witness.as_deref())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_commands_are_quoted_for_a_shell() {
        assert_eq!(
            shell_quote("/var/tmp/ops-target/ops-copilot"),
            "/var/tmp/ops-target/ops-copilot"
        );
        assert_eq!(shell_quote("--data-dir"), "--data-dir");
        assert_eq!(shell_quote("/srv/my stack"), "'/srv/my stack'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        let command = printable_command(["gateway", "token", "add"]);
        let exe = std::env::current_exe().unwrap();
        assert!(
            command.starts_with(&shell_quote(&exe.to_string_lossy())),
            "{command}"
        );
        assert!(command.ends_with(" gateway token add"), "{command}");
    }
}
