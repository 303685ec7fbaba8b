//! Output guards for everything the ai-gateway returns and audits.
//!
//! Two independent guards live here:
//!
//! - [`Redactor`] masks secrets: the policy's `defaults.redact_patterns` (whole match
//!   replaced by [`REDACTED`]) plus built-in detectors for the secrets an ARR stack
//!   leaks (API keys in query strings, headers, env lines, YAML, JSON and `config.xml`;
//!   bearer and basic credentials, cookies, JWTs, PEM private keys, database and
//!   basic-auth URLs, cloud and chat tokens, URL-encoded and JSON-escaped forms,
//!   command-line flags, "the password is X"), which keep the key and mask only the
//!   value, so the output stays readable. `tests/corpus/` holds the planted secrets and
//!   ordinary log lines they are measured against.
//! - [`LineRedactor`] does the same for a text given one line at a time (a followed
//!   log), carrying a private key block across its lines.
//! - [`cap_json`] bounds the size of a JSON result, leaving a visible marker wherever
//!   it cut, so that a model or a human knows the output is incomplete.
//!
//! Both are pure functions of their input: no I/O, no global state, and they never
//! panic on any input.

mod cap;
#[cfg(feature = "corpus")]
pub mod corpus;
mod detectors;
mod lines;
mod pattern;
mod redactor;
mod size;

pub use cap::{Capped, MIN_CAP_BYTES, cap_json};
pub use lines::LineRedactor;
pub use pattern::{PatternError, unescape_policy_pattern};
pub use redactor::Redactor;
pub use size::compact_json_len;

/// What every masked secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";
