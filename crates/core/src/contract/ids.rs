//! Unguessable ids (request and approval ids, sessions, CSRF tokens, nonces,
//! passwords). One failure policy: without the operating system's randomness
//! nothing gets an id, and the caller refuses what it was about to do.

/// Bytes in a request or approval id.
pub const ID_BYTES: usize = 12;

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRandomness(pub String);

impl std::fmt::Display for NoRandomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the operating system has no randomness to give: {}",
            self.0
        )
    }
}

impl std::error::Error for NoRandomness {}

/// `bytes` random bytes from the operating system, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, NoRandomness> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| NoRandomness(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// A request or approval id.
pub fn new_id() -> Result<String, NoRandomness> {
    random_hex(ID_BYTES)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_long_and_distinct() {
        let a = super::random_hex(16).unwrap();
        let b = super::random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(super::new_id().unwrap().len(), super::ID_BYTES * 2);
    }
}
