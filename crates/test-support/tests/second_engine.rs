//! The SecondEngine fixture against the real machine: it runs containers of its own,
//! the main Engine keeps working beside it, two run at once, and dropping one leaves
//! no bridge, mount, process or directory behind.

use std::time::Duration;

use test_support::{
    SecondEngine, arr_image, docker, ensure_images, link_exists, mounts_under, wait_for_sync,
};

#[test]
fn second_engine_runs_containers_beside_the_main_engine_and_cleans_up() {
    ensure_images();
    let image = arr_image("sonarr");

    let one = SecondEngine::start("fixture-a");
    let two = SecondEngine::start("fixture-b");
    assert_ne!(one.socket(), two.socket());
    assert_ne!(one.bridge(), two.bridge());
    assert_ne!(one.address(), two.address());
    assert!(link_exists(&one.bridge()), "{} exists", one.bridge());

    // Its own Engine: a data root of its own, and no image until it is loaded.
    let root = one.docker(&["info", "--format", "{{.DockerRootDir}}"]);
    assert!(
        root.starts_with(&one.dir().display().to_string()),
        "data root {root} is under {}",
        one.dir().display()
    );
    assert!(
        one.try_docker(&["image", "inspect", &image]).is_err(),
        "a fresh engine holds no image"
    );
    one.load_images(&[&image]);
    let said = one.docker(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "echo from-the-second-engine",
    ]);
    assert_eq!(said, "from-the-second-engine");

    // A container on its default network gets an address on its own bridge.
    let addr = one.docker(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "ip -4 -o addr show eth0 | awk '{print $4}'",
    ]);
    let prefix = one.address().to_string();
    let prefix = &prefix[..prefix.rfind('.').unwrap() + 1];
    assert!(
        addr.starts_with(prefix),
        "container address {addr} in {prefix}0/24"
    );

    // A long-running container, so that the drop has something to stop and unmount.
    one.docker(&["run", "-d", "--name", "lingering", &image, "sleep", "600"]);
    assert!(
        !mounts_under(one.dir()).is_empty(),
        "a running container mounts its root filesystem under the data root"
    );

    // The main Engine still runs containers on its default network.
    let main = docker(&["run", "--rm", &image, "sh", "-c", "echo main-engine-ok"]);
    assert_eq!(main, "main-engine-ok");
    assert!(
        link_exists("docker0"),
        "the main Engine's docker0 is still there"
    );

    let dir = one.dir().to_path_buf();
    let bridge = one.bridge();
    drop(one);
    assert!(!link_exists(&bridge), "{bridge} is deleted");
    assert!(
        mounts_under(&dir).is_empty(),
        "nothing left mounted under {}",
        dir.display()
    );
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(
        !leftover_processes(&dir),
        "no process names {} any more",
        dir.display()
    );

    // The other one is untouched, and the main Engine still works.
    assert_eq!(two.docker(&["info", "--format", "{{.Containers}}"]), "0");
    assert_eq!(
        docker(&["run", "--rm", &image, "echo", "still-ok"]),
        "still-ok"
    );
}

#[test]
fn a_stopped_second_engine_stops_answering_and_its_networks_and_swarm_gateway_bridges_are_removed()
{
    ensure_images();
    let mut engine = SecondEngine::start("fixture-c");
    engine.swarm_init();
    assert!(
        link_exists(&engine.gateway_bridge()),
        "swarm_init made its own docker_gwbridge interface {}",
        engine.gateway_bridge()
    );
    assert_eq!(
        engine.docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
        "active"
    );
    // A network it made (as compose's `_default`): its interface, holding one
    // of the machine's default address pools, must not outlive the daemon.
    let id = engine.docker(&["network", "create", "made-here"]);
    let network_link = format!("br-{}", &id[..12]);
    assert!(link_exists(&network_link), "{network_link} exists");
    engine.stop();
    assert!(!engine.running());
    assert!(
        !link_exists(&network_link),
        "{network_link} is deleted when the daemon stops"
    );
    wait_for_sync(
        "the stopped daemon's socket to refuse",
        Duration::from_secs(10),
        || match engine.try_docker(&["version", "--format", "{{.Server.Version}}"]) {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("still answers: {v}")),
        },
    );
    let gateway = engine.gateway_bridge();
    let dir = engine.dir().to_path_buf();
    drop(engine);
    assert!(!link_exists(&gateway), "{gateway} is deleted");
    assert!(!dir.exists());
}

fn leftover_processes(dir: &std::path::Path) -> bool {
    let dir = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).contains(&dir))
                .unwrap_or(false)
        })
}
