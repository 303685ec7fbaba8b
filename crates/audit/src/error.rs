//! Errors. Every variant says what could not be done and, where it matters, that the
//! record is NOT (or, for the anchor, only partly) stored, so callers fail closed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open audit log {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot set up audit log {}: {reason}", path.display())]
    Setup { path: PathBuf, reason: String },

    #[error("audit log {} uses schema version {found}; this build knows up to {supported}", path.display())]
    SchemaVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("audit log: {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "audit log {} was removed or replaced while open: records written now would not be in it",
        path.display()
    )]
    Moved { path: PathBuf },

    #[error(
        "head anchor {} could not be prepared (nothing was stored): {source}",
        path.display()
    )]
    AnchorNotStaged {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "head anchor {} could not be updated to record {seq} (records up to {seq} ARE \
         committed in the database): {source}",
        path.display()
    )]
    Anchor {
        seq: i64,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "witness file {} could not be written for record {seq} (records up to {seq} ARE \
         committed in the database): {source}",
        path.display()
    )]
    Witness {
        seq: i64,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "key file {} could not be moved on to epoch {epoch} (records up to {seq} ARE \
         committed and sealed; retried with the next append): {source}",
        path.display()
    )]
    KeyNotAdvanced {
        seq: i64,
        epoch: i64,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read the witness file {}: {source}", path.display())]
    WitnessUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The sealing key: unreadable, malformed, not this log's, or not moved on.
    #[error("audit sealing key: {0}")]
    Key(String),

    #[error("invalid audit record: {0}")]
    InvalidRecord(String),

    #[error("invalid audit filter: {0}")]
    InvalidFilter(String),

    #[error("audit log is corrupt: {0}")]
    Corrupt(String),
}

impl AuditError {
    /// True when the records of the failed append ARE committed in the database (only
    /// the anchor, the key file or the witness lag behind): appending them again
    /// would store them twice.
    pub fn records_committed(&self) -> bool {
        matches!(
            self,
            Self::Anchor { .. } | Self::KeyNotAdvanced { .. } | Self::Witness { .. }
        )
    }

    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { context, source }
    }
}
