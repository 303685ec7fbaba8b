//! Which configuration the operator commands use: given `--data-dir D`, `gateway
//! token add` and `policy check` use `D/config/` (what `ops-copilot all` wrote and
//! serves) when it exists, from any working directory, and the shipped `config/` of
//! the working directory otherwise. No Docker needed.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{bin_command, output_text};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin_command()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run ops-copilot")
}

/// A data directory whose config/ is the shipped one plus a role `operator`, which the
/// shipped config/ does not define.
fn data_dir_with_operator(root: &Path) -> PathBuf {
    let data = root.join("data");
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let shipped = repo_root().join("config");
    std::fs::copy(
        shipped.join("tool_registry.yaml"),
        config.join("tool_registry.yaml"),
    )
    .unwrap();
    let policy = std::fs::read_to_string(shipped.join("policy.yaml")).unwrap();
    assert!(
        policy.contains("\nroles:\n"),
        "the shipped policy changed shape"
    );
    std::fs::write(
        config.join("policy.yaml"),
        policy.replacen(
            "\nroles:\n",
            "\nroles:\n  operator:\n    can_approve: []\n",
            1,
        ),
    )
    .unwrap();
    data
}

#[test]
fn token_add_checks_the_role_against_the_data_dirs_config_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with_operator(dir.path());
    let data_arg = data.to_str().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    // From a directory with no config/ at all, and from the repository's root, whose
    // config/ has no `operator`: both use D/config.
    for (name, cwd) in [("bob", elsewhere.clone()), ("carol", repo_root())] {
        let added = run_in(
            &cwd,
            &[
                "gateway",
                "token",
                "add",
                name,
                "--role",
                "operator",
                "--data-dir",
                data_arg,
            ],
        );
        assert!(
            added.status.success(),
            "from {}: {}",
            cwd.display(),
            output_text(&added)
        );
        let token = String::from_utf8_lossy(&added.stdout).trim().to_owned();
        assert!(token.starts_with("oct_"), "stdout is the token: {token:?}");
    }
    let tokens = std::fs::read_to_string(data.join("tokens.yaml")).unwrap();
    assert!(tokens.contains("name: bob") && tokens.contains("name: carol"));

    // An unknown role is refused, naming the policy it was checked against.
    let refused = run_in(
        &elsewhere,
        &[
            "gateway",
            "token",
            "add",
            "dave",
            "--role",
            "nope",
            "--data-dir",
            data_arg,
        ],
    );
    let text = output_text(&refused);
    assert!(!refused.status.success(), "{text}");
    let policy = data.join("config/policy.yaml");
    assert!(
        text.contains(&policy.display().to_string()) && text.contains("operator"),
        "{text}"
    );
}

#[test]
fn policy_check_checks_the_data_dirs_config_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with_operator(dir.path());
    let checked = run_in(
        dir.path(),
        &["policy", "check", "--data-dir", data.to_str().unwrap()],
    );
    let text = output_text(&checked);
    assert!(checked.status.success(), "{text}");
    assert!(
        text.contains("3 roles"),
        "the data dir's policy has 3 roles: {text}"
    );
    assert!(
        text.contains(&data.join("config/policy.yaml").display().to_string()),
        "{text}"
    );

    // In the repository's root with a data directory that has no config/: the shipped files.
    let empty = dir.path().join("empty");
    let shipped = run_in(
        &repo_root(),
        &["policy", "check", "--data-dir", empty.to_str().unwrap()],
    );
    let text = output_text(&shipped);
    assert!(shipped.status.success(), "{text}");
    assert!(
        text.contains("2 roles"),
        "the shipped policy has 2 roles: {text}"
    );
}

#[test]
fn no_configuration_anywhere_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        vec!["policy", "check", "--data-dir", data.to_str().unwrap()],
        vec![
            "gateway",
            "token",
            "add",
            "bob",
            "--role",
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ] {
        let output = run_in(dir.path(), &args);
        let text = output_text(&output);
        assert!(!output.status.success(), "{text}");
        assert!(
            text.contains(&data.join("config/tool_registry.yaml").display().to_string())
                && text.contains("--data-dir")
                && text.contains("--registry"),
            "says where it looked and what to give: {text}"
        );
    }
    assert!(!data.join("tokens.yaml").exists(), "nothing was written");
}

/// notify.yaml next to policy.yaml: optional; checked by `policy check`; a bad one
/// stops the gateway's start with file:line, before it listens.
#[test]
fn a_bad_notify_yaml_is_refused_with_its_line_by_policy_check_and_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with_operator(dir.path());
    let data_arg = data.to_str().unwrap();
    let notify = data.join("config/notify.yaml");
    std::fs::write(
        &notify,
        "targets:\n  - webhook: { url: http://hooks.lan/x }\n  - ntfy: { url: http://ntfy.lan/t, priority: 9 }\n",
    )
    .unwrap();
    let where_ = format!("{}:3:", notify.display());
    let checked = run_in(dir.path(), &["policy", "check", "--data-dir", data_arg]);
    let text = output_text(&checked);
    assert!(!checked.status.success(), "{text}");
    assert!(
        text.contains(&where_) && text.contains("between 1 (min) and 5 (max)"),
        "{text}"
    );
    let started = run_in(
        dir.path(),
        &["gateway", "--data-dir", data_arg, "--listen", "127.0.0.1:0"],
    );
    let text = output_text(&started);
    assert!(!started.status.success(), "{text}");
    assert!(text.contains(&where_), "{text}");

    std::fs::write(
        &notify,
        "targets:\n  - webhook: { url: http://hooks.lan/x }\n",
    )
    .unwrap();
    let checked = run_in(dir.path(), &["policy", "check", "--data-dir", data_arg]);
    let text = output_text(&checked);
    assert!(checked.status.success(), "{text}");
    assert!(
        text.contains(": 1 notification target") && !text.contains("1 notification targets"),
        "{text}"
    );
}
