//! Sign-in and sign-out. The sign-in form is protected by a double-submit
//! token (a cookie and a form field), user names are checked before anything
//! else (and logged only when valid, escaped otherwise), failures slow further
//! attempts down (`ratelimit`, `devices`), Argon2 checks are bounded in number,
//! and a new session (and CSRF token) is made at every sign-in.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Shared;
use super::guard::{self, CSRF_HEADER, same_token, session_of};
use super::pages;
use super::ratelimit::{self, Key, Refused};
use super::session::Session;
use crate::ids;
use crate::users::{NAME_RULE, valid_name};

/// The double-submit cookie of the sign-in form.
const LOGIN_COOKIE: &str = "pi_health_login";
const LOGIN_PATH: &str = "/login";
/// `Retry-After` when no check is free (one takes well under a second).
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);
/// `Retry-After` when the limiter's table is full of throttled keys.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(60);

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The form, with a fresh double-submit token.
fn form_response(state: &Shared, status: StatusCode, error: Option<&str>) -> Response {
    let Ok(token) = ids::random_hex(24) else {
        tracing::error!("pi-health: no randomness for the sign-in form's token");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing in is not possible right now (an internal error); try again later.",
        )
            .into_response();
    };
    let page = (status, pages::login(&token, error)).into_response();
    with_cookies(
        page,
        &[state.cookies.set(LOGIN_COOKIE, &token, LOGIN_PATH, 3600)],
    )
}

pub(crate) async fn form(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if session_of(&state, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    form_response(&state, StatusCode::OK, None)
}

/// The client's address, when the server knows it: the connection's peer
/// (`ConnectInfo`), or what a trusted reverse proxy forwarded for.
pub(crate) struct ClientAddress(Option<IpAddr>);

impl FromRequestParts<Shared> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(state.trusted_proxies.client(peer, &parts.headers)))
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// What an attempt was counted against: a browser that signed in as the
/// user before, or the address and name.
enum Counted {
    Browser(String),
    Keys(Vec<Key>),
}

impl Counted {
    fn withdraw(&self, state: &Shared) {
        match self {
            Self::Browser(token) => state.devices.withdraw(token),
            Self::Keys(keys) => state.limiter.withdraw(keys),
        }
    }
}

/// The sign-in form again, with `status`, `error` and a `Retry-After` of `wait`.
fn refusal(state: &Shared, status: StatusCode, error: &str, wait: Duration) -> Response {
    let mut response = form_response(state, status, Some(error));
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn throttled(state: &Shared, refused: Refused) -> Response {
    match refused {
        Refused::Wait(wait) => refusal(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins: wait a little (the wait grows with each failure) and try again.",
            wait,
        ),
        Refused::Full => refusal(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins from too many places: try again later.",
            FULL_RETRY_AFTER,
        ),
    }
}

/// A user-supplied name for a log line: at most 64 characters, escaped
/// (`{:?}`), so that it can forge no line and send no terminal escape.
fn loggable(name: &str) -> String {
    format!("{:?}", name.chars().take(64).collect::<String>())
}

pub(crate) async fn submit(
    State(state): State<Shared>,
    ClientAddress(peer): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return form_response(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Send the sign-in form."),
        );
    };
    let cookie = super::cookies::get(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_token(&form.csrf_token, &cookie) || guard::cross_site(&headers) {
        return form_response(
            &state,
            StatusCode::FORBIDDEN,
            Some("The form expired or came from another site: please sign in again."),
        );
    }
    let name = form.username.trim();
    let address = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let address_key = ratelimit::address_key(peer);
    if !valid_name(name) {
        // No check to make; it counts as a failure of the address.
        if let Err(refused) = state
            .limiter
            .begin(&state.limiter.keys(&address_key, None), state.clock.now())
        {
            return throttled(&state, refused);
        }
        tracing::warn!(user = %loggable(name), %address, "pi-health: sign-in with an invalid user name");
        return form_response(
            &state,
            StatusCode::BAD_REQUEST,
            Some(&format!("Wrong user name: {NAME_RULE}.")),
        );
    }
    // A valid name: letters, digits and `._@-` only, safe to log as it is.
    let name = name.to_owned();
    let device_cookie = state.cookies.device_name();
    let now = state.clock.now();
    let trusted = super::cookies::get(&headers, device_cookie)
        .and_then(|token| Some((state.devices.begin(&token, &name, now)?, token)));
    let counted = match trusted {
        Some((Ok(()), token)) => Counted::Browser(token),
        Some((Err(wait), _)) => return throttled(&state, Refused::Wait(wait)),
        None => {
            let keys = state.limiter.keys(&address_key, Some(&name));
            if let Err(refused) = state.limiter.begin(&keys, now) {
                return throttled(&state, refused);
            }
            Counted::Keys(keys)
        }
    };
    // Room for the Argon2 check (an unknown user's decoy check too), or a quick no.
    let slot = match state.check_slots.ticket() {
        Some(ticket) => ticket.slot().await,
        None => None,
    };
    let Some(slot) = slot else {
        counted.withdraw(&state);
        tracing::warn!(user = %name, %address, "pi-health: sign-in refused, too many at once");
        return refusal(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins at once: try again in a few seconds.",
            BUSY_RETRY_AFTER,
        );
    };
    let (checker, name_, password) = (state.clone(), name.clone(), form.password);
    let role = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        checker.users.verify(&name_, &password)
    })
    .await
    .unwrap_or(None);
    let Some(role) = role else {
        let browser = matches!(counted, Counted::Browser(_));
        tracing::warn!(user = %name, %address, known_browser = browser, "pi-health: failed sign-in");
        return form_response(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    };
    let now = state.clock.now();
    let device = match counted {
        Counted::Browser(token) => {
            state.devices.succeeded(&token, now);
            Some(token)
        }
        Counted::Keys(keys) => {
            state.limiter.succeeded(&keys);
            state.devices.issue(&name, now).ok()
        }
    };
    let Ok(signed_in) = state.sessions.create(&name, &role) else {
        tracing::error!(user = %name, "pi-health: no randomness for a session id; sign-in refused");
        return form_response(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Signing in is not possible right now (an internal error); try again later."),
        );
    };
    let session = &signed_in.session;
    tracing::info!(user = %session.user, role = %session.role, %address, "pi-health: signed in");
    let mut cookies = vec![
        state.cookies.set(
            state.cookies.session_name(),
            &signed_in.cookie_id,
            "/",
            state.sessions.lifetime().as_secs(),
        ),
        state.cookies.clear(LOGIN_COOKIE, LOGIN_PATH),
    ];
    if let Some(token) = device {
        cookies.push(state.cookies.set(
            device_cookie,
            &token,
            "/",
            state.devices.lifetime().as_secs(),
        ));
    }
    with_cookies(Redirect::to("/").into_response(), &cookies)
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout` with the CSRF token as a form field or in `X-CSRF-Token`.
pub(crate) async fn logout(
    State(state): State<Shared>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let sent = match &form {
        Ok(Form(form)) if !form.csrf_token.is_empty() => form.csrf_token.clone(),
        _ => headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    if !same_token(&sent, &session.csrf) || guard::cross_site(&headers) {
        return guard::json_error(StatusCode::FORBIDDEN, "csrf", "missing or wrong CSRF token");
    }
    state.sessions.remove(&session.key);
    state.pending.forget_session(&session.key);
    tracing::info!(user = %session.user, "pi-health: signed out");
    with_cookies(
        Redirect::to("/login").into_response(),
        &[state.cookies.clear(state.cookies.session_name(), "/")],
    )
}
