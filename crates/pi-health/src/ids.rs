//! Unguessable identifiers: suggestion ids, session ids, CSRF tokens, passwords.

/// `bytes` random bytes from the operating system, hex-encoded.
/// Panics when the OS has no randomness: nothing here may run on guessable ids.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random number generator");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_long_and_distinct() {
        let a = super::random_hex(16);
        let b = super::random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
