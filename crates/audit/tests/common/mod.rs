//! Shared helpers for the audit integration tests.
#![allow(dead_code)] // each test file uses a different subset

use audit::{AuditLog, Decision, NewRecord};
use serde_json::json;
use std::path::PathBuf;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn record(principal: &str, tool: &str, decision: Decision) -> NewRecord {
    NewRecord {
        request_id: format!("req-{principal}-{tool}"),
        principal: principal.to_owned(),
        role: "admin".to_owned(),
        tool: tool.to_owned(),
        args: json!({"file": "/opt/stack/docker-compose.yml", "service": "sonarr"}),
        decision,
        reason: Some("because".to_owned()),
        approval_id: None,
        approver: None,
        result_digest: None,
        latency_ms: 3,
        on_behalf_of: None,
    }
}

/// A log with `n` records in a fresh temporary directory.
pub fn log_with(
    n: usize,
) -> Result<(tempfile::TempDir, AuditLog, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.db");
    let log = AuditLog::open(&path)?;
    for i in 0..n {
        log.append(record(&format!("p{i}"), "compose_ps", Decision::Executed))?;
    }
    Ok((dir, log, path))
}

/// A separate connection to the same file, as an attacker (or a bug) would use.
pub fn tamper(path: &std::path::Path, sql: &str) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(sql)
}
