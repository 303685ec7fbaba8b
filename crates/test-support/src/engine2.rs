//! A second Docker Engine on this machine, for tests that need another host or a
//! Swarm, never the machine's main Engine.
//!
//! [`SecondEngine::start`] runs a `dockerd` of its own in a fresh directory: its own
//! `--data-root`, `--exec-root`, `--pidfile` and unix socket, an empty `--config-file`
//! (the machine's `/etc/docker/daemon.json` sets a data root), `--iptables=false
//! --ip-masq=false`, and a bridge of its own (`--bridge`). Never `--bridge none`: a
//! daemon started so deletes the main Engine's `docker0`.
//!
//! Each instance owns a bridge `oceNNNN` on `10.(200+N/256).(N%256).1/24` and, once it
//! joins a Swarm through [`SecondEngine::swarm_init`] or [`SecondEngine::swarm_join`],
//! a gateway bridge `ocgNNNN` on `10.(225+N/256).(N%256).1/24` (its `docker_gwbridge`
//! network, under a name of its own so that two daemons in a Swarm do not share one).
//! `N` is claimed with `ip link add`, which the kernel refuses for a name that exists:
//! two fixtures, in one process or in two, never get the same one.
//!
//! Dropping it stops the daemon (SIGTERM, SIGKILL after a bound, then any containerd
//! or shim still running from its directory), unmounts what is left under its
//! directory, deletes its bridges (and a `docker_gwbridge` it made itself) and the
//! directory. Stopping it deletes the `br-ID` interfaces of the networks it made
//! (the kernel keeps them, and their subnets, after the daemon exits).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{output_text, unique_suffix};

/// How long the daemon has to answer `_ping` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd daemon has to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(25);
/// Bridge numbers: `N` in `0..SLOTS` (25 * 256 /24 subnets in each range).
const SLOTS: u32 = 25 * 256;

/// A second `dockerd` with its own directory, socket and bridge; see the module doc.
pub struct SecondEngine {
    name: String,
    dir: PathBuf,
    slot: u32,
    daemon: Option<Child>,
    log: PathBuf,
}

impl SecondEngine {
    /// Starts the daemon and waits until its socket answers `_ping`. `name` (short,
    /// `[a-z0-9-]`) names its directory and says which fixture a panic is about.
    #[track_caller]
    pub fn start(name: &str) -> Self {
        crate::require_docker();
        assert!(
            !name.is_empty()
                && name.len() <= 16
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "a SecondEngine name is short lowercase [a-z0-9-]: {name:?}"
        );
        // Short: containerd's socket lives under the exec root, and a unix socket's
        // path is at most 107 bytes.
        let dir = PathBuf::from(format!("/tmp/oce-{name}-{}", unique_suffix()));
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let config = dir.join("daemon.json");
        std::fs::write(&config, "{}\n").expect("the empty daemon config is written");
        let slot = claim_bridge();
        let log = dir.join("dockerd.log");
        let mut engine = Self {
            name: name.to_owned(),
            dir,
            slot,
            daemon: None,
            log,
        };
        let log = std::fs::File::create(&engine.log).expect("the daemon log is created");
        let mut command = Command::new("dockerd");
        command
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(engine.dir.join("data"))
            .arg("--exec-root")
            .arg(engine.dir.join("exec"))
            .arg("--pidfile")
            .arg(engine.dir.join("docker.pid"))
            .arg("-H")
            .arg(engine.docker_host())
            .args(["--iptables=false", "--ip-masq=false", "--bridge"])
            .arg(engine.bridge())
            // Containers get 2 s to stop when the daemon does (busybox `sh` as PID 1
            // ignores SIGTERM: the default would be 15 s per stop).
            .args(["--shutdown-timeout", "2"])
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dockerd for {name:?}: {e}"));
        engine.daemon = Some(child);
        engine.wait_until_ready();
        engine
    }

    /// The path of its unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix://` and the socket's path: what `DOCKER_HOST` says for it.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The name of its bridge (`--bridge`), the default network's interface.
    pub fn bridge(&self) -> String {
        format!("oce{:04x}", self.slot)
    }

    /// Its bridge's address (the default network's gateway), this "host"'s own
    /// address: what a Swarm node of it advertises and listens on.
    pub fn address(&self) -> Ipv4Addr {
        let (a, b) = subnet(200, self.slot);
        Ipv4Addr::new(10, a, b, 1)
    }

    /// The interface of its `docker_gwbridge` network, once it is in a Swarm.
    pub fn gateway_bridge(&self) -> String {
        format!("ocg{:04x}", self.slot)
    }

    /// Its directory (data root, exec root, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies images from the main Engine into this one (`docker save | docker load`).
    #[track_caller]
    pub fn load_images(&self, images: &[&str]) {
        assert!(!images.is_empty(), "load_images needs at least one image");
        let mut save = Command::new("docker")
            .arg("save")
            .args(images)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker save starts");
        let stdout = save.stdout.take().expect("docker save's stdout");
        let load = self
            .command()
            .arg("load")
            .stdin(stdout)
            .output()
            .expect("docker load runs");
        let saved = save.wait_with_output().expect("docker save runs");
        if !saved.status.success() {
            panic!(
                "docker save {} (main Engine) failed: {}",
                images.join(" "),
                String::from_utf8_lossy(&saved.stderr).trim()
            );
        }
        if let Err(why) = output_text(&format!("docker load into {}", self.name), load) {
            panic!("{why}");
        }
    }

    /// Runs the docker CLI against this Engine; trimmed stdout, or panics with stderr.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> String {
        self.try_docker(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs the docker CLI against this Engine: trimmed stdout, or the error text.
    pub fn try_docker(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| format!("cannot run docker {}: {e}", args.join(" ")))?;
        output_text(
            &format!("docker -H {} {}", self.docker_host(), args.join(" ")),
            out,
        )
    }

    /// Makes it a single-node Swarm manager: first its `docker_gwbridge` network with
    /// an interface of its own ([`Self::gateway_bridge`]), then `docker swarm init`,
    /// advertised and listening on its own address. Returns the worker join token.
    #[track_caller]
    pub fn swarm_init(&self) -> String {
        self.create_gateway_network();
        let addr = self.address().to_string();
        self.docker(&[
            "swarm",
            "init",
            "--advertise-addr",
            &addr,
            "--listen-addr",
            &format!("{addr}:2377"),
        ]);
        self.docker(&["swarm", "join-token", "-q", "worker"])
    }

    /// Joins `manager`'s Swarm as a worker, advertised and listening on its own
    /// address (the gossip and data ports are the same on every node: each node needs
    /// an address of its own).
    #[track_caller]
    pub fn swarm_join(&self, manager: &SecondEngine, token: &str) {
        self.create_gateway_network();
        let addr = self.address().to_string();
        self.docker(&[
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            &addr,
            "--listen-addr",
            &format!("{addr}:2377"),
            &format!("{}:2377", manager.address()),
        ]);
    }

    fn create_gateway_network(&self) {
        let (a, b) = subnet(225, self.slot);
        self.docker(&[
            "network",
            "create",
            "--subnet",
            &format!("10.{a}.{b}.0/24"),
            "--gateway",
            &format!("10.{a}.{b}.1"),
            "--opt",
            &format!("com.docker.network.bridge.name={}", self.gateway_bridge()),
            "--opt",
            "com.docker.network.bridge.enable_icc=false",
            "--opt",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            "docker_gwbridge",
        ]);
    }

    /// Whether its daemon is running.
    pub fn running(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Stops the daemon (the host goes down): SIGTERM, and SIGKILL if it has not
    /// exited within a bound. Its containers stop with it; its socket stops answering;
    /// the interfaces of the networks it made are deleted.
    pub fn stop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let running = child.try_wait().ok().flatten().is_none();
        // Asked while it still answers: the interfaces of the networks it made.
        let links = if running {
            self.network_links()
        } else {
            Vec::new()
        };
        if running {
            signal("TERM", child.id());
            let deadline = Instant::now() + STOP_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if child.try_wait().ok().flatten().is_none() {
                eprintln!(
                    "SecondEngine {}: dockerd did not exit within {STOP_TIMEOUT:?} of SIGTERM; killing it",
                    self.name
                );
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        // A killed daemon leaves its containerd and shims (and their containers)
        // behind: they all name this directory on their command line.
        self.kill_leftovers();
        // The kernel keeps a network's bridge after its daemon exits, with its
        // subnet: one of the default address pools every Engine on this machine
        // draws from (31 in all), so each one left behind is one fewer network
        // any Engine here can create.
        for link in links {
            if link_exists(&link) {
                let _ = Command::new("ip").args(["link", "del", &link]).status();
            }
        }
    }

    /// The `br-ID` interfaces of its bridge networks (a compose project's
    /// `_default`, ...): not its own `--bridge` or a network given an interface
    /// name (those are [`Self::bridge`] and [`Self::gateway_bridge`]).
    fn network_links(&self) -> Vec<String> {
        let Ok(ids) = self.try_docker(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            "driver=bridge",
        ]) else {
            return Vec::new();
        };
        ids.lines()
            .filter(|id| id.len() >= 12)
            .filter(|id| {
                self.try_docker(&[
                    "network",
                    "inspect",
                    "-f",
                    "{{index .Options \"com.docker.network.bridge.name\"}}",
                    id,
                ])
                .is_ok_and(|name| name.is_empty() || name == "<no value>")
            })
            .map(|id| format!("br-{}", &id[..12]))
            .collect()
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn command(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_HOST", self.docker_host());
        command
    }

    #[track_caller]
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .daemon
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                panic!(
                    "SecondEngine {}: dockerd exited with {status} before its socket answered\n\
                     --- the daemon's log ({}) ---\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail(40)
                );
            }
            let last = match ping(&self.socket()) {
                Ok(()) => return,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                panic!(
                    "SecondEngine {}: {} did not answer _ping within {START_TIMEOUT:?} (last: {last})\n\
                     --- the daemon's log ({}) ---\n{}",
                    self.name,
                    self.socket().display(),
                    self.log.display(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs every process whose command line names this directory (containerd,
    /// shims), and their descendants (the containers' processes).
    fn kill_leftovers(&self) {
        let dir = self.dir.to_string_lossy().into_owned();
        let procs = processes();
        // Only the Engine's own programs: a client of this Engine (docker-mcp with
        // `--docker-host unix://DIR/docker.sock`) names the directory too.
        let engine_program = |cmdline: &str| {
            let program = cmdline.split_whitespace().next().unwrap_or_default();
            let name = program.rsplit('/').next().unwrap_or_default();
            ["dockerd", "containerd", "docker-proxy", "runc"]
                .iter()
                .any(|engine| name.starts_with(engine))
        };
        let mut doomed: Vec<u32> = procs
            .iter()
            .filter(|p| p.cmdline.contains(&dir) && engine_program(&p.cmdline))
            .map(|p| p.pid)
            .collect();
        let mut i = 0;
        while i < doomed.len() {
            let parent = doomed[i];
            for p in &procs {
                if p.ppid == parent && !doomed.contains(&p.pid) {
                    doomed.push(p.pid);
                }
            }
            i += 1;
        }
        for pid in doomed {
            signal("KILL", pid);
        }
    }

    /// Lazily unmounts everything under its directory, deepest first; bounded.
    fn unmount_all(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut mounts = mounts_under(&self.dir);
            if mounts.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "SecondEngine {}: still mounted after 10 s: {mounts:?}",
                    self.name
                );
                return;
            }
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for mount in mounts {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(&mount)
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// Whether `docker_gwbridge` is this daemon's with the default interface name.
    fn made_default_gwbridge(&self) -> bool {
        self.try_docker(&[
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.bridge.name\"}}",
            "docker_gwbridge",
        ])
        .is_ok_and(|name| name.is_empty() || name == "docker_gwbridge")
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let default_gwbridge = self.running() && self.made_default_gwbridge();
        self.stop();
        self.unmount_all();
        let mut links = vec![self.bridge(), self.gateway_bridge()];
        if default_gwbridge {
            links.push("docker_gwbridge".to_owned());
        }
        for link in links {
            if link_exists(&link) {
                let _ = Command::new("ip").args(["link", "del", &link]).status();
            }
        }
        if mounts_under(&self.dir).is_empty() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!(
                    "SecondEngine {}: cannot remove {}: {e}",
                    self.name,
                    self.dir.display()
                );
            }
        } else {
            eprintln!(
                "SecondEngine {}: {} left in place, still mounted",
                self.name,
                self.dir.display()
            );
        }
        let _ = std::io::stderr().flush();
    }
}

/// The two middle octets of slot `n`'s /24 in the range starting at `10.{base}`.
fn subnet(base: u8, n: u32) -> (u8, u8) {
    (base + (n / 256) as u8, (n % 256) as u8)
}

/// Creates, addresses and brings up a bridge `oceNNNN`, trying slots from a random
/// one; returns the slot.
#[track_caller]
fn claim_bridge() -> u32 {
    let start = u32::from_str_radix(&unique_suffix()[..6], 16).unwrap_or_default() % SLOTS;
    let taken = addresses_in_use();
    let mut last = String::new();
    for i in 0..64 {
        let slot = (start + i * 97) % SLOTS;
        let (a, b) = subnet(200, slot);
        let (ga, gb) = subnet(225, slot);
        if taken.iter().any(|t| {
            t.starts_with(&format!("10.{a}.{b}.")) || t.starts_with(&format!("10.{ga}.{gb}."))
        }) {
            continue;
        }
        let name = format!("oce{slot:04x}");
        let out = Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .output()
            .expect("the ip command runs (apt-get install iproute2)");
        if !out.status.success() {
            last = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            continue;
        }
        let addr = format!("10.{a}.{b}.1/24");
        for args in [
            &["addr", "add", &addr, "dev", &name][..],
            &["link", "set", &name, "up"][..],
        ] {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            if !out.status.success() {
                let _ = Command::new("ip").args(["link", "del", &name]).status();
                panic!(
                    "`ip {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        return slot;
    }
    panic!("no free bridge slot for a SecondEngine (needs root for `ip link add`); last: {last}")
}

/// Every IPv4 address on this machine's interfaces.
fn addresses_in_use() -> Vec<String> {
    Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|line| {
                    let mut words = line.split_whitespace();
                    words.find(|w| *w == "inet")?;
                    words.next().map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a network interface of that name exists.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The mount points under `dir` (as `/proc/self/mountinfo` lists them).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let whole = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount)
        .filter(|point| point.starts_with(&prefix) || *point == whole)
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space...).
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /_ping` over the unix socket: `Ok` on `200 OK`.
fn ping(socket: &Path) -> Result<(), String> {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    let status = reply.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("answered {status:?}"))
    }
}

struct Proc {
    pid: u32,
    ppid: u32,
    cmdline: String,
}

fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
                .unwrap_or_default();
            Some(Proc { pid, ppid, cmdline })
        })
        .collect()
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}
