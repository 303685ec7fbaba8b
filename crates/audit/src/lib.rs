//! The ai-gateway's tamper-evident audit log.
//!
//! Every request ends in one [`AuditRecord`], appended to a SQLite database (WAL,
//! `synchronous=FULL`: a record is on disk when [`AuditLog::append`] returns `Ok`).
//!
//! **Hash chain.** Each record stores `prev_hash` (the previous record's `hash`, or
//! [`GENESIS_HASH`] for the first) and `hash = sha256(canonical encoding)`, where the
//! canonical encoding is this crate's canonical JSON (see [`canonical_json`]) of the array
//!
//! ```text
//! ["ops-copilot-audit/v1", prev_hash, seq, time, request_id, principal, role, tool,
//!  args, decision, reason, approval_id, approver, result_digest, latency_ms]
//! ```
//!
//! with `args` embedded as its canonical JSON *text* (a string), absent options as
//! `null`, and `seq`/`latency_ms` as integers. A record with `on_behalf_of` (whom the
//! principal said it acted for; schema version 2) is hashed as
//! `["ops-copilot-audit/v2", prev_hash, ..., latency_ms, on_behalf_of]`; one without it
//! exactly as above, so logs written before the field existed still verify (a
//! version-1 database gains the column, NULL for its records, when opened).
//! A fixed-order array, never a map, so the
//! encoding cannot depend on any map's iteration order. Editing, deleting, reordering or
//! inserting a record breaks the chain, and [`AuditLog::verify`] names the record.
//!
//! **Head anchor.** A chain cannot reveal that its newest records were cut off. With
//! every append (one per batch: [`AuditLog::append_batch`]) the head `(seq, hash)` is
//! also written to a sidecar file `<db>.head`, and `verify` compares the two. The new
//! anchor is staged (temp file + fsync) before the commit and put in place (rename +
//! directory fsync) right after it, so a writer killed between the two leaves a staged
//! file naming exactly the database's head: `verify` accepts that as an interrupted
//! append rather than reporting records appended behind the log's back. This
//! defeats an attacker (or a bug, or a restored backup) that changes only the database;
//! one who can rewrite both files, and recompute the chain, can still rewrite history:
//! the chain has no secret key. Sealing and the witness close that gap.
//!
//! **Seals (forward sealing).** Opened with a key file ([`AuditOptions::key_file`],
//! kept outside the data directory), the log also stores with every record (schema
//! version 3, column `seal`) `HMAC-SHA256(k_e, domain, e, hash)`, where `e` is the
//! record's epoch, fixed by its position: `(seq - 1) / 16` ([`EPOCH_RECORDS`]). The
//! seal covers the record's hash, so the hash chain is unchanged and a sealed record
//! also pins every record before it. Keys evolve one way: `k_{e+1} = HMAC(k_e,
//! "next-epoch")`. The key file holds only the key of the next record's epoch; once a
//! batch is committed, the key file is replaced (temp file, fsync, rename, directory
//! fsync) by the next epoch's key when the batch crossed into it, and the older key
//! is forgotten. The initial key (created with the key file, [`create_key_file`] or
//! [`AuditOptions::create_key`], and handed out once by [`AuditLog::take_initial_key`])
//! is for the operator to keep offline: with it, [`AuditLog::verify_with`] re-derives
//! every epoch's key and checks every seal. Records written before the log had a key
//! stay unsealed (the key file names the first sealed record); from that record on, a
//! missing seal is tampering. A store of version 1 or 2 is migrated on open.
//!
//! **Witness.** With [`AuditOptions::witness_file`] every append also appends the new
//! head `(time, seq, hash, seal)` to that file, meant to be somewhere the data
//! directory's writer cannot rewrite (another disk or user, a remote mount). The
//! gateway also logs each head, so the service's journal holds them too, and can
//! send them off the machine ([`AuditLog::head_witness`] is the line it sends; the
//! lines received, saved to a file, are a witness file). Given the witness,
//! `verify_with` checks that the log still holds every head it recorded (with the
//! key, also that each witness line carries a valid seal).
//!
//! **Threat model.** The attacker can read and write the data directory (the database
//! and its anchor) at some moment and knows every algorithm here; the initial key is
//! not on the machine; the witness is out of the attacker's reach (or holds what was
//! written before the attack).
//!
//! - Without a key or witness, `verify` detects tampering only by someone who does not
//!   rewrite both the database and the anchor: an edited record, a deleted, reordered or
//!   inserted one, a cut tail or an emptied table, each re-chained with the anchor
//!   rewritten, all verify. The report says so.
//! - With the initial key: editing, inserting, deleting, reordering or renumbering any
//!   record, re-chained or not, and appending a forged record, are detected (the seals
//!   of the affected records no longer match, or a record that should be sealed is
//!   not). Cutting records off the end, or wiping the log, leaves genuine seals: the key
//!   alone does not detect it.
//! - With the witness: cutting off or wiping anything up to the newest witnessed head
//!   is detected, and so is a rewritten witnessed head. Records after the newest
//!   witnessed head (the last batch, if the witness is written after it) can be cut
//!   undetected.
//! - An attacker who also reads the key file holds the current epoch's key: they can
//!   re-seal the records of that epoch already written (at most 15) and forge any later
//!   record; they cannot seal a record of an earlier epoch, so rewriting anything
//!   before the current epoch is still detected. A stolen key does not help against
//!   the witness either. Refusing to start on a key file that is ahead of the log
//!   ("records were cut off") or belongs to another log is the writer's part.
//! - Not in scope: an attacker who controls the gateway process while it runs (it holds
//!   the key and can write whatever it likes), and one who reaches the offline initial
//!   key or the witness.
//!
//! **Fail closed.** `append` returns `Err` whenever the record is not durably stored
//! where the log's path says: SQLite errors (read-only, busy past the timeout, disk
//! full), the database file removed or replaced while open (SQLite would otherwise
//! keep writing, successfully, into the unlinked file), or the anchor not updated
//! ([`AuditError::AnchorNotStaged`]: nothing stored; [`AuditError::Anchor`]: the
//! records are committed but the anchor does not name them).

mod anchor;
mod canonical;
mod chain;
mod error;
mod filter;
mod owner_only;
mod record;
mod seal;
mod store;
mod time;
mod verify;
mod witness;

pub use canonical::{canonical_json, digest_json};
pub use chain::GENESIS_HASH;
pub use error::AuditError;
pub use filter::{AuditFilter, DEFAULT_LIMIT, MAX_LIMIT};
pub use owner_only::create_owner_only;
pub use record::{
    AuditRecord, Decision, MAX_ARGS_BYTES, MAX_ID_BYTES, MAX_REASON_BYTES, NewRecord,
    ParseDecisionError,
};
pub use seal::{EPOCH_RECORDS, MAX_EPOCH_GAP, SealKey, create_key_file, epoch_of};
pub use store::{AuditLog, AuditOptions};
/// RFC 3339 timestamps as the audit log writes them (UTC, milliseconds).
pub use time::{format_millis, now_rfc3339, parse_rfc3339};
pub use verify::{VerifyOptions, VerifyReport};
