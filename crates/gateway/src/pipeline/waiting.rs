//! Calls waiting for a human decision on their approval (the MCP facade's
//! `tools/call` waits, see [`crate::mcp_facade`]): the one place where whoever
//! decides (`approve`, `deny`, a self-approval) hands the outcome to the call
//! that asked for it.
//!
//! Why it is race-free without polling: a waiter is registered under its
//! approval's id *before* the approval is stored (see
//! [`Gateway::call_waiting`]), and nobody can decide on an approval that is not
//! stored yet, so no decision can come before its waiter.
//!
//! Why memory stays bounded: an entry lives exactly as long as its [`Waiter`]
//! (a decision takes it out, dropping the waiter removes it: a call that ends,
//! is cancelled or times out leaves nothing behind), and at most
//! [`MAX_WAITERS`] exist at once; past that a call answers at once, as without
//! waiting.
//!
//! Nothing here is audited: the decision and the run are recorded by the
//! approve and deny paths that publish them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{CallRequest, Gateway, Refusal, RefusalCode, Reply};
use crate::auth::Principal;

/// Calls waiting at once, over every principal and session. Each MCP session
/// has one at a time per request; 128 sessions (the facade's cap) with a few
/// requests each stay below it.
const MAX_WAITERS: usize = 512;

/// How a decision on an awaited approval came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// Approved (by `approver`), and the approved call was run by that
    /// approval: its answer (executed, or failed while running).
    Ran { approver: String, reply: Reply },
    /// Approved (by `approver`), but the approval can no longer run: the
    /// policy changed, or it expired. Nothing ran.
    Unusable { approver: String, refusal: Refusal },
    /// Denied by `by`; `withdrawn` when the requester itself took it back.
    Denied { by: String, withdrawn: bool },
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Decided>>>>;

/// The waiters, by approval id.
#[derive(Default)]
pub(super) struct Waiters {
    waiting: Waiting,
}

impl Waiters {
    /// A waiter for the approval about to be stored under `id`, unless
    /// [`MAX_WAITERS`] are waiting already.
    pub(super) fn register(&self, id: &str) -> Option<Waiter> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() >= MAX_WAITERS {
            tracing::warn!(
                max = MAX_WAITERS,
                "too many calls waiting for approvals; this one answers at once"
            );
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        waiting.insert(id.to_owned(), sender);
        Some(Waiter {
            approval_id: id.to_owned(),
            receiver,
            waiting: self.waiting.clone(),
        })
    }

    /// Hands the decision on `id` to its waiter, if one waits; `decided` is
    /// only made then (a run's result is copied only for a waiter).
    pub(super) fn settle(&self, id: &str, decided: impl FnOnce() -> Decided) {
        let sender = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(sender) = sender {
            // Its waiter may have gone in the meantime: nothing to tell then.
            let _ = sender.send(decided());
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A call's wait for the decision on its approval. Dropping it stops the wait
/// and forgets the entry.
pub struct Waiter {
    approval_id: String,
    receiver: oneshot::Receiver<Decided>,
    waiting: Waiting,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("approval_id", &self.approval_id)
            .finish()
    }
}

impl Waiter {
    pub fn approval_id(&self) -> &str {
        &self.approval_id
    }

    /// The decision, when it comes (cancel-safe: use it in a `select!`). `None`
    /// only if the gateway itself went away.
    pub async fn decided(&mut self) -> Option<Decided> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.approval_id);
    }
}

/// Whether a refused approve leaves the approval unusable for good (its waiter
/// is told then), rather than worth approving again: a busy target or a running
/// cooldown pass, and a store or audit failure may too; the approver is told
/// those, and the call goes on waiting.
pub(super) fn ends_the_wait(code: RefusalCode) -> bool {
    matches!(
        code,
        RefusalCode::PolicyChanged
            | RefusalCode::ApprovalMismatch
            | RefusalCode::ApprovalExpired
            | RefusalCode::NotAuthorized
    )
}

impl Gateway {
    /// [`Gateway::call`] for a caller that waits for the human decision (the
    /// MCP facade): when the call becomes a request for approval, also a
    /// [`Waiter`] for it, registered before the approval was stored. None
    /// otherwise, or when too many calls are waiting already.
    pub async fn call_waiting(
        &self,
        principal: &Principal,
        request: CallRequest,
    ) -> (Reply, Option<Waiter>) {
        let mut waiter = None;
        let reply = self.call_with(principal, request, Some(&mut waiter)).await;
        let waiter = waiter.filter(|_| matches!(reply, Reply::NeedApproval(_)));
        (reply, waiter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Decided {
        Decided::Denied {
            by: "alice".into(),
            withdrawn: false,
        }
    }

    #[tokio::test]
    async fn a_decision_reaches_its_waiter_and_leaves_nothing_behind() {
        let waiters = Waiters::default();
        let mut waiter = waiters.register("a1").unwrap();
        let other = waiters.register("a2").unwrap();
        assert_eq!(waiters.len(), 2);
        waiters.settle("a1", denied);
        assert_eq!(waiter.decided().await, Some(denied()));
        assert_eq!(waiters.len(), 1, "the decided entry is gone");
        // A second decision on the same id finds nobody and builds nothing.
        waiters.settle("a1", || panic!("made for nobody"));
        drop(other);
        assert_eq!(waiters.len(), 0, "a dropped waiter leaves no entry");
        waiters.settle("a2", || panic!("made for nobody"));
    }

    #[tokio::test]
    async fn waiters_are_capped() {
        let waiters = Waiters::default();
        let held: Vec<Waiter> = (0..MAX_WAITERS)
            .map(|i| waiters.register(&format!("id{i}")).unwrap())
            .collect();
        assert!(waiters.register("one-more").is_none());
        drop(held);
        assert_eq!(waiters.len(), 0);
        assert!(waiters.register("one-more").is_some());
    }
}
