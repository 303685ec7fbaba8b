"""Drives one MCP server over stdio with the official MCP Python SDK (2.x), the way
an MCP host does, and measures it. Used by bench/run.sh for our
`ops-copilot docker-mcp --stdio` and for the peer `mcp-server-docker`, alike.

    python stdio_mcp.py --label NAME [--tool TOOL | --find-list-tool] [--args JSON]
                        [--calls N] [--max-seconds S] [--warmup W] -- COMMAND ARGS...

Prints one JSON document: time from spawn to the end of `initialize` (ready_ms), the
tool used (found with tools/list), per-call latency of `tools/call` (p50/p99/mean),
how many containers the answer listed, and the server process's VmRSS (from /proc)
idle after initialize and after the calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


def vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def child_pids(parent: int) -> list[int]:
    """Direct children of `parent`, from /proc (the SDK does not expose the pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def server_pid(command: str) -> int | None:
    name = os.path.basename(command)
    for pid in child_pids(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(a.decode(errors="replace")) == name for a in argv if a):
            return pid
    return None


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def count_containers(result: types.CallToolResult) -> int | None:
    sc = result.structured_content
    if isinstance(sc, dict):
        if isinstance(sc.get("containers"), list):
            return len(sc["containers"])
        if isinstance(sc.get("result"), list):
            return len(sc["result"])
    if isinstance(sc, list):
        return len(sc)
    for block in result.content:
        text = getattr(block, "text", None)
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, list):
            return len(value)
        if isinstance(value, dict) and isinstance(value.get("containers"), list):
            return len(value["containers"])
    return None


def pick_list_tool(tools: list[types.Tool]) -> str:
    names = [t.name for t in tools]
    for preferred in ("docker_ps", "list_containers"):
        if preferred in names:
            return preferred
    for name in names:
        if "list" in name and "container" in name:
            return name
    raise SystemExit(f"no tool that lists containers among {names}")


async def measure(opts: argparse.Namespace) -> dict[str, Any]:
    command, *args = opts.command
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    errlog = open(opts.errlog, "w") if opts.errlog else sys.stderr
    out: dict[str, Any] = {"label": opts.label, "command": " ".join(opts.command)}
    try:
        t0 = time.perf_counter()
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=opts.call_timeout) as session,
        ):
            await session.initialize()
            out["ready_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            pid = server_pid(command)
            out["pid"] = pid

            tools: list[types.Tool] = []
            cursor = None
            for _ in range(20):
                page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            out["tools"] = len(tools)
            tool = opts.tool or pick_list_tool(tools)
            out["tool"] = tool
            call_args = json.loads(opts.args)

            await anyio.sleep(1.0)
            out["rss_idle_kb"] = vm_rss_kb(pid) if pid else None

            samples: list[float] = []
            errors = 0
            first_error = None
            containers = None
            started = None
            capped = False
            for i in range(opts.warmup + opts.calls):
                if i == opts.warmup:
                    started = time.perf_counter()
                if started is not None and time.perf_counter() - started > opts.max_seconds:
                    capped = True
                    break
                t = time.perf_counter()
                result = await session.call_tool(tool, call_args)
                elapsed = time.perf_counter() - t
                if result.is_error:
                    errors += 1
                    if first_error is None:
                        first_error = " ".join(getattr(b, "text", "") for b in result.content)[:300]
                    continue
                containers = count_containers(result)
                if i >= opts.warmup:
                    samples.append(elapsed * 1e6)
            out["rss_after_kb"] = vm_rss_kb(pid) if pid else None
            samples.sort()
            out.update(
                n=len(samples),
                errors=errors,
                first_error=first_error,
                containers=containers,
                time_capped=capped,
                p50_us=round(percentile(samples, 50), 1) if samples else None,
                p99_us=round(percentile(samples, 99), 1) if samples else None,
                mean_us=round(sum(samples) / len(samples), 1) if samples else None,
            )
    finally:
        if errlog is not sys.stderr:
            errlog.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True)
    parser.add_argument("--tool", help="tool to call (default: the one that lists containers, from tools/list)")
    parser.add_argument("--args", default="{}", help="tool arguments as JSON")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--call-timeout", type=float, default=60.0)
    parser.add_argument("--errlog", help="file for the server's stderr")
    parser.add_argument("command", nargs="+")
    opts = parser.parse_args()

    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(opts.max_seconds + 120):
            return await measure(opts)

    print(json.dumps(anyio.run(bounded)))


if __name__ == "__main__":
    main()
