//! Who may do what. The one owner of every access rule of the gateway: calling a
//! tool, approving or denying a request, seeing a pending approval, reading the
//! audit log. Pure: it reads the configuration in force and the authenticated
//! principal (whose role comes from its token, or is the role it asserted for a
//! person with `X-On-Behalf-Role` when its token's `may_act_as` allows it; see
//! [`Principal::acting_for`]), never the request body, and does no I/O.

use crate::auth::Principal;
use crate::config::{AUTOHEAL_TOOL, Config, Host, ToolPolicy};
use crate::pipeline::{Refusal, RefusalCode};
use crate::state::Approval;

/// Whether `role` may call `tool` at all: the role must be defined, be among
/// the tool's `roles` when it has any, and not deny the tool.
pub fn may_call(config: &Config, tool: &ToolPolicy, role: &str) -> Result<(), Refusal> {
    let refuse = |detail: String| Err(Refusal::new(RefusalCode::NotAuthorized, detail));
    let Some(definition) = config.roles.get(role) else {
        return refuse(format!(
            "Not authorized: role {role} is not defined in the policy"
        ));
    };
    if tool
        .roles
        .as_ref()
        .is_some_and(|roles| !roles.iter().any(|r| r == role))
    {
        return refuse(format!(
            "Not authorized: {} is limited to other roles",
            tool.name
        ));
    }
    if definition
        .deny_tools
        .iter()
        .any(|t| t == &tool.name || t == "*")
    {
        return refuse(format!(
            "Not authorized: role {role} may not use {}",
            tool.name
        ));
    }
    Ok(())
}

/// Whether `role` may use the call's host (none: the guide's single host): a
/// host limited to some roles refuses the others, a read-only host refuses
/// every mutating tool.
pub fn may_use_host(host: Option<&Host>, tool: &ToolPolicy, role: &str) -> Result<(), Refusal> {
    let Some(host) = host else {
        return Ok(());
    };
    if !host.admits(role) {
        return Err(Refusal::new(
            RefusalCode::NotAuthorized,
            format!(
                "Not authorized: host {} is limited to other roles",
                host.name
            ),
        ));
    }
    if host.read_only && tool.mutating {
        return Err(Refusal::new(
            RefusalCode::NotAuthorized,
            format!(
                "Not authorized: host {} is read-only, so {} is refused there",
                host.name, tool.name
            ),
        ));
    }
    Ok(())
}

/// Whether `role` may approve this request: the tool (`can_approve`) and the
/// host it is for.
pub fn may_approve_request(config: &Config, role: &str, approval: &Approval) -> bool {
    may_approve(config, role, &approval.tool) && host_admits(config, approval, role)
}

/// Whether the request's host lets `role` in. A request whose tool or host is
/// gone is left to the re-check that refuses running it (`policy_changed`).
fn host_admits(config: &Config, approval: &Approval, role: &str) -> bool {
    let Some(tool) = config.tools.get(&approval.tool) else {
        return true;
    };
    config.route(tool, &approval.args).map_or(true, |route| {
        route.host.is_none_or(|host| host.admits(role))
    })
}

/// Whether `role` may approve calls of `tool` (`can_approve`).
pub fn may_approve(config: &Config, role: &str, tool: &str) -> bool {
    config.can_approve(role, tool)
}

/// A caller repeating its own call with `approved: true`.
pub fn may_self_approve(config: &Config, caller: &Principal, tool: &str) -> Result<(), Refusal> {
    if may_approve(config, &caller.role, tool) {
        return Ok(());
    }
    Err(Refusal::new(
        RefusalCode::CannotSelfApprove,
        format!(
            "role {} cannot approve {tool}: request it without `approved` and have a principal whose role can approve it use POST /approvals/{{id}}/approve",
            caller.role
        ),
    ))
}

/// The name auto-heal acts under: no token can have it (a token's name has no
/// `:`), so only the gateway itself is ever this principal.
pub const AUTOHEAL_PRINCIPAL: &str = "policy:autoheal";

/// Auto-heal's standing approval: the policy's `autoheal:` section approves
/// [`AUTOHEAL_TOOL`] of the services it covers, with the role it names, for
/// the gateway's own auto-heal principal and nobody else.
pub fn may_heal(
    config: &Config,
    principal: &Principal,
    tool: &str,
    service: &str,
    labelled: bool,
) -> Result<(), Refusal> {
    let refuse = |detail: String| Err(Refusal::new(RefusalCode::NotAuthorized, detail));
    let Some(autoheal) = &config.autoheal else {
        return refuse("auto-heal is off: policy.yaml has no autoheal section".into());
    };
    if principal.name != AUTOHEAL_PRINCIPAL || principal.role != autoheal.role {
        return refuse("only auto-heal acts on the policy's standing approval".into());
    }
    if tool != AUTOHEAL_TOOL {
        return refuse(format!("auto-heal only runs {AUTOHEAL_TOOL}, not {tool}"));
    }
    if !autoheal.covers(service, labelled) {
        return refuse(format!("auto-heal does not look after {service}"));
    }
    Ok(())
}

/// `POST /approvals/{id}/approve`.
pub fn may_decide_approve(
    config: &Config,
    approver: &Principal,
    approval: &Approval,
) -> Result<(), Refusal> {
    if may_approve_request(config, &approver.role, approval) {
        return Ok(());
    }
    Err(Refusal::new(
        RefusalCode::CannotApprove,
        format!("role {} cannot approve {}", approver.role, approval.tool),
    ))
}

/// `POST /approvals/{id}/deny`: the requester may withdraw its own request;
/// anyone else needs the right to approve it.
pub fn may_deny(config: &Config, decider: &Principal, approval: &Approval) -> Result<(), Refusal> {
    if is_requester(decider, approval) || may_approve_request(config, &decider.role, approval) {
        return Ok(());
    }
    Err(Refusal::new(
        RefusalCode::CannotApprove,
        format!("role {} cannot decide on {}", decider.role, approval.tool),
    ))
}

/// Whether `principal` asked for `approval`: the same principal, and, acting for
/// a person with an asserted role, for the same person.
pub fn is_requester(principal: &Principal, approval: &Approval) -> bool {
    approval.principal == principal.name
        && principal
            .person
            .as_ref()
            .is_none_or(|person| approval.requested_for.as_ref() == Some(person))
}

/// Which pending approvals `principal` sees: its own (a person's own, when it
/// acts for one with an asserted role) and those it may decide on.
pub fn sees_approval(config: &Config, principal: &Principal, approval: &Approval) -> bool {
    is_requester(principal, approval) || may_approve_request(config, &principal.role, approval)
}

/// What a principal may do with one tool, for `GET /capabilities`: a face
/// (pi-health's buttons) shows an action as unavailable, with the reason,
/// before anyone clicks. Only a hint: every call is decided again here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRights {
    pub tool: String,
    pub mutating: bool,
    /// Why the role may not call it at all (`may_call`'s words), or `None`.
    pub refused: Option<String>,
    pub may_approve: bool,
    /// The tool's cooldown, when it has one.
    pub cooldown_seconds: Option<u64>,
}

/// [`ToolRights`] of every tool in the registry for `principal`'s role.
pub fn rights(config: &Config, principal: &Principal) -> Vec<ToolRights> {
    config
        .tools
        .values()
        .map(|tool| ToolRights {
            tool: tool.name.clone(),
            mutating: tool.mutating,
            refused: may_call(config, tool, &principal.role)
                .err()
                .map(|refusal| refusal.detail),
            may_approve: may_approve(config, &principal.role, &tool.name),
            cooldown_seconds: tool.cooldown.map(|c| c.seconds),
        })
        .collect()
}

/// Whose audit records a principal may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    Everyone,
    /// The principal's records; acting for a person with an asserted role, only
    /// those made for that person.
    Own {
        principal: String,
        person: Option<String>,
    },
}

/// Only a role that may approve everything (the guide's admin:
/// `can_approve: ["*"]`) reads everyone's records; others, approvers of a few
/// tools included, their own.
pub fn audit_scope(config: &Config, principal: &Principal) -> AuditScope {
    let sees_all = config
        .roles
        .get(&principal.role)
        .is_some_and(|r| r.can_approve.iter().any(|t| t == "*"));
    if sees_all {
        AuditScope::Everyone
    } else {
        AuditScope::Own {
            principal: principal.name.clone(),
            person: principal.person.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
