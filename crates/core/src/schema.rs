//! Argument checks against a compiled JSON Schema, with messages a person can act on.

use serde_json::Value;

/// Problems reported at most, so one bad call cannot produce a huge message.
const MAX_PROBLEMS: usize = 5;

/// Ok, or every problem (up to five) as "`/path`: what is wrong", joined by "; ".
/// Echoed input is shortened.
pub fn check(validator: &jsonschema::Validator, args: &Value) -> Result<(), String> {
    let problems: Vec<String> = validator
        .iter_errors(args)
        .take(MAX_PROBLEMS)
        .map(|error| {
            let at = error.instance_path().to_string();
            let text = crate::bounded(&error.to_string(), 200);
            if at.is_empty() {
                text
            } else {
                format!("{at}: {text}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn names_each_problem_with_its_path() {
        let schema = json!({
            "type": "object",
            "properties": { "tail": { "type": "integer", "minimum": 50 }, "file": { "const": "/f" } },
            "additionalProperties": false
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert_eq!(
            super::check(&validator, &json!({"tail": 60, "file": "/f"})),
            Ok(())
        );
        let problems =
            super::check(&validator, &json!({"tail": 1, "file": "/x", "extra": 1})).unwrap_err();
        assert!(
            problems.contains("/tail") && problems.contains("/file"),
            "{problems}"
        );
        assert!(problems.contains("extra"), "{problems}");
        let long = "y".repeat(10_000);
        assert!(
            super::check(&validator, &json!({"file": long}))
                .unwrap_err()
                .len()
                < 600
        );
    }
}
