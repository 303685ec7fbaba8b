//! Each built-in detector: a positive case (key kept, secret gone) and near-misses
//! that must come back untouched.

use redact::{REDACTED, Redactor};
use std::sync::OnceLock;

/// Built-ins only, compiled once for all the cases below.
fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| match Redactor::new(&[]) {
        Ok(r) => r,
        Err(e) => panic!("built-in detectors must compile: {e}"),
    })
}

/// Asserts `input` becomes `expected` (with `#` standing for `[REDACTED]`).
#[track_caller]
fn masks(input: &str, expected: &str) {
    let expected = expected.replace('#', REDACTED);
    assert_eq!(redactor().redact_str(input), expected, "input: {input:?}");
}

#[track_caller]
fn untouched(input: &str) {
    assert_eq!(redactor().redact_str(input), input, "must not change");
}

#[test]
fn query_string_keys() {
    masks("GET /api?apikey=abc123&page=2", "GET /api?apikey=#&page=2");
    masks(
        "/sabnzbd/api?mode=queue&api_key=0f1e2d3c",
        "/sabnzbd/api?mode=queue&api_key=#",
    );
    masks("/library?X-Plex-Token=AbC-123_x", "/library?X-Plex-Token=#");
    // The fragment is not part of the value (`#` is the placeholder in `masks`).
    assert_eq!(
        redactor().redact_str("/a?token=t#frag"),
        format!("/a?token={REDACTED}#frag")
    );
    masks(
        "https://h/cb?access_token=eyJ.a.b&x=1",
        "https://h/cb?access_token=#&x=1",
    );
    masks("?token=t0k3n", "?token=#");
    masks("/api?x=1&ApiKey=ABC", "/api?x=1&ApiKey=#");
    untouched("/api?page=2&sort=title&max_tokens=100&tokens=5");
    untouched("/api?apikey");
    untouched("the apikey setting is in Settings > General");
}

#[test]
fn env_style_lines() {
    masks(
        "SONARR__AUTH__APIKEY=0123456789abcdef",
        "SONARR__AUTH__APIKEY=#",
    );
    masks("RADARR_API_KEY=abc", "RADARR_API_KEY=#");
    masks("PROWLARRAPIKEY=abc", "PROWLARRAPIKEY=#");
    masks("PASSWORD=hunter2", "PASSWORD=#");
    masks("  DB_PASSWORD = \"correct horse\"", "  DB_PASSWORD = #");
    masks("JWT_SECRET='s3cr3t'", "JWT_SECRET=#");
    masks("GITHUB_TOKEN=ghp_x PUID=1000", "GITHUB_TOKEN=# PUID=1000");
    masks(
        "AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG",
        "AWS_SECRET_ACCESS_KEY=#",
    );
    masks(
        r#"["PUID=1000","PASSWORD=p&ss"]"#,
        r#"["PUID=1000","PASSWORD=#"]"#,
    );
    masks("a\nTOKEN=x\nb", "a\nTOKEN=#\nb");
    untouched("PASSWORD_POLICY=strict TOKENS=5 PWD=/config PUID=1000 TZ=Europe/Paris");
    untouched("password policy updated");
    untouched("PASSWORD= ");
}

#[test]
fn api_key_headers_any_case() {
    masks("X-Api-Key: 0123abcd", "X-Api-Key: #");
    masks(
        "x-api-key:0123abcd\r\nAccept: */*",
        "x-api-key:#\r\nAccept: */*",
    );
    masks(
        "curl -H 'X-API-KEY: abc' http://sonarr:8989",
        "curl -H 'X-API-KEY: #' http://sonarr:8989",
    );
    masks("X-Emby-Token: abc", "X-Emby-Token: #");
    masks("  password: hunter2", "  password: #");
    untouched("X-Api-Version: 3");
    untouched("Accept: application/json");
    untouched("token expired at 12:00:00");
}

#[test]
fn authorization_headers() {
    masks(
        "Authorization: Bearer abc.def-ghi_123",
        "Authorization: Bearer #",
    );
    // Decision: Basic is masked too, it is base64 of user:password.
    masks(
        "authorization: Basic dXNlcjpwYXNz",
        "authorization: Basic #",
    );
    masks(
        "Proxy-Authorization: Digest xyz",
        "Proxy-Authorization: Digest #",
    );
    masks("Authorization: rawtoken123", "Authorization: #");
    untouched("authorization failed for user bob");
    untouched("authorization");
}

#[test]
fn bearer_tokens() {
    masks(
        "curl -H \"authorization: bearer xyz\"",
        "curl -H \"authorization: bearer #\"",
    );
    masks("bearer xyz", "bearer #");
    masks(
        "got Bearer eyJhbGciOi.eyJzdWIi.SflKxw= back",
        "got Bearer # back",
    );
    untouched("bearer");
    untouched("the cupbearers of the king");
    untouched("forbearer of news");
}

#[test]
fn credentials_in_urls() {
    masks("http://user:pass@host:8080/x", "http://user:#@host:8080/x");
    masks("redis://:s3cret@redis:6379", "redis://:#@redis:6379");
    masks("https://u:p@ss@host/", "https://u:#@host/");
    untouched("http://host/path");
    untouched("http://host:8989/api/v3?x=1");
    untouched("mailto:someone@example.com");
}

#[test]
fn json_ish_pairs_in_text() {
    masks(
        r#"{"apiKey": "abc123", "port": 8989}"#,
        r##"{"apiKey": "#", "port": 8989}"##,
    );
    masks(r#"{"password":"p\"w"}"#, r##"{"password":"#"}"##);
    masks(
        r#"{"refresh_token" : "r1"}"#,
        r##"{"refresh_token" : "#"}"##,
    );
    untouched(r#"{"passwordPolicy": "strict", "tokens": "5", "apiKey": ""}"#);
}

#[test]
fn xml_config_elements() {
    masks(
        "<Config><ApiKey>0123abcd</ApiKey><Port>8989</Port></Config>",
        "<Config><ApiKey>#</ApiKey><Port>8989</Port></Config>",
    );
    untouched(
        "<Config><Port>8989</Port><AuthenticationMethod>Forms</AuthenticationMethod></Config>",
    );
}

#[test]
fn redacting_twice_changes_nothing_more() {
    let r = redactor();
    let once = r
        .redact_str("?apikey=abc&x=1 PASSWORD=p Authorization: Bearer t http://u:p@h")
        .into_owned();
    let (twice, count) = r.redact_counted(&once);
    assert_eq!(twice, once);
    assert_eq!(count, 0);
}

#[test]
fn overlapping_rules_mask_once() {
    // Policy pattern and built-in both match: one mask, counted once.
    let r = match Redactor::new(&[r"(?i)apikey=\\w+".to_owned()]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let (out, count) = r.redact_counted("?apikey=abc123");
    assert_eq!(out, format!("?{REDACTED}"));
    assert_eq!(count, 1);
}

#[test]
fn prose_masks_the_value_not_the_sentence() {
    masks("the password is hunter2", "the password is #");
    masks(
        "The password for admin is Kq8-zz",
        "The password for admin is #",
    );
    masks(
        "A temporary password is provided for this session: q5sDkHmNz",
        "A temporary password is provided for this session: #",
    );
    untouched("The password is incorrect.");
    untouched("The password for admin was reset.");
    untouched("Token is expired, refreshing.");
    untouched("password: ********");
    untouched("Password: (hidden)");
    untouched("API key: not set");
}

#[test]
fn placeholders_are_not_secrets() {
    untouched("POSTGRES_PASSWORD=${POSTGRES_PASSWORD}");
    untouched("      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD:?set it in .env}");
    untouched("    api_key: !secret sonarr_apikey");
    untouched("MYSQL_ALLOW_EMPTY_PASSWORD=yes");
    untouched("DB_PASSWORD_FILE=/run/secrets/db_password");
    // A default inside an expansion is a real value: it goes, the reference stays.
    masks(
        "DB_PASSWORD=${DB_PASSWORD:-changeme1}",
        "DB_PASSWORD=${DB_PASSWORD:#}",
    );
}

#[test]
fn command_lines() {
    masks(
        "mysqldump --password S3cr3t db",
        "mysqldump --password # db",
    );
    masks("restic --password=S3cr3t -v", "restic --password=# -v");
    masks("mysql -u root -pS3cr3t -e x", "mysql -u root -p# -e x");
    masks("redis-cli -h r -a S3cr3t ping", "redis-cli -h r -a # ping");
    masks("curl -u admin:S3cr3t http://q", "curl -u admin:# http://q");
    untouched("mysql -h mariadb -P 3306 -u photoprism photoprism");
    untouched("ffmpeg -i in.mkv -pass 1 -f null /dev/null");
    untouched("--password is required when --user is set");
    untouched("Use --password-file to read the password from a file.");
}

#[test]
fn tokens_known_by_their_shape() {
    masks("key AKIAW3LAVU4OIGQFIDZK used", "key # used");
    masks(
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl ok",
        "session # ok",
    );
    masks("Cookie: jwt=abc; lang=en", "Cookie: #");
    masks(
        "https://discord.com/api/webhooks/123/AbC-dEf_1",
        "https://discord.com/api/webhooks/123/#",
    );
    untouched("Info hash: 3b245e04703628ab2e6b02be5c6c4add3f6bc2c8");
    untouched("Release GUID: 7c9e6679-7425-40de-944b-e07fc1f90ae7");
    untouched("WWW-Authenticate: Bearer realm=\"https://auth.docker.io/token\"");
}

#[test]
fn encoded_and_escaped_forms() {
    masks(
        "url=http%3A%2F%2Fu%3Ap%40ss%40h",
        "url=http%3A%2F%2Fu%3A#%40h",
    );
    masks(
        "a=user%3Dbob%26password%3Dhunter2%26x%3D1",
        "a=user%3Dbob%26password%3D#%26x%3D1",
    );
    masks(r#"{\"apiKey\":\"abc123\"}"#, r##"{\"apiKey\":\"#\"}"##);
    masks(r#"{'X-API-KEY': 'abc123'}"#, r#"{'X-API-KEY': '#'}"#);
    masks(
        r#"{"name":"apiKey","label":"API Key","value":"abc123"}"#,
        r##"{"name":"apiKey","label":"API Key","value":"#"}"##,
    );
}

#[test]
fn private_key_blocks_lose_their_whole_body() {
    masks(
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB==\n-----END RSA PRIVATE KEY-----\nnext",
        "-----BEGIN RSA PRIVATE KEY-----#\n-----END RSA PRIVATE KEY-----\nnext",
    );
    // Escaped newlines (a key inside a JSON string), and a block cut before its end.
    masks(
        r"-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n-----END PRIVATE KEY-----",
        r"-----BEGIN PRIVATE KEY-----#\n-----END PRIVATE KEY-----",
    );
    masks(
        "-----BEGIN PRIVATE KEY-----\nAAAA\nBB",
        "-----BEGIN PRIVATE KEY-----#",
    );
    untouched("-----BEGIN CERTIFICATE-----\nMIIDQTCC\n-----END CERTIFICATE-----");
}

#[test]
fn a_block_cut_before_its_end_leaves_the_next_ordinary_line_alone() {
    // Every word of these lines is base64 too: only a line that is one base64 run
    // belongs to the key.
    masks(
        "-----BEGIN PRIVATE KEY-----\nAAAA\nBB\nStarting Sonarr version 4\nnext line",
        "-----BEGIN PRIVATE KEY-----#\nStarting Sonarr version 4\nnext line",
    );
    masks(
        "-----BEGIN PRIVATE KEY-----\r\nAAAA\r\nBB\r\nDone in 3 s",
        "-----BEGIN PRIVATE KEY-----#\r\nDone in 3 s",
    );
}
