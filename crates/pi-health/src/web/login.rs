//! Sign-in and sign-out. The sign-in form is protected by a double-submit
//! token (a cookie and a form field), failures are rate limited, and a new
//! session (and CSRF token) is made at every sign-in.

use std::net::SocketAddr;
use std::time::Instant;

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
use super::session::Session;
use crate::ids;

/// The double-submit cookie of the sign-in form.
const LOGIN_COOKIE: &str = "pi_health_login";
const LOGIN_PATH: &str = "/login";

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

/// The client's address, when the server knows it (`ConnectInfo`).
pub(crate) struct ClientAddress(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
        ))
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
    let name = form.username.trim().to_owned();
    let address = peer.unwrap_or_else(|| "unknown".into());
    let keys = [
        format!("ip:{address}"),
        format!("user:{}", name.to_lowercase()),
    ];
    if let Err(wait) = state.limiter.check(&keys, Instant::now()) {
        let mut response = form_response(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins: wait a few minutes and try again."),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let ok = {
        let Ok(_slot) = state.login_slots.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        let (checker, name_, password) = (state.clone(), name.clone(), form.password);
        tokio::task::spawn_blocking(move || checker.users.verify(&name_, &password))
            .await
            .unwrap_or(false)
    };
    if !ok {
        state.limiter.fail(&keys, Instant::now());
        tracing::warn!(user = %name, %address, "pi-health: failed sign-in");
        return form_response(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    }
    state.limiter.succeed(&keys[1]);
    let Ok(session) = state.sessions.create(&name) else {
        tracing::error!(user = %name, "pi-health: no randomness for a session id; sign-in refused");
        return form_response(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Signing in is not possible right now (an internal error); try again later."),
        );
    };
    tracing::info!(user = %name, %address, "pi-health: signed in");
    let name = state.cookies.session_name();
    with_cookies(
        Redirect::to("/").into_response(),
        &[
            state
                .cookies
                .set(name, &session.id, "/", state.sessions.lifetime().as_secs()),
            state.cookies.clear(LOGIN_COOKIE, LOGIN_PATH),
        ],
    )
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
    state.sessions.remove(&session.id);
    state.pending.forget_session(&session.id);
    tracing::info!(user = %session.user, "pi-health: signed out");
    with_cookies(
        Redirect::to("/login").into_response(),
        &[state.cookies.clear(state.cookies.session_name(), "/")],
    )
}
