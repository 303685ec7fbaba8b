//! The gateway as an MCP server at `/mcp`: each caller sees only the tools
//! its role may use, and every call goes through the same decision as
//! `/chat/tool`. Approval never comes from MCP (nothing in a call, its
//! arguments or its `_meta` approves it): a call that needs one waits, up to
//! [`ApprovalWait::wait`], for a person to decide in Ops-Copilot, telling a
//! client that asked for progress how long it has waited; then it answers with
//! that decision (see [`waiting`]). With no wait, or once the wait is over,
//! the answer is an error result with the approval id, which stays pending.

mod waiting;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::decision;
use crate::pipeline::{CallRequest, Gateway, NeedApproval, Reply};

/// How long an MCP call that needs an approval waits for the human decision
/// by default: long enough for a person to notice and answer, short enough
/// for an agent's (and its HTTP client's) patience.
pub const DEFAULT_APPROVAL_WAIT: Duration = Duration::from_secs(120);
/// How often a waiting client that sent a progress token hears how long it
/// has waited.
pub const DEFAULT_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How an MCP call that needs an approval waits for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalWait {
    /// At most this long (and never past the approval's expiry); zero: the
    /// call answers at once with the approval id.
    pub wait: Duration,
    /// Progress notifications this often, to a client that sent a progress token.
    pub progress_every: Duration,
}

impl Default for ApprovalWait {
    fn default() -> Self {
        Self {
            wait: DEFAULT_APPROVAL_WAIT,
            progress_every: DEFAULT_PROGRESS_EVERY,
        }
    }
}

#[derive(Clone)]
pub struct GatewayMcp {
    gateway: Arc<Gateway>,
    approval_wait: ApprovalWait,
    /// Cancelled when the server stops: a waiting call stops waiting.
    shutdown: CancellationToken,
}

impl GatewayMcp {
    pub fn new(
        gateway: Arc<Gateway>,
        approval_wait: ApprovalWait,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            gateway,
            approval_wait,
            shutdown,
        }
    }
}

/// The principal the HTTP layer authenticated for this request.
fn principal(context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("not authenticated", None))
}

impl ServerHandler for GatewayMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "ops-copilot-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(instructions(self.approval_wait.wait))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = principal(&context)?;
        let config = self.gateway.config();
        let tools = config
            .tools
            .values()
            .filter(|tool| decision::may_call(&config, tool, &principal.role).is_ok())
            .map(|tool| {
                let schema: JsonObject = match config.hosts.advertised_schema(tool, &principal.role)
                {
                    Value::Object(map) => map,
                    _ => JsonObject::new(),
                };
                Tool::new(tool.name.clone(), tool.summary.clone(), Arc::new(schema))
                    .with_annotations(ToolAnnotations::from_raw(
                        None,
                        Some(!tool.mutating),
                        None,
                        None,
                        None,
                    ))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = principal(&context)?;
        let config = self.gateway.config();
        if !config.tools.contains_key(request.name.as_ref()) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", ops_core::bounded(&request.name, 64)),
                None,
            ));
        }
        let call = CallRequest {
            tool: request.name.to_string(),
            args: Value::Object(request.arguments.unwrap_or_default()),
            approved: false,
            approval_id: None,
            claimed_role: None,
            on_behalf_of: None,
            on_behalf_role: None,
        };
        let (reply, waiter) = if self.approval_wait.wait.is_zero() {
            (self.gateway.call(&principal, call).await, None)
        } else {
            self.gateway.call_waiting(&principal, call).await
        };
        let result = match (reply, waiter) {
            (Reply::NeedApproval(need), Some(waiter)) => {
                let until = waiting::Until {
                    wait: self.approval_wait,
                    shutdown: &self.shutdown,
                    cancelled: &context.ct,
                };
                waiting::wait(&self.gateway, need, waiter, until, progress(&context)).await
            }
            (reply, _) => answer(reply),
        };
        Ok(result.into())
    }
}

/// What a client is told of the tools and of approvals, for the wait in force.
fn instructions(wait: Duration) -> String {
    let approval = if wait.is_zero() {
        "such a call returns at once an error with the approval id (it did not run); a \
         person approves it in Ops-Copilot, and it runs then."
            .to_owned()
    } else {
        format!(
            "such a call waits, up to {} s (send a progress token to hear how long it has \
             waited), for a person to approve or deny it in Ops-Copilot, then returns the \
             tool's result, or an error saying who denied it. If nobody decides in time, it \
             returns an error with the approval id: the call did not run, and the approval \
             stays pending for a person to approve later (it runs then).",
            wait.as_secs()
        )
    };
    format!(
        "Docker tools behind policy. Mutating tools need a human's approval: {approval} \
         Nothing in a call approves it."
    )
}

/// A client's progress token and the way to send it progress, when it sent one.
fn progress(context: &RequestContext<RoleServer>) -> Option<waiting::Progress> {
    let token = context.meta.get_progress_token()?;
    Some(waiting::Progress {
        token,
        peer: context.peer.clone(),
    })
}

/// A call's answer as an MCP tool result.
fn answer(reply: Reply) -> CallToolResult {
    match reply {
        Reply::Executed(executed) => CallToolResult::structured(executed.result),
        Reply::NeedApproval(need) => need_approval(&need),
        Reply::Refused(refusal) => CallToolResult::error(vec![ContentBlock::text(format!(
            "{} ({})",
            refusal.detail, refusal.code
        ))]),
    }
}

/// A call that needs an approval and was not waited on: the approval id, for a
/// person to decide on; nothing ran.
fn need_approval(need: &NeedApproval) -> CallToolResult {
    CallToolResult::structured_error(json!({
        "need_approval": true,
        "approval_id": need.approval_id,
        "tool": need.tool,
        "args": need.args,
        "rationale": need.rationale,
        "message": format!(
            "{} needs a human's approval (approval id {}): a person whose role can approve it must approve it in Ops-Copilot's Approvals page or with POST /approvals/{}/approve. This call did not run.",
            need.tool, need.approval_id, need.approval_id
        ),
    }))
}

#[cfg(test)]
mod tests;
