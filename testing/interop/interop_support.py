"""Types and helpers shared by conftest.py and the interop tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class ArrStack:
    """A running copy of testing/arr-stack under a unique project name."""

    dir: Path
    file: Path  # absolute path of its docker-compose.yml
    project: str


@dataclasses.dataclass(frozen=True)
class HttpServer:
    base_url: str  # http://127.0.0.1:PORT
    mcp_url: str  # http://127.0.0.1:PORT/mcp
    log: Path


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


@dataclasses.dataclass(frozen=True)
class Gateway:
    """A running `ops-copilot gateway` in front of the docker-mcp of [`HttpServer`]."""

    base_url: str  # http://127.0.0.1:PORT
    mcp_url: str  # http://127.0.0.1:PORT/mcp
    tokens: dict[str, str]  # name -> bearer token: "alice" (admin), "robot" (agent)
    log: Path
