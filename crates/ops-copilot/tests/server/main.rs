//! `ops-copilot docker-mcp` as a process, against the real Docker Engine: the REST
//! form, MCP over Streamable HTTP and over stdio (raw JSON-RPC, written from the
//! protocol texts), and an Engine that is missing, comes back, or sits behind a TCP
//! proxy. An unreachable Engine fails these tests; nothing here is skipped.

mod engine;
mod limits;
mod mcp;
mod rest;
mod stdio;
mod support;
