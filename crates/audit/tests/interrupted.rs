//! A writer stopped between committing a batch and putting its anchor in place (a
//! crash, `SIGKILL`) leaves the database one batch ahead of the anchor, and the
//! staged anchor naming the new head. That verifies; the same lag without the staged
//! anchor, or with one naming anything else, is reported.

mod common;

use audit::{AuditLog, Decision};
use common::{TestResult, log_with, record};
use std::path::{Path, PathBuf};

/// What the disk looks like after a writer was killed between the commit of
/// `batch` records and the rename of their anchor: the anchor of before, and the
/// staged file holding the anchor of after.
fn interrupt_an_append(log: &AuditLog, batch: usize) -> Result<PathBuf, std::io::Error> {
    let before = std::fs::read(log.anchor_path())?;
    log.append_batch(
        (0..batch)
            .map(|i| record(&format!("late{i}"), "compose_ps", Decision::Executed))
            .collect(),
    )
    .map_err(std::io::Error::other)?;
    let staged = staged_name(log.anchor_path());
    std::fs::rename(log.anchor_path(), &staged)?;
    std::fs::write(log.anchor_path(), before)?;
    Ok(staged)
}

fn staged_name(anchor: &Path) -> PathBuf {
    let mut name = anchor.as_os_str().to_owned();
    name.push(".tmp.4242.7");
    PathBuf::from(name)
}

#[test]
fn an_append_interrupted_before_its_anchor_verifies() -> TestResult {
    let (_dir, log, _path) = log_with(5)?;
    interrupt_an_append(&log, 3)?;
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.records, report.head_seq), (8, 8));
    // The next append puts a current anchor in place.
    log.append(record("next", "compose_ps", Decision::Executed))?;
    assert!(log.verify()?.ok);
    Ok(())
}

#[test]
fn a_lag_without_the_staged_anchor_is_reported() -> TestResult {
    let (_dir, log, _path) = log_with(5)?;
    let staged = interrupt_an_append(&log, 2)?;
    std::fs::remove_file(staged)?;
    let report = log.verify()?;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].starts_with("records 6..=7 come after the head anchor (record 5)"),
        "{:?}",
        report.problems
    );
    Ok(())
}

#[test]
fn a_staged_anchor_naming_another_head_does_not_excuse_a_lag() -> TestResult {
    let (_dir, log, path) = log_with(5)?;
    let staged = interrupt_an_append(&log, 2)?;
    // One more record appended behind the log's back, after the interrupted batch.
    common::tamper(
        &path,
        "INSERT INTO audit_log SELECT seq + 1, time, request_id, 'mallory', role, tool, args, \
         decision, reason, approval_id, approver, result_digest, latency_ms, hash, hash, on_behalf_of, seal \
         FROM audit_log WHERE seq = 7",
    )?;
    let report = log.verify()?;
    assert!(!report.ok);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("records 6..=8 come after the head anchor (record 5)")),
        "{:?}",
        report.problems
    );
    // A staged file that is not an anchor at all is ignored, not trusted.
    std::fs::write(staged, "garbage")?;
    assert!(!log.verify()?.ok);
    Ok(())
}

#[test]
fn a_committed_append_leaves_no_staged_file() -> TestResult {
    let (dir, log, _path) = log_with(3)?;
    log.append_batch(vec![
        record("a", "compose_ps", Decision::Executed),
        record("b", "compose_ps", Decision::Executed),
    ])?;
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.retain(|n| n.contains(".tmp."));
    assert!(names.is_empty(), "{names:?}");
    Ok(())
}
