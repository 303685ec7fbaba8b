//! Appending, reading back, filters, limits, and the head.

mod common;

use audit::{AuditFilter, AuditLog, Decision, GENESIS_HASH, NewRecord, digest_json};
use common::{TestResult, log_with, record};
use serde_json::json;

#[test]
fn append_assigns_seq_time_and_chain() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    assert_eq!(log.head()?, (0, GENESIS_HASH.to_owned()));
    let mut r = record("alice", "compose_restart", Decision::Executed);
    r.result_digest = Some(digest_json(&json!({"ok": true})));
    r.approval_id = Some("ap-1".into());
    r.approver = Some("bob".into());
    let first = log.append(r.clone())?;
    let second = log.append(record("bob", "docker_ps", Decision::Denied))?;

    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(first.hash, first.compute_hash());
    assert_eq!(first.time.len(), "2024-05-01T12:00:00.000Z".len());
    assert!(first.time.ends_with('Z') && first.time <= second.time);
    assert_eq!(log.head()?, (2, second.hash.clone()));

    // What list returns is exactly what append returned, newest first.
    let listed = log.list(&AuditFilter::default())?;
    assert_eq!(listed, vec![second, first.clone()]);
    assert_eq!(first.args, r.args);
    assert_eq!(first.approver.as_deref(), Some("bob"));
    Ok(())
}

#[test]
fn records_serialize_with_snake_case_decisions() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    let rec = log.append(record("a", "compose_up", Decision::NeedApproval))?;
    let v = serde_json::to_value(&rec)?;
    assert_eq!(v["decision"], "need_approval");
    assert_eq!(v["seq"], 1);
    assert!(v["hash"].as_str().is_some_and(|h| h.len() == 64));
    Ok(())
}

#[test]
fn reopening_continues_the_chain() -> TestResult {
    let (_dir, log, path) = log_with(3)?;
    drop(log);
    let log = AuditLog::open(&path)?;
    let fourth = log.append(record("x", "t", Decision::Failed))?;
    assert_eq!(fourth.seq, 4);
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.records, report.head_seq), (4, 4));
    assert_eq!(report.head, fourth.hash);
    Ok(())
}

#[test]
fn batch_is_one_contiguous_run() -> TestResult {
    let (_dir, log, _) = log_with(1)?;
    let batch: Vec<NewRecord> = (0..10)
        .map(|i| record(&format!("b{i}"), "docker_ps", Decision::Executed))
        .collect();
    let stored = log.append_batch(batch)?;
    let seqs: Vec<i64> = stored.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (2..=11).collect::<Vec<_>>());
    for pair in stored.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert!(log.append_batch(Vec::new())?.is_empty());
    assert!(log.verify()?.ok);
    Ok(())
}

#[test]
fn a_bad_record_in_a_batch_stores_none() -> TestResult {
    let (_dir, log, _) = log_with(2)?;
    let mut bad = record("x", "t", Decision::Executed);
    bad.result_digest = Some("nope".into());
    let result = log.append_batch(vec![record("ok", "t", Decision::Executed), bad]);
    assert!(matches!(result, Err(audit::AuditError::InvalidRecord(_))));
    assert_eq!(log.head()?.0, 2);
    Ok(())
}

#[test]
fn limits_keep_records_bounded_but_recorded() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    let mut r = record(&"p".repeat(10_000), "t", Decision::Denied);
    r.args = json!({"blob": "x".repeat(200_000)});
    r.reason = Some("why ".repeat(10_000));
    let stored = log.append(r)?;
    assert!(stored.principal.len() <= audit::MAX_ID_BYTES);
    assert!(
        stored
            .reason
            .as_ref()
            .is_some_and(|s| s.len() <= audit::MAX_REASON_BYTES)
    );
    assert_eq!(stored.args["bytes"], json!(200_011));
    assert!(stored.args["sha256"].is_string());
    assert!(log.verify()?.ok);
    Ok(())
}

#[test]
fn filters_select_and_page() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    let plan = [
        ("alice", "docker_ps", Decision::Executed),
        ("bob", "compose_restart", Decision::NeedApproval),
        ("alice", "compose_restart", Decision::Approved),
        ("alice", "compose_restart", Decision::Executed),
        ("bob", "compose_pull", Decision::Denied),
        ("carol", "compose_logs", Decision::Failed),
    ];
    for (p, t, d) in plan {
        log.append(record(p, t, d))?;
    }
    let seqs = |f: AuditFilter| -> Result<Vec<i64>, audit::AuditError> {
        Ok(log.list(&f)?.iter().map(|r| r.seq).collect())
    };
    let all = AuditFilter::default();
    assert_eq!(seqs(all.clone())?, vec![6, 5, 4, 3, 2, 1]);
    assert_eq!(
        seqs(AuditFilter {
            principal: Some("alice".into()),
            ..all.clone()
        })?,
        vec![4, 3, 1]
    );
    assert_eq!(
        seqs(AuditFilter {
            tool: Some("compose_restart".into()),
            ..all.clone()
        })?,
        vec![4, 3, 2]
    );
    assert_eq!(
        seqs(AuditFilter {
            decision: Some(Decision::Executed),
            ..all.clone()
        })?,
        vec![4, 1]
    );
    assert_eq!(
        seqs(AuditFilter {
            principal: Some("alice".into()),
            tool: Some("compose_restart".into()),
            decision: Some(Decision::Executed),
            ..all.clone()
        })?,
        vec![4]
    );
    // Paging: limit, then before_seq of the last one seen.
    assert_eq!(
        seqs(AuditFilter {
            limit: 2,
            ..all.clone()
        })?,
        vec![6, 5]
    );
    assert_eq!(
        seqs(AuditFilter {
            limit: 2,
            before_seq: Some(5),
            ..all.clone()
        })?,
        vec![4, 3]
    );
    // The routine hidden: reads that ran; a read that failed and every change stay.
    assert_eq!(
        seqs(AuditFilter {
            hide_executed_tools: vec!["docker_ps".into(), "compose_logs".into()],
            ..all.clone()
        })?,
        vec![6, 5, 4, 3, 2]
    );
    assert_eq!(
        seqs(AuditFilter {
            hide_executed_tools: vec!["x') OR ('1'='1".into()],
            ..all.clone()
        })?,
        vec![6, 5, 4, 3, 2, 1],
        "names are bound"
    );
    // Values are bound, not spliced into SQL.
    assert!(
        seqs(AuditFilter {
            principal: Some("x' OR '1'='1".into()),
            ..all.clone()
        })?
        .is_empty()
    );
    assert!(
        seqs(AuditFilter {
            tool: Some("%".into()),
            ..all.clone()
        })?
        .is_empty()
    );
    Ok(())
}

#[test]
fn time_filters_bound_the_range() -> TestResult {
    let (_dir, log, _) = log_with(3)?;
    let records = log.list(&AuditFilter::default())?;
    let newest = &records[0].time;
    let f = |since: Option<&str>, until: Option<&str>| AuditFilter {
        since: since.map(str::to_owned),
        until: until.map(str::to_owned),
        ..AuditFilter::default()
    };
    assert_eq!(log.list(&f(Some("2000-01-01"), None))?.len(), 3);
    assert_eq!(log.list(&f(Some("9999-01-01T00:00:00Z"), None))?.len(), 0);
    assert_eq!(
        log.list(&f(None, Some("2000-01-01T00:00:00+00:00")))?.len(),
        0
    );
    // `since` is inclusive, `until` exclusive.
    assert!(
        log.list(&f(Some(newest), None))?
            .iter()
            .any(|r| &r.time == newest)
    );
    assert!(
        log.list(&f(None, Some(newest)))?
            .iter()
            .all(|r| &r.time < newest)
    );
    let bad = log.list(&f(Some("yesterday"), None));
    assert!(matches!(bad, Err(audit::AuditError::InvalidFilter(_))));
    Ok(())
}

#[test]
fn limit_is_clamped() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    log.append_batch(
        (0..1100)
            .map(|i| record(&format!("p{i}"), "t", Decision::Executed))
            .collect(),
    )?;
    let n = |limit| -> Result<usize, audit::AuditError> {
        Ok(log
            .list(&AuditFilter {
                limit,
                ..AuditFilter::default()
            })?
            .len())
    };
    assert_eq!(n(0)?, 100);
    assert_eq!(n(1)?, 1);
    assert_eq!(n(5000)?, 1000);
    Ok(())
}

#[test]
fn opening_a_non_database_fails_clearly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.db");
    std::fs::write(
        &path,
        "this is not sqlite, but it is long enough to look like a header....",
    )?;
    let err = AuditLog::open(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("audit.db"), "{err}");
    let missing_dir = dir.path().join("no/such/dir/audit.db");
    assert!(AuditLog::open(&missing_dir).is_err());
    Ok(())
}

#[test]
fn log_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AuditLog>();
}

#[test]
fn records_are_listed_by_the_host_their_call_named() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    let on = |host: Option<&str>| {
        let mut new = record("alice", "compose_ps", Decision::Executed);
        if let Some(host) = host {
            new.args["host"] = json!(host);
        }
        new
    };
    log.append(on(Some("nas")))?;
    log.append(on(None))?;
    log.append(on(Some("pi")))?;
    log.append(on(Some("nas")))?;
    let hosts = |host: &str, host_is_default: bool| -> Result<Vec<i64>, audit::AuditError> {
        Ok(log
            .list(&AuditFilter {
                host: Some(host.to_owned()),
                host_is_default,
                ..AuditFilter::default()
            })?
            .iter()
            .map(|r| r.seq)
            .collect())
    };
    assert_eq!(hosts("nas", false)?, [4, 1]);
    assert_eq!(hosts("pi", false)?, [3]);
    assert_eq!(
        hosts("pi", true)?,
        [3, 2],
        "the default host's: named, or none named"
    );
    assert_eq!(hosts("attic", false)?, Vec::<i64>::new());
    // A value is bound, never SQL.
    assert_eq!(hosts("nas' OR '1'='1", false)?, Vec::<i64>::new());
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_new_log_and_its_wal_are_for_the_owner_only() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let (dir, log, _) = log_with(0)?;
    log.append(record("alice", "compose_ps", Decision::Executed))?;
    for name in ["audit.db", "audit.db-wal"] {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}: {mode:o}");
    }
    Ok(())
}
