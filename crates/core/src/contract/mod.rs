//! The contract between the planes: what pi-health (or any client) sends the
//! gateway and what it gets back, and the rules both sides check the same way.
//! One definition of each wire type; `tests/contract.rs` pins their JSON.
//!
//! - [`call`]: `POST /chat/tool`'s request and its three kinds of answer;
//! - [`refusal`]: every refusal code with its HTTP status;
//! - [`audit_query`]: `GET /audit`'s filters;
//! - [`diagnosis`]: `compose_diagnose`'s answer, verdicts, exit codes in words;
//! - [`stats`]: `compose_stats`' answer, and when memory is not accounted;
//! - [`log_stream`]: a followed log, one event per line, between every plane;
//! - [`service_events`]: a stack's services as they change, docker-mcp to the gateway;
//! - [`updates`]: `compose_updates`' answer: newer images in the registry, by digest;
//! - [`hosts`]: `GET /hosts`' answer and the `host` argument (several Docker hosts);
//! - [`rules`]: service names, log tails, `X-On-Behalf-Of`, approval ids;
//! - [`ids`]: unguessable ids, failing closed when the OS has no randomness.

pub mod audit_query;
pub mod call;
pub mod diagnosis;
pub mod hosts;
pub mod ids;
pub mod log_stream;
pub mod refusal;
pub mod rules;
pub mod service_events;
pub mod stats;
pub mod updates;

pub use audit_query::AuditQuery;
pub use call::{ChatToolReply, ChatToolRequest, Executed, NeedApproval};
pub use diagnosis::{Diagnosis, Verdict, exit_code_meaning};
pub use hosts::{HostInfo, Hosts};
pub use log_stream::LogEvent;
pub use refusal::{Refusal, RefusalCode};
pub use stats::{ContainerStats, StackStats};
pub use updates::{ServiceUpdate, StackUpdates, UpdateStatus};
