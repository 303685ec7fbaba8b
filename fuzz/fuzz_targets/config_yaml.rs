//! The gateway's configuration loader from text (`Config::parse`): a registry and
//! a policy YAML, split at the first line that is exactly `---8<---`.
#![no_main]

use gateway::config::{Config, Source};
use libfuzzer_sys::fuzz_target;

const CUT: &str = "\n---8<---\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registry, policy) = text.split_once(CUT).unwrap_or((text, ""));
    let parse = || {
        Config::parse(
            Source {
                name: "tool_registry.yaml",
                text: registry,
            },
            Source {
                name: "policy.yaml",
                text: policy,
            },
        )
    };
    match parse() {
        Err(error) => {
            // A refusal names its file and says why.
            assert!(error.file == "tool_registry.yaml" || error.file == "policy.yaml");
            assert!(!error.reason.is_empty());
        }
        Ok(config) => {
            // Deterministic: the version approvals are bound to is a function of the text.
            let again = parse().expect("the same text loads again");
            assert_eq!(again.version, config.version);
            // Deny by default: every tool names a known service, mutating means approval.
            for (name, tool) in &config.tools {
                assert_eq!(name, &tool.name);
                assert!(config.services.contains_key(&tool.service), "{name}");
                if tool.mutating {
                    assert!(tool.needs_approval, "{name} mutates without approval");
                }
            }
            // The gateway builds its redactor from the loaded patterns (a pattern it
            // refuses keeps the previous ones in force): refusing is fine, panicking not.
            let _ = redact::Redactor::new(&config.defaults.redact_patterns);
        }
    }
});
