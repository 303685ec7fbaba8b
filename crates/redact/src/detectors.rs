//! Built-in secret detectors for what an ARR stack leaks into logs, `docker inspect`
//! output, compose files and config dumps.
//!
//! Every detector captures the secret in a group named `secret`; only that group is
//! masked, so `apikey=abc123` becomes `apikey=[REDACTED]` and the reader still sees
//! which credential was there.
//!
//! Writing rules that keep matching fast and predictable on megabyte-sized logs:
//! - keys are matched with ASCII classes and ASCII word boundaries (`(?-u:\b)`): a
//!   Unicode `\b` would push the regex engine off its fast DFA path on non-ASCII text;
//! - values stop at whitespace and quotes, so a match never runs past one token.

/// Key names that hold a credential, as a regex alternation matched at the END of a
/// key (`SONARR__AUTH__APIKEY`, `DB_PASSWORD`, `client_secret`, `X-Plex-Token`).
/// Anchoring at the end is what keeps `PASSWORD_POLICY`, `TOKENS` or `max_tokens` out.
/// `PWD` and `PASS` are left out on purpose: `PWD=/config` is in every container's env.
const SENSITIVE_KEY_END: &str =
    "api[_-]?key|secret[_-]?key|access[_-]?key|private[_-]?key|token|secret|password|passwd";

/// Characters a key may be made of (env names, query parameters, header names).
const KEY_CHARS: &str = "[A-Za-z0-9_.-]";

/// One detector: a name for `describe()` and the regex source.
pub(crate) struct Detector {
    pub(crate) name: &'static str,
    pub(crate) pattern: String,
}

/// The group every detector puts the secret in.
pub(crate) const SECRET_GROUP: &str = "secret";

/// All built-in detectors, in the order `describe()` lists them.
pub(crate) fn builtin_detectors() -> Vec<Detector> {
    let keys = SENSITIVE_KEY_END;
    let kc = KEY_CHARS;
    vec![
        // `?apikey=...`, `&api_key=...`, `;X-Plex-Token=...` — the value ends at the
        // next parameter, fragment or whitespace.
        Detector {
            name: "query_param",
            pattern: format!(r#"(?i)[?&;]{kc}*(?:{keys})=(?P<secret>[^&#\s"'<>]+)"#),
        },
        // `SONARR__AUTH__APIKEY=...`, `PASSWORD="..."`, `token=...` in logs and env
        // arrays. Not preceded by a key character (so it starts at a key boundary) nor by
        // `?&;` (query strings are the detector above, whose value stops at `&`).
        Detector {
            name: "key_value",
            pattern: format!(
                r#"(?i)(?:^|[^A-Za-z0-9_.?&;-]){kc}*(?:{keys})[ \t]*=[ \t]*(?P<secret>"[^"\n]+"|'[^'\n]+'|[^\s"']+)"#
            ),
        },
        // `X-Api-Key: ...`, `X-Emby-Token: ...`, YAML `password: ...`.
        Detector {
            name: "key_colon",
            pattern: format!(
                r#"(?i)(?:^|[^A-Za-z0-9_.-]){kc}*(?:{keys})[ \t]*:[ \t]*(?P<secret>[^\s"',;{{}}\[\]]+)"#
            ),
        },
        // `Authorization: Basic dXNlcjpwYXNz` and any other scheme: the credential after
        // the scheme is masked. Basic is masked too: it is base64 of `user:password`.
        Detector {
            name: "authorization",
            pattern: r#"(?i)(?-u:\b)(?:proxy-)?authorization[ \t]*[:=][ \t]*(?:(?:bearer|basic|digest|token|negotiate|ntlm|mediabrowser)[ \t]+)?(?P<secret>[^\s"',;]+)"#.to_owned(),
        },
        // `bearer xyz` anywhere (curl lines, error messages). A word after "bearer" is
        // taken as a token: over-masking prose is cheaper than leaking a token.
        Detector {
            name: "bearer",
            pattern: r"(?i)(?-u:\b)bearer[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]+)".to_owned(),
        },
        // `scheme://user:password@host` -> the password only; the user may be empty
        // (`redis://:password@host`). The password may itself contain `@`.
        Detector {
            name: "url_credentials",
            pattern: r"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#]+)@".to_owned(),
        },
        // JSON-ish `"apiKey": "..."`, `"password":"..."` inside text (escaped quotes in
        // the value are honoured). Values of JSON objects are also handled by key in
        // `Redactor::redact_json`.
        Detector {
            name: "json_pair",
            pattern: format!(
                r#"(?i)"{kc}*(?:{keys}|authorization)"[ \t]*:[ \t]*"(?P<secret>(?:[^"\\\n]|\\.)+)""#
            ),
        },
        // `<ApiKey>...</ApiKey>` as in Sonarr/Radarr/Prowlarr `config.xml`.
        Detector {
            name: "xml_element",
            pattern: format!(r"(?i)<(?:{kc}+:)?{kc}*(?:{keys}|apikey)>(?P<secret>[^<]+)<"),
        },
    ]
}

/// Regex for JSON object keys whose string value is a credential as a whole
/// (`{"apiKey": "abc"}`, `{"SONARR_API_KEY": "abc"}`).
pub(crate) fn sensitive_key_pattern() -> String {
    format!(r"(?i)^{KEY_CHARS}*(?:{SENSITIVE_KEY_END}|authorization)$")
}
