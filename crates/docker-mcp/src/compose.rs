//! The locked compose file: its services, their images and the project name,
//! derived the way the compose CLI derives it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;

/// The parts of a compose file docker-mcp needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeProject {
    pub file: PathBuf,
    pub name: String,
    /// Declared services, sorted by name, with their image when they name one.
    pub services: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
struct ComposeDocument {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    services: BTreeMap<String, Option<ServiceDocument>>,
}

#[derive(Debug, Default, Deserialize)]
struct ServiceDocument {
    #[serde(default)]
    image: Option<String>,
}

/// Compose files bigger than this are refused rather than parsed.
const MAX_COMPOSE_FILE_BYTES: u64 = 1024 * 1024;

/// Characters of the parser's explanation shown to people; the whole of it is logged.
const MAX_PARSE_ERROR_CHARS: usize = 200;

/// "The compose file X cannot be read: line 12 ...", on one line, cut at a word.
fn unreadable(shown: &std::path::Display<'_>, error: &dyn std::fmt::Display) -> String {
    let full = error.to_string();
    tracing::warn!(file = %shown, error = %full, "the compose file cannot be parsed");
    let one_line = full.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "The compose file {shown} cannot be read: {}. Fix the file; it is read again when it changes.",
        ops_core::shortened(&one_line, MAX_PARSE_ERROR_CHARS)
    )
}

impl ComposeProject {
    /// Reads and parses the file. `project_override` plays the part of `-p` /
    /// `COMPOSE_PROJECT_NAME` from the environment.
    pub fn load(file: &Path, project_override: Option<&str>) -> Result<Self, String> {
        let shown = file.display();
        let size = std::fs::metadata(file)
            .map_err(|e| format!("cannot read compose file {shown}: {e}"))?
            .len();
        if size > MAX_COMPOSE_FILE_BYTES {
            return Err(format!(
                "compose file {shown} is {size} bytes; more than {MAX_COMPOSE_FILE_BYTES} is refused"
            ));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read compose file {shown}: {e}"))?;
        let document: ComposeDocument =
            serde_saphyr::from_str(&text).map_err(|e| unreadable(&shown, &e))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let dotenv_name = read_dotenv_project_name(&dir.join(".env"));
        let name = derive_project_name(
            project_override,
            dotenv_name.as_deref(),
            document.name.as_deref(),
            dir,
        )
        .ok_or_else(|| {
            format!("cannot derive a compose project name for {shown}: set COMPOSE_PROJECT_NAME")
        })?;
        let services = document
            .services
            .into_iter()
            .map(|(service, doc)| {
                let image = doc.and_then(|d| d.image).map(|i| interpolate(&i));
                (service, image)
            })
            .collect();
        Ok(Self {
            file: file.to_path_buf(),
            name,
            services,
        })
    }

    pub fn has_service(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }
}

/// Precedence as in compose: `-p`/environment, then `.env`, then `name:`,
/// then the directory of the file.
pub fn derive_project_name(
    explicit: Option<&str>,
    dotenv: Option<&str>,
    top_level: Option<&str>,
    dir: &Path,
) -> Option<String> {
    let dir_name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    [explicit, dotenv, top_level, dir_name.as_deref()]
        .into_iter()
        .flatten()
        .map(normalize_project_name)
        .find(|n| !n.is_empty())
}

/// Lowercase, keep `[a-z0-9_-]`, and start with a letter or digit.
pub fn normalize_project_name(raw: &str) -> String {
    let kept: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_owned()
}

fn read_dotenv_project_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let line = line.trim();
        let value = line
            .strip_prefix("export ")
            .unwrap_or(line)
            .strip_prefix("COMPOSE_PROJECT_NAME=")?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Resolves `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$` in an image
/// reference from the environment, as compose does for the common cases.
fn interpolate(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            let expr = &body[..end];
            let (var, default) = match expr.split_once(":-").or_else(|| expr.split_once('-')) {
                Some((var, default)) => (var, Some(default)),
                None => (expr, None),
            };
            let found = std::env::var(var).ok().filter(|v| !v.is_empty());
            out.push_str(&found.or(default.map(str::to_owned)).unwrap_or_default());
            rest = &body[end + 1..];
        } else {
            out.push('$');
        }
    }
    out.push_str(rest);
    out
}

/// The compose file, re-read when it changes on disk.
pub struct LockedComposeFile {
    path: PathBuf,
    project_override: Option<String>,
    cached: Mutex<Option<(Option<SystemTime>, ComposeProject)>>,
}

impl LockedComposeFile {
    pub fn new(path: PathBuf, project_override: Option<String>) -> Self {
        Self {
            path,
            project_override,
            cached: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current project; a broken edit is reported, not silently ignored.
    pub fn project(&self) -> Result<ComposeProject, String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, project)) = cached.as_ref()
            && *seen == modified
            && modified.is_some()
        {
            return Ok(project.clone());
        }
        let project = ComposeProject::load(&self.path, self.project_override.as_deref())?;
        *cached = Some((modified, project.clone()));
        Ok(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn normalizes_like_compose() {
        assert_eq!(normalize_project_name("My Stack.2024"), "mystack2024");
        assert_eq!(normalize_project_name("__arr-stack"), "arr-stack");
        assert_eq!(normalize_project_name("Ünïcode"), "ncode");
        assert_eq!(normalize_project_name("..."), "");
    }

    #[test]
    fn project_name_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("Media-Stack");
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(
            derive_project_name(None, None, None, &dir).as_deref(),
            Some("media-stack")
        );
        assert_eq!(
            derive_project_name(None, None, Some("Named"), &dir).as_deref(),
            Some("named")
        );
        assert_eq!(
            derive_project_name(None, Some("fromenv"), Some("Named"), &dir).as_deref(),
            Some("fromenv")
        );
        assert_eq!(
            derive_project_name(Some("P"), Some("fromenv"), Some("Named"), &dir).as_deref(),
            Some("p")
        );
    }

    #[test]
    fn loads_services_images_and_dotenv_name() {
        let tmp = tempfile::tempdir().unwrap();
        let file = write(
            tmp.path(),
            "docker-compose.yml",
            "services:\n  sonarr:\n    image: lscr.io/linuxserver/sonarr:${OPS_TEST_UNSET_TAG:-latest}\n  builder:\n    build: .\n  bare:\n",
        );
        write(
            tmp.path(),
            ".env",
            "# comment\nCOMPOSE_PROJECT_NAME=\"Arr\"\n",
        );
        let project = ComposeProject::load(&file, None).unwrap();
        assert_eq!(project.name, "arr");
        assert_eq!(project.service_names(), vec!["bare", "builder", "sonarr"]);
        assert_eq!(
            project.services["sonarr"].as_deref(),
            Some("lscr.io/linuxserver/sonarr:latest")
        );
        assert_eq!(project.services["builder"], None);
    }

    #[test]
    fn refuses_broken_and_missing_files_with_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = write(tmp.path(), "docker-compose.yml", "services: [unclosed");
        let err = ComposeProject::load(&file, None).unwrap_err();
        assert!(
            err.contains("docker-compose.yml")
                && err.contains("cannot be read: ")
                && !err.contains('\n'),
            "{err}"
        );
        // A long explanation is cut at a word, with an ellipsis, on one line.
        let long = format!("services:\n  sonarr:\n    image: [{}", "word ".repeat(200));
        let file = write(tmp.path(), "docker-compose.yml", &long);
        let err = ComposeProject::load(&file, None).unwrap_err();
        let explanation = err
            .split("cannot be read: ")
            .nth(1)
            .and_then(|rest| rest.split(". Fix the file").next())
            .unwrap_or_default();
        assert!(
            explanation.chars().count() <= MAX_PARSE_ERROR_CHARS + 1,
            "{err}"
        );
        assert!(!explanation.is_empty() && !err.contains('\n'), "{err}");
        if let Some(kept) = explanation.strip_suffix('…') {
            let full = serde_saphyr::from_str::<ComposeDocument>(&long)
                .unwrap_err()
                .to_string();
            let full = full.split_whitespace().collect::<Vec<_>>().join(" ");
            let next = full[kept.len()..].chars().next();
            assert!(next.is_none_or(char::is_whitespace), "cut mid-word: {err}");
        }
        let err = ComposeProject::load(&tmp.path().join("nope.yml"), None).unwrap_err();
        assert!(err.contains("nope.yml"), "{err}");
    }

    #[test]
    fn rereads_the_file_after_an_edit() {
        let tmp = tempfile::tempdir().unwrap();
        let file = write(
            tmp.path(),
            "docker-compose.yml",
            "services:\n  a:\n    image: x\n",
        );
        let locked = LockedComposeFile::new(file.clone(), Some("p".into()));
        assert_eq!(locked.project().unwrap().service_names(), vec!["a"]);
        std::fs::write(&file, "services:\n  a:\n    image: x\n  b:\n    image: y\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(locked.project().unwrap().service_names(), vec!["a", "b"]);
    }

    #[test]
    fn interpolates_image_variables() {
        assert_eq!(interpolate("a:${OPS_TEST_UNSET:-1.2}"), "a:1.2");
        assert_eq!(interpolate("a:${OPS_TEST_UNSET-x}"), "a:x");
        assert_eq!(interpolate("cost$$"), "cost$");
        assert_eq!(interpolate("plain:tag"), "plain:tag");
    }
}
