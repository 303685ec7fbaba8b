//! Approvals, owned here and nowhere else: requesting one (a `need_approval`
//! answer), approving it (the call then runs, re-checked against the policy in
//! force), denying or withdrawing it, and listing the pending ones a principal
//! may see. A client acting for people (pi-health) approves on their behalf with
//! `X-On-Behalf-Of`; the record says who asked and who approved.

use std::time::Instant;

use audit::Decision;
use ops_core::contract::rules;
use serde_json::Value;

use super::call::validate;
use super::conclude::into_refusal;
use super::record::Record;
use super::run::{UseApproval, consume_refusal};
use super::waiting::{self, Decided};
use super::{Gateway, NeedApproval, Refusal, RefusalCode, Reply, Waiter, new_id, now_ms};
use crate::alerts;
use crate::auth::Principal;
use crate::config::{Config, ToolPolicy};
use crate::decision;
use crate::state::{Approval, ApprovalStatus, CreateError, PendingCaps};

/// Pending approvals listed at most (newest first), and of one requester (a
/// principal, and the person it asked for): a flood hides nobody else's.
const PENDING_LISTED: usize = 500;
const PENDING_LISTED_PER_REQUESTER: usize = 50;
/// Pending approvals one principal may have at once, and for one person.
const PENDING_CAPS: PendingCaps = PendingCaps {
    per_principal: 100,
    per_person: 20,
};

impl Gateway {
    /// `POST /approvals/{id}/approve`: a principal whose role can approve the
    /// tool approves a pending request, and the call runs now, re-checked.
    /// `on_behalf_of` (`X-On-Behalf-Of`) is recorded, never used to decide.
    pub async fn approve(
        &self,
        approver: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
    ) -> Reply {
        self.approve_as(approver, approval_id, on_behalf_of, None)
            .await
    }

    /// [`Gateway::approve`] with the role asserted for the person
    /// (`X-On-Behalf-Role`): when the principal may assert it, the decision is
    /// that role's.
    pub async fn approve_as(
        &self,
        approver: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
        on_behalf_role: Option<&str>,
    ) -> Reply {
        let started = Instant::now();
        let config = self.config.current();
        let acting = Acting {
            on_behalf_of,
            on_behalf_role,
        };
        let (record, approval, approver) = match self
            .open_decision(&config, approver, approval_id, acting, started)
            .await
        {
            Ok(opened) => opened,
            Err(refusal) => return Reply::Refused(refusal),
        };
        let approver = &approver;
        if let Err(refusal) = decision::may_decide_approve(&config, approver, &approval) {
            return self.refuse(&config, record, refusal, started).await;
        }
        let approved_by = who(&approver.name, record.on_behalf_of.as_deref());
        let reply = self
            .approved(&config, approver, &approval, record, started)
            .await;
        // A call waiting on this approval hears of a refusal that leaves it unusable
        // here (the answer of a run is handed over where the approval is consumed,
        // in `run`); a passing one (busy, cooldown) is only the approver's to retry.
        if let Reply::Refused(refusal) = &reply
            && waiting::ends_the_wait(refusal.code)
        {
            self.waiters.settle(&approval.id, || Decided::Unusable {
                approver: approved_by,
                refusal: refusal.clone(),
            });
        }
        reply
    }

    /// The rest of [`Gateway::approve_as`], once the approver may approve: the
    /// approval still pending, the call re-checked against the policy in force,
    /// then run on the approval.
    async fn approved(
        &self,
        config: &Config,
        approver: &Principal,
        approval: &Approval,
        mut record: Record,
        started: Instant,
    ) -> Reply {
        // Said first, so that a used approval is not reported as, say, cooling down
        // (consuming it under the lock stays the check that counts).
        if let Err(refusal) = still_pending(approval, now_ms()) {
            return self.refuse(config, record, refusal, started).await;
        }
        // Re-check everything against the policy in force now.
        let Some(tool) = config.tools.get(&approval.tool) else {
            let refusal = Refusal::new(
                RefusalCode::PolicyChanged,
                "the tool is no longer registered",
            );
            return self.refuse(config, record, refusal, started).await;
        };
        let route = match validate(config, tool, &approval.args) {
            Ok(route) => route,
            Err(detail) => {
                let refusal = Refusal::new(
                    RefusalCode::PolicyChanged,
                    format!("the arguments no longer pass the policy: {detail}"),
                );
                return self.refuse(config, record, refusal, started).await;
            }
        };
        if let Err(refusal) = decision::may_call(config, tool, &approval.role)
            .and_then(|()| decision::may_use_host(route.host, tool, &approval.role))
        {
            return self.refuse(config, record, refusal, started).await;
        }
        record.reason = Some(approval_reason(
            approval,
            approver,
            record.on_behalf_of.as_deref(),
        ));
        let args_digest = audit::digest_json(&approval.args);
        let using = UseApproval {
            id: &approval.id,
            args_digest: &args_digest,
            requester: None,
            approver: &approver.name,
        };
        self.run(config, tool, &approval.args, record, started, Some(using))
            .await
    }

    /// `POST /approvals/{id}/deny`; `on_behalf_of` as for [`Gateway::approve`].
    /// Every refusal is audited, an unknown id included.
    pub async fn deny(
        &self,
        decider: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
    ) -> Result<Approval, Refusal> {
        self.deny_as(decider, approval_id, on_behalf_of, None).await
    }

    /// [`Gateway::deny`] with the role asserted for the person, as for
    /// [`Gateway::approve_as`].
    pub async fn deny_as(
        &self,
        decider: &Principal,
        approval_id: &str,
        on_behalf_of: Option<&str>,
        on_behalf_role: Option<&str>,
    ) -> Result<Approval, Refusal> {
        let started = Instant::now();
        let config = self.config.current();
        let acting = Acting {
            on_behalf_of,
            on_behalf_role,
        };
        let (mut record, approval, decider) = self
            .open_decision(&config, decider, approval_id, acting, started)
            .await?;
        let decider = &decider;
        if let Err(refusal) = decision::may_deny(&config, decider, &approval) {
            let _ = self.refuse(&config, record, refusal.clone(), started).await;
            return Err(refusal);
        }
        match self.state.decide(
            approval_id,
            None,
            ApprovalStatus::Denied,
            &decider.name,
            now_ms(),
        ) {
            Ok(denied) => {
                // Told first: the approval is denied now, whatever the audit says.
                self.waiters.settle(approval_id, || Decided::Denied {
                    by: who(&decider.name, record.on_behalf_of.as_deref()),
                    withdrawn: decision::is_requester(decider, &approval),
                });
                record.reason = Some(format!(
                    "denied by {}",
                    who(&decider.name, record.on_behalf_of.as_deref())
                ));
                self.write(&config, record.finish(Decision::Denied, started))
                    .await
                    .map_err(|detail| Refusal::new(RefusalCode::AuditUnavailable, detail))?;
                Ok(denied)
            }
            Err(error) => {
                let refusal = consume_refusal(error);
                let _ = self.refuse(&config, record, refusal.clone(), started).await;
                Err(refusal)
            }
        }
    }

    /// The start of a decision on an approval: a checked `X-On-Behalf-Of`, the
    /// approval, and the audit record of the decision. What goes wrong here is
    /// audited too (with no tool when the approval cannot be found).
    async fn open_decision(
        &self,
        config: &Config,
        decider: &Principal,
        approval_id: &str,
        acting: Acting<'_>,
        started: Instant,
    ) -> Result<(Record, Approval, Principal), Refusal> {
        let request_id = new_id()?;
        let on_behalf_of = match rules::check_on_behalf_of(acting.on_behalf_of) {
            Ok(on_behalf_of) => on_behalf_of,
            Err(refusal) => {
                let record = Record::without_call(&request_id, decider, None);
                return Err(self.refused(config, record, refusal, started).await);
            }
        };
        let decider = match acting_principal(config, decider, on_behalf_of.as_deref(), acting) {
            Ok(decider) => decider,
            Err(refusal) => {
                let record = Record::without_call(&request_id, decider, on_behalf_of);
                return Err(self.refused(config, record, refusal, started).await);
            }
        };
        let decider = &decider;
        let found = if rules::is_approval_id(approval_id) {
            self.state.get(approval_id)
        } else {
            Ok(None)
        };
        let approval = match found {
            Ok(Some(approval)) => approval,
            Ok(None) => {
                let mut record = Record::without_call(&request_id, decider, on_behalf_of);
                // Masked, then cut to size, where it is audited.
                record.approval_id = Some(approval_id.to_owned());
                let refusal = Refusal::new(RefusalCode::UnknownApproval, "no such approval");
                return Err(self.refused(config, record, refusal, started).await);
            }
            Err(error) => {
                let record = Record::without_call(&request_id, decider, on_behalf_of);
                let reply = self
                    .internal(config, record, error.to_string(), started)
                    .await;
                return Err(into_refusal(reply));
            }
        };
        let requester = Principal {
            name: approval.principal.clone(),
            role: approval.role.clone(),
            ..Principal::default()
        };
        let mut record = Record::new(&request_id, &requester, &approval.tool, &approval.args);
        record.approval_id = Some(approval.id.clone());
        record.approver = Some(decider.name.clone());
        record.on_behalf_of = on_behalf_of;
        Ok((record, approval, decider.clone()))
    }

    /// Pending approvals `principal` may see: all it can decide on, and its own.
    pub fn pending_for(&self, principal: &Principal) -> Result<Vec<Approval>, Refusal> {
        let config = self.config.current();
        let all = self
            .state
            .pending(now_ms(), PENDING_LISTED_PER_REQUESTER, 4 * PENDING_LISTED)
            .map_err(|error| {
                tracing::error!(%error, "cannot list the pending approvals");
                Refusal::new(
                    RefusalCode::Internal,
                    "internal error; see the gateway's log",
                )
            })?;
        Ok(all
            .into_iter()
            .filter(|a| decision::sees_approval(&config, principal, a))
            .take(PENDING_LISTED)
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn request_approval(
        &self,
        config: &Config,
        tool: &ToolPolicy,
        principal: &Principal,
        args: &Value,
        args_digest: &str,
        mut record: Record,
        started: Instant,
        waiter: Option<&mut Option<Waiter>>,
    ) -> Reply {
        let id = match new_id() {
            Ok(id) => id,
            Err(refusal) => return self.refuse(config, record, refusal, started).await,
        };
        // Before the approval is stored, so that no decision can come before it.
        if let Some(slot) = waiter {
            *slot = self.waiters.register(&id);
        }
        let now = now_ms();
        let approval = Approval {
            id,
            principal: principal.name.clone(),
            role: principal.role.clone(),
            tool: tool.name.clone(),
            args: args.clone(),
            args_digest: args_digest.to_owned(),
            policy_version: config.version.clone(),
            rationale: tool.summary.clone(),
            created_at_ms: now,
            expires_at_ms: now + config.defaults.approval_ttl_seconds * 1000,
            status: ApprovalStatus::Pending,
            decided_by: None,
            requested_for: record.on_behalf_of.clone(),
        };
        match self
            .state
            .create_approval_capped(&approval, PENDING_CAPS, now)
        {
            Ok(()) => {}
            Err(CreateError::TooMany(cap)) => {
                let refusal = Refusal::new(
                    RefusalCode::TooManyPending,
                    format!(
                        "there are already {cap} pending approvals for this requester: approve, deny or withdraw some (POST /approvals/{{id}}/deny), or wait until they expire"
                    ),
                );
                return self.refuse(config, record, refusal, started).await;
            }
            Err(CreateError::Store(error)) => {
                // Its disk full or read-only, most likely: like the audit log's, a
                // failure the caller is told plainly, not an internal error.
                let refusal = Refusal::new(
                    RefusalCode::StateUnavailable,
                    format!(
                        "not requested, nothing ran: the approval could not be stored ({error}); free space on the gateway's data directory or make it writable, then ask again"
                    ),
                );
                return self.fail(config, record, refusal, started).await;
            }
        }
        let self_approval = decision::may_approve(config, &principal.role, &tool.name);
        record.approval_id = Some(approval.id.clone());
        record.reason = Some(tool.summary.clone());
        if let Err(detail) = self
            .write(config, record.finish(Decision::NeedApproval, started))
            .await
        {
            return Reply::Refused(Refusal::new(RefusalCode::AuditUnavailable, detail));
        }
        if !self_approval {
            self.notify(alerts::approval_waiting(&approval));
        }
        let how_to_approve = if self_approval {
            format!(
                "send the same call again with \"approved\": true, or POST /approvals/{}/approve",
                approval.id
            )
        } else {
            format!(
                "a principal whose role can approve {} must POST /approvals/{}/approve",
                tool.name, approval.id
            )
        };
        Reply::NeedApproval(NeedApproval {
            need_approval: true,
            tool: tool.name.clone(),
            args: args.clone(),
            rationale: tool.summary.clone(),
            approval_id: approval.id,
            expires_at_ms: approval.expires_at_ms,
            self_approval,
            how_to_approve,
        })
    }
}

/// Why an approval can no longer be approved, if it cannot.
fn still_pending(approval: &Approval, now_ms: u64) -> Result<(), Refusal> {
    match approval.status {
        ApprovalStatus::Pending if approval.expires_at_ms <= now_ms => Err(Refusal::new(
            RefusalCode::ApprovalExpired,
            "approval expired",
        )),
        ApprovalStatus::Pending => Ok(()),
        ApprovalStatus::Consumed => Err(Refusal::new(
            RefusalCode::ApprovalUsed,
            "approval was already used: an approval is used once",
        )),
        ApprovalStatus::Denied => Err(Refusal::new(
            RefusalCode::ApprovalUsed,
            "approval was denied",
        )),
    }
}

/// Whom an approval decision is made for, as the HTTP layer read it.
#[derive(Clone, Copy)]
struct Acting<'a> {
    on_behalf_of: Option<&'a str>,
    on_behalf_role: Option<&'a str>,
}

/// The principal deciding: itself, or itself acting for the person
/// (`on_behalf_of`, already checked) with the role it asserted, when it may.
fn acting_principal(
    config: &Config,
    principal: &Principal,
    on_behalf_of: Option<&str>,
    acting: Acting<'_>,
) -> Result<Principal, Refusal> {
    match rules::check_on_behalf_role(
        acting.on_behalf_role,
        on_behalf_of,
        &principal.may_act_as,
        |role| config.roles.contains_key(role),
    )? {
        Some(role) => Ok(principal.acting_for(on_behalf_of.unwrap_or_default(), &role)),
        None => Ok(principal.clone()),
    }
}

/// "alice via pi-health", or the principal alone.
pub(super) fn who(principal: &str, on_behalf_of: Option<&str>) -> String {
    match on_behalf_of {
        Some(person) => format!("{person} via {principal}"),
        None => principal.to_owned(),
    }
}

/// Who asked and who approved, for the audit record of an approved call.
fn approval_reason(
    approval: &Approval,
    approver: &Principal,
    on_behalf_of: Option<&str>,
) -> String {
    let asked = who(&approval.principal, approval.requested_for.as_deref());
    let approved = who(&approver.name, on_behalf_of);
    if asked == approved {
        if approval.requested_for.is_some() {
            format!("self-approval by {asked}")
        } else {
            "self-approval".into()
        }
    } else {
        format!("requested by {asked}; approved by {approved}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(principal: &str, requested_for: Option<&str>) -> Approval {
        Approval {
            id: "a".into(),
            principal: principal.into(),
            role: "admin".into(),
            tool: "compose_restart".into(),
            args: Value::Null,
            args_digest: String::new(),
            policy_version: String::new(),
            rationale: String::new(),
            created_at_ms: 0,
            expires_at_ms: 0,
            status: ApprovalStatus::Pending,
            decided_by: None,
            requested_for: requested_for.map(str::to_owned),
        }
    }

    fn principal(name: &str) -> Principal {
        Principal {
            name: name.into(),
            role: "admin".into(),
            ..Principal::default()
        }
    }

    #[test]
    fn the_reason_names_who_asked_and_who_approved() {
        let web = principal("pi-health");
        assert_eq!(
            approval_reason(&approval("pi-health", Some("alice")), &web, Some("bob")),
            "requested by alice via pi-health; approved by bob via pi-health"
        );
        assert_eq!(
            approval_reason(&approval("pi-health", Some("alice")), &web, Some("alice")),
            "self-approval by alice via pi-health"
        );
        assert_eq!(
            approval_reason(&approval("robot", None), &principal("alice"), None),
            "requested by robot; approved by alice"
        );
        assert_eq!(
            approval_reason(&approval("alice", None), &principal("alice"), None),
            "self-approval"
        );
    }
}
