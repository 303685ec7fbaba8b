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
//! the chain has no secret key. Ship the anchor elsewhere (or add a keyed MAC) to close
//! that gap.
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
mod record;
mod store;
mod time;
mod verify;

pub use canonical::{canonical_json, digest_json};
pub use chain::GENESIS_HASH;
pub use error::AuditError;
pub use filter::{AuditFilter, DEFAULT_LIMIT, MAX_LIMIT};
pub use record::{
    AuditRecord, Decision, MAX_ARGS_BYTES, MAX_ID_BYTES, MAX_REASON_BYTES, NewRecord,
    ParseDecisionError,
};
pub use store::{AuditLog, AuditOptions};
pub use verify::VerifyReport;
