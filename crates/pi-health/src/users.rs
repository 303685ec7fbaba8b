//! pi-health's local users: names and Argon2id password hashes (PHC strings) in
//! one JSON file in the data directory, readable by its owner only. The file is
//! re-read at each sign-in, so `ops-copilot pi-health user add` takes effect at once,
//! and checked (when it changed) at each request of a signed-in person: a user
//! removed, given another role, a new password or `user revoke` loses their
//! sessions at once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};

use crate::ids;
use crate::private_file;

/// The file's name in the data directory.
const USERS_FILE: &str = "pi-health-users.json";
/// The user created on first start when there is none.
const INITIAL_USER: &str = "admin";
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserRecord {
    pub(crate) name: String,
    password_hash: String,
    /// The gateway role pi-health asserts for this user (`X-On-Behalf-Role`). A
    /// user stored before users had roles has none: [`LEGACY_ROLE`] (before,
    /// everyone acted with pi-health's own token, an admin one).
    #[serde(default = "legacy_role")]
    role: String,
    /// Sessions signed in before this (unix ms) are no longer valid: set when
    /// the password or role changes and by `user revoke`.
    #[serde(default, skip_serializing_if = "is_zero")]
    sessions_since_ms: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The users file is refused above this size (a few thousand users).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// What a signed-in session is checked against at each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) role: String,
    pub(crate) sessions_since_ms: u64,
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The role of a user stored without one.
const LEGACY_ROLE: &str = "admin";
/// The role of the first-start user.
const INITIAL_ROLE: &str = "admin";
/// The role of a new user when none is given.
pub(crate) const DEFAULT_ROLE: &str = "standard";

fn legacy_role() -> String {
    LEGACY_ROLE.to_owned()
}

/// What a role name is, said to whoever gives another.
pub(crate) const ROLE_RULE: &str = "a role is 1 to 64 letters, digits, '.', '_' or '-'";

/// A role name as the gateway's tokens file takes it: 1 to 64 of `[A-Za-z0-9._-]`.
pub(crate) fn valid_role(role: &str) -> bool {
    (1..=64).contains(&role.len())
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserRecord>,
}

/// The web app's users: names and Argon2 password hashes in a JSON file.
pub struct Users {
    path: PathBuf,
    /// The file as last read for [`Users::standing`], with the size and
    /// modification time it had: read again only when they change.
    seen: Mutex<Option<(u64, Option<SystemTime>, UsersFile)>>,
}

/// The longest user name, in bytes (all its characters are ASCII).
const MAX_NAME_CHARS: usize = 64;

/// What a user name is, said to whoever gives another.
pub(crate) const NAME_RULE: &str = "a user name is 1 to 64 letters, digits, '.', '_', '@' or '-'";

/// A user name: 1 to 64 of `[A-Za-z0-9._@-]`. Names reach logs and pages, so
/// none can carry a line break, an escape sequence or markup.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
fn check_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of nothing anyone knows, checked for unknown users so that a wrong
/// name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        ids::random_hex(16)
            .ok()
            .and_then(|secret| hash_password(&secret).ok())
            .unwrap_or_default()
    })
}

impl Users {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            seen: Mutex::default(),
        }
    }

    /// `<data_dir>/pi-health-users.json`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(USERS_FILE))
    }

    /// The users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<UsersFile, String> {
        match private_file::read_bounded(&self.path, MAX_FILE_BYTES)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a valid users file: {e}", self.path.display())),
            None => Ok(UsersFile::default()),
        }
    }

    fn write(&self, file: &UsersFile) -> Result<(), String> {
        let text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
        private_file::write_atomic(&self.path, text.as_bytes())
    }

    /// The user's role and the oldest sign-in still valid, `None` when there
    /// is no such user (or the file cannot be read: then nobody's session holds).
    pub(crate) fn standing(&self, name: &str) -> Option<Standing> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let current = matches!(&*seen, Some((len, modified, _)) if (*len, *modified) == stamp);
        if !current {
            match self.read() {
                Ok(file) => *seen = Some((stamp.0, stamp.1, file)),
                Err(error) => {
                    tracing::error!(%error, "users file: signed-in sessions cannot be checked");
                    *seen = None;
                    return None;
                }
            }
        }
        let (_, _, file) = seen.as_ref()?;
        file.users
            .iter()
            .find(|u| u.name == name)
            .map(|u| Standing {
                role: u.role.clone(),
                sessions_since_ms: u.sessions_since_ms,
            })
    }

    /// Ends every session `name` has (on every device), from now on.
    pub fn revoke_sessions(&self, name: &str) -> Result<(), String> {
        let mut file = self.read()?;
        let user = file
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| format!("there is no user {name:?} in {}", self.path.display()))?;
        user.sessions_since_ms = unix_ms_now();
        self.write(&file)
    }

    #[cfg(test)]
    pub(crate) fn names(&self) -> Result<Vec<String>, String> {
        Ok(self.read()?.users.into_iter().map(|u| u.name).collect())
    }

    /// Adds `name` with `role` ([`DEFAULT_ROLE`] when `None`), or sets its
    /// password (and its role, when one is given) when it exists.
    pub fn add(&self, name: &str, password: &str, role: Option<&str>) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!("{NAME_RULE}, not {name:?}"));
        }
        if let Some(role) = role.filter(|r| !valid_role(r)) {
            return Err(format!("{ROLE_RULE}, not {role:?}"));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!(
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(format!(
                "the password must have at most {MAX_PASSWORD_BYTES} bytes"
            ));
        }
        let mut file = self.read()?;
        let password_hash = hash_password(password)?;
        match file.users.iter_mut().find(|u| u.name == name) {
            Some(user) => {
                user.password_hash = password_hash;
                if let Some(role) = role {
                    user.role = role.to_owned();
                }
                // A new password signs the old one's sessions out.
                user.sessions_since_ms = unix_ms_now();
            }
            None => file.users.push(UserRecord {
                name: name.to_owned(),
                password_hash,
                role: role.unwrap_or(DEFAULT_ROLE).to_owned(),
                sessions_since_ms: 0,
            }),
        }
        self.write(&file)
    }

    /// First start: when there is no user, creates `admin` with a random
    /// password and returns it (to be shown once).
    pub fn ensure_initial(&self) -> Result<Option<(String, String)>, String> {
        if !self.read()?.users.is_empty() {
            return Ok(None);
        }
        let password = ids::random_hex(12).map_err(|e| e.to_string())?;
        self.add(INITIAL_USER, &password, Some(INITIAL_ROLE))?;
        Ok(Some((INITIAL_USER.to_owned(), password)))
    }

    /// The user's role when `name` / `password` sign in (blocking: Argon2 is
    /// deliberately slow).
    pub(crate) fn verify(&self, name: &str, password: &str) -> Option<String> {
        if !valid_name(name) {
            return None;
        }
        let users = self.read().map(|f| f.users).unwrap_or_else(|error| {
            tracing::error!(%error, "users file");
            Vec::new()
        });
        match users.iter().find(|u| u.name == name) {
            Some(user) => check_password(&user.password_hash, password)
                .then(|| user.role.clone())
                .filter(|role| valid_role(role)),
            None => {
                let _ = check_password(decoy_hash(), password);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sign_in_with_their_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::in_data_dir(&dir.path().join("data"));
        users.add("alice", "correct horse", None).unwrap();
        users.add("bob", "battery staple", None).unwrap();
        assert!(users.verify_ok("alice", "correct horse"));
        assert!(!users.verify_ok("alice", "battery staple"));
        assert!(!users.verify_ok("carol", "correct horse"));
        assert!(!users.verify_ok("alice", ""));
        assert_eq!(users.names().unwrap(), ["alice", "bob"]);

        users.add("alice", "a new password", None).unwrap();
        assert!(users.verify_ok("alice", "a new password"));
        assert!(!users.verify_ok("alice", "correct horse"));

        let text = std::fs::read_to_string(users.path()).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("battery staple"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(users.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_names_and_short_passwords_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::in_data_dir(dir.path());
        assert!(users.add("al ice", "long enough", None).is_err());
        assert!(users.add("", "long enough", None).is_err());
        assert!(users.add(&"x".repeat(65), "long enough", None).is_err());
        for bad in ["ad\nmin", "\u{1b}[31madmin", "a<b", "é", "a\u{0}b", "a/b"] {
            assert!(users.add(bad, "long enough", None).is_err(), "{bad:?}");
            assert!(!valid_name(bad), "{bad:?}");
        }
        for good in [
            "a",
            "alice.smith",
            "ops@example.org",
            "x_y-z",
            &"x".repeat(64),
        ] {
            assert!(valid_name(good), "{good:?}");
        }
        assert!(users.add("alice", "short", None).is_err());
        assert!(!check_password("not a phc string", "x"));
    }

    impl Users {
        fn verify_ok(&self, name: &str, password: &str) -> bool {
            self.verify(name, password).is_some()
        }
    }

    #[test]
    fn users_have_roles() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::in_data_dir(dir.path());
        users.add("bob", "bob-password", None).unwrap();
        users.add("alice", "alice-password", Some("admin")).unwrap();
        assert_eq!(
            users.verify("bob", "bob-password").as_deref(),
            Some("standard")
        );
        assert_eq!(
            users.verify("alice", "alice-password").as_deref(),
            Some("admin")
        );
        assert_eq!(users.verify("alice", "wrong-password"), None);
        // A new password keeps the role unless another is given.
        users.add("alice", "alice-password2", None).unwrap();
        assert_eq!(
            users.verify("alice", "alice-password2").as_deref(),
            Some("admin")
        );
        users
            .add("alice", "alice-password2", Some("standard"))
            .unwrap();
        assert_eq!(
            users.verify("alice", "alice-password2").as_deref(),
            Some("standard")
        );
        let text = std::fs::read_to_string(users.path()).unwrap();
        assert!(text.contains("\"role\": \"standard\""), "{text}");
        for bad in [
            "",
            "a b",
            "admin,standard",
            "r\u{e9}le",
            &"r".repeat(65),
            "a@b",
        ] {
            let error = users.add("carol", "carol-password", Some(bad)).unwrap_err();
            assert!(error.contains("a role is"), "{bad:?}: {error}");
        }
        assert_eq!(users.names().unwrap(), ["bob", "alice"]);
    }

    #[test]
    fn a_user_stored_without_a_role_is_an_admin() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::in_data_dir(dir.path());
        let hash = hash_password("old-password").unwrap();
        let legacy = serde_json::json!({ "users": [{ "name": "old", "password_hash": hash }] });
        std::fs::write(users.path(), legacy.to_string()).unwrap();
        assert_eq!(
            users.verify("old", "old-password").as_deref(),
            Some("admin")
        );
    }

    #[test]
    fn the_first_start_creates_an_admin_once() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::in_data_dir(dir.path());
        let (name, password) = users.ensure_initial().unwrap().expect("created");
        assert_eq!(name, "admin");
        assert!(password.len() >= 16);
        assert_eq!(users.verify("admin", &password).as_deref(), Some("admin"));
        assert_eq!(users.ensure_initial().unwrap(), None);
    }
}
