//! Bearer tokens: reading them from `Authorization` headers and comparing
//! them without leaking timing. Only SHA-256 digests are kept in memory.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token from an `Authorization: Bearer ...` header value.
pub fn token_from_header(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two digests are equal, in constant time.
pub fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

/// One expected token, kept as its digest.
#[derive(Clone)]
pub struct ExpectedToken {
    digest: [u8; 32],
}

impl ExpectedToken {
    pub fn new(token: &str) -> Self {
        Self {
            digest: digest(token.trim()),
        }
    }

    /// Reads the token from a file (surrounding whitespace ignored); an empty file is an error.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        if text.trim().is_empty() {
            return Err(format!("the token file {} is empty", path.display()));
        }
        Ok(Self::new(&text))
    }

    /// Whether an `Authorization` header carries this token.
    pub fn accepts_header(&self, header: Option<&str>) -> bool {
        header
            .and_then(token_from_header)
            .is_some_and(|token| same_digest(&digest(token), &self.digest))
    }
}

impl std::fmt::Debug for ExpectedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpectedToken(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(token_from_header("Bearer abc"), Some("abc"));
        assert_eq!(token_from_header("bearer   abc "), Some("abc"));
        assert_eq!(token_from_header("Basic abc"), None);
        assert_eq!(token_from_header("Bearer "), None);
        assert_eq!(token_from_header("Bearerabc"), None);
    }

    #[test]
    fn accepts_only_the_expected_token() {
        let expected = ExpectedToken::new("s3cret\n");
        assert!(expected.accepts_header(Some("Bearer s3cret")));
        assert!(!expected.accepts_header(Some("Bearer s3cre")));
        assert!(!expected.accepts_header(Some("Basic s3cret")));
        assert!(!expected.accepts_header(None));
        assert!(!format!("{expected:?}").contains("s3cret"));
    }
}
