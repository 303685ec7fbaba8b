//! The MCP face of the tools (rmcp): the same catalog and the same
//! [`DockerTools::call`] as REST.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::catalog::ToolName;
use crate::tools::DockerTools;

#[derive(Clone)]
pub struct McpHandler {
    tools: Arc<DockerTools>,
    definitions: Arc<Vec<Tool>>,
}

fn as_object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("the catalog's schemas are JSON objects"),
    }
}

/// The MCP tool definitions for the catalog.
pub fn tool_definitions(tools: &DockerTools) -> Vec<Tool> {
    let catalog = tools.catalog();
    ToolName::ALL
        .into_iter()
        .map(|name| {
            let hints = name.hints();
            Tool::new(
                name.as_str(),
                name.description(),
                as_object(catalog.input_schema(name)),
            )
            .with_raw_output_schema(as_object(name.output_schema()))
            .with_annotations(ToolAnnotations::from_raw(
                None,
                Some(hints.read_only),
                Some(hints.destructive),
                Some(hints.idempotent),
                Some(hints.open_world),
            ))
        })
        .collect()
}

impl McpHandler {
    pub fn new(tools: Arc<DockerTools>) -> Self {
        let definitions = Arc::new(tool_definitions(&tools));
        Self { tools, definitions }
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("docker-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Docker and Compose tools scoped to one locked compose file. Read tools are safe; \
                 mutating tools change running containers.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.definitions.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.definitions.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // An unknown tool is a protocol error (-32602); everything else is a tool result.
        if ToolName::parse(&request.name).is_none() {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", ops_core::bounded(&request.name, 64)),
                None,
            ));
        }
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let result = match self.tools.call(&request.name, args).await {
            Ok(value) => CallToolResult::structured(value),
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        };
        Ok(result.into())
    }
}
