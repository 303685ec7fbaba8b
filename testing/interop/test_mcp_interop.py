"""Interop: the official MCP Python SDK (2.x) against `ops-copilot docker-mcp`.

Both transports (Streamable HTTP at /mcp, and stdio), each driven two ways:
- the low-level `ClientSession` over the transport's (read, write) streams with the
  `initialize` handshake (what 2025-era clients do), and
- the high-level `mcp.Client` in its default mode="auto", which first probes
  `server/discover` (2026-07-28 era) and falls back to `initialize`.

The tests are plain functions that drive asyncio through `anyio.run`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from interop_support import ArrStack, HttpServer, tail
from mcp import Client, ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "docker_ps",
    "compose_ps",
    "compose_logs",
    "compose_diagnose",
    "compose_stats",
    "compose_restart",
    "compose_start",
    "compose_stop",
    "compose_updates",
    "compose_update",
    "compose_pull",
    "compose_up",
    "swarm_services",
    "swarm_tasks",
    "swarm_logs",
    "swarm_nodes",
    "swarm_diagnose",
    "swarm_restart",
    "swarm_scale",
}
READ_ONLY_TOOLS = {
    "docker_ps",
    "compose_ps",
    "compose_logs",
    "compose_diagnose",
    "compose_stats",
    "compose_updates",
    "swarm_services",
    "swarm_tasks",
    "swarm_logs",
    "swarm_nodes",
    "swarm_diagnose",
}
STACK_SERVICES = {"sonarr", "radarr", "sabnzbd", "prowlarr"}
TEST_TIMEOUT_S = 90


def _text(result: types.CallToolResult) -> str:
    parts = [getattr(block, "text", repr(block)) for block in result.content]
    return "\n".join(parts)[:2000]


async def _list_all_tools(client: ClientSession | Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(20):
        if isinstance(client, Client):
            page = await client.list_tools(cursor=cursor)
        else:
            page = await client.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise AssertionError("tools/list did not stop paginating after 20 pages")


async def _check_server(client: ClientSession | Client, stack: ArrStack) -> None:
    """The checks every transport/client combination must pass."""
    file = str(stack.file)

    # tools/list: exactly the nineteen tools (the guide's eight, compose_diagnose, compose_stats,
    # compose_updates, compose_update and the seven swarm_* tools), with honest annotations.
    tools = await _list_all_tools(client)
    names = [t.name for t in tools]
    assert sorted(names) == sorted(EXPECTED_TOOLS), f"tools/list returned {names}"
    by_name = {t.name: t for t in tools}
    for name in READ_ONLY_TOOLS:
        ann = by_name[name].annotations
        assert ann is not None and ann.read_only_hint is True, f"{name}: annotations {ann!r}"
    for name in ("compose_stop", "swarm_scale"):
        ann = by_name[name].annotations
        assert ann is not None and ann.destructive_hint is True, f"{name}: annotations {ann!r}"
    for tool in tools:
        assert tool.input_schema.get("type") == "object", f"{tool.name}: input schema {tool.input_schema!r}"

    # docker_ps: lists the running containers, ours among them.
    ps = await client.call_tool("docker_ps", {})
    assert not ps.is_error, f"docker_ps failed: {_text(ps)}"
    sc = ps.structured_content
    assert isinstance(sc, dict), f"docker_ps structured_content: {sc!r}"
    containers = sc.get("containers")
    assert isinstance(containers, list), f"docker_ps structured_content has no 'containers' list: {sc!r}"
    container_names = [str(c.get("name", "")) for c in containers if isinstance(c, dict)]
    if not sc.get("truncated"):
        assert any(stack.project in n for n in container_names), (
            f"no container of project {stack.project} in docker_ps: {container_names}"
        )

    # compose_ps: the stack's services.
    cps = await client.call_tool("compose_ps", {"file": file})
    assert not cps.is_error, f"compose_ps failed: {_text(cps)}"
    sc = cps.structured_content
    assert isinstance(sc, dict), f"compose_ps structured_content: {sc!r}"
    services = sc.get("services")
    assert isinstance(services, list), f"compose_ps structured_content has no 'services' list: {sc!r}"
    service_names = {str(s.get("service")) for s in services if isinstance(s, dict)}
    missing = STACK_SERVICES - service_names
    assert not missing, f"compose_ps lacks {sorted(missing)}; got {sorted(service_names)}"

    # compose_logs: a declared service works, an undeclared one is a tool error.
    logs = await client.call_tool("compose_logs", {"file": file, "service": "sonarr"})
    assert not logs.is_error, f"compose_logs sonarr failed: {_text(logs)}"
    bad = await client.call_tool("compose_logs", {"file": file, "service": "nope"})
    assert bad.is_error is True, f"compose_logs for an unknown service did not fail: {_text(bad)}"


def _run(fn: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(TEST_TIMEOUT_S):
            await fn()

    anyio.run(bounded)


def _stdio_params(ops_bin: Path, stack: ArrStack, server_env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(ops_bin),
        args=["docker-mcp", "--compose-file", str(stack.file), "--stdio"],
        env=server_env,
        cwd=str(stack.dir),
    )


# --- Streamable HTTP ---------------------------------------------------------------


def test_http_session_initialize(http_server: HttpServer, arr_stack: ArrStack) -> None:
    async def main() -> None:
        async with (
            streamable_http_client(http_server.mcp_url) as (read, write),
            ClientSession(read, write, read_timeout_seconds=30) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name, init
            assert init.capabilities.tools is not None, f"no tools capability: {init.capabilities!r}"
            await _check_server(session, arr_stack)

    try:
        _run(main)
    except BaseException:
        print(f"--- server log ({http_server.log}) ---\n{tail(http_server.log)}")
        raise


def test_http_client_auto(http_server: HttpServer, arr_stack: ArrStack) -> None:
    async def main() -> None:
        async with Client(http_server.mcp_url, read_timeout_seconds=30) as client:
            assert client.session.protocol_version, "no protocol version negotiated"
            print(f"negotiated {client.session.protocol_version} over Streamable HTTP")
            await _check_server(client, arr_stack)

    try:
        _run(main)
    except BaseException:
        print(f"--- server log ({http_server.log}) ---\n{tail(http_server.log)}")
        raise


# --- stdio -------------------------------------------------------------------------


def test_stdio_session_initialize(
    ops_bin: Path, arr_stack: ArrStack, server_env: dict[str, str], tmp_path: Path
) -> None:
    errlog_path = tmp_path / "server-stdio.log"
    params = _stdio_params(ops_bin, arr_stack, server_env)

    async def main(errlog: TextIO) -> None:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=30) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name, init
            await _check_server(session, arr_stack)

    try:
        with open(errlog_path, "w") as errlog:
            _run(lambda: main(errlog))
    except BaseException:
        print(f"--- server stderr ({errlog_path}) ---\n{tail(errlog_path)}")
        raise


def test_stdio_client_auto(ops_bin: Path, arr_stack: ArrStack, server_env: dict[str, str], tmp_path: Path) -> None:
    errlog_path = tmp_path / "server-stdio.log"
    params = _stdio_params(ops_bin, arr_stack, server_env)

    async def main(errlog: TextIO) -> None:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=30) as client:
            assert client.session.protocol_version, "no protocol version negotiated"
            print(f"negotiated {client.session.protocol_version} over stdio")
            await _check_server(client, arr_stack)

    try:
        with open(errlog_path, "w") as errlog:
            _run(lambda: main(errlog))
    except BaseException:
        print(f"--- server stderr ({errlog_path}) ---\n{tail(errlog_path)}")
        raise


def test_stdio_stdout_is_protocol_only(ops_bin: Path, arr_stack: ArrStack, server_env: dict[str, str]) -> None:
    """With stdin closed at once, the server must exit and print nothing but JSON-RPC on stdout."""
    proc = subprocess.run(
        [str(ops_bin), "docker-mcp", "--compose-file", str(arr_stack.file), "--stdio"],
        check=False,
        input=b"",
        capture_output=True,
        env=server_env,
        cwd=arr_stack.dir,
        timeout=20,
    )
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.strip():
            msg: Any = json.loads(line)
            assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0", f"non-JSON-RPC line on stdout: {line!r}"
