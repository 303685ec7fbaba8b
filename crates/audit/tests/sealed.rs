//! Sealed logs against an attacker who can write the whole data directory (the
//! database and its head anchor) and knows every algorithm: what `verify_with` says
//! given the initial key and the witness, and what it cannot see.

mod common;

use audit::{
    AuditError, AuditFilter, AuditLog, AuditOptions, AuditRecord, Decision, GENESIS_HASH, SealKey,
    VerifyOptions, canonical_json, epoch_of,
};
use common::{TestResult, record, tamper};
use std::path::{Path, PathBuf};

struct Sealed {
    _dir: tempfile::TempDir,
    log: AuditLog,
    db: PathBuf,
    key_file: PathBuf,
    witness: PathBuf,
    /// What the operator keeps offline.
    k0: SealKey,
}

fn options(key_file: &Path, witness: &Path) -> AuditOptions {
    AuditOptions {
        key_file: Some(key_file.to_owned()),
        witness_file: Some(witness.to_owned()),
        create_key: true,
        ..AuditOptions::default()
    }
}

/// A sealed log of `n` records, one append each: records 1..=16 are epoch 0, 17..=32
/// epoch 1, 33..=48 epoch 2. The key and the witness live outside the data directory.
fn sealed_log(n: usize) -> Result<Sealed, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for sub in ["data", "keys", "remote"] {
        std::fs::create_dir(dir.path().join(sub))?;
    }
    let db = dir.path().join("data/audit.db");
    let key_file = dir.path().join("keys/audit.key");
    let witness = dir.path().join("remote/audit.witness");
    let log = AuditLog::open_with(&db, options(&key_file, &witness))?;
    let k0 = log.take_initial_key().ok_or("no initial key")?;
    assert!(log.take_initial_key().is_none(), "handed out once");
    for i in 0..n {
        log.append(record(&format!("p{i}"), "compose_ps", Decision::Executed))?;
    }
    Ok(Sealed {
        _dir: dir,
        log,
        db,
        key_file,
        witness,
        k0,
    })
}

impl Sealed {
    fn with_key(&self) -> VerifyOptions {
        VerifyOptions {
            key: Some(self.k0.clone()),
            witness_file: None,
        }
    }

    fn with_key_and_witness(&self) -> VerifyOptions {
        VerifyOptions {
            key: Some(self.k0.clone()),
            witness_file: Some(self.witness.clone()),
        }
    }

    /// Every record, oldest first.
    fn records(&self) -> Result<Vec<AuditRecord>, AuditError> {
        let mut all = self.log.list(&AuditFilter {
            limit: audit::MAX_LIMIT,
            ..AuditFilter::default()
        })?;
        all.reverse();
        Ok(all)
    }
}

/// The attacker: replaces the table with `records`, renumbered and re-chained from
/// the genesis hash, and rewrites the head anchor to match. Seals are kept as they
/// are, except that with a stolen key every record the key (moved forward) can seal
/// is re-sealed.
fn rewrite(
    db: &Path,
    mut records: Vec<AuditRecord>,
    stolen: Option<&SealKey>,
) -> Result<(), Box<dyn std::error::Error>> {
    let conn = rusqlite::Connection::open(db)?;
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM audit_log", [])?;
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i64::try_from(i)? + 1;
        r.prev_hash = prev.clone();
        r.hash = r.compute_hash();
        if let Some(stolen) = stolen {
            let mut key = stolen.clone();
            if key.advance_to(epoch_of(r.seq)) {
                r.seal = Some(key.seal(&r.hash));
            }
        }
        tx.execute(
            "INSERT INTO audit_log (seq, time, request_id, principal, role, tool, args, \
             decision, reason, approval_id, approver, result_digest, latency_ms, prev_hash, \
             hash, on_behalf_of, seal) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            rusqlite::params![
                r.seq,
                r.time,
                r.request_id,
                r.principal,
                r.role,
                r.tool,
                canonical_json(&r.args),
                r.decision.as_str(),
                r.reason,
                r.approval_id,
                r.approver,
                r.result_digest,
                i64::try_from(r.latency_ms)?,
                r.prev_hash,
                r.hash,
                r.on_behalf_of,
                r.seal,
            ],
        )?;
        prev = r.hash.clone();
    }
    tx.commit()?;
    let mut anchor = db.as_os_str().to_owned();
    anchor.push(".head");
    std::fs::write(
        anchor,
        format!("ops-copilot-audit-head v1 {} {prev}\n", records.len()),
    )?;
    Ok(())
}

fn has(problems: &[String], needle: &str) -> bool {
    problems.iter().any(|p| p.contains(needle))
}

#[test]
fn a_sealed_log_verifies_and_says_what_that_proves() -> TestResult {
    let s = sealed_log(40)?;
    let records = s.records()?;
    assert!(records.iter().all(|r| r.seal.is_some()));

    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.records, report.sealed), (40, 40));
    assert_eq!(report.proven.len(), 3, "{:?}", report.proven);
    assert!(report.proven[1].contains("every sealed record checked (40 of them, epochs 0 to 2)"));
    assert!(report.proven[2].contains("all 40 heads the witness"));
    assert!(has(&report.not_proven, "records after record 40"));
    assert!(has(
        &report.not_proven,
        "the key file holds the key of the newest epoch (2"
    ));

    // The key file moved on: it holds epoch 2 (records 33..=48), not the initial key.
    let current = SealKey::read_file(&s.key_file)?;
    assert_eq!(current.epoch(), 2);
    assert_ne!(current.secret_hex(), s.k0.secret_hex());
    let mut derived = s.k0.clone();
    assert!(derived.advance_to(2));
    assert_eq!(derived, current);

    // Without the key, the report says the seals went unchecked.
    let plain = s.log.verify()?;
    assert!(plain.ok);
    assert!(
        has(&plain.not_proven, "no key was given"),
        "{:?}",
        plain.not_proven
    );
    assert!(has(&plain.not_proven, "give the witness file"));

    // The current key file checks its own epoch and says what it left unchecked.
    let partial = s.log.verify_with(&VerifyOptions {
        key: Some(current),
        witness_file: None,
    })?;
    assert!(partial.ok, "{:?}", partial.problems);
    assert!(has(
        &partial.not_proven,
        "32 records were sealed in epochs before"
    ));

    // Reopening with the key keeps sealing in line.
    drop(s.log);
    let log = AuditLog::open_with(&s.db, options(&s.key_file, &s.witness))?;
    assert!(log.take_initial_key().is_none());
    log.append(record("late", "compose_ps", Decision::Executed))?;
    let report = log.verify_with(&VerifyOptions {
        key: Some(s.k0.clone()),
        witness_file: Some(s.witness.clone()),
    })?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.sealed, 41);
    Ok(())
}

#[test]
fn an_edited_and_rechained_log_with_its_anchor_rewritten_fails_the_seals() -> TestResult {
    let s = sealed_log(40)?;
    let mut records = s.records()?;
    records[4].principal = "mallory".into();
    rewrite(&s.db, records, None)?;

    // The unkeyed chain and the anchor are satisfied: this is the gap seals close.
    let plain = s.log.verify()?;
    assert!(plain.ok, "{:?}", plain.problems);

    let report = s.log.verify_with(&s.with_key())?;
    assert!(!report.ok);
    assert!(report.proven.is_empty());
    assert_eq!(
        report.problems[0],
        "record 5: seal does not match (written or re-chained without the key of epoch 0)"
    );
    // Every re-chained record from 5 on.
    assert_eq!(report.problems.len(), 36, "{:?}", report.problems);

    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert!(has(
        &report.problems,
        "record 5: differs from the head the witness recorded at line 5"
    ));
    Ok(())
}

#[test]
fn a_truncated_tail_with_its_anchor_rewritten_is_caught_by_the_witness() -> TestResult {
    let s = sealed_log(40)?;
    let mut records = s.records()?;
    records.truncate(30);
    rewrite(&s.db, records, None)?;

    // Every remaining seal is genuine: only the witness can tell.
    let keyed = s.log.verify_with(&s.with_key())?;
    assert!(keyed.ok, "{:?}", keyed.problems);
    assert!(has(&keyed.not_proven, "give the witness file"));

    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert!(!report.ok);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("10 heads recorded by the witness")
            && report.problems[0].contains("(records 31 to 40): the log was truncated"),
        "{:?}",
        report.problems
    );

    // The gateway refuses to go on sealing a log shorter than its key.
    drop(s.log);
    let reopened = AuditLog::open_with(&s.db, options(&s.key_file, &s.witness));
    assert!(
        matches!(&reopened, Err(AuditError::Key(why)) if why.contains("cut off the end")),
        "{reopened:?}"
    );
    Ok(())
}

#[test]
fn deleted_and_renumbered_records_fail_the_seals() -> TestResult {
    let s = sealed_log(40)?;
    let mut records = s.records()?;
    records.remove(9);
    rewrite(&s.db, records, None)?;
    assert!(s.log.verify()?.ok);
    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert!(!report.ok);
    assert_eq!(
        report.problems[0],
        "record 10: seal does not match (written or re-chained without the key of epoch 0)"
    );
    assert!(has(&report.problems, "heads recorded by the witness"));
    Ok(())
}

#[test]
fn a_forged_compose_up_appended_is_named() -> TestResult {
    for seal in [Some("f".repeat(64)), None] {
        let s = sealed_log(40)?;
        let mut records = s.records()?;
        let mut forged = records[39].clone();
        forged.tool = "compose_up".into();
        forged.principal = "mallory".into();
        forged.seal = seal.clone();
        records.push(forged);
        rewrite(&s.db, records, None)?;

        let report = s.log.verify_with(&s.with_key_and_witness())?;
        let expected = if seal.is_some() {
            "record 41: seal does not match (written or re-chained without the key of epoch 2)"
        } else {
            "record 41: not sealed, but the key seals every record from 1 on (added without \
             the key, or its seal removed)"
        };
        assert_eq!(report.problems, vec![expected.to_owned()]);
        if seal.is_none() {
            // An unsealed record after sealed ones shows even without the key.
            assert!(has(&s.log.verify()?.problems, "record 41: not sealed"));
        }
    }
    Ok(())
}

#[test]
fn a_wiped_log_is_caught_by_the_witness() -> TestResult {
    let s = sealed_log(20)?;
    rewrite(&s.db, Vec::new(), None)?;
    let keyed = s.log.verify_with(&s.with_key())?;
    assert!(keyed.ok, "{:?}", keyed.problems);
    assert!(has(&keyed.not_proven, "the log has no sealed record"));

    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert_eq!(report.records, 0);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("20 heads recorded by the witness"));
    assert!(report.problems[0].ends_with("the log was wiped"));

    // Deleting the files outright: a fresh log opened in their place says the same.
    drop(s.log);
    for suffix in ["", "-wal", "-shm", ".head"] {
        let mut p = s.db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let fresh = AuditLog::open(&s.db)?;
    let report = fresh.verify_with(&VerifyOptions {
        key: Some(s.k0.clone()),
        witness_file: Some(s.witness.clone()),
    })?;
    assert!(!report.ok);
    assert!(report.problems[0].ends_with("the log was wiped"));
    Ok(())
}

#[test]
fn a_stolen_current_key_cannot_reseal_earlier_epochs() -> TestResult {
    let s = sealed_log(40)?;
    let stolen = SealKey::read_file(&s.key_file)?;
    assert_eq!(stolen.epoch(), 2);
    // No way back: the stolen key moves only forward.
    assert!(!stolen.clone().advance_to(0));

    // Rewrite record 5 (epoch 0) and re-seal everything the stolen key can.
    let mut records = s.records()?;
    records[4].principal = "mallory".into();
    rewrite(&s.db, records, Some(&stolen))?;
    let report = s.log.verify_with(&s.with_key())?;
    assert!(!report.ok);
    // Records 5..=32 (epochs 0 and 1) fail; 33..=40 carry the thief's valid seals.
    assert_eq!(report.problems.len(), 28, "{:?}", report.problems);
    assert_eq!(
        report.problems.last().map(String::as_str),
        Some("record 32: seal does not match (written or re-chained without the key of epoch 1)")
    );
    Ok(())
}

#[test]
fn what_a_stolen_current_key_can_do_is_stated() -> TestResult {
    // The documented limit: a thief appends records sealed with the current key.
    let s = sealed_log(40)?;
    let stolen = SealKey::read_file(&s.key_file)?;
    let mut records = s.records()?;
    let mut forged = records[39].clone();
    forged.tool = "compose_up".into();
    records.push(forged);
    rewrite(&s.db, records, Some(&stolen))?;
    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert!(report.ok, "{:?}", report.problems);
    assert!(has(
        &report.not_proven,
        "the key file holds the key of the newest epoch (2, from record 33)"
    ));
    assert!(has(&report.not_proven, "records after record 40"));
    Ok(())
}

#[test]
fn another_logs_key_file_is_refused() -> TestResult {
    let a = sealed_log(20)?;
    let b = sealed_log(20)?;
    drop(a.log);
    std::fs::copy(&b.key_file, &a.key_file)?;
    let opened = AuditLog::open_with(&a.db, options(&a.key_file, &a.witness));
    assert!(
        matches!(&opened, Err(AuditError::Key(why)) if why.contains("another log's key file")),
        "{opened:?}"
    );
    Ok(())
}

#[test]
fn a_forged_witness_line_and_a_hostile_seq_are_reported() -> TestResult {
    let s = sealed_log(5)?;
    let head = s.log.head()?.1;
    let mut w = std::fs::OpenOptions::new().append(true).open(&s.witness)?;
    std::io::Write::write_all(
        &mut w,
        format!(
            "ops-copilot-audit-witness v1 2024-01-01T00:00:00.000Z 5 {head} {}\n",
            "0".repeat(64)
        )
        .as_bytes(),
    )?;
    let report = s.log.verify_with(&s.with_key_and_witness())?;
    assert_eq!(
        report.problems,
        vec![format!(
            "witness {} line 6 (record 5): no valid seal: the line is forged",
            s.witness.display()
        )]
    );

    tamper(
        &s.db,
        &format!("UPDATE audit_log SET seq = {} WHERE seq = 5", i64::MAX),
    )?;
    let report = s.log.verify_with(&s.with_key())?;
    assert!(
        has(&report.problems, "implausibly far beyond epoch 0"),
        "{:?}",
        report.problems
    );
    Ok(())
}

#[test]
fn a_v2_store_migrates_and_seals_from_where_the_key_began() -> TestResult {
    // A version-2 store: no seal column, unsealed records.
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("audit.db");
    let key_file = dir.path().join("audit.key");
    let witness = dir.path().join("audit.witness");
    {
        let log = AuditLog::open(&db)?;
        for i in 0..3 {
            log.append(record(&format!("old{i}"), "compose_ps", Decision::Executed))?;
        }
    }
    tamper(
        &db,
        "ALTER TABLE audit_log DROP COLUMN seal; PRAGMA user_version = 2;",
    )?;

    let log = AuditLog::open_with(&db, options(&key_file, &witness))?;
    let k0 = log.take_initial_key().ok_or("no initial key")?;
    assert_eq!((k0.epoch(), k0.first_seq()), (0, 4));
    log.append(record("new", "compose_restart", Decision::Executed))?;
    let version: i64 =
        rusqlite::Connection::open(&db)?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, 3);

    let report = log.verify_with(&VerifyOptions {
        key: Some(k0.clone()),
        witness_file: Some(witness.clone()),
    })?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.records, report.sealed), (4, 1));
    assert!(has(
        &report.proven,
        "records 1 to 3 were written before the log had a key"
    ));

    // The unsealed old records are still pinned: editing one and re-chaining breaks
    // the first seal.
    let mut records = log.list(&AuditFilter::default())?;
    records.reverse();
    records[0].principal = "mallory".into();
    rewrite(&db, records, None)?;
    let report = log.verify_with(&VerifyOptions {
        key: Some(k0),
        witness_file: None,
    })?;
    assert_eq!(
        report.problems,
        vec!["record 4: seal does not match (written or re-chained without the key of epoch 0)"]
    );
    Ok(())
}

#[test]
fn a_key_file_that_cannot_move_on_is_an_error_after_the_commit() -> TestResult {
    let s = sealed_log(15)?;
    // A non-empty directory where the key file goes: its replacement fails, even for root.
    std::fs::remove_file(&s.key_file)?;
    std::fs::create_dir(&s.key_file)?;
    std::fs::write(s.key_file.join("keep"), b"x")?;
    // Record 16 ends epoch 0: the key file must move on to epoch 1, and cannot.
    let result = s.log.append(record("p", "compose_ps", Decision::Executed));
    assert!(
        matches!(&result, Err(e @ AuditError::KeyNotAdvanced { seq: 16, epoch: 1, .. }) if e.records_committed()),
        "{result:?}"
    );
    assert_eq!(s.log.head()?.0, 16);
    // Once it can, the next append puts the key in place.
    std::fs::remove_dir_all(&s.key_file)?;
    s.log
        .append(record("q", "compose_ps", Decision::Executed))?;
    assert_eq!(SealKey::read_file(&s.key_file)?.epoch(), 1);
    assert!(s.log.verify_with(&s.with_key_and_witness())?.ok);
    Ok(())
}

/// The head line sent off the machine is the witness file's own last line, so a
/// file of such lines (what a remote receiver kept) is a witness that catches a cut.
#[test]
fn the_head_witness_line_is_what_the_witness_file_holds() -> TestResult {
    let empty = tempfile::tempdir()?;
    let log = AuditLog::open(&empty.path().join("audit.db"))?;
    assert_eq!(log.head_witness()?, None);

    let s = sealed_log(40)?;
    let (seq, line) = s.log.head_witness()?.ok_or("no head")?;
    assert_eq!(seq, 40);
    let file = std::fs::read_to_string(&s.witness)?;
    assert_eq!(file.lines().last(), line.strip_suffix('\n'));

    // Only the heads a receiver got, every tenth: still enough to see the cut.
    let received = s._dir.path().join("remote/received.witness");
    std::fs::write(&received, &line)?;
    let mut records = s.records()?;
    records.truncate(35);
    rewrite(&s.db, records, None)?;
    let report = s.log.verify_with(&VerifyOptions {
        key: Some(s.k0.clone()),
        witness_file: Some(received),
    })?;
    assert!(!report.ok);
    assert!(
        has(&report.problems, "the log was truncated"),
        "{:?}",
        report.problems
    );
    Ok(())
}
