"""Turns the raw results of bench/run.sh into ONE table: printed, and written to
BENCHMARKS.md with the machine it ran on. Standard library only.

    python report.py RESULTS_DIR OUT_MD            # the whole report
    python report.py RESULTS_DIR OUT_MD --merge    # OPS_BENCH_ONLY=hosts: only the several-hosts
                                                   # rows, put into OUT_MD's table (replacing
                                                   # earlier ones), the rest of it kept
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_kv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def ms(us: float | None) -> str:
    if us is None:
        return "n/a"
    v = us / 1000
    if v < 1:
        return f"{v:.3f} ms"
    if v < 10:
        return f"{v:.2f} ms"
    return f"{v:.1f} ms"


def mib(kb: float | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def targets_by_name(result: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(result, dict):
        return {}
    return {t["name"]: t for t in result.get("targets", [])}


def lat(t: dict[str, Any] | None) -> str:
    if not t:
        return "n/a"
    text = f"p50 {ms(t.get('p50_us'))}, p99 {ms(t.get('p99_us'))}"
    if t.get("errors"):
        text += f" ({t['errors']} errors)"
    return text


def p50(t: dict[str, Any] | None) -> float | None:
    return t.get("p50_us") if t else None


# --- several Docker hosts (issue 15) ------------------------------------------------------
HOSTS_ROW_PREFIXES = ("gateway added latency p50 with 1, 2 and 5 Docker hosts", "all-hosts overview")
HOSTS_NOTE_PREFIX = "The several-hosts rows"
# Target of the first row: the added latency with 5 hosts at most this times the one with 1.
HOSTS_GROWTH_BOUND = 1.1


def hosts_rows(res: Path, kv: dict[str, str]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The two rows of the several-hosts phase (none when it did not run) and their notes."""
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    added = targets_by_name(load(res / "hosts-added.json"))
    direct = added.get("direct_h1")
    if direct and all(added.get(k) for k in ("gw1_h1", "gw2_h1", "gw5_h1")):
        base = p50(direct) or 0.0
        add = {n: (p50(added[f"gw{n}_h1"]) or 0.0) - base for n in (1, 2, 5)}
        again = (p50(added.get("gw1b_h1")) or 0.0) - base if added.get("gw1b_h1") else None
        growth = add[5] / add[1] if add[1] > 0 else None
        noise = abs(again / add[1] - 1) if again is not None and add[1] > 0 else None
        ok = None if growth is None else growth <= HOSTS_GROWTH_BOUND
        rounds = (load(res / "hosts-added.json") or {}).get("rounds")
        rows.append(
            (
                "gateway added latency p50 with 1, 2 and 5 Docker hosts registered (`compose_ps` on host h1 through "
                "each gateway − docker-mcp h1 alone; five docker-mcp on one Engine, "
                f"{rounds} interleaved and rotated rounds)",
                f"1 host: {ms(add[1])}, 2 hosts: {ms(add[2])}, 5 hosts: {ms(add[5])} (end to end: "
                f"{lat(added['gw1_h1'])}; {lat(added['gw2_h1'])}; {lat(added['gw5_h1'])})",
                f"docker-mcp h1 alone: {lat(direct)}"
                + (
                    f"; noise: a second 1-host gateway (a process of its own) in the same rounds adds "
                    f"{ms(again)} ({noise * 100:.0f} % off the first)"
                    if again is not None and noise is not None
                    else ""
                ),
                "n/a" if growth is None else f"{growth:.2f}× (5 hosts ÷ 1 host)",
                f"no growth: ≤ {HOSTS_GROWTH_BOUND}×",
                verdict(ok),
            )
        )
    ov = load(res / "hosts-overview.json")
    t = targets_by_name(ov)
    singles = {k: t[k] for k in sorted(t) if k.startswith("single_h")}
    overview = t.get("overview")
    if overview and singles:
        p50s = {k[len("single_") :]: p50(v) for k, v in singles.items()}
        known = {h: v for h, v in p50s.items() if v is not None}
        slowest_host = max(known, key=lambda h: known[h]) if known else None
        slowest = known.get(slowest_host) if slowest_host else None
        total = sum(known.values()) if known else None
        delays = [d for d in kv.get("hosts_delays", "").split()]
        farther = [f"h{k} {d} ms" for k, d in enumerate(delays, 1) if d not in ("0", "")]
        r = None if slowest is None or p50(overview) is None else p50(overview) / slowest
        rows.append(
            (
                f"all-hosts overview across {len(singles)} hosts (pi-health `GET /api/hosts`, signed in: every host's "
                "`compose_ps` through the gateway at once, then the table)"
                + (f"; farther away (a delay in front of its docker-mcp): {', '.join(farther)}" if farther else "")
                + f"; {ov.get('rounds')} rounds {int(kv.get('hosts_round_ms') or 0) / 1000:g} s apart, "
                f"{kv.get('hosts_roles', '?')} people of as many roles each, so that no read comes from pi-health's "
                "5 s cache",
                lat(overview),
                f"the slowest single host's read ({slowest_host}, `compose_ps` through the gateway as pi-health): "
                f"{lat(singles['single_' + slowest_host]) if slowest_host else 'n/a'}; each host's p50: "
                + ", ".join(f"{h} {ms(v)}" for h, v in p50s.items())
                + f"; their sum: {ms(total)} (the overview ÷ the sum: {ratio(p50(overview), total)})",
                "n/a" if r is None else f"{r:.2f}× the slowest",
                "≤ 1.5× the slowest (not the sum)",
                verdict(None if r is None else r <= 1.5),
            )
        )
        notes.append(
            "In the all-hosts overview row every process shares this machine's "
            f"{kv.get('cpu_cores', '?')} cores: pi-health, the gateway, the five docker-mcp and the delay proxy "
            "(Python, about a millisecond of CPU per call). What the overview takes beyond the slowest host is "
            "mostly the other reads' CPU (the gateway's checks, redaction and audit of each answer, pi-health's "
            "client and summary) delaying the slowest one's; on separate hosts only the gateway's and pi-health's "
            "share of it stays on one machine."
        )
        before, after = _executed(res / "hosts-metrics-before.txt"), _executed(res / "hosts-metrics-after.txt")
        if before is not None and after is not None:
            passes = (int(ov.get("rounds") or 0) + 1) * int(kv.get("hosts_roles") or 0)
            single_calls = passes * len(singles)
            notes.append(
                f"During the overview's rounds (warm-up included) the 5-host gateway executed {after - before:,} calls: "
                f"{single_calls:,} single reads and {after - before - single_calls:,} of the overviews "
                f"({passes:,} overviews × {len(singles)} hosts = {passes * len(singles):,}: every overview read every "
                "host anew). pi-health keeps the host list 30 s per role, so about one overview in six per person "
                "also asked the gateway for it (`GET /hosts`, before the fan-out)."
            )
    return rows, notes


def _table_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def merge(res: Path, out_path: Path, kv: dict[str, str]) -> None:
    """Puts the several-hosts rows into OUT's table (replacing earlier ones, before the
    binary-size row), recounts the targets, and adds a note saying when they were measured."""
    rows, notes = hosts_rows(res, kv)
    if not rows:
        raise SystemExit("report.py --merge: no several-hosts results in " + str(res))
    loads = {k[5:]: v for k, v in kv.items() if k.startswith("load_")}
    others = {k[7:]: v for k, v in kv.items() if k.startswith("others_")}
    busy = [p for p, o in others.items() if any(int(x) > 0 for x in o.split() if x.isdigit())]
    when = (
        f"{HOSTS_NOTE_PREFIX} were measured in a run of their own (`OPS_BENCH_ONLY=hosts bench/run.sh`) on "
        f"{kv.get('date')}, commit {kv.get('git')}"
        + (f" + {kv['git_dirty']} uncommitted changes" if kv.get("git_dirty", "0") not in ("", "0") else "")
        + f", on the same machine ({kv.get('cpu_model')}, {kv.get('cpu_cores')} cores; {kv.get('docker')}): "
        + "load average by phase "
        + ", ".join(f"{p} {l.split()[0]}" for p, l in loads.items())
        + f"; compilers running at: {', '.join(busy) or 'none'}."
    )
    new_notes = [when, *notes]
    print("\n".join(_table_row(r) for r in rows))
    for n in new_notes:
        print(f"- {n}")
    if not out_path.exists() or "| measurement |" not in out_path.read_text():
        out_path.write_text(
            "# Benchmarks: several Docker hosts\n\n"
            + "\n".join(
                [
                    _table_row(("measurement", "Ops-Copilot", "baseline (same run)", "ratio", "target", "result")),
                    "|---|---|---|---|---|---|",
                    *(_table_row(r) for r in rows),
                ]
            )
            + "\n\nNotes:\n\n"
            + "\n".join(f"- {n}" for n in new_notes)
            + "\n"
        )
        print(f"\nbench: written to {out_path}", file=sys.stderr)
        return
    lines = out_path.read_text().splitlines()
    table = [i for i, l in enumerate(lines) if l.startswith("| ")]
    first, last = table[0], table[-1]
    body = [
        l
        for l in lines[first : last + 1]
        if not any(l.startswith("| " + prefix) for prefix in HOSTS_ROW_PREFIXES)
    ]
    at = next((i for i, l in enumerate(body) if l.startswith("| binary size")), len(body))
    body[at:at] = [_table_row(r) for r in rows]
    rest = [l for l in lines[last + 1 :] if not any(l.startswith(f"- {p}") for p in (HOSTS_NOTE_PREFIX, "During the overview's rounds", "In the all-hosts overview row"))]
    # The notes list ends at the file's end: the new notes go after the last one.
    while rest and not rest[-1].strip():
        rest.pop()
    rest += [f"- {n}" for n in new_notes]
    doc = lines[:first] + body + rest
    cells = [l.split(" | ")[-1] for l in body[2:]]
    met = sum(c.count("**met**") for c in cells)
    missed = sum(c.count("**missed**") for c in cells)
    text = "\n".join(doc) + "\n"
    text = re.sub(r"Targets met: \d+, missed: \d+\.", f"Targets met: {met}, missed: {missed}.", text, count=1)
    out_path.write_text(text)
    print(f"\nbench: several-hosts rows merged into {out_path}; targets met {met}, missed {missed}", file=sys.stderr)


def main() -> None:
    res = Path(sys.argv[1])
    out_path = Path(sys.argv[2])
    kv = read_kv(res / "kv.txt")
    if "--merge" in sys.argv[3:]:
        merge(res, out_path, kv)
        return
    rows: list[tuple[str, str, str, str, str, str]] = []
    notes: list[str] = []

    def row(what: str, ours: str, base: str = "", r: str = "", target: str = "", result: str = "") -> None:
        rows.append((what, ours, base or "–", r or "–", target or "–", result or "–"))

    counts = sorted(int(p.stem.split("-")[1]) for p in res.glob("latency-*.json"))
    at = int(kv.get("count_at_requested", "0") or 0) or (100 if 100 in counts else (counts[len(counts) // 2] if counts else 0))
    lat_by_n = {n: targets_by_name(load(res / f"latency-{n}.json")) for n in counts}
    actual = {n: int(kv.get(f"count_{n}", n) or n) for n in counts}

    # --- latency against the raw Engine call ------------------------------------------
    pairs = [
        ("docker_ps", "engine_ps", "raw Engine `GET /containers/json`"),
        ("compose_ps", "engine_compose_ps", "raw Engine `GET /containers/json?all=1&filters=project`"),
        ("compose_logs", "engine_logs", f"raw Engine `GET /containers/{{id}}/logs?tail=150`"),
    ]
    for n in counts:
        t = lat_by_n[n]
        for tool, engine, engine_label in pairs:
            for proto, prefix in (("REST", "rest"), ("MCP", "mcp")):
                ours = t.get(f"{prefix}_{tool}")
                base = t.get(engine)
                what = f"`{tool}`{' tail 150' if tool == 'compose_logs' else ''} via {proto}, {actual[n]} containers"
                target = result = ""
                if tool == "docker_ps" and n == at:
                    target = "p50 ≤ 0.5× Engine"
                    ok = None if p50(ours) is None or p50(base) is None else p50(ours) <= 0.5 * p50(base)
                    result = verdict(ok)
                row(what, lat(ours), f"{engine_label}: {lat(base)}", ratio(p50(ours), p50(base)), target, result)

    # --- growth with the container count ----------------------------------------------
    if len(counts) >= 2:
        lo, hi = counts[0], counts[-1]
        growth_allowed = actual[hi] / max(actual[lo], 1)
        for tool, engine, _ in pairs[:2]:
            for proto, prefix in (("REST", "rest"), ("MCP", "mcp")):
                a, b = p50(lat_by_n[lo].get(f"{prefix}_{tool}")), p50(lat_by_n[hi].get(f"{prefix}_{tool}"))
                ea, eb = p50(lat_by_n[lo].get(engine)), p50(lat_by_n[hi].get(engine))
                g = None if a is None or b is None else b / a
                eg = None if ea is None or eb is None else eb / ea
                target = result = ""
                if tool == "docker_ps":
                    target = f"≤ linear ({growth_allowed:.0f}× for {actual[lo]}→{actual[hi]})"
                    result = verdict(None if g is None else g <= growth_allowed)
                row(
                    f"`{tool}` via {proto}: p50 growth {actual[hi]} vs {actual[lo]} containers",
                    "n/a" if g is None else f"{g:.2f}× ({ms(a)} → {ms(b)})",
                    "n/a" if eg is None else f"Engine: {eg:.2f}× ({ms(ea)} → {ms(eb)})",
                    "n/a" if g is None or eg is None else f"{g / eg:.2f}×",
                    target,
                    result,
                )

    # --- gateway added latency --------------------------------------------------------
    gw = targets_by_name(load(res / "gateway.json"))
    for tool in ("compose_ps", "docker_ps"):
        direct, ours, fa = gw.get(f"direct_{tool}"), gw.get(f"gw_{tool}"), gw.get(f"fastapi_{tool}")
        if not (direct and ours and fa):
            continue
        added = p50(ours) - p50(direct)
        fa_added = p50(fa) - p50(direct)
        n_at = kv.get("count_at", str(at))
        row(
            f"`{tool}` through the gateway, {n_at} containers (end to end)",
            lat(ours),
            f"guide's FastAPI gateway: {lat(fa)}; docker-mcp alone: {lat(direct)}",
            ratio(p50(ours), p50(fa)),
        )
        if tool == "compose_ps":
            row(
                "gateway added latency p50 (`compose_ps`: through the gateway − docker-mcp alone)",
                ms(added),
                f"guide's FastAPI gateway: {ms(fa_added)}",
                ratio(added, fa_added),
                "≤ 0.5 ms; ≥ 10× less than FastAPI",
                f"{verdict(added <= 500)} (≤ 0.5 ms); {verdict(added * 10 <= fa_added)} (≥ 10×)",
            )
            pooled = gw.get("fastapi_pooled_compose_ps")
            if pooled:
                pooled_added = p50(pooled) - p50(direct)
                row(
                    "gateway added latency p50 against the guide's gateway with one shared `httpx.Client` "
                    "(its `httpx.post` builds a client and TLS context per call)",
                    ms(added),
                    f"FastAPI gateway, pooled: {ms(pooled_added)} ({lat(pooled)} end to end)",
                    ratio(added, pooled_added),
                )
        else:
            row(
                f"gateway added latency p50 (`docker_ps`, {n_at} containers: redaction and audit of a larger answer)",
                ms(added),
                f"guide's FastAPI gateway: {ms(fa_added)}",
                ratio(added, fa_added),
            )

    # --- compose_diagnose against the raw Engine calls gathering the same evidence ----
    dg = targets_by_name(load(res / "diagnose.json"))
    inspect, logs, events, ours, direct = (
        dg.get("engine_inspect"),
        dg.get("engine_logs_500"),
        dg.get("engine_events_10min"),
        dg.get("gw_compose_diagnose"),
        dg.get("direct_compose_diagnose"),
    )
    if inspect and logs and events and ours:
        parts = [p50(inspect), p50(logs), p50(events)]
        raw = None if any(p is None for p in parts) else sum(parts)
        row(
            f"`compose_diagnose` sabnzbd through the gateway, {kv.get('count_at', str(at))} containers "
            f"(docker-mcp alone: {lat(direct)})",
            lat(ours),
            f"raw Engine `GET /containers/{{id}}/json` ({lat(inspect)}) + `GET /containers/{{id}}/logs?tail=500` "
            f"({lat(logs)}) + its `GET /events` of the last 10 minutes ({lat(events)}), one after the other: "
            f"p50 {ms(raw)}",
            ratio(p50(ours), raw),
            "p50 ≤ the raw calls'",
            verdict(None if raw is None or p50(ours) is None else p50(ours) <= raw),
        )

    fs = gw.get("fsync_data_dir")
    if fs and gw.get("gw_compose_ps") and gw.get("direct_compose_ps"):
        added = p50(gw["gw_compose_ps"]) - p50(gw["direct_compose_ps"])
        row(
            "one fsync in the gateway's data directory (256-byte append), timed in the same rounds: a durable "
            "audit record costs about four (WAL commit, anchor temp file, rename, directory); a mutating call waits "
            "for its record, a read's record follows the answer",
            f"gateway added latency p50 {ms(added)}",
            f"one fsync: p50 {ms(fs.get('p50_us'))}, p99 {ms(fs.get('p99_us'))}",
            f"{added / fs['p50_us']:.1f} fsyncs" if fs.get("p50_us") else "n/a",
        )

    # --- the peer over stdio ----------------------------------------------------------
    so, sp = load(res / "stdio-ours.json"), load(res / "stdio-peer.json")
    if so and sp:
        def stdio_lat(s: dict[str, Any]) -> str:
            text = f"p50 {ms(s.get('p50_us'))}, p99 {ms(s.get('p99_us'))} ({s.get('n')} calls"
            if s.get("time_capped"):
                text += ", time-capped"
            text += f", {s.get('containers')} containers listed)"
            if s.get("errors"):
                text += f" ({s['errors']} errors)"
            return text

        row(
            f"list containers over MCP stdio (Python SDK client): our `docker_ps`, {kv.get('count_at', at)} containers",
            stdio_lat(so),
            f"`mcp-server-docker` `{sp.get('tool')}`: {stdio_lat(sp)}",
            ratio(so.get("p50_us"), sp.get("p50_us")),
        )
        row(
            "MCP stdio: start to ready (spawn → `initialize` answered)",
            f"{so.get('ready_ms')} ms",
            f"`mcp-server-docker`: {sp.get('ready_ms')} ms",
            ratio(so.get("ready_ms"), sp.get("ready_ms")),
        )
        row(
            "MCP stdio server RSS: idle / after the calls",
            f"{mib(so.get('rss_idle_kb'))} / {mib(so.get('rss_after_kb'))}",
            f"`mcp-server-docker`: {mib(sp.get('rss_idle_kb'))} / {mib(sp.get('rss_after_kb'))}",
            ratio(so.get("rss_after_kb"), sp.get("rss_after_kb")),
        )

    # --- throughput ---------------------------------------------------------------------
    wg, wf, wm = load(res / "wrk-gateway.json"), load(res / "wrk-fastapi.json"), load(res / "wrk-docker-mcp.json")
    wp = load(res / "wrk-fastapi-pooled.json")

    def wrk_errors(w: dict[str, Any]) -> int:
        return sum(int(w.get(k, 0)) for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))

    def rps(w: dict[str, Any]) -> float:
        return w["requests"] / (w["duration_us"] / 1e6) if w.get("duration_us") else 0.0

    def wrk_text(w: dict[str, Any] | None) -> str:
        if not w:
            return "n/a"
        return (
            f"{rps(w):,.0f} req/s, p50 {ms(w.get('p50_us'))}, p99 {ms(w.get('p99_us'))}, "
            f"{wrk_errors(w)} errors ({w.get('status_errors', 0)} non-2xx)"
        )

    if wg:
        ok = rps(wg) >= 3000 and wrk_errors(wg) == 0
        row(
            f"throughput through the gateway: `compose_ps`, wrk {kv.get('wrk_connections', '64')} connections, "
            f"{kv.get('wrk_seconds', '10')} s, auth+policy+redaction+audit",
            wrk_text(wg),
            f"guide's FastAPI gateway: {wrk_text(wf)}"
            + (f"; with one shared `httpx.Client`: {wrk_text(wp)} (ours {ratio(rps(wg), rps(wp))})" if wp else ""),
            ratio(rps(wg), rps(wf)) if wf else "n/a",
            "≥ 3000 req/s, 0 errors",
            verdict(ok),
        )
    if wm:
        row("throughput of docker-mcp alone (REST `compose_ps`, same wrk settings): the gateway's ceiling", wrk_text(wm))

    # --- memory, size, start ------------------------------------------------------------
    def kb(key: str) -> float | None:
        v = kv.get(key)
        return float(v) if v not in (None, "", "0") else None

    def rss_of(name: str, pid_key: str) -> float | None:
        r = load(res / f"rss-{name}.json")
        pid = kv.get(pid_key)
        if not r or not pid or pid not in r.get("pids", {}):
            return None
        return float(r["pids"][pid]["max_kb"])

    def mem(key: str) -> dict[str, Any]:
        try:
            value = json.loads(kv.get(key, ""))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def anon_file(m: dict[str, Any]) -> str:
        if not m.get("anon_kb") and not m.get("file_kb"):
            return ""
        return f" (heap etc. {mib(m.get('anon_kb'))} + mapped binary and libraries {mib(m.get('file_kb'))})"

    first = actual.get(counts[0], "?") if counts else "?"
    last = actual.get(counts[-1], "?") if counts else "?"
    for plane, key in (("docker-mcp", "docker_mcp"), ("gateway", "gateway")):
        start, idle, end = mem(f"mem_start_{key}"), mem(f"mem_idle_{key}"), mem(f"mem_end_{key}")
        values = [m["rss_kb"] for m in (idle, end) if m.get("rss_kb")]
        worst = max(values) if values else None
        worst_m = end if end.get("rss_kb") == worst else idle
        fa_start, fa_idle, fa_end = mem("mem_start_fastapi"), mem("mem_idle_fastapi"), mem("mem_end_fastapi")
        fa_values = [m["rss_kb"] for m in (fa_idle, fa_end) if m.get("rss_kb")]
        row(
            f"RSS idle, {plane}: at start / after the first latency point ({first} containers) / "
            f"at the end, after the load ({last} containers)",
            f"{mib(start.get('rss_kb'))} / {mib(idle.get('rss_kb'))} / {mib(end.get('rss_kb'))}{anon_file(worst_m)}",
            (
                f"guide's FastAPI gateway: {mib(fa_start.get('rss_kb'))} / {mib(fa_idle.get('rss_kb'))} / {mib(fa_end.get('rss_kb'))}"
                if plane == "gateway"
                else ""
            ),
            ratio(worst, max(fa_values) if fa_values else None) if plane == "gateway" else "",
            "≤ 20 MB",
            verdict(None if worst is None else worst <= 20 * 1024),
        )
    rg = load(res / "rss-gateway.json")
    if rg:
        mcp_max, gw_max = rss_of("gateway", "pid_docker_mcp"), rss_of("gateway", "pid_gateway")
        fa_max = rss_of("fastapi", "pid_fastapi")
        fa_mcp = rss_of("fastapi", "pid_docker_mcp")
        total = float(rg["max_sum_kb"])
        pss = rg.get("max_pss_sum_kb")
        row(
            "RSS under the wrk load: docker-mcp + gateway (max of the sum of VmRSS)",
            f"{mib(total)} (docker-mcp {mib(mcp_max)}, gateway {mib(gw_max)}); "
            f"PSS sum {mib(pss)} (the binary's pages they share counted once)",
            f"guide's FastAPI gateway under its load: {mib(fa_max)} (+ docker-mcp {mib(fa_mcp)})",
            ratio(gw_max, fa_max),
            "≤ 40 MB",
            verdict(total <= 40 * 1024),
        )
    ra, wa = load(res / "rss-all.json"), load(res / "wrk-all.json")
    if ra and kv.get("pid_all"):
        all_max = rss_of("all", "pid_all")
        start_all, end_all = mem("mem_start_all"), mem("mem_end_all")
        gw_fa = rss_of("fastapi", "pid_fastapi")
        row(
            "RSS under the same wrk load: `ops-copilot all` (docker-mcp + gateway + pi-health in one process)",
            f"{mib(all_max)} (idle before: {mib(start_all.get('rss_kb'))}, after: {mib(end_all.get('rss_kb'))}"
            f"{anon_file(end_all)}); {wrk_text(wa)}",
            f"guide's FastAPI gateway alone under its load: {mib(gw_fa)}",
            ratio(all_max, gw_fa),
            "≤ 40 MB",
            verdict(None if all_max is None else all_max <= 40 * 1024),
        )
    # --- live operations (issue 13): `all` on a 30-container stack ---------------------
    tck = float(kv.get("clk_tck") or 100)

    def ticks_ms(key: str) -> float:
        return float(kv.get(key) or 0) * 1000 / tck

    containers = kv.get("live_stats_containers", "?")
    if kv.get("live_idle_seconds"):
        secs = float(kv["live_idle_seconds"])
        ours_ms, eng_ms = ticks_ms("live_idle_cpu_ticks"), ticks_ms("live_idle_engine_ticks")
        pct = ours_ms / (secs * 1000) * 100
        row(
            f"CPU while idle with no page open: `ops-copilot all` on {containers} running containers, over {secs:.0f} s "
            "(only the Engine's event stream is followed)",
            f"{ours_ms:.0f} ms of CPU ({pct:.2f} % of one core)",
            f"the Engine (dockerd + containerd) over the same time: {eng_ms:.0f} ms",
            ratio(ours_ms, eng_ms) if eng_ms else "n/a",
            "≤ 0.1 % of one core",
            verdict(pct <= 0.1),
        )
    if kv.get("live_stats_round_ms"):
        ours_ms, base_ms = float(kv["live_stats_round_ms"]), float(kv.get("live_docker_stats_ms") or 0)
        ours_eng, base_eng = ticks_ms("live_stats_round_engine_ticks"), ticks_ms("live_docker_stats_engine_ticks")
        row(
            f"one stats round for {containers} running containers (`GET /api/containers/stats`, the first page to ask; "
            "pi-health runs at most one per 15 s, only while a page asks)",
            f"{ours_ms / 1000:.1f} s, the Engine's CPU {ours_eng:.0f} ms",
            f"`docker stats --no-stream` on the same containers: {base_ms / 1000:.1f} s, the Engine's CPU {base_eng:.0f} ms",
            ratio(ours_eng, base_eng) if base_eng else "n/a",
        )
    if kv.get("live_mem_streams"):
        live_max = rss_of("live", "pid_live")
        end = mem("live_mem_streams")
        secs = float(kv.get("live_streams_seconds") or 1)
        cpu = ticks_ms("live_streams_cpu_ticks") / (secs * 1000) * 100
        row(
            f"RSS of `ops-copilot all` with live logs open on {kv.get('live_streams_open', '?')} services "
            f"({int(kv.get('live_stream_lines') or 0):,} lines relayed, redacted, in {secs:.0f} s) and the Containers page's "
            f"stats history for {containers} containers",
            f"max {mib(live_max)}, at the end {mib(end.get('rss_kb'))}{anon_file(end)}; idle before: "
            f"{mib(mem('live_mem_idle').get('rss_kb'))}; CPU {cpu:.1f} % of one core",
            "",
            "",
            "< 30 MB",
            verdict(None if live_max is None else live_max < 30 * 1024),
        )
        notes.append(
            "The stats history in the live-operations row holds the rounds of that phase (one per 15 s); a full hour is "
            f"241 points of 32 bytes per container, about {30 * 241 * 32 / 1024:.0f} KB more for 30 containers."
        )
    # --- several Docker hosts (issue 15) -------------------------------------------------
    h_rows, h_notes = hosts_rows(res, kv)
    rows += h_rows
    notes += h_notes
    size = kb("binary_bytes")
    stripped = kb("binary_stripped_bytes")
    if size:
        row(
            "binary size (`ops-copilot`, release, all planes)",
            f"{size / MB:.1f} MB" + (f" ({stripped / MB:.1f} MB stripped)" if stripped else ""),
            "",
            "",
            "≤ 25 MB",
            verdict(size <= 25 * MB),
        )
    row(
        "start to ready (spawn → `/health` 200)",
        f"docker-mcp {kv.get('ready_docker_mcp_ms', 'n/a')} ms, gateway {kv.get('ready_gateway_ms', 'n/a')} ms"
        + (f", `all` {kv['ready_all_ms']} ms (first start)" if kv.get("ready_all_ms") else ""),
        f"guide's FastAPI gateway (uvicorn, `/openapi.json` 200): {kv.get('ready_fastapi_ms', 'n/a')} ms",
        ratio(float(kv["ready_gateway_ms"]), float(kv["ready_fastapi_ms"])) if kv.get("ready_gateway_ms") and kv.get("ready_fastapi_ms") else "n/a",
    )

    # --- notes --------------------------------------------------------------------------
    errors = [
        f"{name} at {n}: {t['errors']} errors (first: {t.get('first_error')})"
        for n in counts
        for name, t in lat_by_n[n].items()
        if t.get("errors")
    ] + [f"gateway comparison {name}: {t['errors']} errors (first: {t.get('first_error')})" for name, t in gw.items() if t.get("errors")]
    if errors:
        notes.append("Errors during the latency runs: " + "; ".join(errors) + ".")
    capped = [f"{n} containers" for n in counts if (load(res / f"latency-{n}.json") or {}).get("time_capped")]
    if capped:
        detail = ", ".join(
            f"{n} containers: {(load(res / f'latency-{n}.json') or {}).get('rounds')} rounds"
            for n in counts
            if (load(res / f"latency-{n}.json") or {}).get("time_capped")
        )
        notes.append(f"Some latency points hit their time cap, so fewer requests than asked were timed ({detail}).")
    moved = [
        f"{actual[n]} → {kv.get(f'count_after_{n}')} at the {n} point"
        for n in counts
        if kv.get(f"count_after_{n}") and kv.get(f"count_after_{n}") != str(actual[n])
    ]
    if moved:
        notes.append("The number of running containers changed during a latency run (other users of the Engine): " + "; ".join(moved) + ".")
    slow_sse = [
        n
        for n in counts
        if (p50(lat_by_n[n].get("mcp_compose_logs")) or 0) - (p50(lat_by_n[n].get("rest_compose_logs")) or 0) > 30_000
    ]
    if slow_sse:
        notes.append(
            "`compose_logs` over MCP is ~40 ms slower than over REST for the same answer: the signature of Nagle's "
            "algorithm meeting the client's delayed ACK (the SSE answer leaves in several writes on a socket without "
            "TCP_NODELAY). See bench/README.md."
        )
    before, after = _executed(res / "metrics-before.txt"), _executed(res / "metrics-after.txt")
    if before is not None and after is not None and wg:
        notes.append(
            f"The gateway's metrics count {after - before:,} executed calls during its wrk run "
            f"(wrk counted {wg['requests']:,} completed responses), each with its audit record."
        )
    verify = (res / "audit-verify.txt").read_text().strip() if (res / "audit-verify.txt").exists() else ""
    if verify:
        notes.append(f"`ops-copilot audit verify` after the run: {verify.splitlines()[-1]}")
    loads = {k[5:]: v for k, v in kv.items() if k.startswith("load_")}
    others = {k[7:]: v for k, v in kv.items() if k.startswith("others_")}
    busy = [p for p, o in others.items() if any(int(x) > 0 for x in o.split() if x.isdigit())]
    cores = int(kv.get("cpu_cores", "1") or 1)
    high = [p for p, l in loads.items() if float(l.split()[0]) > 0.5 * cores]
    if busy or high:
        notes.append(
            "**Other work was running on this machine during the run** (compilers at phases: "
            + (", ".join(busy) or "none")
            + "; load average by phase: "
            + ", ".join(f"{p} {l.split()[0]}" for p, l in loads.items())
            + "): figures, p99 in particular, are noisier than on an idle machine."
        )
    else:
        notes.append("Load average by phase: " + ", ".join(f"{p} {l.split()[0]}" for p, l in loads.items()) + ".")
    if kv.get("git_dirty", "0") not in ("", "0"):
        notes.append(f"The working tree had {kv['git_dirty']} uncommitted changes to tracked files when this ran.")

    # --- output -------------------------------------------------------------------------
    header = ["measurement", "Ops-Copilot", "baseline (same run)", "ratio", "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += [_table_row(r) for r in rows]
    table = "\n".join(lines)
    met = sum(r[5].count("**met**") for r in rows)
    missed = sum(r[5].count("**missed**") for r in rows)

    mem_gb = int(kv.get("mem_total_kb", "0") or 0) / 1024 / 1024
    machine = [
        f"- **Date:** {kv.get('date')}",
        f"- **CPU:** {kv.get('cpu_model')}, {kv.get('cpu_cores')} cores; **memory:** {mem_gb:.1f} GB",
        f"- **Kernel:** {kv.get('kernel')} ({kv.get('os')})",
        f"- **Docker:** {kv.get('docker')}; compose {kv.get('compose')}",
        f"- **Build:** {kv.get('rustc')}, release profile; commit {kv.get('git')}"
        + (f" + {kv['git_dirty']} uncommitted changes" if kv.get("git_dirty", "0") not in ("", "0") else ""),
        f"- **Peers:** {kv.get('python')}, {kv.get('python_packages', '').strip()}; {kv.get('wrk')}",
    ]
    doc = f"""# Benchmarks

Produced by `bench/run.sh` (see `bench/README.md` for what each row measures and how to
rerun it). Every baseline was measured in the same run, on the same machine, against the
same Docker Engine and the same docker-mcp. Latencies are sequential requests on one
keep-alive connection per target, the targets interleaved round by round
({kv.get('requests', '?')} requests per target and point, at most {kv.get('point_seconds', '?')} s per point;
{kv.get('gw_requests', '?')} for the gateway comparison). Targets met: {met}, missed: {missed}.

{chr(10).join(machine)}

{table}

Notes:

{chr(10).join('- ' + n for n in notes)}
"""
    out_path.write_text(doc)
    print(table)
    print()
    for n in notes:
        print(f"- {n}")
    print(f"\nbench: targets met {met}, missed {missed}; written to {out_path}", file=sys.stderr)


def _executed(path: Path) -> int | None:
    """Sum of the gateway's decision counters with the outcome `executed`."""
    try:
        text = path.read_text()
    except OSError:
        return None
    total = 0
    found = False
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if line.startswith("#") or "executed" not in line or not name.endswith("_total"):
            continue
        m = re.search(r"\}\s+([0-9.eE+]+)\s*$", line)
        if m and re.search(r'="executed"', line):
            total += int(float(m.group(1)))
            found = True
    return total if found else None


if __name__ == "__main__":
    main()
