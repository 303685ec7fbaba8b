//! The gateway as an MCP server at `/mcp`: each caller sees only the tools
//! its role may use, and every call goes through the same decision as
//! `/chat/tool`. Approval never comes from MCP: a call that needs it returns
//! an error result with the approval id, for a human to decide on.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::decision;
use crate::pipeline::{CallRequest, Gateway, Reply};

#[derive(Clone)]
pub struct GatewayMcp {
    gateway: Arc<Gateway>,
}

impl GatewayMcp {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
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
            .with_instructions(
                "Docker tools behind policy. Mutating tools need a human's approval: such a call \
                 returns an approval id; a person approves it in Ops-Copilot.",
            )
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
                let schema: JsonObject = match &tool.schema {
                    Value::Object(map) => map.clone(),
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
        let result = match self.gateway.call(&principal, call).await {
            Reply::Executed(executed) => CallToolResult::structured(executed.result),
            Reply::NeedApproval(need) => CallToolResult::structured_error(json!({
                "need_approval": true,
                "approval_id": need.approval_id,
                "tool": need.tool,
                "args": need.args,
                "rationale": need.rationale,
                "message": format!(
                    "{} needs a human's approval (approval id {}): a person whose role can approve it must approve it in Ops-Copilot's Approvals page or with POST /approvals/{}/approve. This call did not run.",
                    need.tool, need.approval_id, need.approval_id
                ),
            })),
            Reply::Refused(refusal) => CallToolResult::error(vec![ContentBlock::text(format!(
                "{} ({})",
                refusal.detail, refusal.code
            ))]),
        };
        Ok(result.into())
    }
}
