//! Verification: walk the chain in `seq` order, recompute every hash from the stored
//! columns, and compare the end of the chain with the head anchor.
//!
//! Hashes are recomputed from the raw column text (not from parsed values), so a
//! verifier never depends on how a JSON library would re-serialize the args.

use crate::anchor::{Anchor, AnchorState};
use crate::chain::{GENESIS_HASH, HashInput, record_hash};
use serde::Serialize;

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
}

impl Verifier {
    pub(crate) fn new(anchor: AnchorState, staged: Vec<Anchor>) -> Self {
        Self {
            records: 0,
            last: None,
            problems: Vec::new(),
            dropped: 0,
            anchor,
            anchored_hash: None,
            staged,
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
        VerifyReport {
            records: self.records,
            ok: self.problems.is_empty(),
            problems: self.problems,
            head,
            head_seq,
        }
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
