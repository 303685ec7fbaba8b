//! Tampering with the database file directly, through a separate connection, and what
//! `verify` says about it.

mod common;

use audit::{AuditFilter, AuditLog};
use common::{TestResult, log_with, tamper};

fn problems(log: &AuditLog) -> Result<Vec<String>, audit::AuditError> {
    let report = log.verify()?;
    assert_eq!(report.ok, report.problems.is_empty());
    Ok(report.problems)
}

#[test]
fn an_untouched_log_verifies() -> TestResult {
    let (_dir, log, _) = log_with(20)?;
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.records, 20);
    assert_eq!(report.head_seq, 20);
    let (_d, empty, _) = log_with(0)?;
    assert!(empty.verify()?.ok);
    Ok(())
}

#[test]
fn an_edited_field_is_named() -> TestResult {
    for (column, value) in [
        ("principal", "'mallory'"),
        ("decision", "'denied'"),
        ("args", "'{}'"),
        ("reason", "NULL"),
        ("time", "'2020-01-01T00:00:00.000Z'"),
        ("latency_ms", "4"),
        ("approver", "'bob'"),
        ("on_behalf_of", "'alice'"),
    ] {
        let (_dir, log, path) = log_with(20)?;
        tamper(
            &path,
            &format!("UPDATE audit_log SET {column} = {value} WHERE seq = 17"),
        )?;
        assert_eq!(
            problems(&log)?,
            vec!["record 17: hash mismatch (edited)".to_owned()],
            "editing {column}"
        );
    }
    Ok(())
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_next_link() -> TestResult {
    let (_dir, log, path) = log_with(20)?;
    // The attacker knows the algorithm: fix record 17's own hash after editing it.
    let mut r17 = log
        .list(&AuditFilter {
            before_seq: Some(18),
            limit: 1,
            ..AuditFilter::default()
        })?
        .remove(0);
    r17.principal = "mallory".into();
    let forged = r17.compute_hash();
    tamper(
        &path,
        &format!("UPDATE audit_log SET principal = 'mallory', hash = '{forged}' WHERE seq = 17"),
    )?;
    assert_eq!(
        problems(&log)?,
        vec!["record 18: previous hash does not match record 17 (deleted or reordered)".to_owned()]
    );
    Ok(())
}

#[test]
fn a_deleted_record_in_the_middle_is_named() -> TestResult {
    let (_dir, log, path) = log_with(20)?;
    tamper(&path, "DELETE FROM audit_log WHERE seq = 17")?;
    let found = problems(&log)?;
    assert!(
        found.contains(
            &"record 18: previous hash does not match record 16 (deleted or reordered)".to_owned()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(&"record 18: records 17..18 are missing (deleted)".to_owned()),
        "{found:?}"
    );
    Ok(())
}

#[test]
fn deleting_the_first_records_is_detected() -> TestResult {
    let (_dir, log, path) = log_with(5)?;
    tamper(&path, "DELETE FROM audit_log WHERE seq <= 2")?;
    let found = problems(&log)?;
    assert!(
        found.iter().any(|p| p.starts_with("record 3: ")),
        "{found:?}"
    );
    Ok(())
}

#[test]
fn swapped_records_are_named() -> TestResult {
    let (_dir, log, path) = log_with(20)?;
    tamper(
        &path,
        "UPDATE audit_log SET seq = -1 WHERE seq = 5;
         UPDATE audit_log SET seq = 5 WHERE seq = 6;
         UPDATE audit_log SET seq = 6 WHERE seq = -1;",
    )?;
    let found = problems(&log)?;
    for expected in [
        "record 5: hash mismatch (edited)",
        "record 5: previous hash does not match record 4 (deleted or reordered)",
        "record 6: hash mismatch (edited)",
        "record 6: previous hash does not match record 5 (deleted or reordered)",
        "record 7: previous hash does not match record 6 (deleted or reordered)",
    ] {
        assert!(
            found.contains(&expected.to_owned()),
            "missing {expected:?} in {found:?}"
        );
    }
    Ok(())
}

#[test]
fn a_forged_record_with_a_made_up_hash_is_named() -> TestResult {
    let (_dir, log, path) = log_with(5)?;
    let head = log.head()?.1;
    tamper(
        &path,
        &format!(
            "INSERT INTO audit_log (seq, time, request_id, principal, role, tool, args, decision, \
             latency_ms, prev_hash, hash) VALUES (6, '2024-01-01T00:00:00.000Z', 'r', 'mallory', \
             'admin', 'compose_up', '{{}}', 'executed', 1, '{head}', '{}')",
            "f".repeat(64)
        ),
    )?;
    let found = problems(&log)?;
    assert!(
        found.contains(&"record 6: hash mismatch (edited)".to_owned()),
        "{found:?}"
    );
    Ok(())
}

#[test]
fn a_forged_record_with_a_valid_chain_is_caught_by_the_anchor() -> TestResult {
    let (_dir, log, path) = log_with(5)?;
    // A perfect forgery: right prev_hash, right hash. Only the anchor can tell.
    let mut forged = log
        .list(&AuditFilter {
            limit: 1,
            ..AuditFilter::default()
        })?
        .remove(0);
    forged.prev_hash = forged.hash.clone();
    forged.seq = 6;
    forged.principal = "mallory".into();
    forged.hash = forged.compute_hash();
    tamper(
        &path,
        &format!(
            "INSERT INTO audit_log SELECT 6, time, request_id, 'mallory', role, tool, args, \
             decision, reason, approval_id, approver, result_digest, latency_ms, '{}', '{}', \
             on_behalf_of, seal FROM audit_log WHERE seq = 5",
            forged.prev_hash, forged.hash
        ),
    )?;
    let found = problems(&log)?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("records 6..=6 come after the head anchor (record 5)"),
        "{found:?}"
    );
    // The same forgery inserted in the middle (after deleting the original) breaks the
    // next link.
    let (_dir2, log2, path2) = log_with(5)?;
    let mut r3 = log2
        .list(&AuditFilter {
            before_seq: Some(4),
            limit: 1,
            ..AuditFilter::default()
        })?
        .remove(0);
    r3.principal = "mallory".into();
    let h = r3.compute_hash();
    tamper(
        &path2,
        &format!(
            "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE seq = 3;
             DELETE FROM audit_log WHERE seq = 3;
             UPDATE t SET principal = 'mallory', hash = '{h}';
             INSERT INTO audit_log SELECT * FROM t;"
        ),
    )?;
    assert_eq!(
        problems(&log2)?,
        vec!["record 4: previous hash does not match record 3 (deleted or reordered)".to_owned()]
    );
    Ok(())
}

#[test]
fn a_truncated_tail_is_caught_by_the_anchor() -> TestResult {
    let (_dir, log, path) = log_with(20)?;
    // The chain of records 1..=17 is perfectly valid on its own.
    tamper(&path, "DELETE FROM audit_log WHERE seq > 17")?;
    let found = problems(&log)?;
    assert_eq!(
        found,
        vec![
            "the log ends at record 17 but the head anchor names record 20: records 18..=20 \
             were deleted (tail truncated)"
                .to_owned()
        ]
    );
    // A fresh process sees the same thing.
    drop(log);
    let reopened = AuditLog::open(&path)?;
    assert!(!reopened.verify()?.ok);
    Ok(())
}

#[test]
fn emptying_the_log_is_caught_by_the_anchor() -> TestResult {
    let (_dir, log, path) = log_with(3)?;
    tamper(&path, "DELETE FROM audit_log")?;
    let report = log.verify()?;
    assert!(!report.ok);
    assert_eq!(report.records, 0);
    assert!(
        report.problems[0].contains("records 1..=3 were deleted"),
        "{:?}",
        report.problems
    );
    Ok(())
}

#[test]
fn a_missing_or_damaged_anchor_is_reported() -> TestResult {
    let (_dir, log, _) = log_with(3)?;
    std::fs::remove_file(log.anchor_path())?;
    let found = problems(&log)?;
    assert!(
        found.len() == 1 && found[0].contains("is missing"),
        "{found:?}"
    );

    std::fs::write(log.anchor_path(), "garbage\n")?;
    let found = problems(&log)?;
    assert!(
        found.len() == 1 && found[0].contains("is invalid"),
        "{found:?}"
    );

    // The next append rewrites it (and the log verifies again).
    log.append(common::record("x", "t", audit::Decision::Executed))?;
    assert!(log.verify()?.ok);
    Ok(())
}

#[test]
fn a_rewritten_head_is_caught_by_the_anchor() -> TestResult {
    let (_dir, log, path) = log_with(3)?;
    // Rewrite the last record and recompute its hash: the chain alone is satisfied.
    let mut last = log
        .list(&AuditFilter {
            limit: 1,
            ..AuditFilter::default()
        })?
        .remove(0);
    last.principal = "mallory".into();
    let h = last.compute_hash();
    tamper(
        &path,
        &format!("UPDATE audit_log SET principal = 'mallory', hash = '{h}' WHERE seq = 3"),
    )?;
    assert_eq!(
        problems(&log)?,
        vec!["record 3: hash differs from the head anchor (rewritten)".to_owned()]
    );
    Ok(())
}

#[test]
fn hostile_sequence_numbers_do_not_panic() -> TestResult {
    let (_dir, log, path) = log_with(3)?;
    tamper(
        &path,
        &format!("UPDATE audit_log SET seq = {} WHERE seq = 3", i64::MAX),
    )?;
    let found = problems(&log)?;
    assert!(
        found.contains(&format!("record {}: hash mismatch (edited)", i64::MAX)),
        "{found:?}"
    );
    // Appending after the forged maximum fails cleanly instead of overflowing.
    let result = log.append(common::record("x", "t", audit::Decision::Executed));
    assert!(
        matches!(result, Err(audit::AuditError::Corrupt(_))),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn a_rebuilt_table_with_wrong_types_is_reported_not_fatal() -> TestResult {
    let (_dir, log, path) = log_with(3)?;
    // STRICT stops type changes, so rebuild the table without it, as an attacker could.
    tamper(
        &path,
        "CREATE TABLE loose AS SELECT * FROM audit_log;
         DROP TABLE audit_log;
         ALTER TABLE loose RENAME TO audit_log;
         UPDATE audit_log SET latency_ms = 'slow' WHERE seq = 2;",
    )?;
    let found = problems(&log)?;
    // Named once; record 3's link cannot be checked against an unreadable row.
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("record 2: unreadable ("), "{found:?}");
    Ok(())
}
