//! Who is calling: bearer tokens bound to a principal and a role. The tokens
//! file holds only SHA-256 hashes; a token is shown once, when it is made.

use std::io::Write;
use std::path::{Path, PathBuf};

use ops_core::bearer::{digest as hash, same_digest};
use serde::Deserialize;

use crate::watched::Watched;

/// An authenticated caller, or the principal acting for a person with a role it
/// asserted (`X-On-Behalf-Role`, see [`Principal::acting_for`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    pub name: String,
    /// The role every decision uses: the token's, or the asserted one.
    pub role: String,
    /// The roles this principal may assert for a person it acts for (its token
    /// entry's `may_act_as`). Empty once it acts for one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub may_act_as: Vec<String>,
    /// The person whose asserted role `role` is: set only with an asserted role.
    /// What this principal sees is then narrowed to that person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl Principal {
    /// This principal acting for `person` with the asserted `role` (checked by
    /// [`ops_core::contract::rules::check_on_behalf_role`] first).
    pub fn acting_for(&self, person: &str, role: &str) -> Self {
        Self {
            name: self.name.clone(),
            role: role.to_owned(),
            may_act_as: Vec::new(),
            person: Some(person.to_owned()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: String,
    sha256: String,
    #[serde(default)]
    may_act_as: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// The principals and their token hashes.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Vec<(Principal, [u8; 32])>,
}

const TOKEN_PREFIX: &str = "oct_";
const NAME_PATTERN: &str = "letters, digits, '.', '_' and '-' (1 to 64)";

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            // No file yet: nobody can sign in until a token is added.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(TokenError(format!("cannot read tokens file {shown}: {e}"))),
        };
        let file: TokensFile = serde_saphyr::from_str(&text)
            .map_err(|e| TokenError(format!("tokens file {shown} is not valid: {e}")))?;
        let mut entries = Vec::with_capacity(file.tokens.len());
        for entry in file.tokens {
            let digest = hex::decode(&entry.sha256)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or_else(|| {
                    TokenError(format!(
                        "tokens file {shown}: {}: sha256 must be 64 hex digits",
                        entry.name
                    ))
                })?;
            if !valid_name(&entry.name)
                || !valid_name(&entry.role)
                || !entry.may_act_as.iter().all(|r| valid_name(r))
            {
                return Err(TokenError(format!(
                    "tokens file {shown}: names and roles use {NAME_PATTERN}"
                )));
            }
            entries.push((
                Principal {
                    name: entry.name,
                    role: entry.role,
                    may_act_as: entry.may_act_as,
                    person: None,
                },
                digest,
            ));
        }
        Ok(Self { entries })
    }

    /// The principal a bearer token belongs to. Every entry is compared, in
    /// constant time, so timing says nothing about which hash came close.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented = hash(token);
        let mut found = None;
        for (principal, digest) in &self.entries {
            if same_digest(&presented, digest) {
                found = Some(principal.clone());
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Makes a token for `name` with `role` (and the roles it may assert for the
/// people it acts for, `may_act_as`), stores its hash, and returns the token
/// (the only time it is ever visible).
pub fn add_token(
    path: &Path,
    name: &str,
    role: &str,
    may_act_as: &[String],
) -> Result<String, TokenError> {
    if !valid_name(name) || !valid_name(role) || !may_act_as.iter().all(|r| valid_name(r)) {
        return Err(TokenError(format!("names and roles use {NAME_PATTERN}")));
    }
    let existing = Tokens::load(path)?;
    if existing.entries.iter().any(|(p, _)| p.name == name) {
        return Err(TokenError(format!(
            "{name} already has a token in {}; remove its entry first to replace it",
            path.display()
        )));
    }
    let secret = ops_core::contract::ids::random_hex(32).map_err(|e| TokenError(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{secret}");
    let mut entry = format!(
        "  - name: {name}\n    role: {role}\n    sha256: {}\n",
        hex::encode(hash(&token))
    );
    if !may_act_as.is_empty() {
        entry.push_str(&format!("    may_act_as: [{}]\n", may_act_as.join(", ")));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| TokenError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let fresh = !path.exists();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| TokenError(format!("cannot write {}: {e}", path.display())))?;
    let header = if fresh {
        "# Ops-Copilot gateway tokens: SHA-256 hashes only. Add with `ops-copilot gateway token add`.\ntokens:\n"
    } else {
        ""
    };
    file.write_all(format!("{header}{entry}").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| TokenError(format!("cannot write {}: {e}", path.display())))?;
    Ok(token)
}

/// The tokens file, re-read when it changes (a token added while running works).
pub type TokensHandle = Watched<Tokens, TokenError>;

impl TokensHandle {
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let path: PathBuf = path.to_path_buf();
        Watched::new("tokens", vec![path.clone()], move || Tokens::load(&path))
    }
}

pub use ops_core::bearer::token_from_header as bearer_token;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shown_once_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        let alice = add_token(&path, "alice", "admin", &[]).unwrap();
        let agent = add_token(&path, "agent-1", "agent", &[]).unwrap();
        let web = add_token(
            &path,
            "web",
            "standard",
            &["admin".into(), "standard".into()],
        )
        .unwrap();
        assert!(alice.starts_with(TOKEN_PREFIX) && alice.len() == 4 + 64);
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(!stored.contains(&alice[4..]) && !stored.contains(&agent[4..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "tokens file readable by others: {mode:o}");
        }
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.len(), 3);
        assert_eq!(
            tokens.authenticate(&alice),
            Some(Principal {
                name: "alice".into(),
                role: "admin".into(),
                ..Principal::default()
            })
        );
        assert_eq!(
            tokens.authenticate(&web).unwrap().may_act_as,
            ["admin", "standard"]
        );
        assert_eq!(tokens.authenticate(&agent).unwrap().role, "agent");
        assert_eq!(tokens.authenticate("oct_wrong"), None);
        assert_eq!(tokens.authenticate(""), None);
        assert_eq!(tokens.authenticate(&alice[..alice.len() - 1]), None);
    }

    #[test]
    fn refuses_duplicates_bad_names_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        add_token(&path, "bob", "standard", &[]).unwrap();
        assert!(add_token(&path, "bob", "admin", &[]).is_err());
        assert!(add_token(&path, "bad name", "admin", &[]).is_err());
        assert!(add_token(&path, "ok", "role: admin", &[]).is_err());
        assert!(add_token(&path, "ok", "admin", &["a, b".into()]).is_err());
        std::fs::write(
            &path,
            "tokens:\n  - name: x\n    role: admin\n    sha256: 1234\n",
        )
        .unwrap();
        assert!(Tokens::load(&path).unwrap_err().0.contains("64 hex"));
        assert!(
            Tokens::load(&dir.path().join("missing.yaml"))
                .unwrap()
                .is_empty()
        );
    }
}
