//! `ops-copilot gateway` end to end: the real binary in front of the real
//! `ops-copilot docker-mcp`, against the real Docker Engine and a throw-away fake ARR
//! stack, through HTTP (`/chat/tool`, `/approvals`, `/audit`, `/health`) and MCP
//! (`/mcp`, raw JSON-RPC). Containers really restart (or, when refused, really do
//! not: checked with `docker inspect`). An unreachable Engine fails these tests.

mod all_in_one;
mod approvals;
mod audit;
mod audit_head;
mod autoheal;
mod config_paths;
mod diagnose;
mod fail_closed;
mod faults;
mod hosts;
mod limits;
mod live_logs;
mod mcp;
mod notify;
mod refusals;
mod reload;
mod restart;
mod shutdown;
mod smoke;
mod soak;
mod support;
mod swarm;
mod transports;
mod updates;
mod upstream_down;
mod webhook;
