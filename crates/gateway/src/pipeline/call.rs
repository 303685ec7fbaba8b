//! `POST /chat/tool` and the MCP facade's `tools/call`, in the guide's order:
//! unknown tool, bad arguments, role, cooldown, approval, execution. A malformed
//! `X-On-Behalf-Of` and a claimed role that is not the token's stop it first.

use std::time::Instant;

use ops_core::contract::rules;
use serde_json::Value;

use super::record::Record;
use super::run::UseApproval;
use super::{CallRequest, Gateway, Refusal, RefusalCode, Reply, Waiter, new_id, now_ms};
use crate::auth::Principal;
use crate::config::{Config, ToolPolicy};
use crate::decision;

impl Gateway {
    /// `POST /chat/tool`.
    pub async fn call(&self, principal: &Principal, request: CallRequest) -> Reply {
        self.call_with(principal, request, None).await
    }

    /// A call; `waiter`, when given, receives a [`Waiter`] for the approval the
    /// call requests, if it requests one (see [`Gateway::call_waiting`]).
    pub(super) async fn call_with(
        &self,
        principal: &Principal,
        request: CallRequest,
        waiter: Option<&mut Option<Waiter>>,
    ) -> Reply {
        let started = Instant::now();
        let config = self.config.current();
        let request_id = match new_id() {
            Ok(id) => id,
            Err(refusal) => return Reply::Refused(refusal),
        };
        let mut record = Record::new(&request_id, principal, &request.tool, &request.args);

        let (acting, tool) = match admit(&config, principal, &request, &mut record) {
            Ok(admitted) => admitted,
            Err(refusal) => return self.refuse(&config, record, refusal, started).await,
        };
        let principal = &acting;
        if tool.stream {
            let refusal = Refusal::new(
                RefusalCode::NotAStream,
                format!(
                    "{} is a live stream: open it with POST /chat/stream",
                    tool.name
                ),
            );
            return self.refuse(&config, record, refusal, started).await;
        }
        // An approved call checks the cooldown where it runs, under its lock; any
        // other call is told now, before an approval is requested for nothing.
        if !request.approved
            && let Err(refusal) = self.check_cooldown(&config, tool, &request.args)
        {
            return self.refuse(&config, record, refusal, started).await;
        }
        if !tool.needs_approval {
            return self
                .run(&config, tool, &request.args, record, started, None)
                .await;
        }

        let args_digest = audit::digest_json(&request.args);
        // Self-approval consumes the caller's own pending approval of this exact
        // call; any other call that needs approval becomes a request for one.
        let pending = if request.approved {
            if let Err(refusal) = decision::may_self_approve(&config, principal, &tool.name) {
                return self.refuse(&config, record, refusal, started).await;
            }
            match &request.approval_id {
                Some(id) => Some(id.clone()),
                None => match self.state.find_pending(
                    &principal.name,
                    &tool.name,
                    &args_digest,
                    now_ms(),
                ) {
                    Ok(found) => found.map(|a| a.id),
                    Err(error) => {
                        return self
                            .internal(&config, record, error.to_string(), started)
                            .await;
                    }
                },
            }
        } else {
            None
        };
        let Some(approval_id) = pending else {
            // Nothing to consume: a request, told of a running cooldown now (a call
            // without `approved` was told above).
            if request.approved
                && let Err(refusal) = self.check_cooldown(&config, tool, &request.args)
            {
                return self.refuse(&config, record, refusal, started).await;
            }
            return self
                .request_approval(
                    &config,
                    tool,
                    principal,
                    &request.args,
                    &args_digest,
                    record,
                    started,
                    waiter,
                )
                .await;
        };
        record.approval_id = Some(approval_id.clone());
        record.approver = Some(principal.name.clone());
        record.reason = Some("self-approval".into());
        let approval = UseApproval {
            id: &approval_id,
            args_digest: &args_digest,
            requester: Some(&principal.name),
            approver: &principal.name,
        };
        self.run(
            &config,
            tool,
            &request.args,
            record,
            started,
            Some(approval),
        )
        .await
    }
}

/// What every call and stream passes first, in the guide's order: whom the
/// caller acts for and as which role, the tool, its arguments, the role's right
/// to it. The acting principal and the tool, or why not (the record has been
/// told whom it is for either way).
pub(super) fn admit<'c>(
    config: &'c Config,
    principal: &Principal,
    request: &CallRequest,
    record: &mut Record,
) -> Result<(Principal, &'c ToolPolicy), Refusal> {
    record.on_behalf_of = rules::check_on_behalf_of(request.on_behalf_of.as_deref())?;
    let acting = match rules::check_on_behalf_role(
        request.on_behalf_role.as_deref(),
        record.on_behalf_of.as_deref(),
        &principal.may_act_as,
        |role| config.roles.contains_key(role),
    )? {
        Some(role) => {
            record.role = role.clone();
            let person = record.on_behalf_of.as_deref().unwrap_or_default();
            principal.acting_for(person, &role)
        }
        None => principal.clone(),
    };
    if let Some(claimed) = &request.claimed_role
        && claimed != &acting.role
    {
        return Err(Refusal::new(
            RefusalCode::RoleMismatch,
            format!(
                "the role comes from your token ({}), not from the request",
                acting.role
            ),
        ));
    }
    let Some(tool) = config.tools.get(&request.tool) else {
        return Err(Refusal::new(RefusalCode::UnknownTool, "Unknown tool"));
    };
    let route = validate(config, tool, &request.args)
        .map_err(|detail| Refusal::new(RefusalCode::BadArgs, format!("Bad args: {detail}")))?;
    decision::may_call(config, tool, &acting.role)?;
    decision::may_use_host(route.host, tool, &acting.role)?;
    Ok((acting, tool))
}

/// The call's host (the gateway's `host` argument), then the rest of the
/// arguments against the tool's schema; where the call goes.
pub(super) fn validate<'c>(
    config: &'c Config,
    tool: &'c ToolPolicy,
    args: &Value,
) -> Result<crate::config::Route<'c>, String> {
    let route = config.route(tool, args)?;
    ops_core::schema::check(&tool.validator, &config.hosts.tool_args(args))?;
    Ok(route)
}
