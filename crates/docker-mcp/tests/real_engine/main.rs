//! docker-mcp's tools against the real Docker Engine, through `DockerTools::call`
//! (the code path both front ends use). Each test brings up its own throw-away compose
//! project (`octest-...`, only the services it needs) and tears it down when it ends.
//! An unreachable Engine fails the tests; nothing here is skipped.

mod arguments;
mod diagnose;
mod engine;
mod events;
mod follow;
mod lifecycle;
mod logs;
mod ps;
mod pull;
mod stats;
mod support;
mod swarm;
mod up;
mod updates;
