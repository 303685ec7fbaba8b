//! `append` returns `Err` whenever the record is not durably stored where the log's
//! path says. These failures are real as root, which ignores file permissions (so
//! `chmod 0444` proves nothing in a root container):
//!
//! - another connection holds SQLite's write lock past the busy timeout: SQLite itself
//!   refuses the write (SQLITE_BUSY), exactly as when another process hogs the log;
//! - the directory holding the database is removed: SQLite would still "succeed",
//!   writing into the unlinked file, so the log checks the file's identity (device,
//!   inode) around every commit, and the anchor cannot be written either;
//! - the database file is replaced by another file;
//! - the anchor cannot be written (a directory where the anchor goes: rename fails
//!   for root too).

mod common;

use audit::{AuditError, AuditLog, AuditOptions, Decision};
use common::{TestResult, log_with, record};
use std::time::{Duration, Instant};

#[test]
fn a_held_write_lock_makes_append_fail_then_recover() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.db");
    let log = AuditLog::open_with(
        &path,
        AuditOptions {
            busy_timeout: Duration::from_millis(200),
            ..AuditOptions::default()
        },
    )?;
    log.append(record("a", "t", Decision::Executed))?;

    let hog = rusqlite::Connection::open(&path)?;
    hog.execute_batch("BEGIN IMMEDIATE")?;
    let started = Instant::now();
    let result = log.append(record("b", "compose_restart", Decision::Approved));
    assert!(
        matches!(result, Err(AuditError::Sqlite { .. })),
        "append must fail while the write lock is held: {result:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it waited for the busy timeout"
    );
    hog.execute_batch("ROLLBACK")?;

    // Nothing half-written: the next append takes seq 2 and the chain is intact.
    let next = log.append(record("c", "t", Decision::Executed))?;
    assert_eq!(next.seq, 2);
    assert!(log.verify()?.ok);
    Ok(())
}

#[test]
fn a_removed_directory_makes_append_fail() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sub = dir.path().join("data");
    std::fs::create_dir(&sub)?;
    let log = AuditLog::open(&sub.join("audit.db"))?;
    log.append(record("a", "t", Decision::Executed))?;
    std::fs::remove_dir_all(&sub)?;
    let result = log.append(record("b", "t", Decision::Executed));
    assert!(
        matches!(result, Err(AuditError::Moved { .. })),
        "{result:?}"
    );
    let text = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("removed or replaced"), "{text}");
    Ok(())
}

#[test]
fn a_replaced_database_file_makes_append_fail() -> TestResult {
    let (dir, log, path) = log_with(2)?;
    // Another valid database moved over the path (a restore, or an attacker).
    let other = dir.path().join("other.db");
    drop(AuditLog::open(&other)?);
    std::fs::rename(&other, &path)?;
    let result = log.append(record("b", "t", Decision::Executed));
    assert!(
        matches!(result, Err(AuditError::Moved { .. })),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn an_unwritable_anchor_makes_append_fail() -> TestResult {
    let (_dir, log, _) = log_with(1)?;
    std::fs::remove_file(log.anchor_path())?;
    std::fs::create_dir(log.anchor_path())?;
    std::fs::write(log.anchor_path().join("occupied"), b"x")?;
    let result = log.append(record("b", "t", Decision::Executed));
    match result {
        Err(AuditError::Anchor { seq, .. }) => assert_eq!(seq, 2),
        other => panic!("expected an anchor error, got {other:?}"),
    }
    Ok(())
}
