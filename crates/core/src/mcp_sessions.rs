//! Caps on MCP Streamable HTTP sessions, per owner (the gateway's principal)
//! and in total, with idle sessions ended.
//!
//! Each session holds a task, channels and buffers (about 50 KB), and rmcp's
//! [`LocalSessionManager`] keeps as many as clients open. Two pieces bound them:
//!
//! - [`SessionLimiter::guard`], a middleware in front of the `/mcp` service: a
//!   request that may open a session (a POST without `Mcp-Session-Id`) first
//!   takes a [`Ticket`] for its owner, or is refused at once with the
//!   contract's JSON error: 429 `too_many_sessions` when the owner has
//!   [`SessionCaps::per_owner`] open, 503 `too_many_sessions` when the server
//!   has [`SessionCaps::total`]. The ticket is counted from that moment, so
//!   concurrent `initialize` requests cannot overshoot.
//! - [`CappedSessions`], the session manager (rmcp's local one inside): when
//!   rmcp creates a session for the request, it takes the request's ticket
//!   (handed over in a task-local, as rmcp creates the session within the
//!   request's own future) and keeps it until the session is closed, by a
//!   `DELETE`, by its client going away, or after [`SessionCaps::idle`]
//!   without a message (rmcp's `keep_alive`); rmcp calls `close_session` in
//!   every case. A request that opens no session (anything but `initialize`)
//!   drops its ticket when it is answered. A session created without a ticket
//!   (no guard in front) still counts against the total, under no owner.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId,
};

use crate::contract::{Refusal, RefusalCode};

/// The header that names an existing session.
const SESSION_HEADER: &str = "mcp-session-id";

/// How many sessions, and for how long unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCaps {
    /// Sessions open at once per owner.
    pub per_owner: usize,
    /// Sessions open at once in all.
    pub total: usize,
    /// A session without a message for this long is ended.
    pub idle: Duration,
}

/// Counts sessions; shared by the guard and the manager it makes.
#[derive(Clone)]
pub struct SessionLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    caps: SessionCaps,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_owner: HashMap<String, usize>,
}

/// One session's place under the caps, from admission until the session ends
/// (or, if none was opened, until the request is answered).
pub struct Ticket {
    shared: Arc<Shared>,
    owner: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.shared.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.per_owner.get_mut(&self.owner) {
            *count -= 1;
            if *count == 0 {
                counts.per_owner.remove(&self.owner);
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

tokio::task_local! {
    /// The ticket of the request being served, for the session it may open.
    static ADMITTED: RefCell<Option<Ticket>>;
}

/// The owner of sessions counted in the total only.
const NO_OWNER: &str = "";

impl SessionLimiter {
    /// A limiter with these caps.
    pub fn new(caps: SessionCaps) -> Self {
        Self {
            shared: Arc::new(Shared {
                caps,
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// The session manager to give rmcp's `StreamableHttpService`: rmcp's
    /// local one, ending sessions idle for [`SessionCaps::idle`], counted here.
    pub fn manager(&self) -> Arc<CappedSessions> {
        let mut local = LocalSessionManager::default();
        local.session_config.keep_alive = Some(self.shared.caps.idle);
        Arc::new(CappedSessions {
            local,
            limiter: self.clone(),
            tickets: Mutex::new(HashMap::new()),
        })
    }

    /// Sessions open (or being opened) now.
    pub fn open(&self) -> usize {
        self.shared.lock().total
    }

    /// A ticket for `owner` (`None`: counted in the total only), or why not.
    pub fn admit(&self, owner: Option<&str>) -> Result<Ticket, Refusal> {
        let caps = self.shared.caps;
        let mut counts = self.shared.lock();
        let owner = owner.unwrap_or(NO_OWNER);
        let owned = counts.per_owner.get(owner).copied().unwrap_or(0);
        let idle = caps.idle.as_secs();
        if owner != NO_OWNER && owned >= caps.per_owner {
            return Err(Refusal::new(
                RefusalCode::TooManySessions,
                format!(
                    "{owner} has {owned} MCP sessions open, the most allowed: close one (DELETE /mcp \
                     with its Mcp-Session-Id) or wait until one has been unused for {idle} s"
                ),
            ));
        }
        if counts.total >= caps.total {
            return Err(Refusal::new(
                RefusalCode::SessionsFull,
                format!(
                    "the server has {} MCP sessions open, the most it keeps; sessions unused for \
                     {idle} s end, try again later",
                    counts.total
                ),
            ));
        }
        counts.total += 1;
        *counts.per_owner.entry(owner.to_owned()).or_default() += 1;
        Ok(Ticket {
            shared: self.shared.clone(),
            owner: owner.to_owned(),
        })
    }

    /// The middleware: lets a request that may open a session through only
    /// with a ticket for `owner` (`None`: the total only), handed to the
    /// session it opens.
    pub async fn guard(&self, owner: Option<&str>, request: Request, next: Next) -> Response {
        let may_open =
            request.method() == Method::POST && !request.headers().contains_key(SESSION_HEADER);
        if !may_open {
            return next.run(request).await;
        }
        match self.admit(owner) {
            Ok(ticket) => {
                ADMITTED
                    .scope(RefCell::new(Some(ticket)), next.run(request))
                    .await
            }
            Err(refusal) => {
                tracing::debug!(owner = owner.unwrap_or_default(), code = %refusal.code, "MCP session refused");
                refusal_response(refusal)
            }
        }
    }
}

/// A refusal as the contract answers it.
fn refusal_response(refusal: Refusal) -> Response {
    let status =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(refusal)).into_response()
}

/// rmcp's [`LocalSessionManager`], with each session holding a [`Ticket`].
pub struct CappedSessions {
    local: LocalSessionManager,
    limiter: SessionLimiter,
    tickets: Mutex<HashMap<SessionId, Ticket>>,
}

/// A session could not be opened or used.
#[derive(Debug)]
pub enum SessionError {
    /// Over a cap (only for a session opened without the guard).
    Refused(Refusal),
    /// rmcp's local manager failed.
    Local(LocalSessionManagerError),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(refusal) => refusal.fmt(f),
            Self::Local(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused(_) => None,
            Self::Local(error) => Some(error),
        }
    }
}

impl From<LocalSessionManagerError> for SessionError {
    fn from(error: LocalSessionManagerError) -> Self {
        Self::Local(error)
    }
}

impl CappedSessions {
    fn tickets(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Ticket>> {
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionManager for CappedSessions {
    type Error = SessionError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let handed = ADMITTED
            .try_with(|ticket| ticket.borrow_mut().take())
            .ok()
            .flatten();
        let ticket = match handed {
            Some(ticket) => ticket,
            None => self.limiter.admit(None).map_err(SessionError::Refused)?,
        };
        let (id, transport) = self.local.create_session().await?;
        self.tickets().insert(id.clone(), ticket);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.local.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.local.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let ticket = self.tickets().remove(id);
        let closed = self.local.close_session(id).await;
        drop(ticket);
        Ok(closed?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.local.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.resume(id, last_event_id).await?)
    }

    async fn restore_session(
        &self,
        _id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // Sessions live in this process only: nothing to restore, and a
        // restored session would bypass the caps.
        Ok(RestoreOutcome::NotSupported)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}
