//! Processes under test: a child whose stdout and stderr go to a log file, killed (and
//! reaped) when dropped, and HTTP servers started on a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

/// A free port on 127.0.0.1, as the kernel hands it out (it can be taken again before
/// it is used: see [`Process::start_http`], which tries again then).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An HTTP client for the tests: no proxy from the environment, a generous timeout,
/// and idle connections dropped before the servers' idle timeout (20 s) closes them.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// A child process with its output in a log file; killed and reaped when dropped.
pub struct Process {
    what: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stdin closed and stdout + stderr appended to `log`.
    pub fn spawn(what: &str, mut command: Command, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open the log {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Self {
            what: what.to_owned(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// Starts an HTTP server on a free loopback port and waits until `GET {health_path}`
    /// answers with a status `ready` accepts. `command_for(port)` makes the command.
    /// A port taken between picking and binding is retried with another one.
    pub async fn start_http(
        what: &str,
        log_dir: &Path,
        health_path: &str,
        ready: fn(StatusCode) -> bool,
        command_for: impl Fn(u16) -> Command,
    ) -> (Self, String) {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let port = free_port();
            let log = log_dir.join(format!(
                "{}-{}.log",
                what.replace(' ', "-"),
                crate::unique_suffix()
            ));
            let mut process = Self::spawn(what, command_for(port), &log);
            let base = format!("http://127.0.0.1:{port}");
            match process
                .wait_until_http(
                    &format!("{base}{health_path}"),
                    ready,
                    Duration::from_secs(20),
                )
                .await
            {
                Ok(()) => return (process, base),
                Err(why) => {
                    process.kill();
                    let output = process.log();
                    if attempt < ATTEMPTS
                        && (output.contains("cannot listen")
                            || output.contains("Address already in use"))
                    {
                        continue;
                    }
                    panic!("{what} did not start: {why}\n--- its log ---\n{output}");
                }
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Polls `url` until it answers with a status `ready` accepts; fails early when the
    /// process exits.
    pub async fn wait_until_http(
        &mut self,
        url: &str,
        ready: fn(StatusCode) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let client = http_client();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("{} exited with {status}", self.what));
            }
            if let Ok(response) = client.get(url).timeout(Duration::from_secs(2)).send().await
                && ready(response.status())
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{url} did not answer within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its exit status, when it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL: no graceful shutdown) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
