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
//! - values stop at whitespace and quotes, so a match never runs past one token;
//! - no bounded repetition of large classes (`[^\s]{1,500}` compiles to hundreds of
//!   copies of a Unicode class); the regex crate is linear-time whatever we write, but
//!   compiled size is what the prefilter set pays for.
//!
//! Some detectors see prose ("the password is X", `password: X`), where the word after
//! the key is often not a secret ("the password is incorrect"). The regex crate has no
//! look-around, so such detectors carry a [`Filter`] that vetoes a captured value.

/// Key names that hold a credential, as a regex alternation matched at the END of a
/// key (`SONARR__AUTH__APIKEY`, `DB_PASSWORD`, `client_secret`, `X-Plex-Token`).
/// Anchoring at the end is what keeps `PASSWORD_POLICY`, `TOKENS` or `max_tokens` out.
/// `PWD` is left out on purpose: `PWD=/config` is in every container's env.
/// This is the list for command-line flags, where a weaker key (`-pass 1` is an ffmpeg
/// option) would mask ordinary arguments.
const STRONG_KEY_END: &str = "api[_-]?key|secret[_-]?key|access[_-]?key|private[_-]?key|\
account[_-]?key|preshared[_-]?key|token|secret|password|passwd|passphrase";

/// More keys, for `key=value`, `key: value`, query strings and JSON: SABnzbd's
/// `nzbkey`, tracker `passkey`/`authkey`/`torrent_pass`, qBittorrent's
/// `Password_PBKDF2`, `jwt`, and `PASS`/`DB_PASS` (linuxserver images take `PASS=`), but
/// not `BYPASS` (a `pass` must start the key or follow `_`, `.` or `-`).
const EXTRA_KEY_END: &str = "nzb[_-]?key|pass[_-]?key|auth[_-]?key|pbkdf2|jwt|\
(?-u:\\b)pass|[_.-]pass";

/// Characters a key may be made of (env names, query parameters, header names).
const KEY_CHARS: &str = "[A-Za-z0-9_.-]";

/// A value: double-quoted (escapes honoured), single-quoted, quoted with JSON-escaped
/// quotes (`\"...\"`, as in a JSON string that holds JSON), or bare. A bare value runs
/// to whitespace or a quote; a backslash is part of it unless it escapes a quote or is
/// a `\n`/`\r`/`\t` escape (so the value stops where a JSON-escaped line ends).
const VALUE: &str = r#""(?:[^"\\\n]|\\.)+"|'[^'\n]+'|\\+"[^"\n]+?\\+"|(?:[^\s"'\\]|\\[^\s"'nrt])+"#;

/// Like [`VALUE`] but a bare value also stops at `,;{}[]` (YAML flow style, headers).
const COLON_VALUE: &str =
    r#""(?:[^"\\\n]|\\.)+"|'[^'\n]+'|\\+"[^"\n]+?\\+"|(?:[^\s"',;{}\[\]\\]|\\[^\s"'nrt])+"#;

/// A command-line argument or a word of prose: quoted (plainly or with JSON-escaped
/// quotes), or a bare word that is not the next flag.
const ARG_VALUE: &str = r#""[^"\n]+"|'[^'\n]+'|\\+"[^"\n]+?\\+"|[^\s"'\\-][^\s"']*"#;

/// One detector: a name for `describe()`, the regex source, and what vetoes a match.
pub(crate) struct Detector {
    pub(crate) name: &'static str,
    pub(crate) pattern: String,
    pub(crate) filter: Filter,
}

/// A check on the captured value, for what a regex without look-around cannot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Every match is a secret.
    None,
    /// Not a placeholder: `${DB_PASSWORD}`, `{{ .Token }}`, `<your key>`, `*****`.
    Placeholder,
    /// Not a placeholder and not an ordinary word ("the password is *incorrect*",
    /// `token: null`, "--password is required", `WWW-Authenticate: Bearer realm=`).
    Word,
    /// Like `Word`, and looks generated: at least 12 characters with a digit and a
    /// letter. For keys followed by a value with nothing in between ("using apikey
    /// X"), where ordinary prose follows the key far more often than a secret.
    Random,
}

impl Filter {
    /// Whether `value` (the captured group) should be masked.
    pub(crate) fn accepts(self, value: &str) -> bool {
        match self {
            Filter::None => true,
            Filter::Placeholder => !is_placeholder(value),
            Filter::Word => !is_placeholder(value) && !is_ordinary_word(value),
            Filter::Random => {
                let word = bare_word(value);
                !is_placeholder(value)
                    && word.len() >= 12
                    && word.bytes().any(|b| b.is_ascii_digit())
                    && word.bytes().any(|b| b.is_ascii_alphabetic())
            }
        }
    }
}

/// The value with surrounding quotes (plain or JSON-escaped), brackets and trailing
/// punctuation removed, as a reader would see the word.
fn bare_word(value: &str) -> &str {
    value
        .trim_matches(|c| matches!(c, '"' | '\'' | '\\'))
        .trim_start_matches(['(', '['])
        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']'])
}

/// Values that stand for a secret without being one: `${DB_PASSWORD}` and
/// `${VAR:?message}` (shell/compose), `{{ .Token }}` (templates), `<your key>`,
/// `%PASSWORD%`, `*****`, a YAML tag such as `!secret name` or `!vault`, and
/// booleans (`MYSQL_ALLOW_EMPTY_PASSWORD=yes`).
fn is_placeholder(value: &str) -> bool {
    let word = bare_word(value);
    word.is_empty()
        || word.starts_with("${")
        || word.starts_with("{{")
        || word.starts_with('<')
        || word.starts_with('?')
        || word.starts_with('%') && word.ends_with('%')
        || word.chars().all(|c| matches!(c, '*' | '•' | '…'))
        || word.strip_prefix('!').is_some_and(|tag| {
            !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
        })
        || ["true", "false", "yes", "no", "on", "off", "null", "none"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(word))
        || word == crate::REDACTED
}

/// Words that follow "password is", "token:" or "--password" in ordinary log lines
/// (`chauthtok` is PAM's `pam_unix(passwd:chauthtok)`). Compared in lower case with
/// quotes, brackets and trailing punctuation removed.
const ORDINARY_WORDS: &str = "\
    a absent accepted already also an and api auth authentication being blank cannot \
    changed chauthtok configured correct default defined different disabled empty \
    enabled error error= expired expires expiring failed false for found from generated \
    given has have header hidden in incorrect invalid is key length masked match matches \
    missing mismatch must needed nil no none not now null of off ok on only optional or \
    password present provided realm realm= redacted refreshed rejected required reset \
    revoked same saved scope= secret set short should still stored strong successful \
    successfully the to token too true unknown unset updated used valid was weak will \
    with without wrong yes ~";

fn is_ordinary_word(value: &str) -> bool {
    let word = bare_word(value);
    ORDINARY_WORDS
        .split_ascii_whitespace()
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// The group every detector puts the secret in.
pub(crate) const SECRET_GROUP: &str = "secret";

/// All built-in detectors, in the order `describe()` lists them.
pub(crate) fn builtin_detectors() -> Vec<Detector> {
    let strong = STRONG_KEY_END;
    let keys = format!("{STRONG_KEY_END}|{EXTRA_KEY_END}");
    let kc = KEY_CHARS;
    let d = |name, pattern: String, filter| Detector {
        name,
        pattern,
        filter,
    };
    vec![
        // `?apikey=...`, `&api_key=...`, `;X-Plex-Token=...` — the value ends at the
        // next parameter, fragment or whitespace. `pass`, `pwd`, `pw` and `sig` (an
        // Azure SAS signature) only as whole parameter names.
        d(
            "query_param",
            format!(
                r#"(?i)[?&;](?:{kc}*(?:{keys})|pass|pwd|pw|sig)=(?P<secret>[^&#\s"'<>\\]+)"#
            ),
            Filter::Placeholder,
        ),
        // `SONARR__AUTH__APIKEY=...`, `PASSWORD="..."`, `token=...` in logs and env
        // arrays. Not preceded by a key character (so it starts at a key boundary) nor by
        // `?&;` (query strings are the detector above, whose value stops at `&`).
        d(
            "key_value",
            format!(
                r#"(?i)(?:^|[^A-Za-z0-9_.?&;-]){kc}*(?:{keys})[ \t]*=[ \t]*(?P<secret>{VALUE})"#
            ),
            Filter::Placeholder,
        ),
        // `X-Api-Key: ...`, `X-Emby-Token: ...`, YAML `password: "..."`, and the prose
        // "Initial admin password: X".
        d(
            "key_colon",
            format!(
                r#"(?i)(?:^|[^A-Za-z0-9_.-]){kc}*(?:{keys})[ \t]*:[ \t]*(?P<secret>{COLON_VALUE})"#
            ),
            Filter::Word,
        ),
        // `Authorization: Basic dXNlcjpwYXNz` and any other scheme: the credential after
        // the scheme is masked. Basic is masked too: it is base64 of `user:password`.
        d(
            "authorization",
            r#"(?i)(?-u:\b)(?:proxy-)?authorization[ \t]*[:=][ \t]*(?:(?:bearer|basic|digest|token|negotiate|ntlm|mediabrowser)[ \t]+)?(?P<secret>[^\s"',;\\]+)"#.to_owned(),
            Filter::None,
        ),
        // `bearer xyz` anywhere (curl lines, error messages). A word after "bearer" is
        // taken as a token: over-masking prose is cheaper than leaking a token. Only
        // the challenge's `realm=` and the like are left alone.
        d(
            "bearer",
            r"(?i)(?-u:\b)bearer[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]+)".to_owned(),
            Filter::Word,
        ),
        // `scheme://user:password@host` -> the password only; the user may be empty
        // (`redis://:password@host`). The password may itself contain `@`.
        d(
            "url_credentials",
            r"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#]+)@".to_owned(),
            Filter::None,
        ),
        // The same, URL-encoded: `user%3Apass%40host` (a URL inside a query parameter).
        // The password may hold other escapes, but not `%2F` (`/`), so that the `%3A`
        // after a scheme (`http%3A%2F%2F`) does not start a match.
        d(
            "url_encoded_credentials",
            r#"(?i)%3A(?P<secret>(?:[^\s%/?#&=@"'<>\\]|%(?:[013-9a-f][0-9a-f]|2[0-9a-e]))+)%40"#
                .to_owned(),
            Filter::None,
        ),
        // `password%3Dhunter2`, `apikey%3D...`: an encoded `key=value` (a form body or
        // URL inside a parameter). The value stops at an encoded `&` (`%26`).
        d(
            "url_encoded_pair",
            format!(
                r#"(?i){kc}*(?:{keys})%3D(?P<secret>(?:[^\s%&#"'<>\\]|%(?:[013-9a-f][0-9a-f]|2[0-57-9a-f]))+)"#
            ),
            Filter::None,
        ),
        // JSON-ish `"apiKey": "..."`, `"password":"..."` inside text (escaped quotes in
        // the value are honoured). Values of JSON objects are also handled by key in
        // `Redactor::redact_json`.
        d(
            "json_pair",
            format!(
                r#"(?i)"{kc}*(?:{keys}|authorization)"[ \t]*:[ \t]*"(?P<secret>(?:[^"\\\n]|\\.)+)""#
            ),
            Filter::None,
        ),
        // The same with single quotes, as Python prints a dict: `{'X-API-KEY': '...'}`.
        d(
            "python_pair",
            format!(
                r#"(?i)'{kc}*(?:{keys}|authorization)'[ \t]*:[ \t]*'(?P<secret>(?:[^'\\\n]|\\.)+)'"#
            ),
            Filter::None,
        ),
        // JSON inside a JSON string: `{\"apiKey\":\"...\"}` (any depth of escaping).
        d(
            "json_escaped_pair",
            format!(
                r#"(?i)\\+"{kc}*(?:{keys}|authorization)\\+"[ \t]*:[ \t]*\\+"(?P<secret>[^"\n]+?)\\+""#
            ),
            Filter::None,
        ),
        // Settings as name/value objects: Sonarr's and Radarr's provider `fields`
        // (`{"name":"apiKey",...,"value":"..."}`) and Kubernetes env entries.
        d(
            "json_name_value",
            format!(
                r#"(?i)"(?:name|key)"[ \t]*:[ \t]*"{kc}*(?:{keys})"[^{{}}\n]*?"value"[ \t]*:[ \t]*"(?P<secret>(?:[^"\\\n]|\\.)+)""#
            ),
            Filter::None,
        ),
        d(
            "json_escaped_name_value",
            format!(
                r#"(?i)\\+"(?:name|key)\\+"[ \t]*:[ \t]*\\+"{kc}*(?:{keys})\\+"[^{{}}\n]*?\\+"value\\+"[ \t]*:[ \t]*\\+"(?P<secret>[^"\n]+?)\\+""#
            ),
            Filter::None,
        ),
        // `<ApiKey>...</ApiKey>` as in Sonarr/Radarr/Prowlarr `config.xml`.
        d(
            "xml_element",
            format!(r"(?i)<(?:{kc}+:)?{kc}*(?:{keys}|apikey)>(?P<secret>[^<]+)<"),
            Filter::Placeholder,
        ),
        // `Cookie: jwt=...; SID=...` and `Set-Cookie:`: cookies are sessions, so the
        // whole header value goes (cookie pairs are separated by `; `).
        d(
            "cookie",
            r#"(?i)(?-u:\b)(?:set-)?cookie[ \t]*:[ \t]*(?P<secret>[^\s";=]+=[^\s";]*(?:;[ \t]*[^\s";]+)*;?)"#
                .to_owned(),
            Filter::None,
        ),
        // A JWT wherever it appears: base64url `{"` header, payload, signature (may be
        // empty, as in `alg: none`).
        d(
            "jwt",
            r"(?-u:\b)(?P<secret>eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
                .to_owned(),
            Filter::None,
        ),
        // Tokens recognisable by their prefix: AWS key ids, GitHub, GitLab, Slack,
        // Google, Stripe, OpenAI/Anthropic, Hugging Face, npm, SendGrid, Plex claims,
        // and Telegram bot tokens (`<bot id>:AA...`).
        d(
            "vendor_token",
            concat!(
                r"(?P<secret>(?-u:\b)(?:",
                r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
                r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}",
                r"|glpat-[A-Za-z0-9_-]{20,}",
                r"|xox[abposr]-[A-Za-z0-9-]{10,}",
                r"|AIza[0-9A-Za-z_-]{35}",
                r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
                r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
                r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}",
                r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
                r"|claim-[A-Za-z0-9_-]{16,}",
                r")|[0-9]{5,12}:AA[A-Za-z0-9_-]{30,})",
            )
            .to_owned(),
            Filter::None,
        ),
        // Webhook URLs whose path is the credential: Discord and Slack.
        d(
            "webhook_url",
            r"(?i)(?:discord(?:app)?\.com/api/webhooks/[0-9]+/|hooks\.slack\.com/services/)(?P<secret>[A-Za-z0-9/_-]+)"
                .to_owned(),
            Filter::None,
        ),
        // PEM private keys (RSA, EC, OpenSSH, PKCS#8, PGP) and OpenVPN static keys: the
        // whole body, lines joined by real or escaped (`\n`, `\\n`) newlines, with the optional
        // `Proc-Type:`/`DEK-Info:` headers. With no END line (a cut log) the body still
        // goes, up to the first line that is not base64. A line after a real newline must
        // be one base64 run and nothing else: ordinary words are base64 too, and the next
        // line of a cut log ("Starting Sonarr") is not part of the key.
        d(
            "private_key_block",
            concat!(
                r"-----BEGIN (?:[A-Z0-9]+ )*(?:PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----",
                r"(?P<secret>(?:",
                r"(?:[ \t]*\r?\n)+[ \t]*(?:(?:Proc-Type|DEK-Info|Version|Comment):[^\r\n\\]*|[A-Za-z0-9+/=]+[ \t]*(?Rm:$))",
                r"|[ \t]*(?:\\+[rn])+[ \t]*(?:(?:Proc-Type|DEK-Info|Version|Comment):[^\r\n\\]*|[A-Za-z0-9+/=]+)",
                r")+)",
            )
            .to_owned(),
            Filter::None,
        ),
        // OpenVPN's inline `<auth-user-pass>` block: user name and password lines.
        d(
            "openvpn_auth_block",
            r"<auth-user-pass>(?P<secret>[^<]+)".to_owned(),
            Filter::None,
        ),
        // Command lines: `--password X`, `--api-key X`, `-token X` (a value that is not
        // the next flag). `--password=X` is `key_value`.
        d(
            "cli_flag",
            format!(
                r#"(?i)(?:^|[\s"'])--?{kc}*(?:{strong})[ \t]+(?P<secret>{ARG_VALUE})"#
            ),
            Filter::Word,
        ),
        // `mysql -pSECRET` (attached: `-p X` makes mysql prompt, X is the database).
        d(
            "mysql_password_flag",
            r#"(?-u:\b)(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mariadb|mariadb-dump)(?-u:\b)[^\n]*?[ \t]-p(?P<secret>[^\s"'-][^\s"']*)"#
                .to_owned(),
            Filter::Word,
        ),
        // `redis-cli -a X`, `sshpass -p X`, `mongosh -p X`.
        d(
            "cli_short_password",
            r#"(?-u:\b)(?:redis-cli[^\n]*?[ \t]-a|sshpass[ \t]+-p|mongo(?:sh)?[^\n]*?[ \t]-p)[ \t]+(?P<secret>[^\s"'-][^\s"']*)"#
                .to_owned(),
            Filter::Word,
        ),
        // `curl -u user:password` / `--user user:password`.
        d(
            "curl_user",
            r#"(?-u:\b)curl(?:[ \t][^\n]*?)?[ \t](?:-u|--user)[ \t]*['"]?[^\s:'"]*:(?P<secret>[^\s'"]+)"#
                .to_owned(),
            Filter::Placeholder,
        ),
        // Apprise notification URLs (used by Overseerr, Bazarr, Tdarr, ...): for these
        // schemes everything after `://` is a token, a webhook id or a user key.
        d(
            "apprise_url",
            r#"(?i)(?-u:\b)(?:tgram|discord|pover|pbul|slack|gotifys?|join|ifttt|prowl|msteams|pushed|mailgun|signal|signals|pjet|pushy|ntfys?)://(?P<secret>[^\s"'<>]+)"#
                .to_owned(),
            Filter::None,
        ),
        // PostgreSQL `.pgpass` lines: `host:port:database:user:password`, alone on a
        // line (or a JSON string).
        d(
            "pgpass",
            r#"(?m)(?:^|"|\\n)[A-Za-z0-9._*-]+:(?:[0-9]{2,5}|\*):[^\s:"\\]+:[^\s:"\\]+:(?P<secret>[^\s"\\]+)(?:$|"|\\[n"])"#
                .to_owned(),
            Filter::None,
        ),
        // A key word followed by its value with nothing in between ("using apikey X",
        // `private key: X`), when the value looks generated.
        d(
            "key_then_value",
            r#"(?i)(?-u:\b)(?:api[ _-]?key|api[ _-]?token|access[ _-]?token|token|password|passwd|passkey|secret|(?:private|preshared|secret|access)[ ]key)[ \t]*:?[ \t]+(?P<secret>[^\s"'<>]+)"#
                .to_owned(),
            Filter::Random,
        ),
        // `.netrc`: `machine h login bob password X`.
        d(
            "netrc",
            r"(?i)(?-u:\b)login[ \t]+[^\s]+[ \t]+password[ \t]+(?P<secret>[^\s]+)".to_owned(),
            Filter::Word,
        ),
        // Prose: "the password is X", "password for admin is X", "new password is now X",
        // "API token is X", qBittorrent's "A temporary password is provided for this
        // session: X".
        d(
            "prose",
            format!(
                r#"(?i)(?-u:\b)(?:password|passwd|passphrase|passcode|api[ _-]?key|api[ _-]?token|access[ _-]?token|token|secret)(?:[ \t]+(?:for|of)[ \t]+[^\s:]+)?[ \t]+(?:is provided for this session:|is now|is set to|was set to|set to|changed to|reset to|is|was)[ \t]+(?P<secret>{ARG_VALUE})"#
            ),
            Filter::Word,
        ),
    ]
}

/// Regex for JSON object keys whose string value is a credential as a whole
/// (`{"apiKey": "abc"}`, `{"SONARR_API_KEY": "abc"}`, `{"WebUI\\Password_PBKDF2": ..}`).
/// Matched at the end of the key only, like the text detectors.
pub(crate) fn sensitive_key_pattern() -> String {
    format!(r"(?i)(?:{STRONG_KEY_END}|{EXTRA_KEY_END}|authorization)$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_veto_ordinary_words_and_placeholders() {
        assert!(!Filter::Word.accepts("incorrect."));
        assert!(!Filter::Word.accepts("\"required\""));
        assert!(!Filter::Placeholder.accepts("${DB_PASSWORD}"));
        assert!(!Filter::Placeholder.accepts("********"));
        assert!(Filter::Placeholder.accepts("hunter2"));
        assert!(Filter::Word.accepts("swordfish"));
        assert!(!Filter::Word.accepts("realm="));
        assert!(Filter::Word.accepts("abc.def-ghi_123"));
        assert!(Filter::None.accepts("none"));
        assert!(Filter::Random.accepts("a0b1c2d3-e4f5-4a6b"));
        assert!(!Filter::Random.accepts("validated"));
        assert!(!Filter::Random.accepts("abc123"));
    }
}
