//! Policy patterns: the un-escaping rule and compilation with clear errors.

use regex::Regex;

/// Upper bound on the compiled size of one policy pattern. The regex crate's default
/// (10 MiB) is kept explicit here so that a pathological pattern such as `\w{1000}{1000}`
/// is refused with a clear error at load time instead of costing memory.
const PATTERN_SIZE_LIMIT: usize = 10 * (1 << 20);

/// A policy pattern that could not be used.
///
/// Displays as `redact_patterns[1] "(?i)apikey=(": <reason>`, so that `policy check`
/// can point at the offending entry of the policy file.
/// An `index` of `usize::MAX` marks a built-in detector (a bug in this crate, covered by
/// its tests) and displays as `built-in detector NAME: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct PatternError {
    /// Position of the pattern in the policy's `redact_patterns` list.
    pub index: usize,
    /// The pattern as written in the policy (before un-escaping).
    pub pattern: String,
    /// Why it was refused (the regex compiler's message, or our own rule).
    pub reason: String,
}

impl PatternError {
    fn message(&self) -> String {
        if self.index == usize::MAX {
            format!("{}: {}", self.pattern, self.reason)
        } else {
            format!(
                "redact_patterns[{}] {:?}: {}",
                self.index, self.pattern, self.reason
            )
        }
    }
}

/// Collapses every doubled backslash (`\\`) into a single one.
///
/// The guide writes its patterns double-escaped inside single-quoted YAML, e.g.
/// `'(?i)apikey=\\w+'`. Single quotes do not process escapes, so the string that
/// reaches us is `(?i)apikey=\\w+`, which as a regex means "a literal backslash, then
/// `w`": it would never match `apikey=abc123`. The author clearly meant `\w`, so policy
/// patterns are read as if they were escaped once more than regex syntax needs:
///
/// - `\\` (two backslashes) becomes `\`, scanning left to right in pairs;
/// - every other character, including a lone backslash (`\w`, `\s`), is kept as is,
///   so a correctly written single-escaped pattern keeps its meaning.
///
/// Consequence: a literal backslash must be written as four backslashes (`\\\\`).
/// Returns the un-escaped pattern and whether anything changed, so that
/// `policy check` can warn about the rewrite.
pub fn unescape_policy_pattern(pattern: &str) -> (String, bool) {
    let mut out = String::with_capacity(pattern.len());
    let mut changed = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'\\') {
            chars.next();
            changed = true;
        }
        out.push(c);
    }
    (out, changed)
}

/// Un-escapes and compiles policy pattern number `index`.
///
/// Patterns that can match the empty string (`a*`, `(x)?`) are refused: they would
/// match everywhere, redact nothing, and almost always mean the author made a mistake.
pub(crate) fn compile_policy_pattern(index: usize, pattern: &str) -> Result<Regex, PatternError> {
    let error = |reason: String| PatternError {
        index,
        pattern: pattern.to_owned(),
        reason,
    };
    let (source, _) = unescape_policy_pattern(pattern);
    let regex = regex::RegexBuilder::new(&source)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| error(e.to_string()))?;
    if regex.is_match("") {
        return Err(error(
            "the pattern matches the empty string, so it would match everywhere".to_owned(),
        ));
    }
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_the_guides_double_escaping() {
        // Exactly what serde produces from the guide's single-quoted YAML.
        assert_eq!(
            unescape_policy_pattern(r"(?i)apikey=\\w+"),
            (r"(?i)apikey=\w+".to_owned(), true)
        );
        assert_eq!(
            unescape_policy_pattern(r"(?i)authorization:\\s*bearer\\s+[a-z0-9\\._-]+"),
            (
                r"(?i)authorization:\s*bearer\s+[a-z0-9\._-]+".to_owned(),
                true
            )
        );
    }

    #[test]
    fn leaves_single_escaped_patterns_alone() {
        assert_eq!(
            unescape_policy_pattern(r"(?i)token=\w+"),
            (r"(?i)token=\w+".to_owned(), false)
        );
        assert_eq!(unescape_policy_pattern(""), (String::new(), false));
    }

    #[test]
    fn pairs_are_taken_left_to_right() {
        // Four backslashes are a literal backslash in the compiled regex.
        assert_eq!(
            unescape_policy_pattern(r"a\\\\b"),
            (r"a\\b".to_owned(), true)
        );
        // Three: one pair collapses, the odd one escapes what follows.
        assert_eq!(
            unescape_policy_pattern(r"a\\\d"),
            (r"a\\d".to_owned(), true)
        );
        // A trailing lone backslash is kept (and later refused by the compiler).
        assert_eq!(unescape_policy_pattern("a\\"), ("a\\".to_owned(), false));
    }

    #[test]
    fn invalid_pattern_names_its_index_and_reason() {
        let err = compile_policy_pattern(1, "(?i)apikey=(").err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.starts_with(r#"redact_patterns[1] "(?i)apikey=(": "#),
            "{err}"
        );
        assert!(err.contains("unclosed group"), "{err}");
    }

    #[test]
    fn empty_matching_pattern_is_refused() {
        let err = compile_policy_pattern(0, "x*").err();
        assert_eq!(err.map(|e| e.index), Some(0));
        assert!(compile_policy_pattern(0, "").is_err());
    }

    #[test]
    fn oversized_pattern_is_refused_not_compiled() {
        assert!(compile_policy_pattern(3, r"\w{1000}{1000}").is_err());
    }
}
