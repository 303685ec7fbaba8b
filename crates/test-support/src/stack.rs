//! A throw-away compose project: a fresh directory named `octest-<tag>-<random>` (the
//! compose project name comes from it), brought up with the compose CLI and always
//! torn down on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tempfile::TempDir;

use crate::{arr_compose_file, output_text, try_docker, unique_suffix};

const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The compose CLI the harness uses (and hands to the code under test, so both sides
/// agree on config hashes): `docker-compose` when installed, else `docker compose`.
pub fn compose_command() -> Vec<String> {
    static FOUND: OnceLock<Vec<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let works = |cmd: &[&str]| {
                Command::new(cmd[0])
                    .args(&cmd[1..])
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            for candidate in [&["docker-compose"][..], &["docker", "compose"][..]] {
                if works(candidate) {
                    return candidate.iter().map(|s| s.to_string()).collect();
                }
            }
            panic!("neither `docker-compose` nor `docker compose` works; install the compose tool")
        })
        .clone()
}

pub struct Stack {
    dir: PathBuf,
    file: PathBuf,
    project: String,
    // Last: removed after the project is down.
    _parent: TempDir,
}

impl Stack {
    /// A copy of testing/arr-stack/docker-compose.yml; nothing is started yet.
    pub fn arr(tag: &str) -> Self {
        let source = arr_compose_file();
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
        Self::from_yaml(tag, &text)
    }

    /// A project with this compose file text; nothing is started yet.
    pub fn from_yaml(tag: &str, yaml: &str) -> Self {
        crate::ensure_images();
        assert!(
            !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "a stack tag is lowercase [a-z0-9-]: {tag:?}"
        );
        let parent = tempfile::Builder::new()
            .prefix("ops-test-")
            .tempdir()
            .expect("a temporary directory");
        let project = format!("octest-{tag}-{}", unique_suffix());
        let dir = parent.path().join(&project);
        std::fs::create_dir(&dir).expect("the project directory");
        let dir = dir.canonicalize().expect("the project directory exists");
        let file = dir.join("docker-compose.yml");
        std::fs::write(&file, yaml).expect("the compose file is written");
        Self {
            dir,
            file,
            project,
            _parent: parent,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The absolute path of the compose file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn file_str(&self) -> &str {
        self.file.to_str().expect("temporary paths are UTF-8")
    }

    /// The compose project name (the directory's name).
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Runs the compose CLI in the project directory; trimmed stdout or an error text.
    pub fn compose(&self, args: &[&str]) -> Result<String, String> {
        self.compose_on(None, args)
    }

    /// [`Self::compose`] against the Engine at `docker_host` (e.g. a
    /// [`crate::SecondEngine`]'s), the machine's when none: the same project,
    /// file and directory on another host.
    pub fn compose_on(&self, docker_host: Option<&str>, args: &[&str]) -> Result<String, String> {
        let cli = compose_command();
        let mut command = Command::new(&cli[0]);
        if let Some(host) = docker_host {
            command.env("DOCKER_HOST", host);
        }
        let out = command
            .args(&cli[1..])
            .args(args)
            .current_dir(&self.dir)
            // The project name and file must come from the directory, as in production.
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .env("COMPOSE_ANSI", "never")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", cli.join(" ")))?;
        output_text(&format!("{} {}", cli.join(" "), args.join(" ")), out)
    }

    /// `up -d` for these services (all of them when empty); panics when it fails.
    pub fn up(&self, services: &[&str]) -> &Self {
        let mut args = vec!["up", "-d"];
        args.extend_from_slice(services);
        if let Err(e) = self.compose(&args) {
            panic!("bringing up {} failed: {e}", self.project);
        }
        self
    }

    /// `up --no-start` for these services: containers created, not started.
    pub fn create(&self, services: &[&str]) -> &Self {
        let mut args = vec!["up", "--no-start"];
        args.extend_from_slice(services);
        if let Err(e) = self.compose(&args) {
            panic!("creating {services:?} in {} failed: {e}", self.project);
        }
        self
    }

    /// The services the compose file declares, as the compose CLI reads them, sorted.
    pub fn declared_services(&self) -> Vec<String> {
        let out = self
            .compose(&["config", "--services"])
            .unwrap_or_else(|e| panic!("{e}"));
        let mut services: Vec<String> = out.lines().map(str::to_owned).collect();
        services.sort();
        services
    }

    /// The ids of the (non one-off) containers of a service, found by compose labels.
    pub fn container_ids(&self, service: &str) -> Vec<String> {
        let out = try_docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label={PROJECT_LABEL}={}", self.project),
            "--filter",
            &format!("label={SERVICE_LABEL}={service}"),
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        out.lines().map(str::to_owned).collect()
    }

    /// The one container of a service; panics when there is none or several.
    pub fn container(&self, service: &str) -> String {
        let ids = self.container_ids(service);
        assert_eq!(
            ids.len(),
            1,
            "expected one container for {service} in {}, found {ids:?}",
            self.project
        );
        ids.into_iter().next().unwrap()
    }

    /// `docker inspect -f TEMPLATE` of the service's container.
    pub fn inspect(&self, service: &str, template: &str) -> String {
        let id = self.container(service);
        try_docker(&["inspect", "-f", template, &id]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The container's name, without the leading slash.
    pub fn container_name(&self, service: &str) -> String {
        self.inspect(service, "{{.Name}}")
            .trim_start_matches('/')
            .to_owned()
    }

    pub fn started_at(&self, service: &str) -> String {
        self.inspect(service, "{{.State.StartedAt}}")
    }

    pub fn is_running(&self, service: &str) -> bool {
        self.inspect(service, "{{.State.Running}}") == "true"
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Never panic here: this runs while a failed test unwinds.
        if let Err(e) = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]) {
            eprintln!("test-support: compose down of {} failed: {e}", self.project);
        }
        // Whatever compose left behind (or could not parse): remove it by label.
        let label = format!("label={PROJECT_LABEL}={}", self.project);
        for (list, remove) in [
            (
                vec!["ps", "-aq", "--filter", &label],
                vec!["rm", "-f", "-v"],
            ),
            (
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["network", "rm"],
            ),
            (
                vec!["volume", "ls", "-q", "--filter", &label],
                vec!["volume", "rm", "-f"],
            ),
        ] {
            let ids = try_docker(&list).unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if ids.is_empty() {
                continue;
            }
            eprintln!(
                "test-support: removing leftovers of {}: {} {ids:?}",
                self.project, list[0]
            );
            let mut args = remove.clone();
            args.extend(ids);
            if let Err(e) = try_docker(&args) {
                eprintln!("test-support: {e}");
            }
        }
    }
}
