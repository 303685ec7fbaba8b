//! Verification: walk the chain in `seq` order, recompute every hash from the stored
//! columns, and compare the end of the chain with the head anchor; with a key, check
//! every seal; with a witness file, check that every head it recorded is still there.
//!
//! Hashes are recomputed from the raw column text (not from parsed values), so a
//! verifier never depends on how a JSON library would re-serialize the args.

use crate::anchor::{Anchor, AnchorState};
use crate::chain::{GENESIS_HASH, HashInput, record_hash};
use crate::seal::{SealKey, epoch_of};
use crate::witness::Witnessed;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What [`crate::AuditLog::verify_with`] checks besides the chain and the anchor.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The initial key the operator kept (or a later epoch's key, such as the key
    /// file's: then only seals from its epoch on are checked). `None`: seals are not
    /// checked.
    pub key: Option<SealKey>,
    /// The witness file the log wrote its heads to.
    pub witness_file: Option<PathBuf>,
}

/// Past this many problems the rest are only counted: a wholesale rewrite should not
/// produce a report the size of the log.
const MAX_PROBLEMS: usize = 1000;

/// The outcome of [`crate::AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records in the database.
    pub records: u64,
    /// True when there are no problems.
    pub ok: bool,
    /// One line per problem, naming the record: `record 17: hash mismatch (edited)`.
    pub problems: Vec<String>,
    /// Hash of the last record ([`GENESIS_HASH`] for an empty log).
    pub head: String,
    /// Seq of the last record (0 for an empty log).
    pub head_seq: i64,
    /// Records carrying a seal (whether or not a key was given to check them).
    pub sealed: u64,
    /// What this verification proves, one sentence each; empty unless `ok`.
    pub proven: Vec<String>,
    /// What it does not prove, one sentence each: the limits of what was checked.
    pub not_proven: Vec<String>,
}

/// One row exactly as stored.
pub(crate) struct RawRow {
    pub seq: i64,
    pub time: String,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub tool: String,
    pub args: String,
    pub decision: String,
    pub reason: Option<String>,
    pub approval_id: Option<String>,
    pub approver: Option<String>,
    pub result_digest: Option<String>,
    pub latency_ms: i64,
    pub prev_hash: String,
    pub hash: String,
    pub on_behalf_of: Option<String>,
    pub seal: Option<String>,
}

/// What the witness check found, for the report's statements.
struct WitnessSummary {
    path: PathBuf,
    heads: usize,
    /// The newest witnessed head: seq and time.
    newest: Option<(i64, String)>,
    seals_checked: usize,
}

/// Accumulates the walk; feed rows in ascending `seq` order, then `finish`.
pub(crate) struct Verifier {
    records: u64,
    /// (seq, stored hash) of the previous row.
    last: Option<(i64, String)>,
    problems: Vec<String>,
    dropped: usize,
    anchor: AnchorState,
    /// Stored hash of the row the anchor names, once seen.
    anchored_hash: Option<String>,
    /// Anchors staged but not put in place (see `anchor::read_staged`).
    staged: Vec<Anchor>,
    /// The key given, as given, and moved forward along the records' epochs.
    given_key: Option<SealKey>,
    key: Option<SealKey>,
    sealed: u64,
    seals_checked: u64,
    /// Sealed records before the given key's first record or epoch: not checkable.
    before_key: u64,
    /// Unsealed records before the first sealed one.
    unsealed_prefix: u64,
    first_sealed: Option<i64>,
    witness: Option<WitnessSummary>,
}

impl Verifier {
    pub(crate) fn new(anchor: AnchorState, staged: Vec<Anchor>, key: Option<SealKey>) -> Self {
        Self {
            records: 0,
            last: None,
            problems: Vec::new(),
            dropped: 0,
            anchor,
            anchored_hash: None,
            staged,
            given_key: key.clone(),
            key,
            sealed: 0,
            seals_checked: 0,
            before_key: 0,
            unsealed_prefix: 0,
            first_sealed: None,
            witness: None,
        }
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        } else {
            self.dropped += 1;
        }
    }

    /// A row whose columns could not be read with the expected types.
    pub(crate) fn unreadable(&mut self, seq: Option<i64>, why: String) {
        self.records += 1;
        let name = seq.map_or_else(|| "a record".to_owned(), |s| format!("record {s}"));
        self.problem(format!("{name}: unreadable ({why})"));
        if let Some(seq) = seq {
            // Keep walking from here; the next row's prev_hash cannot be checked.
            self.last = Some((seq, String::new()));
        }
    }

    pub(crate) fn row(&mut self, row: RawRow) {
        self.records += 1;
        let seq = row.seq;
        let computed = record_hash(&HashInput {
            prev_hash: &row.prev_hash,
            seq,
            time: &row.time,
            request_id: &row.request_id,
            principal: &row.principal,
            role: &row.role,
            tool: &row.tool,
            args: &row.args,
            decision: &row.decision,
            reason: row.reason.as_deref(),
            approval_id: row.approval_id.as_deref(),
            approver: row.approver.as_deref(),
            result_digest: row.result_digest.as_deref(),
            latency_ms: row.latency_ms,
            on_behalf_of: row.on_behalf_of.as_deref(),
        });
        if computed != row.hash {
            self.problem(format!("record {seq}: hash mismatch (edited)"));
        }
        self.check_seal(seq, &computed, row.seal.as_deref());
        match self.last.take() {
            None => {
                if seq != 1 {
                    self.problem(format!(
                        "record {seq}: the log starts here, records 1..{seq} are missing (deleted)"
                    ));
                }
                if row.prev_hash != GENESIS_HASH {
                    self.problem(format!(
                        "record {seq}: previous hash is not the start of the chain (records before it deleted)"
                    ));
                }
            }
            Some((last_seq, last_hash)) => {
                // Seqs come from the file, so an attacker picks them: no overflow.
                let expected = last_seq.saturating_add(1);
                if seq != expected {
                    self.problem(if seq > expected {
                        format!("record {seq}: records {expected}..{seq} are missing (deleted)")
                    } else {
                        format!("record {seq}: out of order after record {last_seq}")
                    });
                }
                // An unreadable previous row leaves nothing to compare with.
                if !last_hash.is_empty() && row.prev_hash != last_hash {
                    self.problem(format!(
                        "record {seq}: previous hash does not match record {last_seq} (deleted or reordered)"
                    ));
                }
            }
        }
        if matches!(&self.anchor, AnchorState::Present(a) if a.seq == seq) {
            self.anchored_hash = Some(row.hash.clone());
        }
        self.last = Some((seq, row.hash));
    }

    /// The seal covers the record's hash as recomputed from its columns, so an edited
    /// record fails here too, whatever its stored hash says. The key is that of the
    /// epoch the record's position puts it in.
    fn check_seal(&mut self, seq: i64, hash: &str, seal: Option<&str>) {
        let required_from = self.given_key.as_ref().map(SealKey::first_seq);
        let Some(seal) = seal else {
            if let Some(first) = required_from.filter(|first| seq >= *first) {
                self.problem(format!(
                    "record {seq}: not sealed, but the key seals every record from {first} on \
                     (added without the key, or its seal removed)"
                ));
            } else if self.first_sealed.is_some() {
                self.problem(format!(
                    "record {seq}: not sealed, but records before it are (added without the \
                     key, or its seal removed)"
                ));
            } else {
                self.unsealed_prefix += 1;
            }
            return;
        };
        self.sealed += 1;
        self.first_sealed.get_or_insert(seq);
        let (Some(given), Some(key)) = (&self.given_key, &mut self.key) else {
            return;
        };
        let epoch = epoch_of(seq);
        if seq < given.first_seq() || epoch < given.epoch() {
            self.before_key += 1;
            return;
        }
        if epoch < key.epoch() {
            // Out of order (reported above): start again from the given key.
            *key = given.clone();
        }
        if !key.advance_to(epoch) {
            let at = key.epoch();
            self.problem(format!(
                "record {seq}: epoch {epoch} is implausibly far beyond epoch {at} (forged): its \
                 seal is not checked"
            ));
            return;
        }
        if key.check(hash, seal) {
            self.seals_checked += 1;
        } else {
            self.problem(format!(
                "record {seq}: seal does not match (written or re-chained without the key of \
                 epoch {epoch})"
            ));
        }
    }

    /// Each line of the witness file, with the hash the log holds at its seq.
    pub(crate) fn witness(
        &mut self,
        path: &Path,
        lines: Vec<Result<(Witnessed, Option<String>), String>>,
    ) {
        let where_ = path.display().to_string();
        let mut summary = WitnessSummary {
            path: path.to_owned(),
            heads: 0,
            newest: None,
            seals_checked: 0,
        };
        let mut cursor = self.given_key.clone();
        // (count, lowest seq, highest seq) of witnessed heads the log no longer holds.
        let mut missing: Option<(usize, i64, i64)> = None;
        for (i, line) in lines.into_iter().enumerate() {
            let n = i + 1;
            let (w, stored) = match line {
                Ok(found) => found,
                Err(why) => {
                    self.problem(format!("witness {where_} line {n}: invalid ({why})"));
                    continue;
                }
            };
            summary.heads += 1;
            let epoch = epoch_of(w.seq);
            if let Some(given) = &self.given_key
                && w.seq >= given.first_seq()
                && epoch >= given.epoch()
            {
                let mut key = match cursor.take() {
                    Some(k) if k.epoch() <= epoch => k,
                    _ => given.clone(),
                };
                let genuine = match w.seal.as_deref() {
                    Some(seal) => key.advance_to(epoch) && key.check(&w.hash, seal),
                    None => false,
                };
                if genuine {
                    summary.seals_checked += 1;
                } else {
                    self.problem(format!(
                        "witness {where_} line {n} (record {}): no valid seal: the line is \
                         forged",
                        w.seq
                    ));
                }
                cursor = Some(key);
            }
            match stored {
                None => {
                    let m = missing.get_or_insert((0, w.seq, w.seq));
                    m.0 += 1;
                    m.1 = m.1.min(w.seq);
                    m.2 = m.2.max(w.seq);
                }
                Some(hash) if hash != w.hash => self.problem(format!(
                    "record {}: differs from the head the witness recorded at line {n} ({}): \
                     rewritten",
                    w.seq, w.time
                )),
                Some(_) => {}
            }
            if summary.newest.as_ref().is_none_or(|(s, _)| w.seq >= *s) {
                summary.newest = Some((w.seq, w.time));
            }
        }
        if let Some((count, low, high)) = missing {
            let wiped = if self.records == 0 {
                "the log was wiped"
            } else {
                "the log was truncated or records deleted"
            };
            self.problem(format!(
                "{count} heads recorded by the witness {where_} are missing from the log \
                 (records {low} to {high}): {wiped}"
            ));
        }
        self.witness = Some(summary);
    }

    pub(crate) fn finish(mut self, anchor_path: &std::path::Path) -> VerifyReport {
        let (head_seq, head) = self
            .last
            .clone()
            .unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
        let where_ = anchor_path.display();
        match std::mem::replace(&mut self.anchor, AnchorState::Missing) {
            AnchorState::Missing if self.records > 0 => self.problem(format!(
                "head anchor {where_} is missing: the end of the log cannot be checked (deleted?)"
            )),
            AnchorState::Missing => {}
            AnchorState::Invalid(why) => {
                self.problem(format!("head anchor {where_} is invalid: {why}"));
            }
            AnchorState::Present(Anchor { seq, hash }) => {
                self.check_anchor(seq, &hash, head_seq, &head);
            }
        }
        if self.dropped > 0 {
            let more = self.dropped;
            self.problems.push(format!("... and {more} more problems"));
        }
        let ok = self.problems.is_empty();
        let (proven, not_proven) = self.statements(ok, head_seq, anchor_path);
        VerifyReport {
            records: self.records,
            ok,
            problems: self.problems,
            head,
            head_seq,
            sealed: self.sealed,
            proven,
            not_proven,
        }
    }

    /// What was proven (only when nothing was wrong) and what was not.
    fn statements(
        &self,
        ok: bool,
        head_seq: i64,
        anchor_path: &Path,
    ) -> (Vec<String>, Vec<String>) {
        let mut proven = Vec::new();
        let mut not_proven = Vec::new();
        let anchor = anchor_path.display();
        if self.records > 0 {
            proven.push(format!(
                "the hash chain is intact: records 1 to {head_seq}, each linked to the one \
                 before, the last named by the head anchor {anchor}"
            ));
        } else {
            proven.push(format!(
                "the log is empty and its head anchor {anchor} says so"
            ));
        }
        match (&self.given_key, self.sealed) {
            (None, 0) => not_proven.push(format!(
                "records are not sealed (the log has no key): anyone who can write both the \
                 database and {anchor} can edit, cut or wipe the log and re-chain it, and \
                 this check cannot tell"
            )),
            (None, sealed) => not_proven.push(format!(
                "{sealed} records are sealed, but no key was given, so their seals are not \
                 checked: anyone who can write both the database and {anchor} could have \
                 rewritten the log; give the initial key to check them"
            )),
            (Some(given), 0) => not_proven.push(format!(
                "the key given seals records from {} on, but the log has no sealed record, so \
                 the key proves nothing here: sealed records may have been cut off (check \
                 the witness)",
                given.first_seq()
            )),
            (Some(given), _) => {
                let first = self.first_sealed.unwrap_or(1);
                let (e0, e1) = (epoch_of(first).max(given.epoch()), epoch_of(head_seq));
                proven.push(format!(
                    "every sealed record checked ({} of them, epochs {e0} to {e1}) carries a \
                     valid seal from the key chain of the given key (epoch {}): nobody \
                     without those keys wrote, edited, deleted, reordered or re-chained \
                     records {first} to {head_seq}, nor, through the chain, any record \
                     before them",
                    self.seals_checked,
                    given.epoch()
                ));
                if self.unsealed_prefix > 0 {
                    proven.push(format!(
                        "records 1 to {} were written before the log had a key: they carry \
                         no seal but are fixed by the chain into the first sealed record",
                        self.unsealed_prefix
                    ));
                }
                if self.before_key > 0 {
                    not_proven.push(format!(
                        "{} records were sealed in epochs before the given key's ({}): their \
                         seals are not checked; give the initial key (epoch 0)",
                        self.before_key,
                        given.epoch()
                    ));
                }
                not_proven.push(format!(
                    "the key file holds the key of the newest epoch ({e1}, from record {}): \
                     whoever read it could re-seal that epoch's records and forge later \
                     ones; a key file taken at some moment exposes at most the {} records \
                     before it that share its epoch, and everything after it",
                    e1 * crate::seal::EPOCH_RECORDS + 1,
                    crate::seal::EPOCH_RECORDS - 1
                ));
            }
        }
        match &self.witness {
            None => not_proven.push(format!(
                "records cut off the end of the log, or the whole log wiped, are detected only \
                 while {anchor} is intact: give the witness file to check against heads \
                 recorded elsewhere"
            )),
            Some(w) => match &w.newest {
                None => not_proven.push(format!(
                    "the witness {} holds no head: truncation and wiping are detected only \
                     while {anchor} is intact",
                    w.path.display()
                )),
                Some((seq, time)) => {
                    let seals = if w.seals_checked > 0 {
                        format!(", {} of them with a valid seal", w.seals_checked)
                    } else {
                        String::new()
                    };
                    proven.push(format!(
                        "the log still holds all {} heads the witness {} recorded{seals}, the \
                         newest being record {seq} ({time}): nothing up to it was cut off or \
                         wiped",
                        w.heads,
                        w.path.display()
                    ));
                    not_proven.push(format!(
                        "records after record {seq}, the newest head the witness recorded, \
                         are not covered by it: some could have been cut off the end"
                    ));
                }
            },
        }
        if !ok {
            proven.clear();
        }
        (proven, not_proven)
    }

    fn check_anchor(&mut self, seq: i64, hash: &str, head_seq: i64, head: &str) {
        if seq > head_seq {
            self.problem(format!(
                "the log ends at record {head_seq} but the head anchor names record {seq}: \
                 records {}..={seq} were deleted (tail truncated)",
                head_seq.saturating_add(1)
            ));
            return;
        }
        if seq == 0 {
            if hash != GENESIS_HASH {
                self.problem("head anchor names record 0 with a non-genesis hash".to_owned());
            }
        } else {
            match self.anchored_hash.take() {
                None => self.problem(format!(
                    "record {seq}: named by the head anchor but missing (deleted)"
                )),
                Some(stored) if stored != hash => self.problem(format!(
                    "record {seq}: hash differs from the head anchor (rewritten)"
                )),
                Some(_) => {}
            }
        }
        // The writer stopped between committing its last batch and putting the anchor
        // naming it in place: the staged anchor names exactly this head.
        let interrupted = self
            .staged
            .iter()
            .any(|s| s.seq == head_seq && s.hash == head);
        if seq < head_seq && !interrupted {
            self.problem(format!(
                "records {}..={head_seq} come after the head anchor (record {seq}): appended \
                 by something other than this log, or the writer stopped between committing \
                 a record and updating the anchor",
                seq.saturating_add(1)
            ));
        }
    }
}
