//! The audit disk full, then read-only, under a running gateway: its data
//! directory (audit log and state) on a small file system the test mounts (we run
//! as root; when it cannot mount, the test fails and says why). Mutations are
//! refused with 503 before anything runs, and so are reads once the store has
//! failed (the audit writer's documented degraded mode).
//!
//! - Full (a 4 MiB tmpfs, filled): it all works again by itself once there is space.
//! - Read-only: the kernel refuses to remount a file system read-only while files
//!   on it are open for writing (EBUSY), so a running gateway only ever meets a
//!   read-only disk when the file system turns itself read-only after an error.
//!   That is what the test does: an ext4 image mounted `errors=remount-ro`, with an
//!   error raised through ext4's `trigger_fs_error`. Such a file system stays
//!   read-only until it is unmounted and checked, which needs the gateway stopped:
//!   after that, the gateway starts and works on the same, intact, audit log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{assert_restarts_once, decisions_of};
use crate::support::{ADMIN, Env, Options, STANDARD};

/// Runs a command the file system set-up needs: Ok, or what failed and why.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        ))
    }
}

/// A file system mounted by the test on a directory; unmounted (lazily) when dropped.
struct Mounted {
    dir: PathBuf,
    /// The loop device an image is mounted through, detached after the unmount.
    loop_device: Option<String>,
}

#[track_caller]
fn must(what: &str, result: Result<(), String>) {
    if let Err(why) = result {
        panic!(
            "THE AUDIT-DISK FAULT TEST CANNOT {what}: {why}\n\
             Run the suite as root (or with CAP_SYS_ADMIN, loop devices and ext4) so that \
             it can mount its small file systems."
        );
    }
}

impl Mounted {
    /// A tmpfs of `size` (as mount's `size=`) on `dir`.
    fn tmpfs(dir: &Path, size: &str) -> Self {
        let target = dir.display().to_string();
        must(
            "MOUNT A TMPFS",
            run(
                "mount",
                &[
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size}"),
                    "tmpfs",
                    &target,
                ],
            ),
        );
        Self {
            dir: dir.to_path_buf(),
            loop_device: None,
        }
    }

    /// A new ext4 image of 16 MiB at `image`, mounted on `dir` so that an error
    /// turns it read-only.
    fn ext4(dir: &Path, image: &Path) -> Self {
        let image_path = image.display().to_string();
        must(
            "MAKE AN EXT4 IMAGE",
            run("truncate", &["-s", "16M", &image_path]),
        );
        must(
            "MAKE AN EXT4 IMAGE",
            run("mkfs.ext4", &["-q", "-F", &image_path]),
        );
        let mut mounted = Self {
            dir: dir.to_path_buf(),
            loop_device: None,
        };
        mounted.mount_image(image);
        mounted
    }

    /// Through a loop device of its own each time: `mount -o loop` would reuse one
    /// still attached to the image, whose file system may outlive our unmount (a
    /// container started meanwhile can hold a copy of the mount) in its read-only
    /// state.
    fn mount_image(&mut self, image: &Path) {
        let output = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .output();
        let device = match output {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            other => panic!(
                "THE AUDIT-DISK FAULT TEST CANNOT ATTACH A LOOP DEVICE: {other:?}\n\
                 Run the suite as root, with loop devices."
            ),
        };
        self.loop_device = Some(device.clone());
        let target = self.dir.display().to_string();
        must(
            "MOUNT AN EXT4 IMAGE",
            run("mount", &["-o", "errors=remount-ro", &device, &target]),
        );
    }

    fn detach(&mut self) {
        if let Some(device) = self.loop_device.take() {
            let _ = Command::new("losetup").arg("-d").arg(&device).status();
        }
    }

    /// Raises an ext4 error on it (`errors=remount-ro` makes it read-only at once).
    fn raise_error(&self) {
        let device = self
            .loop_device
            .as_deref()
            .expect("an ext4 image is mounted");
        let name = device.rsplit('/').next().unwrap_or_default();
        let trigger = format!("/sys/fs/ext4/{name}/trigger_fs_error");
        must(
            "RAISE AN EXT4 ERROR",
            std::fs::write(&trigger, "1").map_err(|e| format!("{trigger}: {e}")),
        );
    }

    /// Unmounts it (nothing may hold files on it), checks and repairs the image,
    /// and mounts it again.
    fn check_and_remount(&mut self, image: &Path) {
        must("UNMOUNT", run("umount", &[&self.dir.display().to_string()]));
        self.detach();
        // e2fsck: 0 clean, 1 errors corrected.
        let fsck = Command::new("e2fsck").arg("-fy").arg(image).output();
        assert!(
            fsck.as_ref()
                .is_ok_and(|o| matches!(o.status.code(), Some(0 | 1))),
            "e2fsck -fy {}: {fsck:?}",
            image.display()
        );
        self.mount_image(image);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        // Detached once the lazy unmount lets go of it.
        self.detach();
    }
}

/// Moves the env's data directory onto a file system `mount` mounts on the
/// (then empty) directory, with the gateway stopped meanwhile.
async fn move_data_dir(env: &mut Env, mount: impl FnOnce(&Path) -> Mounted) -> Mounted {
    env.stop_gateway();
    let before = env.dir.join("data-before");
    std::fs::rename(&env.data_dir, &before).expect("move the data directory");
    std::fs::create_dir(&env.data_dir).expect("a new data directory");
    let mounted = mount(&env.data_dir);
    for entry in std::fs::read_dir(&before).expect("the old data directory") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), env.data_dir.join(entry.file_name()))
            .expect("copy the data directory");
    }
    env.start_gateway().await;
    works_again(env, "on its own file system").await;
    mounted
}

/// Fills the file system of `dir` with `dir/filler` until it refuses more.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&chunk).and_then(|()| file.sync_all()) {
            assert_eq!(
                e.raw_os_error(),
                Some(libc::ENOSPC),
                "filling the tmpfs: {e}"
            );
            return path;
        }
    }
}

/// A mutation (request, then self-approval) and a read while the disk is broken:
/// all refused with 503 (the approval or the audit record could not be stored,
/// each said plainly), sonarr untouched.
async fn refused_while_broken(env: &Env, how: &str) {
    let before = env.stack.started_at("sonarr");
    for approved in [false, true] {
        let reply = if approved {
            env.call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
                .await
        } else {
            env.call(STANDARD, "compose_restart", &env.restart_args("sonarr"))
                .await
        };
        assert_eq!(
            reply.status.as_u16(),
            503,
            "{how}, approved={approved}: {}",
            reply.body
        );
        let code = reply.body["code"].as_str().unwrap_or_default();
        assert!(
            ["state_unavailable", "audit_unavailable"].contains(&code),
            "{how}, approved={approved}: {}",
            reply.body
        );
        assert!(
            reply.detail().starts_with("not "),
            "{how}: the reason says nothing ran: {}",
            reply.body
        );
    }
    let read = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    assert_eq!(read.status.as_u16(), 503, "{how}: a read: {}", read.body);
    assert_eq!(
        read.body["code"], "audit_unavailable",
        "{how}: {}",
        read.body
    );
    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "{how}: sonarr restarted"
    );
}

/// Reads, then a restart, work again.
async fn works_again(env: &Env, how: &str) {
    let read = env.call(STANDARD, "compose_ps", &env.ps_args()).await;
    assert_eq!(read.status.as_u16(), 200, "{how}: a read: {}", read.body);
}

/// A restart, requested and approved after the fault is gone, runs once and is
/// the only one in the log; the log verifies.
async fn a_restart_runs_once(env: &Env) {
    let id = assert_restarts_once(env).await;
    assert_eq!(
        decisions_of(env, &id).await,
        ["need_approval", "approved", "executed"]
    );
    let approved = env
        .audit(ADMIN, "tool=compose_restart&decision=approved")
        .await;
    assert_eq!(approved.len(), 1, "one approved record: {approved:?}");
}

fn outside_data_dir() -> Options {
    // The tokens stay readable whatever happens to the data directory.
    Options {
        tokens_outside_data_dir: true,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_disk_refuses_with_503_runs_nothing_and_recovers_by_itself() {
    let mut env = Env::start("gw-fault-full", &["sonarr"], outside_data_dir()).await;
    let _disk = move_data_dir(&mut env, |dir| Mounted::tmpfs(dir, "4m")).await;

    let filler = fill(&env.data_dir);
    refused_while_broken(&env, "full").await;
    std::fs::remove_file(&filler).expect("remove the filler");
    works_again(&env, "space again").await;
    a_restart_runs_once(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_audit_disk_refuses_with_503_runs_nothing_and_keeps_the_log_intact() {
    let mut env = Env::start("gw-fault-ro", &["sonarr"], outside_data_dir()).await;
    let image = env.dir.join("data.ext4");
    let mut disk = move_data_dir(&mut env, |dir| Mounted::ext4(dir, &image)).await;
    env.call(STANDARD, "compose_logs", &env.logs_args("sonarr", 50))
        .await
        .expect(200);

    disk.raise_error();
    refused_while_broken(&env, "read-only").await;
    // Still refusing, and still answering (no hang, no crash).
    refused_while_broken(&env, "still read-only").await;

    env.stop_gateway();
    disk.check_and_remount(&image);
    env.start_gateway().await;
    works_again(&env, "checked and mounted again").await;
    a_restart_runs_once(&env).await;
}
