//! What every request passes: secure headers on the way out; for the signed-in
//! part, a live session; for every POST, the session's CSRF token in
//! `X-CSRF-Token` and no cross-site origin.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Shared;
use super::cookies;
use super::session::Session;

pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub(crate) async fn security_headers(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !is_static {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.cookies.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

pub(crate) fn json_error(status: StatusCode, code: &str, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail, "code": code }))).into_response()
}

/// The session the request's cookie names, if it is alive and its user still
/// stands as they signed in (same role, not removed, not revoked since).
pub(crate) fn session_of(state: &Shared, headers: &HeaderMap) -> Option<Session> {
    let id = cookies::get(headers, state.cookies.session_name())?;
    let session = state.sessions.get(&id)?;
    let holds = state.users.standing(&session.user).is_some_and(|standing| {
        standing.role == session.role && session.signed_in_ms >= standing.sessions_since_ms
    });
    if !holds {
        tracing::info!(user = %session.user, "pi-health: session ended (the user was removed, changed or revoked)");
        state.sessions.remove(&session.key);
        state.pending.forget_session(&session.key);
        return None;
    }
    Some(session)
}

/// API calls without a session get 401; pages are redirected to the sign-in page.
pub(crate) async fn require_session(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    match session_of(&state, request.headers()) {
        Some(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        None if request.uri().path().starts_with("/api/") => {
            let mut response =
                json_error(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first");
            response.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&state.cookies.clear(state.cookies.session_name(), "/"))
                    .unwrap_or_else(|_| HeaderValue::from_static("")),
            );
            response
        }
        None => Redirect::to("/login").into_response(),
    }
}

/// Constant-time comparison of two tokens.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A request from another origin. Browsers say so in `Sec-Fetch-Site` (only
/// `same-origin` and `none`, a typed URL, pass); without it, `Origin` must match
/// `Host` when present (`Origin: null` does not).
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            bare != Some(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// Every non-GET request carries the session's CSRF token and comes from this site.
pub(crate) async fn require_csrf(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<Session>() else {
        return json_error(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first");
    };
    let sent = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !same_token(sent, &session.csrf) || cross_site(request.headers()) {
        return json_error(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong CSRF token (X-CSRF-Token), or a cross-site request",
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", ""));
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(!cross_site(&headers(&[("host", "pi:8080")])));
        assert!(!cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "http://pi:8080")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "pi:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(cross_site(&headers(&[("origin", "null")])));
        assert!(cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "null")
        ])));
        // A browser's own word wins: Origin is "null" under some referrer policies.
        assert!(!cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "pi:8080"),
            ("sec-fetch-site", "same-site")
        ])));
    }
}
