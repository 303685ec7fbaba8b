//! `on_behalf_of`: the v1 -> v2 migration, its hashing and tamper detection.

mod common;

use audit::{AuditFilter, AuditLog, Decision, GENESIS_HASH, digest_json};
use common::{TestResult, record, tamper};
use serde_json::json;
use std::path::Path;

/// The schema as version 1 of this crate created it.
const V1_SCHEMA: &str = "
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    time          TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    principal     TEXT NOT NULL,
    role          TEXT NOT NULL,
    tool          TEXT NOT NULL,
    args          TEXT NOT NULL,
    decision      TEXT NOT NULL,
    reason        TEXT,
    approval_id   TEXT,
    approver      TEXT,
    result_digest TEXT,
    latency_ms    INTEGER NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_principal ON audit_log (principal, seq);
CREATE INDEX audit_log_tool ON audit_log (tool, seq);
CREATE INDEX audit_log_decision ON audit_log (decision, seq);
CREATE INDEX audit_log_time ON audit_log (time);
PRAGMA user_version = 1;
";

/// A version-1 log of two records, written with raw SQL and the v1 hash encoding
/// (independently of the crate's code), with its head anchor.
fn v1_log(path: &Path) -> TestResult {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(V1_SCHEMA)?;
    let args = r#"{"file":"/opt/stack/docker-compose.yml","service":"sonarr"}"#;
    let mut prev = GENESIS_HASH.to_owned();
    for seq in 1..=2i64 {
        let time = format!("2024-05-01T12:00:0{seq}.000Z");
        let hash = digest_json(&json!([
            "ops-copilot-audit/v1",
            prev,
            seq,
            time,
            format!("req-{seq}"),
            "pi-health",
            "operator",
            "compose_restart",
            args,
            "executed",
            null,
            "ap-1",
            "pi-health",
            null,
            7
        ]));
        conn.execute(
            "INSERT INTO audit_log VALUES (?1, ?2, ?3, 'pi-health', 'operator', \
             'compose_restart', ?4, 'executed', NULL, 'ap-1', 'pi-health', NULL, 7, ?5, ?6)",
            rusqlite::params![seq, time, format!("req-{seq}"), args, prev, hash],
        )?;
        prev = hash;
    }
    let mut anchor = path.as_os_str().to_owned();
    anchor.push(".head");
    std::fs::write(anchor, format!("ops-copilot-audit-head v1 2 {prev}\n"))?;
    Ok(())
}

fn user_version(path: &Path) -> rusqlite::Result<i64> {
    rusqlite::Connection::open(path)?.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn problems(log: &AuditLog) -> Result<Vec<String>, audit::AuditError> {
    Ok(log.verify()?.problems)
}

#[test]
fn a_v1_log_is_migrated_and_keeps_verifying() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.db");
    v1_log(&path)?;

    // Migrated to the current version (3: on_behalf_of, then epoch and seal).
    let log = AuditLog::open(&path)?;
    assert_eq!(user_version(&path)?, 3);
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.records, 2);

    let mut new = record("pi-health", "compose_restart", Decision::NeedApproval);
    new.on_behalf_of = Some("alice".into());
    let stored = log.append(new)?;
    assert_eq!(stored.on_behalf_of.as_deref(), Some("alice"));
    log.append(record("pi-health", "compose_ps", Decision::Executed))?;
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.records, 4);

    let listed = log.list(&AuditFilter::default())?;
    let by_seq: Vec<_> = listed
        .iter()
        .map(|r| (r.seq, r.on_behalf_of.as_deref()))
        .collect();
    assert_eq!(
        by_seq,
        vec![(4, None), (3, Some("alice")), (2, None), (1, None)]
    );
    for r in &listed {
        assert_eq!(r.compute_hash(), r.hash, "record {}", r.seq);
    }
    // The JSON names it only when present.
    let with = serde_json::to_value(&listed[1])?;
    let without = serde_json::to_value(&listed[0])?;
    assert_eq!(with["on_behalf_of"], json!("alice"));
    assert!(without.get("on_behalf_of").is_none(), "{without}");

    let alice = AuditFilter {
        on_behalf_of: Some("alice".into()),
        ..AuditFilter::default()
    };
    let seqs: Vec<i64> = log.list(&alice)?.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![3]);

    // Opening again (already the current version) changes nothing.
    drop(log);
    let log = AuditLog::open(&path)?;
    assert!(log.verify()?.ok);
    assert_eq!(user_version(&path)?, 3);
    Ok(())
}

#[test]
fn editing_on_behalf_of_is_reported() -> TestResult {
    for sql in [
        "UPDATE audit_log SET on_behalf_of = 'mallory' WHERE seq = 2",
        "UPDATE audit_log SET on_behalf_of = NULL WHERE seq = 2",
        "UPDATE audit_log SET on_behalf_of = 'bob' WHERE seq = 1",
    ] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("audit.db");
        let log = AuditLog::open(&path)?;
        log.append(record("pi-health", "compose_ps", Decision::Executed))?;
        let mut carried = record("pi-health", "compose_restart", Decision::Executed);
        carried.on_behalf_of = Some("alice".into());
        log.append(carried)?;
        log.append(record("pi-health", "compose_ps", Decision::Executed))?;
        assert!(log.verify()?.ok);

        tamper(&path, sql)?;
        let edited = if sql.ends_with("seq = 1") { 1 } else { 2 };
        assert_eq!(
            problems(&log)?,
            vec![format!("record {edited}: hash mismatch (edited)")],
            "{sql}"
        );
    }
    Ok(())
}

#[test]
fn a_newer_schema_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.db");
    drop(AuditLog::open(&path)?);
    tamper(&path, "PRAGMA user_version = 4")?;
    assert!(matches!(
        AuditLog::open(&path),
        Err(audit::AuditError::SchemaVersion { found: 4, .. })
    ));
    Ok(())
}
