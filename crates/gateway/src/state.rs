//! Durable decision state: pending approvals and running cooldowns, in
//! SQLite, so both survive a restart. An approval is consumed exactly once:
//! the check and the state change happen in one transaction.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {reason}")]
pub struct StateError {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Consumed,
    Denied,
}

impl ApprovalStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Consumed => "consumed",
            Self::Denied => "denied",
        }
    }
    fn parse(text: &str) -> Self {
        match text {
            "consumed" => Self::Consumed,
            "denied" => Self::Denied,
            _ => Self::Pending,
        }
    }
}

/// A request for a human decision, bound to who asked for exactly what,
/// under which policy, until when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub id: String,
    pub principal: String,
    pub role: String,
    pub tool: String,
    pub args: Value,
    pub args_digest: String,
    pub policy_version: String,
    pub rationale: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub status: ApprovalStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Whom the requester said it asked for (`X-On-Behalf-Of`), e.g. the person
    /// signed in to pi-health. Shown and recorded, never used to decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_for: Option<String>,
}

/// What a consumer claims the approval is for; all of it must match.
#[derive(Debug, Clone)]
pub struct Binding<'a> {
    pub tool: &'a str,
    pub args_digest: &'a str,
    pub policy_version: &'a str,
    /// For self-approval: the approval must be the caller's own.
    pub requester: Option<&'a str>,
}

/// Why an approval could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    #[error("no such approval")]
    NotFound,
    #[error("approval was already {0}: an approval is used once")]
    NotPending(&'static str),
    #[error("approval expired")]
    Expired,
    #[error("approval was for {0}, not this tool")]
    OtherTool(String),
    #[error("arguments differ from the approved ones")]
    ArgumentsChanged,
    #[error("the policy changed since the approval was requested; request it again")]
    PolicyChanged,
    #[error("approval belongs to another principal")]
    OtherPrincipal,
    #[error("{0}")]
    Store(String),
}

/// How many pending approvals one requester may have at once.
#[derive(Debug, Clone, Copy)]
pub struct PendingCaps {
    pub per_principal: usize,
    /// For one person a principal acts for (`X-On-Behalf-Of`), when it names one.
    pub per_person: usize,
}

/// Why a new approval was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("already {0} pending approvals")]
    TooMany(usize),
    #[error(transparent)]
    Store(StateError),
}

pub struct StateStore {
    path: String,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    role TEXT NOT NULL,
    tool TEXT NOT NULL,
    args TEXT NOT NULL,
    args_digest TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    rationale TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT
);
CREATE INDEX IF NOT EXISTS approvals_pending ON approvals(status, expires_at_ms);
CREATE TABLE IF NOT EXISTS cooldowns (
    key TEXT PRIMARY KEY,
    until_ms INTEGER NOT NULL
);
";

/// Stores made before approvals named whom they were requested for get the
/// column (empty for their rows).
fn add_requested_for(conn: &Connection) -> rusqlite::Result<()> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('approvals') WHERE name = 'requested_for'")?
        .exists([])?;
    if !has_column {
        conn.execute_batch("ALTER TABLE approvals ADD COLUMN requested_for TEXT")?;
    }
    Ok(())
}

/// Stores `approval` on `conn` (the caller holds the store's lock).
fn insert_approval(conn: &Connection, approval: &Approval) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO approvals (id, principal, role, tool, args, args_digest, policy_version,
             rationale, created_at_ms, expires_at_ms, status, decided_by, requested_for)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            approval.id,
            approval.principal,
            approval.role,
            approval.tool,
            approval.args.to_string(),
            approval.args_digest,
            approval.policy_version,
            approval.rationale,
            approval.created_at_ms as i64,
            approval.expires_at_ms as i64,
            approval.status.as_str(),
            approval.decided_by,
            approval.requested_for,
        ],
    )
    .map(|_| ())
}

fn row_to_approval(row: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let args: String = row.get("args")?;
    let status: String = row.get("status")?;
    Ok(Approval {
        id: row.get("id")?,
        principal: row.get("principal")?,
        role: row.get("role")?,
        tool: row.get("tool")?,
        args: serde_json::from_str(&args).unwrap_or(Value::Null),
        args_digest: row.get("args_digest")?,
        policy_version: row.get("policy_version")?,
        rationale: row.get("rationale")?,
        created_at_ms: row.get::<_, i64>("created_at_ms")? as u64,
        expires_at_ms: row.get::<_, i64>("expires_at_ms")? as u64,
        status: ApprovalStatus::parse(&status),
        decided_by: row.get("decided_by")?,
        requested_for: row.get("requested_for")?,
    })
}

impl StateStore {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let shown = path.display().to_string();
        let fail = |e: rusqlite::Error| StateError {
            path: shown.clone(),
            reason: e.to_string(),
        };
        // Approvals name who asked for what: for the owner only.
        audit::create_owner_only(path).map_err(|e| StateError {
            path: shown.clone(),
            reason: format!("cannot create it: {e}"),
        })?;
        let conn = Connection::open(path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        // A few hundred approvals and cooldowns: 256 KiB of page cache is plenty
        // (SQLite's default, 2 MiB, would only fill up with pages read once).
        conn.pragma_update(None, "cache_size", -256).map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        add_requested_for(&conn).map_err(fail)?;
        Ok(Self {
            path: shown,
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> StateError {
        StateError {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create_approval(&self, approval: &Approval) -> Result<(), StateError> {
        insert_approval(&self.conn(), approval).map_err(|e| self.error(e))
    }

    pub fn get(&self, id: &str) -> Result<Option<Approval>, StateError> {
        self.conn()
            .query_row(
                "SELECT * FROM approvals WHERE id = ?1",
                [id],
                row_to_approval,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The newest pending, unexpired approval of `principal` for this exact call.
    pub fn find_pending(
        &self,
        principal: &str,
        tool: &str,
        args_digest: &str,
        now_ms: u64,
    ) -> Result<Option<Approval>, StateError> {
        self.conn()
            .query_row(
                "SELECT * FROM approvals WHERE principal = ?1 AND tool = ?2 AND args_digest = ?3
                 AND status = 'pending' AND expires_at_ms > ?4 ORDER BY created_at_ms DESC LIMIT 1",
                params![principal, tool, args_digest, now_ms as i64],
                row_to_approval,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Pending, unexpired approvals, oldest first (at most `limit`).
    /// The pending, unexpired approvals, newest first: at most `per_requester`
    /// of each principal (and person it asked for) and `limit` in all, so that a
    /// flood by one requester never hides another's request.
    pub fn pending(
        &self,
        now_ms: u64,
        per_requester: usize,
        limit: usize,
    ) -> Result<Vec<Approval>, StateError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT * FROM (
                     SELECT *, rowid AS seq, ROW_NUMBER() OVER (
                         PARTITION BY principal, IFNULL(requested_for, '')
                         ORDER BY created_at_ms DESC, rowid DESC) AS newest
                     FROM approvals WHERE status = 'pending' AND expires_at_ms > ?1)
                 WHERE newest <= ?2
                 ORDER BY created_at_ms DESC, seq DESC LIMIT ?3",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(
                params![now_ms as i64, per_requester as i64, limit as i64],
                row_to_approval,
            )
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Stores a new pending approval unless its principal already has `per_principal`
    /// pending ones, or `per_person` for the same person it asks for: the count and
    /// the insert under one lock, so parallel requests cannot overshoot.
    pub fn create_approval_capped(
        &self,
        approval: &Approval,
        caps: PendingCaps,
        now_ms: u64,
    ) -> Result<(), CreateError> {
        let conn = self.conn();
        let count = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
            conn.query_row(sql, params, |row| row.get::<_, i64>(0))
                .map_err(|e| CreateError::Store(self.error(e)))
        };
        let of_principal = count(
            "SELECT COUNT(*) FROM approvals WHERE status = 'pending' AND expires_at_ms > ?1
             AND principal = ?2",
            &[&(now_ms as i64), &approval.principal],
        )?;
        if of_principal >= caps.per_principal as i64 {
            return Err(CreateError::TooMany(caps.per_principal));
        }
        if approval.requested_for.is_none() {
            return insert_approval(&conn, approval).map_err(|e| CreateError::Store(self.error(e)));
        }
        let for_person = count(
            "SELECT COUNT(*) FROM approvals WHERE status = 'pending' AND expires_at_ms > ?1
             AND principal = ?2 AND IFNULL(requested_for, '') = IFNULL(?3, '')",
            &[
                &(now_ms as i64),
                &approval.principal,
                &approval.requested_for,
            ],
        )?;
        if for_person >= caps.per_person as i64 {
            return Err(CreateError::TooMany(caps.per_person));
        }
        insert_approval(&conn, approval).map_err(|e| CreateError::Store(self.error(e)))
    }

    /// Checks the binding and moves the approval from pending to `to`, in one
    /// transaction: two consumers racing for it cannot both win.
    pub fn decide(
        &self,
        id: &str,
        binding: Option<&Binding<'_>>,
        to: ApprovalStatus,
        decided_by: &str,
        now_ms: u64,
    ) -> Result<Approval, ConsumeError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| ConsumeError::Store(e.to_string()))?;
        let approval = tx
            .query_row(
                "SELECT * FROM approvals WHERE id = ?1",
                [id],
                row_to_approval,
            )
            .optional()
            .map_err(|e| ConsumeError::Store(e.to_string()))?
            .ok_or(ConsumeError::NotFound)?;
        match approval.status {
            ApprovalStatus::Pending => {}
            other => return Err(ConsumeError::NotPending(other.as_str())),
        }
        if approval.expires_at_ms <= now_ms {
            return Err(ConsumeError::Expired);
        }
        if let Some(binding) = binding {
            if binding.tool != approval.tool {
                return Err(ConsumeError::OtherTool(approval.tool));
            }
            if binding.requester.is_some_and(|r| r != approval.principal) {
                return Err(ConsumeError::OtherPrincipal);
            }
            if binding.args_digest != approval.args_digest {
                return Err(ConsumeError::ArgumentsChanged);
            }
            if binding.policy_version != approval.policy_version {
                return Err(ConsumeError::PolicyChanged);
            }
        }
        let changed = tx
            .execute(
                "UPDATE approvals SET status = ?1, decided_by = ?2 WHERE id = ?3 AND status = 'pending'",
                params![to.as_str(), decided_by, id],
            )
            .map_err(|e| ConsumeError::Store(e.to_string()))?;
        if changed != 1 {
            return Err(ConsumeError::NotPending("used"));
        }
        tx.commit()
            .map_err(|e| ConsumeError::Store(e.to_string()))?;
        Ok(Approval {
            status: to,
            decided_by: Some(decided_by.to_owned()),
            ..approval
        })
    }

    /// When the cooldown under `key` ends (ms since the epoch), if it is running.
    pub fn cooldown_until(&self, key: &str, now_ms: u64) -> Result<Option<u64>, StateError> {
        self.conn()
            .query_row(
                "SELECT until_ms FROM cooldowns WHERE key = ?1 AND until_ms > ?2",
                params![key, now_ms as i64],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|until| until.map(|u| u as u64))
            .map_err(|e| self.error(e))
    }

    /// The cooldowns running at `now_ms` (key, end in ms since the epoch), at
    /// most `limit`, soonest ending last: what `GET /capabilities` shows.
    pub fn running_cooldowns(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StateError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT key, until_ms FROM cooldowns WHERE until_ms > ?1
                 ORDER BY until_ms DESC LIMIT ?2",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![now_ms as i64, limit as i64], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    pub fn start_cooldown(&self, key: &str, until_ms: u64) -> Result<(), StateError> {
        self.conn()
            .execute(
                "INSERT INTO cooldowns (key, until_ms) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET until_ms = excluded.until_ms",
                params![key, until_ms as i64],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[cfg(unix)]
    #[test]
    fn a_new_state_store_is_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = StateStore::open(&path).unwrap();
        store.start_cooldown("compose_restart:sonarr", 1).unwrap();
        for name in ["state.db", "state.db-wal"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{name}: {mode:o}");
        }
    }

    fn approval(id: &str, expires_at_ms: u64) -> Approval {
        Approval {
            id: id.into(),
            principal: "alice".into(),
            role: "standard".into(),
            tool: "compose_restart".into(),
            args: json!({"service": "sonarr"}),
            args_digest: "d1".into(),
            policy_version: "v1".into(),
            rationale: "Restart a single service.".into(),
            created_at_ms: 1,
            expires_at_ms,
            status: ApprovalStatus::Pending,
            decided_by: None,
            requested_for: None,
        }
    }

    fn binding<'a>(digest: &'a str, version: &'a str) -> Binding<'a> {
        Binding {
            tool: "compose_restart",
            args_digest: digest,
            policy_version: version,
            requester: Some("alice"),
        }
    }

    #[test]
    fn an_approval_is_consumed_exactly_once_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        StateStore::open(&path)
            .unwrap()
            .create_approval(&approval("a1", 1_000))
            .unwrap();
        // A new store on the same file: as after a restart.
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.pending(10, 50, 100).unwrap().len(), 1);
        assert_eq!(
            store
                .find_pending("alice", "compose_restart", "d1", 10)
                .unwrap()
                .unwrap()
                .id,
            "a1"
        );
        let used = store
            .decide(
                "a1",
                Some(&binding("d1", "v1")),
                ApprovalStatus::Consumed,
                "alice",
                10,
            )
            .unwrap();
        assert_eq!(used.status, ApprovalStatus::Consumed);
        assert_eq!(
            store.decide(
                "a1",
                Some(&binding("d1", "v1")),
                ApprovalStatus::Consumed,
                "alice",
                11
            ),
            Err(ConsumeError::NotPending("consumed"))
        );
        assert!(store.pending(10, 50, 100).unwrap().is_empty());
    }

    #[test]
    fn a_mismatched_binding_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.db")).unwrap();
        store.create_approval(&approval("a1", 1_000)).unwrap();
        let consume =
            |b: &Binding<'_>, now| store.decide("a1", Some(b), ApprovalStatus::Consumed, "x", now);
        assert_eq!(
            consume(&binding("d2", "v1"), 10),
            Err(ConsumeError::ArgumentsChanged)
        );
        assert_eq!(
            consume(&binding("d1", "v2"), 10),
            Err(ConsumeError::PolicyChanged)
        );
        let other = Binding {
            requester: Some("mallory"),
            ..binding("d1", "v1")
        };
        assert_eq!(consume(&other, 10), Err(ConsumeError::OtherPrincipal));
        let tool = Binding {
            tool: "compose_up",
            ..binding("d1", "v1")
        };
        assert!(matches!(
            consume(&tool, 10),
            Err(ConsumeError::OtherTool(_))
        ));
        assert_eq!(
            consume(&binding("d1", "v1"), 1_000),
            Err(ConsumeError::Expired)
        );
        assert_eq!(
            store.decide("nope", None, ApprovalStatus::Denied, "x", 10),
            Err(ConsumeError::NotFound)
        );
        // Still pending after all of that.
        assert_eq!(
            store.get("a1").unwrap().unwrap().status,
            ApprovalStatus::Pending
        );
    }

    #[test]
    fn racing_consumers_cannot_both_win() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(StateStore::open(&dir.path().join("state.db")).unwrap());
        store
            .create_approval(&approval("a1", u64::MAX / 2))
            .unwrap();
        let winners: usize = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store
                        .decide(
                            "a1",
                            Some(&binding("d1", "v1")),
                            ApprovalStatus::Consumed,
                            "alice",
                            10,
                        )
                        .is_ok() as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(winners, 1);
    }

    #[test]
    fn cooldowns_persist_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        StateStore::open(&path)
            .unwrap()
            .start_cooldown("compose_restart:sonarr", 500)
            .unwrap();
        let store = StateStore::open(&path).unwrap();
        assert_eq!(
            store.cooldown_until("compose_restart:sonarr", 100).unwrap(),
            Some(500)
        );
        assert_eq!(
            store.cooldown_until("compose_restart:sonarr", 500).unwrap(),
            None
        );
        assert_eq!(
            store.cooldown_until("compose_restart:radarr", 100).unwrap(),
            None
        );
        store.start_cooldown("compose_stop:radarr", 900).unwrap();
        assert_eq!(
            store.running_cooldowns(100, 10).unwrap(),
            vec![
                ("compose_stop:radarr".to_owned(), 900),
                ("compose_restart:sonarr".to_owned(), 500)
            ]
        );
        assert_eq!(store.running_cooldowns(100, 1).unwrap().len(), 1);
        assert!(store.running_cooldowns(900, 10).unwrap().is_empty());
    }
}
