//! Invariants of the workspace's shape, checked from its files (see ARCHITECTURE.md):
//! only docker-mcp may depend on an Engine client, no plane depends on another,
//! and `config/` holds the guide's two files exactly as the guide prints them.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `[dependencies]` section of a crate's manifest, as the names it lists.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn crate_dependencies(name: &str) -> Vec<String> {
    dependencies(&read(&root().join("crates").join(name).join("Cargo.toml")))
}

#[test]
fn only_docker_mcp_can_reach_the_engine_and_no_plane_depends_on_another() {
    let engine_clients = ["bollard", "hyperlocal"];
    let planes = ["docker-mcp", "gateway", "pi-health"];
    for krate in ["audit", "core", "gateway", "pi-health", "redact"] {
        let deps = crate_dependencies(krate);
        assert!(
            !deps.is_empty() || krate == "core",
            "{krate}: no dependencies read"
        );
        for client in engine_clients {
            assert!(
                !deps.iter().any(|d| d == client),
                "{krate} depends on {client}"
            );
        }
        for plane in planes {
            assert!(
                !deps.iter().any(|d| d == plane),
                "{krate} depends on the plane {plane}"
            );
        }
    }
    let docker_mcp = crate_dependencies("docker-mcp");
    assert!(docker_mcp.iter().any(|d| d == "bollard"), "{docker_mcp:?}");
    for plane in ["gateway", "pi-health"] {
        assert!(!docker_mcp.iter().any(|d| d == plane));
    }
}

/// The YAML block that follows `heading` in the guide.
fn guide_block(guide: &str, heading: &str) -> String {
    let after = &guide[guide
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"))..];
    let start = after.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = after[start..].find("```").expect("the block's end");
    after[start..start + end].to_owned()
}

#[test]
fn config_holds_the_guides_files_verbatim() {
    let guide = read(&root().join("docs/docker-mcp-integration-guide.md"));
    for (heading, file) in [
        ("## 2) Tool Registration", "config/tool_registry.yaml"),
        ("## 3) Gateway Policy", "config/policy.yaml"),
    ] {
        assert!(
            guide_block(&guide, heading) == read(&root().join(file)),
            "{file} is not the guide's block under {heading:?}"
        );
    }
}
