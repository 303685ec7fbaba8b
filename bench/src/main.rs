//! `ops-bench`: the measuring side of `bench/run.sh`.
//!
//! ```text
//! ops-bench latency SPEC_JSON            sequential latency of targets, interleaved (JSON out)
//! ops-bench wait URL T0_NS TIMEOUT_MS    poll GET URL until 200; print ms since T0_NS
//! ops-bench rss SECONDS INTERVAL_MS PID...
//!                                        sample VmRSS and PSS; print max per PID and max of the sums
//! ops-bench mem PID                      VmRSS, RssAnon, RssFile and Pss of one process now
//! ```
//!
//! Everything it prints on stdout is one JSON document (or one number for `wait`).

mod http;
mod latency;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::http::{Address, Connection, build_request};

fn usage() -> ExitCode {
    eprintln!(
        "usage: ops-bench latency SPEC_JSON | wait URL T0_NS TIMEOUT_MS | rss SECONDS INTERVAL_MS PID... | mem PID"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("latency") if args.len() == 2 => serde_json::from_str::<Value>(&args[1])
            .map_err(|e| format!("bad spec: {e}"))
            .and_then(|spec| latency::run(&spec))
            .map(|report| report.to_string()),
        Some("wait") if args.len() == 4 => wait(&args[1], &args[2], &args[3]),
        Some("rss") if args.len() >= 4 => rss(&args[1], &args[2], &args[3..]),
        Some("mem") if args.len() == 2 => Ok(memory(&args[1]).to_string()),
        _ => return usage(),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ops-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// `http://host:port/path` -> (`host:port`, `/path`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs: {url}"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((authority.to_owned(), format!("/{path}")))
}

/// Polls `url` every millisecond until it answers 200; prints the milliseconds
/// since `t0_ns` (nanoseconds since the epoch, taken just before the start).
fn wait(url: &str, t0_ns: &str, timeout_ms: &str) -> Result<String, String> {
    let t0: u128 = t0_ns.parse().map_err(|_| "T0_NS must be an integer")?;
    let timeout: u64 = timeout_ms
        .parse()
        .map_err(|_| "TIMEOUT_MS must be an integer")?;
    let (authority, path) = split_url(url)?;
    let request = build_request(
        "GET",
        &path,
        &authority,
        &[("Connection".into(), "close".into())],
        None,
    );
    let started = Instant::now();
    let mut last = String::from("no answer");
    while started.elapsed() < Duration::from_millis(timeout) {
        let mut connection =
            Connection::new(Address::Tcp(authority.clone()), Duration::from_secs(2));
        match connection.send(&request) {
            Ok(response) if response.status == 200 => {
                let ms = (now_ns().saturating_sub(t0)) as f64 / 1e6;
                return Ok(format!("{ms:.1}"));
            }
            Ok(response) => last = format!("HTTP {}", response.status),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!(
        "{url} not ready within {timeout} ms (last: {last})"
    ))
}

/// A `Key:   123 kB` field of a /proc file.
fn proc_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

fn vm_rss_kb(pid: &str) -> Option<u64> {
    proc_kb(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmRSS",
    )
}

/// Proportional set size: shared pages (the same binary mapped by two
/// processes) are split between the processes that map them.
fn pss_kb(pid: &str) -> Option<u64> {
    proc_kb(
        &std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss",
    )
}

fn memory(pid: &str) -> Value {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    json!({
        "rss_kb": proc_kb(&status, "VmRSS"),
        "anon_kb": proc_kb(&status, "RssAnon"),
        "file_kb": proc_kb(&status, "RssFile"),
        "pss_kb": pss_kb(pid),
        "threads": status.lines().find_map(|l| l.strip_prefix("Threads:")).map(|t| t.trim().to_owned()),
    })
}

/// Samples VmRSS and PSS of `pids` for `seconds`: the max (and last) of each,
/// and the max of their sums at one instant.
fn rss(seconds: &str, interval_ms: &str, pids: &[String]) -> Result<String, String> {
    let seconds: f64 = seconds.parse().map_err(|_| "SECONDS must be a number")?;
    let interval: u64 = interval_ms
        .parse()
        .map_err(|_| "INTERVAL_MS must be an integer")?;
    let mut max = vec![0u64; pids.len()];
    let mut max_pss = vec![0u64; pids.len()];
    let mut last = vec![0u64; pids.len()];
    let (mut max_sum, mut max_pss_sum, mut samples) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    loop {
        let (mut sum, mut pss_sum) = (0, 0);
        for (i, pid) in pids.iter().enumerate() {
            let kb = vm_rss_kb(pid).unwrap_or(0);
            let pss = pss_kb(pid).unwrap_or(0);
            last[i] = kb;
            max[i] = max[i].max(kb);
            max_pss[i] = max_pss[i].max(pss);
            sum += kb;
            pss_sum += pss;
        }
        max_sum = max_sum.max(sum);
        max_pss_sum = max_pss_sum.max(pss_sum);
        samples += 1;
        if started.elapsed().as_secs_f64() >= seconds {
            break;
        }
        std::thread::sleep(Duration::from_millis(interval));
    }
    let per_pid: serde_json::Map<String, Value> = pids
        .iter()
        .enumerate()
        .map(|(i, pid)| {
            (
                pid.clone(),
                json!({ "max_kb": max[i], "max_pss_kb": max_pss[i], "last_kb": last[i] }),
            )
        })
        .collect();
    Ok(json!({
        "samples": samples,
        "pids": per_pid,
        "max_sum_kb": max_sum,
        "max_pss_sum_kb": max_pss_sum,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/health").unwrap(),
            ("127.0.0.1:8080".to_owned(), "/health".to_owned())
        );
        assert_eq!(
            split_url("http://h:1").unwrap(),
            ("h:1".to_owned(), "/".to_owned())
        );
        assert!(split_url("https://h/").is_err());
    }

    #[test]
    fn reads_our_own_memory() {
        let pid = std::process::id().to_string();
        assert!(vm_rss_kb(&pid).unwrap() > 0);
        let memory = memory(&pid);
        assert!(memory["anon_kb"].as_u64().unwrap() > 0, "{memory}");
        assert!(memory["pss_kb"].as_u64().unwrap() > 0, "{memory}");
    }

    #[test]
    fn parses_proc_fields() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\nRssAnon:\t 10 kB\n";
        assert_eq!(proc_kb(text, "VmRSS"), Some(1234));
        assert_eq!(proc_kb(text, "RssAnon"), Some(10));
        assert_eq!(proc_kb(text, "Vm"), None);
    }
}
