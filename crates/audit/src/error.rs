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

    #[error("invalid audit record: {0}")]
    InvalidRecord(String),

    #[error("invalid audit filter: {0}")]
    InvalidFilter(String),

    #[error("audit log is corrupt: {0}")]
    Corrupt(String),
}

impl AuditError {
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { context, source }
    }
}
