"""Fixtures for the MCP interop tests: a throw-away fake ARR stack and our server.

The server under test is the `ops-copilot` binary named by $OPS_COPILOT_BIN (default:
$CARGO_TARGET_DIR/debug/ops-copilot, CARGO_TARGET_DIR defaulting to /var/tmp/ops-target).
Nothing here is skipped: a missing binary, Docker Engine or compose tool fails the tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from interop_support import ArrStack, Gateway, HttpServer, tail

REPO = Path(__file__).resolve().parents[2]
COMPOSE_SRC = REPO / "testing" / "arr-stack" / "docker-compose.yml"
BUILD_IMAGES = REPO / "testing" / "images" / "build.sh"
GUIDE_CONFIG = REPO / "config"
# What the guide's files pin, replaced by this run's docker-mcp and stack.
GUIDE_BASE_URL = "http://docker-mcp:8080"
GUIDE_FILE = "/opt/stack/docker-compose.yml"
HEALTH_TIMEOUT_S = 20.0


def _compose_cmd() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], check=False, capture_output=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    pytest.fail("neither `docker-compose` nor `docker compose` is available")


def _compose_env() -> dict[str, str]:
    env = dict(os.environ)
    # The project name must come from the directory's name.
    for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE"):
        env.pop(key, None)
    return env


@pytest.fixture(scope="session")
def ops_bin() -> Path:
    default = Path(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/ops-target")) / "debug" / "ops-copilot"
    path = Path(os.environ.get("OPS_COPILOT_BIN", str(default)))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"server binary not found at {path}: build it (cargo build) or set OPS_COPILOT_BIN")
    return path


@pytest.fixture(scope="session")
def arr_stack() -> Iterator[ArrStack]:
    """`docker-compose up -d` a copy of the fake ARR stack; always torn down afterwards."""
    info = subprocess.run(["docker", "info"], check=False, capture_output=True, text=True)
    if info.returncode != 0:
        pytest.fail(f"the Docker Engine is not reachable (docker info): {info.stderr.strip()}")
    # Idempotent and fast when the images already exist.
    subprocess.run(["bash", str(BUILD_IMAGES)], check=True)

    compose = _compose_cmd()
    env = _compose_env()
    parent = Path(tempfile.mkdtemp(prefix="ops-interop-"))
    # The compose project name is this directory's name (lowercase [a-z0-9-] already).
    project = f"octest-interop-{secrets.token_hex(4)}"
    stack_dir = parent / project
    stack_dir.mkdir()
    compose_file = stack_dir / "docker-compose.yml"
    shutil.copyfile(COMPOSE_SRC, compose_file)
    stack = ArrStack(dir=stack_dir, file=compose_file.resolve(), project=project)
    try:
        subprocess.run(
            [*compose, "up", "-d"],
            cwd=stack_dir,
            env=env,
            check=True,
            timeout=180,
        )
        yield stack
    finally:
        subprocess.run(
            [*compose, "down", "-v", "--remove-orphans", "-t", "1"],
            check=False,
            cwd=stack_dir,
            env=env,
            timeout=180,
        )
        shutil.rmtree(parent, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health_status(base_url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture(scope="session")
def server_env() -> dict[str, str]:
    """Environment for the server: ours (DOCKER_HOST and friends) plus some logging."""
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "info")
    env.setdefault("RUST_BACKTRACE", "1")
    env.pop("COMPOSE_FILE", None)
    return env


@pytest.fixture(scope="session")
def http_server(ops_bin: Path, arr_stack: ArrStack, server_env: dict[str, str]) -> Iterator[HttpServer]:
    """`ops-copilot docker-mcp --compose-file F --listen 127.0.0.1:PORT`, ready on /health."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = arr_stack.dir.parent / "server-http.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [
                str(ops_bin),
                "docker-mcp",
                "--compose-file",
                str(arr_stack.file),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            cwd=arr_stack.dir,
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode} before /health; log:\n{tail(log)}")
            status = _health_status(base_url)
            if status == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"GET {base_url}/health not 200 within {HEALTH_TIMEOUT_S}s (last: {status}); log:\n{tail(log)}")
        yield HttpServer(base_url=base_url, mcp_url=f"{base_url}/mcp", log=log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _replaced(text: str, old: str, new: str) -> str:
    # A change in config/ must not silently make the gateway tests meaningless.
    assert old in text, f"{old!r} not found in the guide's file"
    return text.replace(old, new)


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before /health; log:\n{tail(log)}")
        status = _health_status(base_url)
        if status == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"GET {base_url}/health not 200 within {HEALTH_TIMEOUT_S}s (last: {status}); log:\n{tail(log)}")


@pytest.fixture
def start_gateway(
    ops_bin: Path, arr_stack: ArrStack, http_server: HttpServer, server_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Gateway]]:
    """Starts `ops-copilot gateway` (the guide's files, pointed at this run's docker-mcp
    and stack, plus a role `agent` that may request but never approve) with tokens for
    alice (admin) and robot (agent); `start_gateway(wait_seconds=N)` adds
    `--mcp-approval-wait-seconds N`. Stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(wait_seconds: int | None = None) -> Gateway:
        root = tmp_path / f"gateway-{len(procs)}"
        root.mkdir()
        registry = root / "tool_registry.yaml"
        policy = root / "policy.yaml"
        registry.write_text(
            _replaced((GUIDE_CONFIG / "tool_registry.yaml").read_text(), GUIDE_BASE_URL, http_server.base_url)
        )
        policy_text = _replaced((GUIDE_CONFIG / "policy.yaml").read_text(), GUIDE_FILE, str(arr_stack.file))
        policy.write_text(_replaced(policy_text, "\nroles:\n", "\nroles:\n  agent:\n    can_approve: []\n"))
        paths = ["--registry", str(registry), "--policy", str(policy), "--data-dir", str(root / "data")]
        tokens = {}
        for name, role in (("alice", "admin"), ("robot", "agent")):
            made = subprocess.run(
                [str(ops_bin), "gateway", "token", "add", name, "--role", role, *paths],
                env=server_env,
                check=True,
                capture_output=True,
                text=True,
            )
            tokens[name] = made.stdout.strip()
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = root / "gateway.log"
        args = [str(ops_bin), "gateway", *paths, "--listen", f"127.0.0.1:{port}"]
        if wait_seconds is not None:
            args += ["--mcp-approval-wait-seconds", str(wait_seconds)]
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                args, env=server_env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )
        procs.append(proc)
        _wait_healthy(proc, base_url, log)
        return Gateway(base_url=base_url, mcp_url=f"{base_url}/mcp", tokens=tokens, log=log)

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
