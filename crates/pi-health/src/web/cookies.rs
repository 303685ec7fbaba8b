//! Reading the `Cookie` header and writing `Set-Cookie` values.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The value of cookie `name`, if sent.
pub(crate) fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// Attributes of the cookies this app sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// `Secure` (the app is served over https, directly or behind a proxy).
    pub(crate) secure: bool,
}

impl Policy {
    /// The session cookie's name: `__Host-` prefixed when `Secure`.
    pub(crate) fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-pi_health_session"
        } else {
            "pi_health_session"
        }
    }

    /// The cookie of a browser that signed in before (see `devices`).
    pub(crate) fn device_name(self) -> &'static str {
        if self.secure {
            "__Host-pi_health_device"
        } else {
            "pi_health_device"
        }
    }

    /// `NAME=VALUE; Path=PATH; HttpOnly; SameSite=Strict[; Secure]; Max-Age=N`.
    pub(crate) fn set(self, name: &str, value: &str, path: &str, max_age_secs: u64) -> String {
        format!(
            "{name}={value}; Path={path}; HttpOnly; SameSite=Strict{}; Max-Age={max_age_secs}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    pub(crate) fn clear(self, name: &str, path: &str) -> String {
        self.set(name, "", path, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_and_writes_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; pi_health_session=abc ; b=2"),
        );
        assert_eq!(get(&headers, "pi_health_session").as_deref(), Some("abc"));
        assert_eq!(get(&headers, "b").as_deref(), Some("2"));
        assert_eq!(get(&headers, "c"), None);

        let plain = Policy { secure: false };
        assert_eq!(
            plain.set("pi_health_session", "x", "/", 60),
            "pi_health_session=x; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let secure = Policy { secure: true };
        assert_eq!(secure.session_name(), "__Host-pi_health_session");
        assert_eq!(secure.device_name(), "__Host-pi_health_device");
        assert_eq!(plain.device_name(), "pi_health_device");
        assert!(secure.set("n", "v", "/", 1).contains("; Secure"));
        assert!(plain.clear("n", "/").contains("Max-Age=0"));
    }
}
