//! [`AuditLog`]: the SQLite store, appends (single and grouped), listing, verification.
//!
//! Two connections: appends go through the writer, reads through a read-only
//! connection, so a long `verify` or `list` does not hold up appends (WAL lets readers
//! and one writer work at once). Each sits behind a mutex, which makes the log
//! `Send + Sync` and serialises in-process appends: together with `BEGIN IMMEDIATE`
//! (the SQLite write lock, which also covers other processes) that keeps `seq`
//! contiguous and every `prev_hash` right under concurrency.
//!
//! Lock order: the reader before the writer (`verify` holds both for a moment);
//! nothing takes the reader while holding the writer.

use crate::anchor::{self, Anchor};
use crate::chain::{GENESIS_HASH, HashInput, record_hash};
use crate::error::AuditError;
use crate::filter::AuditFilter;
use crate::record::{AuditRecord, Decision, NewRecord, Prepared};
use crate::seal::{SealKey, replace_key_file};
use crate::time::now_rfc3339;
use crate::verify::{RawRow, Verifier, VerifyOptions, VerifyReport};
use crate::witness::{self, Witnessed};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// 1: the first schema. 2: `on_behalf_of` added. 3: `seal` added. An
/// older database is migrated on open; its records keep NULL in the new columns and
/// verify exactly as before.
const SCHEMA_VERSION: i64 = 3;

/// Page cache per connection, in KiB (SQLite's default is 2 MiB). An append touches
/// the right edge of the table and of its four indexes, a few dozen pages; a listing
/// reads one index range; `verify` reads everything once, which no cache helps. The
/// default would only fill with pages read once, as resident memory of the gateway.
const CACHE_KIB: i64 = 512;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
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
    hash          TEXT NOT NULL,
    on_behalf_of  TEXT,
    seal          TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS audit_log_principal ON audit_log (principal, seq);
CREATE INDEX IF NOT EXISTS audit_log_tool ON audit_log (tool, seq);
CREATE INDEX IF NOT EXISTS audit_log_decision ON audit_log (decision, seq);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time);
";

const COLUMNS: &str = "seq, time, request_id, principal, role, tool, args, decision, reason, \
                       approval_id, approver, result_digest, latency_ms, prev_hash, hash, \
                       on_behalf_of, seal";

/// Tunables for [`AuditLog::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    /// How long an append waits for another writer (another process, or `audit
    /// verify`'s snapshot) before failing. Failing is correct: the caller fails closed.
    pub busy_timeout: Duration,
    /// The sealing key file (see the crate docs), kept outside the data directory;
    /// create it with [`crate::create_key_file`]. `None`: records are not sealed.
    pub key_file: Option<PathBuf>,
    /// The witness file every append also writes the new head to (see the crate
    /// docs), kept outside the data directory. `None`: no witness.
    pub witness_file: Option<PathBuf>,
    /// With `key_file`: create it (a fresh initial key) when it does not exist, and
    /// hand that key out once through [`AuditLog::take_initial_key`].
    pub create_key: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            key_file: None,
            witness_file: None,
            create_key: false,
        }
    }
}

/// The writer's sealing state: the key of the next record's epoch, the only one it
/// holds.
#[derive(Debug)]
struct Sealer {
    key_file: PathBuf,
    key: SealKey,
    /// The epoch of the key in the key file (behind `key` when persisting it failed).
    persisted: i64,
}

impl Sealer {
    /// Puts `key` in the key file, unless it is there already.
    fn persist(&mut self) -> std::io::Result<()> {
        if self.persisted != self.key.epoch() {
            replace_key_file(&self.key_file, &self.key)?;
            self.persisted = self.key.epoch();
        }
        Ok(())
    }
}

/// The audit log. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    anchor_path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Identity of the database file when opened, to notice it being removed or
    /// replaced: SQLite would keep writing into the old, unlinked file and report success.
    file_id: Option<FileId>,
    /// Taken only while holding `writer`.
    sealer: Option<Mutex<Sealer>>,
    witness_file: Option<PathBuf>,
    /// The initial key, when this open created the key file.
    initial_key: Mutex<Option<SealKey>>,
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path`, with default options.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with(path, AuditOptions::default())
    }

    pub fn open_with(path: &Path, options: AuditOptions) -> Result<Self, AuditError> {
        let open_err = |source| AuditError::Open {
            path: path.to_owned(),
            source,
        };
        // Who did what is for the owner only; a file that exists keeps its mode.
        crate::create_owner_only(path).map_err(|e| AuditError::Setup {
            path: path.to_owned(),
            reason: format!("cannot create the database file: {e}"),
        })?;
        let mut writer = Connection::open(path).map_err(open_err)?;
        configure_writer(&writer, path, &options)?;
        create_schema(&mut writer, path)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        reader
            .busy_timeout(options.busy_timeout)
            .map_err(open_err)?;
        reader
            .pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(open_err)?;

        let mut initial_key = None;
        let sealer = match &options.key_file {
            Some(key_file) => {
                let (sealer, created) = open_sealer(&writer, key_file, options.create_key)?;
                initial_key = created;
                Some(Mutex::new(sealer))
            }
            None => None,
        };
        let log = Self {
            path: path.to_owned(),
            anchor_path: anchor::anchor_path(path),
            file_id: file_id(path),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            sealer,
            witness_file: options.witness_file,
            initial_key: Mutex::new(initial_key),
        };
        log.anchor_if_new()?;
        Ok(log)
    }

    /// True when records are sealed (the log was opened with a key file).
    pub fn sealed(&self) -> bool {
        self.sealer.is_some()
    }

    /// The initial key, once, when this open created the key file
    /// ([`AuditOptions::create_key`]): hand it to the operator to keep elsewhere. The
    /// key file holds it only until the first epoch is over (at most
    /// [`crate::EPOCH_RECORDS`] records), then only later keys.
    pub fn take_initial_key(&self) -> Option<SealKey> {
        self.initial_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head anchor sidecar, `<db>.head`.
    pub fn anchor_path(&self) -> &Path {
        &self.anchor_path
    }

    /// Appends one record. When this returns `Ok`, the record is on disk (WAL fsynced)
    /// and the head anchor names it. On `Err` the caller must treat the request as not
    /// audited (fail closed).
    pub fn append(&self, record: NewRecord) -> Result<AuditRecord, AuditError> {
        self.append_batch(vec![record])?
            .pop()
            .ok_or_else(|| AuditError::Corrupt("append stored no record".to_owned()))
    }

    /// Appends records in one transaction: one fsync for all (group commit). All or
    /// none are stored.
    pub fn append_batch(&self, records: Vec<NewRecord>) -> Result<Vec<AuditRecord>, AuditError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = records
            .into_iter()
            .map(Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        let mut writer = lock(&self.writer);
        self.check_file_identity()?;
        let mut sealer = self
            .sealer
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner));
        // Moved along the batch's epochs; becomes the sealer's key only once committed.
        let mut key = sealer.as_deref().map(|s| s.key.clone());
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::sqlite("begin append"))?;
        let (mut seq, mut prev_hash) = read_head(&tx)?;
        let mut stored = Vec::with_capacity(prepared.len());
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO audit_log ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                     ?17)"
                ))
                .map_err(AuditError::sqlite("prepare append"))?;
            for p in prepared {
                // The head comes from the file: a forged huge seq must not panic.
                seq = seq.checked_add(1).ok_or_else(|| {
                    AuditError::Corrupt(format!("record {seq}: no sequence number left"))
                })?;
                if let Some(key) = &mut key
                    && !key.advance_to(crate::seal::epoch_of(seq))
                {
                    return Err(AuditError::Key(format!(
                        "record {seq} is beyond the key's epoch {} (nothing was stored)",
                        key.epoch()
                    )));
                }
                let (record, args_text) =
                    finish_record(p, seq, now_rfc3339(), prev_hash, key.as_ref());
                insert
                    .execute(params![
                        record.seq,
                        record.time,
                        record.request_id,
                        record.principal,
                        record.role,
                        record.tool,
                        args_text,
                        record.decision.as_str(),
                        record.reason,
                        record.approval_id,
                        record.approver,
                        record.result_digest,
                        i64::try_from(record.latency_ms).unwrap_or(i64::MAX),
                        record.prev_hash,
                        record.hash,
                        record.on_behalf_of,
                        record.seal,
                    ])
                    .map_err(AuditError::sqlite("append"))?;
                prev_hash = record.hash.clone();
                stored.push(record);
            }
        }
        // The anchor naming the new head is written and synced before the commit and
        // put in place right after it: a writer stopped in between leaves a staged
        // anchor that `verify` recognises (see `anchor`). If staging fails, nothing
        // is committed.
        let anchor = Anchor {
            seq,
            hash: prev_hash,
        };
        let staged = anchor::stage(&self.anchor_path, &anchor).map_err(|source| {
            AuditError::AnchorNotStaged {
                path: self.anchor_path.clone(),
                source,
            }
        })?;
        tx.commit().map_err(AuditError::sqlite("commit append"))?;
        // Committed, but into the file this path names? (See `file_id`.)
        self.check_file_identity()?;
        staged.publish().map_err(|source| AuditError::Anchor {
            seq,
            path: self.anchor_path.clone(),
            source,
        })?;
        // The key for the next record replaces the key file; earlier keys are forgotten.
        if let (Some(sealer), Some(mut key)) = (sealer.as_deref_mut(), key) {
            let next = crate::seal::epoch_of(seq.saturating_add(1));
            if key.advance_to(next) {
                sealer.key = key;
            }
            sealer
                .persist()
                .map_err(|source| AuditError::KeyNotAdvanced {
                    seq,
                    epoch: sealer.key.epoch(),
                    path: sealer.key_file.clone(),
                    source,
                })?;
        }
        if let (Some(path), Some(head)) = (&self.witness_file, stored.last()) {
            let line = Witnessed {
                time: head.time.clone(),
                seq: head.seq,
                hash: head.hash.clone(),
                seal: head.seal.clone(),
            };
            witness::append(path, &line).map_err(|source| AuditError::Witness {
                seq,
                path: path.clone(),
                source,
            })?;
        }
        Ok(stored)
    }

    /// Records matching `filter`, newest first.
    pub fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, AuditError> {
        let (tail, params) = filter.to_sql()?;
        let reader = lock(&self.reader);
        let mut stmt = reader
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log{tail}"))
            .map_err(AuditError::sqlite("prepare list"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), raw_row)
            .map_err(AuditError::sqlite("list"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(into_record(
                row.map_err(AuditError::sqlite("read record"))?,
            )?);
        }
        Ok(out)
    }

    /// Checks the whole chain and the head anchor. `Err` only when the log cannot be
    /// read at all; tampering is reported in the [`VerifyReport`].
    ///
    /// Consistent against appends from this process (the database snapshot and the
    /// anchor are read under the writer lock). Against another process appending at
    /// the same moment, the anchor may be read a moment before or after the snapshot,
    /// which shows as an anchor problem: verify a quiescent log, or verify again.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.verify_with(&VerifyOptions::default())
    }

    /// [`verify`](Self::verify), and with a key also every seal, with a witness file
    /// also that every head it recorded is still in the log. The report says what was
    /// proven and what was not.
    pub fn verify_with(&self, options: &VerifyOptions) -> Result<VerifyReport, AuditError> {
        let witness_lines = match &options.witness_file {
            Some(path) => {
                Some(
                    witness::read(path).map_err(|source| AuditError::WitnessUnreadable {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let mut reader = lock(&self.reader);
        let tx = reader
            .transaction()
            .map_err(AuditError::sqlite("begin verify"))?;
        let (anchor, staged) = {
            let _no_appends = lock(&self.writer);
            // The first read fixes the snapshot the rest of the walk sees.
            tx.query_row("SELECT count(*) FROM audit_log", [], |r| r.get::<_, i64>(0))
                .map_err(AuditError::sqlite("verify"))?;
            (
                anchor::read(&self.anchor_path),
                anchor::read_staged(&self.anchor_path),
            )
        };
        let mut verifier = Verifier::new(anchor, staged, options.key.clone());
        {
            let mut stmt = tx
                .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
                .map_err(AuditError::sqlite("prepare verify"))?;
            let mut rows = stmt.query([]).map_err(AuditError::sqlite("verify"))?;
            while let Some(row) = rows.next().map_err(AuditError::sqlite("verify"))? {
                match raw_row(row) {
                    Ok(raw) => verifier.row(raw),
                    Err(e) => verifier.unreadable(row.get(0).ok(), e.to_string()),
                }
            }
        }
        if let (Some(lines), Some(path)) = (witness_lines, &options.witness_file) {
            let mut lookup = tx
                .prepare("SELECT hash FROM audit_log WHERE seq = ?1")
                .map_err(AuditError::sqlite("prepare verify"))?;
            let mut checked = Vec::with_capacity(lines.len());
            for line in lines {
                checked.push(match line {
                    Ok(w) => {
                        let stored: Option<String> = lookup
                            .query_row([w.seq], |r| r.get(0))
                            .optional()
                            .map_err(AuditError::sqlite("verify"))?;
                        Ok((w, stored))
                    }
                    Err(why) => Err(why),
                });
            }
            verifier.witness(path, checked);
        }
        Ok(verifier.finish(&self.anchor_path))
    }

    /// The newest record as a witness line (its seq, and the line with its
    /// newline), or `None` while the log is empty: what is sent off the machine,
    /// so that a log cut short or wiped is detected there (`verify` reads such
    /// lines saved to a file as a witness file).
    pub fn head_witness(&self) -> Result<Option<(i64, String)>, AuditError> {
        let head = lock(&self.reader)
            .query_row(
                "SELECT time, seq, hash, seal FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(Witnessed {
                        time: r.get(0)?,
                        seq: r.get(1)?,
                        hash: r.get(2)?,
                        seal: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(AuditError::sqlite("read head"))?;
        Ok(head.map(|head| (head.seq, witness::line(&head))))
    }

    /// Seq and hash of the last record; `(0, GENESIS_HASH)` when empty.
    pub fn head(&self) -> Result<(i64, String), AuditError> {
        read_head(&lock(&self.reader))
    }

    fn check_file_identity(&self) -> Result<(), AuditError> {
        if self.file_id.is_some() && file_id(&self.path) != self.file_id {
            return Err(AuditError::Moved {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn write_anchor(&self, seq: i64, hash: &str) -> Result<(), AuditError> {
        let anchor = Anchor {
            seq,
            hash: hash.to_owned(),
        };
        anchor::write(&self.anchor_path, &anchor).map_err(|source| AuditError::Anchor {
            seq,
            path: self.anchor_path.clone(),
            source,
        })
    }

    /// A brand-new log gets its anchor at once, so that "anchor missing" later always
    /// means something. An existing log without one is left alone: creating it here
    /// would bless whatever the database holds now; `verify` reports it instead.
    fn anchor_if_new(&self) -> Result<(), AuditError> {
        // Read through the writer: taking the reader while holding the writer would
        // invert the lock order `verify` uses (reader, then writer).
        let writer = lock(&self.writer);
        let (seq, hash) = read_head(&writer)?;
        if seq == 0
            && matches!(
                anchor::read(&self.anchor_path),
                anchor::AnchorState::Missing
            )
        {
            self.write_anchor(seq, &hash)?;
        }
        Ok(())
    }
}

/// A panic elsewhere while holding the lock leaves the connection usable (an open
/// transaction is rolled back when dropped), so poisoning is not fatal.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn configure_writer(
    conn: &Connection,
    path: &Path,
    options: &AuditOptions,
) -> Result<(), AuditError> {
    let setup = |reason: String| AuditError::Setup {
        path: path.to_owned(),
        reason,
    };
    let open_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(open_err)?;
    // WAL: readers never block the writer; with synchronous=FULL every commit fsyncs
    // the WAL, which is what makes an appended record durable when append returns.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(setup(format!(
            "write-ahead logging is not available (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(open_err)?;
    if sync < 2 {
        return Err(setup(format!(
            "synchronous=FULL did not take (it is {sync})"
        )));
    }
    Ok(())
}

fn create_schema(conn: &mut Connection, path: &Path) -> Result<(), AuditError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(AuditError::sqlite("create schema"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(AuditError::sqlite("read schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(AuditError::SchemaVersion {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    tx.execute_batch(SCHEMA)
        .map_err(AuditError::sqlite("create schema"))?;
    // A v1 table (written before `on_behalf_of` existed) gains the column; its records
    // keep NULL there and so hash, and verify, exactly as they did.
    let has_on_behalf_of: bool = tx
        .query_row(
            "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'on_behalf_of'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(AuditError::sqlite("read schema"))?
        > 0;
    if !has_on_behalf_of {
        tx.execute_batch("ALTER TABLE audit_log ADD COLUMN on_behalf_of TEXT")
            .map_err(AuditError::sqlite("migrate schema to version 2"))?;
    }
    // Version 3: `seal`, NULL for the records already there (unsealed).
    let has_seal: bool = tx
        .query_row(
            "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'seal'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(AuditError::sqlite("read schema"))?
        > 0;
    if !has_seal {
        tx.execute_batch("ALTER TABLE audit_log ADD COLUMN seal TEXT")
            .map_err(AuditError::sqlite("migrate schema to version 3"))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(AuditError::sqlite("set schema version"))?;
    tx.commit().map_err(AuditError::sqlite("create schema"))
}

fn read_head(conn: &Connection) -> Result<(i64, String), AuditError> {
    let head = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(AuditError::sqlite("read head"))?;
    Ok(head.unwrap_or_else(|| (0, GENESIS_HASH.to_owned())))
}

/// Reads (or, when allowed and missing, creates) the key file and checks it against
/// the log: it must not be ahead of the log's next record (the log was cut short, or
/// it is another log's key), and when it is the key of the newest record's epoch it
/// must have sealed that record. Also hands back the initial key when it was created.
fn open_sealer(
    conn: &Connection,
    key_file: &Path,
    create: bool,
) -> Result<(Sealer, Option<SealKey>), AuditError> {
    let (head, _) = read_head(conn)?;
    let next = head.saturating_add(1);
    let (mut key, created) = if create && !key_file.exists() {
        let key = crate::seal::create_key_file(key_file, next)?;
        (key.clone(), Some(key))
    } else {
        (SealKey::read_file(key_file)?, None)
    };
    let persisted = key.epoch();
    let want = crate::seal::epoch_of(next);
    if key.epoch() > want {
        return Err(AuditError::Key(format!(
            "key file {} is at epoch {} but the log's next record ({next}) is in epoch {want}: \
             records were cut off the end of the log (or it is another log's key file)",
            key_file.display(),
            key.epoch()
        )));
    }
    let newest: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT seq, hash, seal FROM audit_log WHERE seal IS NOT NULL \
             ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(AuditError::sqlite("read the newest seal"))?;
    if let Some((seq, hash, seal)) = newest
        && crate::seal::epoch_of(seq) == key.epoch()
        && !key.check(&hash, &seal)
    {
        return Err(AuditError::Key(format!(
            "key file {} did not seal record {seq}, the log's newest sealed record: it is \
             another log's key file (or that record was forged)",
            key_file.display()
        )));
    }
    if !key.advance_to(want) {
        return Err(AuditError::Key(format!(
            "key file {} is at epoch {}, too far behind the log's next record ({next})",
            key_file.display(),
            key.epoch()
        )));
    }
    let mut sealer = Sealer {
        key_file: key_file.to_owned(),
        key,
        persisted,
    };
    sealer.persist().map_err(|e| {
        AuditError::Key(format!(
            "cannot move the key file {} to epoch {want}: {e}",
            key_file.display()
        ))
    })?;
    Ok((sealer, created))
}

/// Assigns seq, time, the chain hashes and (with a key) the seal to a prepared record;
/// also hands back the canonical args text, which is what gets stored (and what the
/// hash covers).
fn finish_record(
    p: Prepared,
    seq: i64,
    time: String,
    prev_hash: String,
    key: Option<&SealKey>,
) -> (AuditRecord, String) {
    let hash = record_hash(&HashInput {
        prev_hash: &prev_hash,
        seq,
        time: &time,
        request_id: &p.request_id,
        principal: &p.principal,
        role: &p.role,
        tool: &p.tool,
        args: &p.args_text,
        decision: p.decision.as_str(),
        reason: p.reason.as_deref(),
        approval_id: p.approval_id.as_deref(),
        approver: p.approver.as_deref(),
        result_digest: p.result_digest.as_deref(),
        latency_ms: p.latency_ms,
        on_behalf_of: p.on_behalf_of.as_deref(),
    });
    let record = AuditRecord {
        seq,
        time,
        request_id: p.request_id,
        principal: p.principal,
        role: p.role,
        tool: p.tool,
        args: p.args,
        decision: p.decision,
        reason: p.reason,
        approval_id: p.approval_id,
        approver: p.approver,
        result_digest: p.result_digest,
        // Prepared clamps to i64::MAX, so this is never negative.
        latency_ms: u64::try_from(p.latency_ms).unwrap_or(0),
        prev_hash,
        seal: key.map(|k| k.seal(&hash)),
        hash,
        on_behalf_of: p.on_behalf_of,
    };
    (record, p.args_text)
}

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        seq: row.get(0)?,
        time: row.get(1)?,
        request_id: row.get(2)?,
        principal: row.get(3)?,
        role: row.get(4)?,
        tool: row.get(5)?,
        args: row.get(6)?,
        decision: row.get(7)?,
        reason: row.get(8)?,
        approval_id: row.get(9)?,
        approver: row.get(10)?,
        result_digest: row.get(11)?,
        latency_ms: row.get(12)?,
        prev_hash: row.get(13)?,
        hash: row.get(14)?,
        on_behalf_of: row.get(15)?,
        seal: row.get(16)?,
    })
}

fn into_record(raw: RawRow) -> Result<AuditRecord, AuditError> {
    let seq = raw.seq;
    let corrupt = |what: String| AuditError::Corrupt(format!("record {seq}: {what}"));
    let decision: Decision = raw.decision.parse().map_err(|e| corrupt(format!("{e}")))?;
    let args =
        serde_json::from_str(&raw.args).map_err(|e| corrupt(format!("args are not JSON: {e}")))?;
    let latency_ms = u64::try_from(raw.latency_ms)
        .map_err(|_| corrupt(format!("negative latency {}", raw.latency_ms)))?;
    Ok(AuditRecord {
        seq,
        time: raw.time,
        request_id: raw.request_id,
        principal: raw.principal,
        role: raw.role,
        tool: raw.tool,
        args,
        decision,
        reason: raw.reason,
        approval_id: raw.approval_id,
        approver: raw.approver,
        result_digest: raw.result_digest,
        latency_ms,
        prev_hash: raw.prev_hash,
        hash: raw.hash,
        on_behalf_of: raw.on_behalf_of,
        seal: raw.seal,
    })
}

/// Device and inode: what the path currently names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| FileId(m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<FileId> {
    // No stable file identity here: the replaced-file check is skipped.
    None
}
