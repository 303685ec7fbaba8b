//! MCP JSON-RPC input as the servers read it: rmcp's client-to-server message type
//! (what docker-mcp's and the gateway's `/mcp` deserialize), then a `tools/call`'s
//! arguments through docker-mcp's catalog validation.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use docker_mcp::catalog::Catalog;
use docker_mcp::{DEFAULT_SWARM_STACK, SWARM_MAX_REPLICAS, ToolName};
use libfuzzer_sys::fuzz_target;
use ops_core::contract::rules;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde_json::Value;

const LOCKED_FILE: &str = "/opt/stack/docker-compose.yml";

// Pinned as `all` runs it: the compose file and the default Swarm stack, so that the
// swarm_* tools' arguments are fuzzed too.
static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::new(Some(Path::new(LOCKED_FILE)), Some(DEFAULT_SWARM_STACK)));

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(data) else {
        return;
    };
    // What rmcp accepted it can write back, and read again.
    let encoded = serde_json::to_vec(&message).expect("a parsed message encodes");
    serde_json::from_slice::<ClientJsonRpcMessage>(&encoded)
        .expect("an encoded message parses again");

    let JsonRpcMessage::Request(request) = message else {
        return;
    };
    let ClientRequest::CallToolRequest(call) = request.request else {
        return;
    };
    let Some(tool) = ToolName::parse(&call.params.name) else {
        return;
    };
    // As server/mcp.rs hands them to DockerTools::call.
    let args = call
        .params
        .arguments
        .map(Value::Object)
        .unwrap_or(Value::Null);
    if CATALOG.validate(tool, &args).is_err() {
        return;
    }
    // Whatever the schema let through is what the Rust side expects: an object with
    // the locked file (a compose tool) or the pinned stack (a Swarm tool), a
    // well-formed service, a tail within the guide's bounds, replicas within
    // docker-mcp's own.
    let object = args.as_object().expect("the schemas require an object");
    let swarm = tool.as_str().starts_with("swarm_");
    if swarm && tool != ToolName::SwarmNodes {
        assert_eq!(
            object.get("stack").and_then(Value::as_str),
            Some(DEFAULT_SWARM_STACK)
        );
    } else if !swarm && tool != ToolName::DockerPs {
        assert_eq!(
            object.get("file").and_then(Value::as_str),
            Some(LOCKED_FILE)
        );
    }
    if let Some(replicas) = object.get("replicas") {
        let replicas = replicas.as_u64().expect("replicas is a whole number");
        assert!(
            replicas <= u64::from(SWARM_MAX_REPLICAS),
            "schema let {replicas} replicas through"
        );
    }
    if let Some(service) = object.get("service") {
        let service = service.as_str().expect("service is a string");
        assert!(
            rules::is_service_name(service),
            "schema let {service:?} through"
        );
    }
    if let Some(tail) = object.get("tail") {
        let tail = tail.as_u64().expect("tail is a whole number");
        assert_eq!(u64::from(rules::clamp_tail(Some(tail))), tail);
    }
});
