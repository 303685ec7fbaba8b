//! The container deployment (deploy/) end to end, on the real Docker Engine: the
//! images deploy/build.sh made (scripts/test.sh runs it), the secrets
//! deploy/setup.sh makes, deploy/docker-compose.yml with the direct-socket variant
//! (the socket proxy's image cannot be pulled here) next to a throw-away fake ARR
//! stack; the guide's smoke tests and every tool through the gateway, the chat API
//! with a real restart, no Engine access for the gateway and pi-health, and a
//! teardown that leaves nothing behind.

mod deployment;
#[allow(dead_code)]
#[path = "../gateway/support.rs"]
mod gateway_support;
#[allow(dead_code)]
#[path = "../pi_health/support.rs"]
mod pi_support;
mod topology;
mod variants;
