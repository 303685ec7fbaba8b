//! Each person's recent chat, kept so that a reload or a restart of pi-health
//! loses nothing: the last [`MAX_ENTRIES`] exchanges and action outcomes per
//! user, each bounded in bytes, one file per user readable by its owner only.
//!
//! What people typed is redacted before it is kept (the answers already are:
//! everything the gateway returns is redacted, and so is a model's text). A
//! suggestion card is kept as what it proposed, without its id: an approval
//! always comes from a fresh card, never from history.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redact::Redactor;
use serde::{Deserialize, Serialize};

use crate::agent::ChatReply;
use crate::private_file;
use crate::users::{unix_ms_now, valid_name};

/// Entries kept per person; the oldest go first.
pub(crate) const MAX_ENTRIES: usize = 40;
/// An answer larger than this (as JSON) is kept as a note that it was long.
const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// A person's file is refused above this size (it cannot grow that large).
const MAX_FILE_BYTES: u64 = 2 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) at_ms: u64,
    #[serde(flatten)]
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A message and the answer's messages.
    Exchange {
        message: String,
        replies: Vec<Reply>,
    },
    /// What an approved action did.
    Outcome { success: bool, text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reply {
    /// Server-built HTML, every value in it escaped.
    pub(crate) content: String,
    /// What a card proposed ("Restart sonarr ..."), if the message had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proposed: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    entries: VecDeque<Entry>,
}

pub(crate) struct ChatHistory {
    dir: PathBuf,
    redactor: Option<Redactor>,
    /// One read-modify-write at a time.
    writing: Mutex<()>,
}

impl ChatHistory {
    /// Kept in `dir`, one `<user>.json` each.
    pub(crate) fn new(dir: PathBuf) -> Self {
        let redactor = Redactor::new(&[])
            .map_err(
                |error| tracing::error!(%error, "chat history: no redactor; nothing typed is kept"),
            )
            .ok();
        Self {
            dir,
            redactor,
            writing: Mutex::default(),
        }
    }

    fn path(&self, user: &str) -> Option<PathBuf> {
        // A valid name has no '/' and no control character.
        valid_name(user).then(|| self.dir.join(format!("{user}.json")))
    }

    fn read(path: &Path) -> Result<File, String> {
        match private_file::read_bounded(path, MAX_FILE_BYTES)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a chat history: {e}", path.display())),
            None => Ok(File::default()),
        }
    }

    /// The person's entries, oldest first (none when the file is unreadable:
    /// the reason goes to the log).
    pub(crate) fn entries(&self, user: &str) -> Vec<Entry> {
        let Some(path) = self.path(user) else {
            return Vec::new();
        };
        match Self::read(&path) {
            Ok(file) => file.entries.into(),
            Err(error) => {
                tracing::warn!(%error, "chat history: cannot read");
                Vec::new()
            }
        }
    }

    /// Keeps what `user` typed (redacted) and the answer.
    pub(crate) fn record_exchange(&self, user: &str, message: &str, reply: &ChatReply) {
        let Some(redactor) = &self.redactor else {
            return;
        };
        let replies = reply
            .messages
            .iter()
            .map(|m| Reply {
                content: m.content.clone(),
                proposed: m.suggestion.as_ref().map(|s| s.description.clone()),
            })
            .collect();
        let message = redactor.redact_str(message).into_owned();
        let mut kind = Kind::Exchange { message, replies };
        if serde_json::to_vec(&kind).map_or(true, |json| json.len() > MAX_ENTRY_BYTES)
            && let Kind::Exchange { replies, .. } = &mut kind
        {
            *replies = vec![Reply {
                content: "<p>(A long answer, not kept: ask again to see it.)</p>".into(),
                proposed: None,
            }];
        }
        self.push(user, kind);
    }

    /// Keeps what an approved action did.
    pub(crate) fn record_outcome(&self, user: &str, success: bool, text: &str) {
        let text = ops_core::bounded(text, MAX_ENTRY_BYTES / 4);
        self.push(user, Kind::Outcome { success, text });
    }

    fn push(&self, user: &str, kind: Kind) {
        let Some(path) = self.path(user) else {
            return;
        };
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        // An unreadable file is replaced: the person's older chat is lost, the new kept.
        let mut file = Self::read(&path).unwrap_or_else(|error| {
            tracing::warn!(%error, "chat history: replacing an unreadable file");
            File::default()
        });
        file.entries.push_back(Entry {
            at_ms: unix_ms_now(),
            kind,
        });
        while file.entries.len() > MAX_ENTRIES {
            file.entries.pop_front();
        }
        let written = serde_json::to_vec(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| private_file::write_atomic(&path, &bytes));
        if let Err(error) = written {
            tracing::warn!(%error, "chat history: cannot keep the exchange");
        }
    }

    /// Forgets everything `user` said and was told.
    pub(crate) fn clear(&self, user: &str) -> Result<(), String> {
        let Some(path) = self.path(user) else {
            return Ok(());
        };
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ChatMessage;

    fn reply(content: &str) -> ChatReply {
        ChatReply {
            messages: vec![ChatMessage {
                id: "m1".into(),
                role: "assistant",
                content: content.into(),
                suggestion: None,
            }],
            model: "built-in planner".into(),
            tools: vec![],
        }
    }

    #[test]
    fn each_person_keeps_their_own_bounded_redacted_history() {
        let dir = tempfile::tempdir().unwrap();
        let history = ChatHistory::new(dir.path().join("chat"));
        history.record_exchange(
            "alice",
            "my sonarr apikey=0123456789abcdef0123456789abcdef is it ok?",
            &reply("<p>sonarr is running.</p>"),
        );
        history.record_outcome("alice", true, "sonarr restarted.");
        history.record_exchange("bob", "status", &reply("<p>All 3 running.</p>"));

        // Another instance (a restart) reads the same.
        let again = ChatHistory::new(dir.path().join("chat"));
        let alice = again.entries("alice");
        assert_eq!(alice.len(), 2);
        let Kind::Exchange { message, replies } = &alice[0].kind else {
            panic!("{alice:?}");
        };
        assert!(!message.contains("0123456789abcdef"), "{message}");
        assert!(message.contains("[REDACTED]"), "{message}");
        assert_eq!(replies[0].content, "<p>sonarr is running.</p>");
        assert_eq!(
            alice[1].kind,
            Kind::Outcome {
                success: true,
                text: "sonarr restarted.".into()
            }
        );
        assert_eq!(again.entries("bob").len(), 1);
        assert!(again.entries("carol").is_empty());
        assert!(again.entries("../etc/passwd").is_empty());

        for n in 0..MAX_ENTRIES + 5 {
            again.record_exchange("bob", &format!("question {n}"), &reply("<p>ok</p>"));
        }
        let bob = again.entries("bob");
        assert_eq!(bob.len(), MAX_ENTRIES);
        let Kind::Exchange { message, .. } = &bob[MAX_ENTRIES - 1].kind else {
            panic!()
        };
        assert_eq!(message, &format!("question {}", MAX_ENTRIES + 4));

        let long = "x".repeat(MAX_ENTRY_BYTES * 2);
        again.record_exchange("bob", "logs", &reply(&long));
        let Kind::Exchange { replies, .. } = &again.entries("bob")[MAX_ENTRIES - 1].kind else {
            panic!()
        };
        assert!(replies[0].content.contains("not kept"));

        again.clear("alice").unwrap();
        assert!(again.entries("alice").is_empty());
        assert_eq!(again.entries("bob").len(), MAX_ENTRIES, "only alice's went");
    }

    #[test]
    fn a_broken_file_is_reported_as_empty_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let history = ChatHistory::new(dir.path().to_path_buf());
        std::fs::write(dir.path().join("alice.json"), "{ broken").unwrap();
        assert!(history.entries("alice").is_empty());
        history.record_exchange("alice", "hi", &reply("<p>hello</p>"));
        assert_eq!(history.entries("alice").len(), 1);
    }
}
