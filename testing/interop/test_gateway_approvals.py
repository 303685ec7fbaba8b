"""Interop: the official MCP Python SDK (2.x) as an AI agent calling the gateway's `/mcp`,
while a person decides over the gateway's REST API (`POST /approvals/{id}/approve` or
`/deny`, as alice, an admin).

A mutating call waits for the decision: approved, it returns the result of the run the
approval made; denied, an error naming who denied it; with nobody deciding within the
gateway's `--mcp-approval-wait-seconds`, an error with the approval id, which stays
pending and can still be approved. A client that passes a progress callback hears how
long it has waited.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
from interop_support import ArrStack, Gateway, tail
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

TEST_TIMEOUT_S = 90


def _rest(gateway: Gateway, method: str, path: str, who: str = "alice") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{gateway.base_url}{path}",
        method=method,
        headers={"Authorization": f"Bearer {gateway.tokens[who]}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


async def _pending(gateway: Gateway) -> list[dict[str, Any]]:
    status, body = await anyio.to_thread.run_sync(lambda: _rest(gateway, "GET", "/approvals"))
    assert status == 200, body
    return body["approvals"]


async def _one_pending(gateway: Gateway) -> str:
    """The id of the one pending approval, once the agent's call made it."""
    deadline = time.monotonic() + 20
    while True:
        pending = await _pending(gateway)
        if len(pending) == 1:
            return pending[0]["id"]
        assert time.monotonic() < deadline, f"not one pending approval: {pending}"
        await anyio.sleep(0.1)


class _Progress:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")


async def _agent_call(
    gateway: Gateway, service: str, stack: ArrStack, progress: _Progress | None, done: Callable[[types.CallToolResult], None]
) -> None:
    """The agent (robot) calls compose_restart SERVICE through the gateway's /mcp."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {gateway.tokens['robot']}"},
        timeout=httpx2.Timeout(30.0, read=300.0),
    )
    async with (
        http,
        streamable_http_client(gateway.mcp_url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        await session.initialize()
        result = await session.call_tool(
            "compose_restart",
            {"file": str(stack.file), "service": service},
            progress_callback=progress,
        )
        done(result)


def _run_with_log(gateway_log: Callable[[], str], fn: Callable[[], Any]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(TEST_TIMEOUT_S):
            await fn()

    try:
        anyio.run(bounded)
    except BaseException:
        print(f"--- gateway log ---\n{gateway_log()}")
        raise


def test_an_agents_call_waits_and_returns_the_approved_run(
    start_gateway: Callable[..., Gateway], arr_stack: ArrStack
) -> None:
    gateway = start_gateway()
    results: list[types.CallToolResult] = []
    progress = _Progress()

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_agent_call, gateway, "sonarr", arr_stack, progress, results.append)
            approval_id = await _one_pending(gateway)
            status, approved = await anyio.to_thread.run_sync(
                lambda: _rest(gateway, "POST", f"/approvals/{approval_id}/approve")
            )
            assert status == 200, approved
        (result,) = results
        assert not result.is_error, result
        # The very result of the approval's run: the call did not run it again.
        assert result.structured_content == approved["result"], (result.structured_content, approved)
        assert progress.messages, "no progress notification arrived"
        assert all(
            m.startswith("waiting for a person to approve compose_restart") and approval_id in m
            for m in progress.messages
        ), progress.messages
        assert await _pending(gateway) == []

    _run_with_log(lambda: tail(gateway.log), main)


def test_a_denial_ends_the_wait_with_who_denied(start_gateway: Callable[..., Gateway], arr_stack: ArrStack) -> None:
    gateway = start_gateway()
    results: list[types.CallToolResult] = []

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_agent_call, gateway, "sabnzbd", arr_stack, None, results.append)
            approval_id = await _one_pending(gateway)
            status, body = await anyio.to_thread.run_sync(
                lambda: _rest(gateway, "POST", f"/approvals/{approval_id}/deny")
            )
            assert status == 200, body
        (result,) = results
        assert result.is_error, result
        assert result.structured_content is not None, result
        assert result.structured_content["denied_by"] == "alice", result.structured_content
        assert result.structured_content["approval_id"] == approval_id
        assert "denied by alice" in result.structured_content["message"]

    _run_with_log(lambda: tail(gateway.log), main)


def test_a_short_wait_answers_still_waiting_and_the_approval_stays_approvable(
    start_gateway: Callable[..., Gateway], arr_stack: ArrStack
) -> None:
    wait = 2
    gateway = start_gateway(wait_seconds=wait)
    results: list[types.CallToolResult] = []
    progress = _Progress()

    async def main() -> None:
        started = time.monotonic()
        await _agent_call(gateway, "radarr", arr_stack, progress, results.append)
        assert time.monotonic() - started >= wait, "answered before the wait was over"
        (result,) = results
        assert result.is_error, result
        body = result.structured_content
        assert body is not None and body["still_waiting"] is True, body
        approval_id = body["approval_id"]
        assert body["message"].startswith(f"still waiting: approval id {approval_id}, approve it in Ops-Copilot"), body
        assert "this call did not run" in body["message"], body
        assert progress.messages and all(m.endswith(f"of {wait} s") for m in progress.messages), progress.messages
        # Still pending, and approving it now runs it.
        assert [a["id"] for a in await _pending(gateway)] == [approval_id]
        status, approved = await anyio.to_thread.run_sync(
            lambda: _rest(gateway, "POST", f"/approvals/{approval_id}/approve")
        )
        assert status == 200, approved
        assert approved["ok"] is True, approved

    _run_with_log(lambda: tail(gateway.log), main)
