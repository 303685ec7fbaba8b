//! `ops-copilot healthcheck URL`: the container healthcheck. A `FROM scratch`
//! image has no curl or wget, so the binary checks itself.

use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The health endpoint, e.g. http://127.0.0.1:8080/health.
    url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

/// Succeeds when the endpoint answers 2xx within the timeout.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(args.timeout_secs.clamp(1, 60)))
        .build()
        .context("cannot build an HTTP client")?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .with_context(|| format!("{} did not answer", args.url))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    println!("ok: {} answered {status}", args.url);
    Ok(())
}
