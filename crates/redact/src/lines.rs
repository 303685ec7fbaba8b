//! Redaction of a text that arrives one line at a time (a followed log).
//!
//! [`Redactor::redact_str`] sees a whole text, so a private key block is one
//! match from its `BEGIN` line through its body. A live stream hands over one
//! line at a time: the body lines of a key, alone, are ordinary base64. So
//! [`LineRedactor`] remembers that it is inside a block and masks each of its
//! lines whole, by the same rule the `private_key_block` detector uses: a line
//! that is one base64 run (or a `Proc-Type:`-style header) continues the
//! block; an `END` line, or anything else, ends it. OpenVPN's inline
//! `<auth-user-pass>` block (user name and password lines) likewise.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::{REDACTED, Redactor};

static KEY_BLOCK_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"-----BEGIN (?:[A-Z0-9]+ )*(?:PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----\s*$",
    )
    .expect("static regex")
});
static KEY_BLOCK_BODY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[ \t]*(?:(?:Proc-Type|DEK-Info|Version|Comment):.*|[A-Za-z0-9+/=]+)[ \t]*$")
        .expect("static regex")
});

/// The longest OpenVPN auth block: a user name and a password line.
const MAX_AUTH_BLOCK_LINES: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Nothing,
    KeyBlock,
    /// Lines of `<auth-user-pass>` seen so far.
    AuthBlock(usize),
}

/// Masks secrets in a text given line by line; see the module's description.
#[derive(Debug)]
pub struct LineRedactor<'r> {
    redactor: &'r Redactor,
    inside: Inside,
}

impl<'r> LineRedactor<'r> {
    pub fn new(redactor: &'r Redactor) -> Self {
        Self {
            redactor,
            inside: Inside::Nothing,
        }
    }

    /// The line with its secrets masked, and how many were.
    pub fn line<'a>(&mut self, line: &'a str) -> (Cow<'a, str>, usize) {
        match self.inside {
            Inside::KeyBlock => {
                if KEY_BLOCK_BODY.is_match(line) {
                    return (Cow::Borrowed(REDACTED), 1);
                }
                self.inside = Inside::Nothing;
            }
            Inside::AuthBlock(seen) => {
                if line.contains("</auth-user-pass>") {
                    self.inside = Inside::Nothing;
                } else if seen < MAX_AUTH_BLOCK_LINES {
                    self.inside = Inside::AuthBlock(seen + 1);
                    return (Cow::Borrowed(REDACTED), 1);
                } else {
                    self.inside = Inside::Nothing;
                }
            }
            Inside::Nothing => {}
        }
        let (masked, count) = self.redactor.redact_counted(line);
        if self.redactor.builtins_on() {
            if KEY_BLOCK_START.is_match(line) {
                self.inside = Inside::KeyBlock;
            } else if line.trim_end().ends_with("<auth-user-pass>") {
                self.inside = Inside::AuthBlock(0);
            }
        }
        (masked, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_lines(text: &str) -> Vec<String> {
        let redactor = Redactor::new(&[]).unwrap();
        let mut lines = LineRedactor::new(&redactor);
        text.lines()
            .map(|line| lines.line(line).0.into_owned())
            .collect()
    }

    #[test]
    fn a_private_key_given_line_by_line_is_masked_line_by_line() {
        let out = redact_lines(
            "starting\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIEpAIBAAKCAQEAfakeKEY\nFAKEsecondLINE==\n-----END RSA PRIVATE KEY-----\nStarting Sonarr\nMIIEnotAkeyNow",
        );
        assert_eq!(
            out,
            [
                "starting",
                "-----BEGIN RSA PRIVATE KEY-----",
                "[REDACTED]",
                "[REDACTED]",
                "[REDACTED]",
                "-----END RSA PRIVATE KEY-----",
                "Starting Sonarr",
                "MIIEnotAkeyNow",
            ]
        );
    }

    #[test]
    fn a_cut_key_block_ends_at_the_first_ordinary_line() {
        let out = redact_lines(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n[Info] Starting Sonarr\nb3BlbnNzaC1rZXktdjEAAAA",
        );
        assert_eq!(out[1], "[REDACTED]");
        assert_eq!(out[2], "[Info] Starting Sonarr");
        assert_eq!(out[3], "b3BlbnNzaC1rZXktdjEAAAA", "the block ended");
    }

    #[test]
    fn an_openvpn_auth_block_is_masked_and_single_line_secrets_still_are() {
        let out = redact_lines(
            "<auth-user-pass>\nvpnuser\nHunter2Pass!\n</auth-user-pass>\napikey=0123456789abcdef0123456789abcdef",
        );
        assert_eq!(out[1], "[REDACTED]");
        assert_eq!(out[2], "[REDACTED]");
        assert_eq!(out[3], "</auth-user-pass>");
        assert!(!out[4].contains("0123456789abcdef"), "{}", out[4]);
    }
}
