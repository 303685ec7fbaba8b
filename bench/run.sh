#!/usr/bin/env bash
# The benchmark of issue 6: bench/run.sh
#
# Builds Ops-Copilot in release mode, brings up the test ARR stack plus filler
# containers, measures everything in one run and prints ONE table, also written to
# BENCHMARKS.md with the machine it ran on. Every figure is set against a baseline
# measured in the same run (the raw Engine call, the guide's FastAPI gateway, the
# PyPI peer `mcp-server-docker`), and the issue's targets are marked met/missed.
# See bench/README.md for how to read the table.
#
# Needs: a Debian machine with Docker Engine, root for apt-get (wrk, busybox-static,
# docker-registry, docker-compose), PyPI (a venv), crates.io (the build). Sends load
# to 127.0.0.1 only. Everything it starts (processes, containers) is removed at the
# end, also on failure or Ctrl-C.
#
# Environment (all optional):
#   OPS_BENCH_OUT        where to write the report (default: BENCHMARKS.md at the repo root)
#   OPS_BENCH_VENV       the Python venv (default: /var/tmp/ops-bench-venv)
#   OPS_BENCH_COUNTS     running containers per latency point (default: "10 100 300")
#   OPS_BENCH_AT         the point where the gateway, peer and load are measured (default: 100)
#   OPS_BENCH_REQUESTS   requests per latency target and point (default: 1000)
#   OPS_BENCH_GW_REQUESTS requests per target for the gateway comparison (default: 300)
#   OPS_BENCH_WRK_SECONDS  duration of each wrk run (default: 10)
#   OPS_BENCH_POINT_SECONDS  time cap of one latency point (default: 40)
#   OPS_BENCH_KEEP=1     keep the work directory (logs, raw results) afterwards
#   OPS_BENCH_ONLY=live  only the live-operations rows (with OPS_BENCH_OUT elsewhere: a try-out)
#   OPS_BENCH_ONLY=hosts only the several-hosts rows, merged into OPS_BENCH_OUT's table
#   OPS_BENCH_HOSTS_REQUESTS  rounds for the 1/2/5-host gateway comparison (default: 2000)
#   OPS_BENCH_HOSTS_ROUNDS    rounds of the all-hosts overview, 5.5 s apart (default: 20)
#   OPS_BENCH_HOST_DELAYS     ms of delay in front of h1..h5's docker-mcp (default: "0 0 0 0 3"; h1's must be 0)
#   CARGO_TARGET_DIR     (default: /var/tmp/ops-target)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$REPO/bench"
cd "$REPO"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ops-target}"
export DEBIAN_FRONTEND=noninteractive
VENV="${OPS_BENCH_VENV:-/var/tmp/ops-bench-venv}"
OUT="${OPS_BENCH_OUT:-$REPO/BENCHMARKS.md}"
read -r -a COUNTS <<<"${OPS_BENCH_COUNTS:-10 100 300}"
AT="${OPS_BENCH_AT:-100}"
REQUESTS="${OPS_BENCH_REQUESTS:-1000}"
GW_REQUESTS="${OPS_BENCH_GW_REQUESTS:-300}"
WRK_SECONDS="${OPS_BENCH_WRK_SECONDS:-10}"
# A latency point stops after this many seconds even if fewer requests were timed.
POINT_SECONDS="${OPS_BENCH_POINT_SECONDS:-40}"
HOSTS_REQUESTS="${OPS_BENCH_HOSTS_REQUESTS:-2000}"
HOSTS_ROUNDS="${OPS_BENCH_HOSTS_ROUNDS:-20}"
read -r -a HOST_DELAYS <<<"${OPS_BENCH_HOST_DELAYS:-0 0 0 0 3}"
WRK_CONNECTIONS=64
LOGS_TAIL=150
PY_PACKAGES=("mcp>=2,<3" "mcp-server-docker" "fastapi" "uvicorn" "httpx" "pyyaml" "jsonschema")

RUN_ID="opsbench-$(date +%s)-$$"
BENCH_LABEL="org.ops-copilot.bench-run"
FILLER_IMAGE="ops-copilot/arr-base:test"
# On disk, not tmpfs: the gateway's audit log is fsynced for real.
WORK="$(mktemp -d /var/tmp/ops-bench.XXXXXX)"
RES="$WORK/results"
LOGS="$WORK/logs"
mkdir -p "$RES" "$LOGS"
KV="$RES/kv.txt"
: >"$KV"

BIN="$CARGO_TARGET_DIR/release/ops-copilot"
BENCH="$CARGO_TARGET_DIR/release/ops-bench"
PIDS=()
STACK_DIR=""
STACK_FILE=""
COMPOSE=()
SUCCESS=0

STARTED_AT=$SECONDS
say() { printf 'bench: [%3ds] %s\n' "$((SECONDS - STARTED_AT))" "$*" >&2; }
die() {
    echo "bench: ERROR: $*" >&2
    exit 1
}
kv() { echo "$1=$2" >>"$KV"; }

# --- cleanup: everything this run started, also on failure ----------------------------
cleanup() {
    local rc=$? pid ids
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$STACK_DIR" ] && [ ${#COMPOSE[@]} -gt 0 ]; then
        (cd "$STACK_DIR" && OPS_TEST_RUN_ID="$RUN_ID" "${COMPOSE[@]}" down -v --remove-orphans -t 1 >/dev/null 2>&1) || true
    fi
    ids="$(docker ps -aq --filter "label=$BENCH_LABEL=$RUN_ID" 2>/dev/null || true)"
    ids+=" $(docker ps -aq --filter "label=org.ops-copilot.test-run=$RUN_ID" 2>/dev/null || true)"
    # shellcheck disable=SC2086
    echo $ids | xargs -r -n 25 -P 4 docker rm -f -v >/dev/null 2>&1 || true
    docker network ls -q --filter "label=com.docker.compose.project=$RUN_ID" 2>/dev/null |
        xargs -r docker network rm >/dev/null 2>&1 || true
    if [ "$SUCCESS" = 1 ] && [ "${OPS_BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        say "logs and raw results kept in $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ---------------------------------------------------------------------------
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_tools() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not found: install Docker Engine"
    docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable (docker info failed)"
    local missing=()
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    pkg_installed busybox-static || missing+=(busybox-static)
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
    command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup)"
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing: ${missing[*]} (sudo apt-get install -y ${missing[*]})"
        say "installing ${missing[*]}"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    else
        COMPOSE=(docker compose)
    fi
}

# A Python >= 3.12 (mcp-server-docker needs it): on PATH, else pyenv's.
find_python() {
    local candidate
    for candidate in python3.14 python3.13 python3.12 python3 \
        "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9]; do
        candidate="$(command -v "$candidate" 2>/dev/null || true)"
        if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as md
import fastapi, httpx, jsonschema, uvicorn, yaml  # noqa: F401
import mcp.client.stdio, mcp_server_docker  # noqa: F401
assert md.version("mcp").split(".")[0] == "2"
EOF
}

ensure_venv() {
    venv_ok && return 0
    local python
    python="$(find_python)" || die "mcp-server-docker needs Python >= 3.12: install one (e.g. pyenv install 3.12) or set OPS_BENCH_VENV to a venv that has ${PY_PACKAGES[*]}"
    say "creating $VENV ($("$python" --version)) with ${PY_PACKAGES[*]}"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
    venv_ok || die "the venv at $VENV does not provide ${PY_PACKAGES[*]}"
}

free_port() {
    "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

running_count() { docker ps -q | wc -l; }

# --- 2. the FastAPI gateway of the guide (section 4), written out verbatim --------------
write_fastapi_gateway() { # DIR
    mkdir -p "$1/adapters"
    cat >"$1/adapters/docker_mcp.py" <<'PYEOF'
# gateway/adapters/docker_mcp.py
import os, httpx
from typing import Any, Dict

MCP_BASE = os.getenv("DOCKER_MCP_BASE", "http://docker-mcp:8080")
READ_TIMEOUT = float(os.getenv("READ_TIMEOUT", "4.5"))
WRITE_TIMEOUT = float(os.getenv("WRITE_TIMEOUT", "30"))

class ToolError(Exception): ...

class DockerMCPClient:
    def __init__(self, base=MCP_BASE):
        self.base = base

    def call(self, fn: str, args: Dict[str, Any], mutating: bool = False) -> Dict[str, Any]:
        url = f"{self.base}/tools/{fn}"
        timeout = WRITE_TIMEOUT if mutating else READ_TIMEOUT
        r = httpx.post(url, json=args, timeout=timeout)
        if r.status_code >= 400:
            raise ToolError(f"MCP {fn} -> {r.status_code}: {r.text[:300]}")
        return r.json()
PYEOF
    cat >"$1/main.py" <<'PYEOF'
# gateway/main.py (essentials)
from fastapi import FastAPI, HTTPException
import yaml, jsonschema
from adapters.docker_mcp import DockerMCPClient, ToolError

app = FastAPI()
mcp = DockerMCPClient()

with open("policy.yaml") as f: POLICY = yaml.safe_load(f)
with open("tool_registry.yaml") as f: REG = yaml.safe_load(f)

def validate_schema(tool_name, args):
    schema = POLICY["schemas"].get(tool_name, {"type":"object","additionalProperties":True})
    jsonschema.validate(instance=args, schema=schema)

@app.post("/chat/tool")
def run_tool(payload: dict):
    tool_name = payload["tool"]
    args = payload.get("args", {})
    role = payload.get("role", "standard")

    if tool_name not in REG["tools"]:
        raise HTTPException(400, "Unknown tool")

    tool = REG["tools"][tool_name]
    mut = bool(tool.get("mutating"))

    # Validate args
    try:
        validate_schema(tool_name, args)
    except jsonschema.ValidationError as e:
        raise HTTPException(400, f"Bad args: {e.message}")

    # RBAC & approvals
    if mut and not payload.get("approved"):
        return {"need_approval": True, "tool": tool_name, "args": args, "rationale": tool.get("summary", "Mutating action")}

    if mut and tool.get("roles") and role not in tool["roles"]:
        raise HTTPException(403, "Not authorized")

    # Execute
    try:
        result = mcp.call(tool["mcp"]["fn"], args, mutating=mut)
    except ToolError as e:
        raise HTTPException(502, str(e))

    return {"ok": True, "tool": tool_name, "result": result}
PYEOF
}

# --- 3. processes -----------------------------------------------------------------------
# Starts "$@" in the background with its output in LOGS/NAME.log; sets STARTED_PID and
# STARTED_T0 (ns, just before the start).
start_bg() { # NAME CMD...
    local name="$1"
    shift
    STARTED_T0="$(date +%s%N)"
    "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# Stops one process started by start_bg before the end, and forgets it.
stop_bg() { # PID
    local pid="$1" kept=() p
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [ "$p" = "$pid" ] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

wait_ready() { # NAME URL T0 -> ms
    local ms
    if ! ms="$("$BENCH" wait "$2" "$3" 30000)"; then
        tail -n 30 "$LOGS/$1.log" >&2 || true
        die "$1 did not become ready ($2)"
    fi
    echo "$ms"
}

# Our binary with none of the caller's settings (an array, not a function, so that a
# background start execs it and $! is its pid).
OURS=(env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME -u DOCKER_MCP_LISTEN -u DOCKER_MCP_ALLOWED_HOSTS
    -u GATEWAY_REGISTRY -u GATEWAY_POLICY -u GATEWAY_TOKENS_FILE -u GATEWAY_LISTEN
    -u GATEWAY_ALLOWED_HOSTS -u OPS_COPILOT_DATA_DIR LOG_LEVEL=info "$BIN")

# --- 4. containers ----------------------------------------------------------------------
FILLERS=0
fill_to() { # N: add filler containers until N containers run on the Engine
    local want="$1" have need
    have="$(running_count)"
    need=$((want - have))
    if [ "$need" -le 0 ]; then
        say "$have containers already run (wanted $want): no fillers added"
        return 0
    fi
    say "starting $need filler containers ($have running, want $want)"
    seq $((FILLERS + 1)) $((FILLERS + need)) |
        xargs -P 4 -I{} docker run -d --name "$RUN_ID-fill-{}" --label "$BENCH_LABEL=$RUN_ID" \
            --network none --log-driver none --restart no --entrypoint /bin/sleep \
            "$FILLER_IMAGE" 86400 >/dev/null
    FILLERS=$((FILLERS + need))
}

# Waits until docker-mcp's docker_ps lists as many containers as the Engine runs.
wait_cache() {
    local engine served
    for _ in $(seq 1 100); do
        engine="$(running_count)"
        served="$(curl -s -X POST "$MCP_URL/tools/docker_ps" -H 'Content-Type: application/json' -d '{}' |
            "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("count", -1))' 2>/dev/null || echo -1)"
        if [ "$engine" = "$served" ]; then
            echo "$served"
            return 0
        fi
        sleep 0.1
    done
    say "docker-mcp lists $served containers, the Engine runs $engine (still changing?)"
    echo "$served"
}

# --- 5. measurements --------------------------------------------------------------------
latency() { # OUT SPEC_JSON
    "$BENCH" latency "$2" >"$1" || die "ops-bench latency failed (spec: $2)"
}

json_str() { "$VENV/bin/python" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

run_wrk() { # NAME URL BODY TOKEN PID...
    local name="$1" url="$2" body="$3" token="$4" rss_pid
    shift 4
    "$BENCH" rss "$WRK_SECONDS" 100 "$@" >"$RES/rss-$name.json" &
    rss_pid=$!
    BENCH_BODY="$body" BENCH_TOKEN="$token" wrk -t1 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" \
        --timeout 10s -s "$HERE/post_json.lua" "$url" >"$LOGS/wrk-$name.log" 2>&1 ||
        die "wrk $name failed: $(tail -n 5 "$LOGS/wrk-$name.log")"
    wait "$rss_pid"
    grep '^BENCH_JSON ' "$LOGS/wrk-$name.log" | sed 's/^BENCH_JSON //' >"$RES/wrk-$name.json"
    [ -s "$RES/wrk-$name.json" ] || die "no result from wrk $name"
}

machine_info() {
    kv cpu_model "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    kv cpu_cores "$(nproc)"
    kv mem_total_kb "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    kv kernel "$(uname -sr)"
    kv os "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)"
    kv docker "$(docker version --format 'Engine {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null)"
    kv compose "$("${COMPOSE[@]}" version --short 2>/dev/null || true)"
    kv rustc "$(rustc --version)"
    kv python "$("$VENV/bin/python" --version 2>&1)"
    kv python_packages "$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null |
        grep -iE '^(mcp|mcp-server-docker|fastapi|uvicorn|httpx|pyyaml|jsonschema|docker)==' | tr '\n' ' ')"
    kv wrk "$(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')"
    kv git "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    kv git_dirty "$(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^??' || true)"
}

# Load from outside this run: the load average and other compilers at work.
note_load() { # PHASE
    kv "load_$1" "$(cut -d' ' -f1-3 /proc/loadavg)"
    kv "others_$1" "$( (pgrep -c -x rustc || true; pgrep -c -x cargo || true; pgrep -c -x cc1 || true) | paste -sd' ')"
}

# --- 6. live operations (issue 13): `all` on a 30-container stack, measured as people use it
proc_cpu_ticks() { # PID -> utime+stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

engine_cpu_ticks() { # the Engine's own processes: dockerd + containerd
    local total=0 pid
    for pid in $(pidof dockerd containerd 2>/dev/null); do
        total=$((total + $(proc_cpu_ticks "$pid")))
    done
    echo "$total"
}

live_sign_in() { # WEB USER PASSWORD JAR
    local form csrf code
    form="$(curl -s -m 10 -c "$4" "$1/login")"
    csrf="$(grep -o 'name="csrf_token"[^>]*' <<<"$form" | sed -n 's/.*value="\([^"]*\)".*/\1/p' | head -n 1)"
    code="$(curl -s -m 30 -o /dev/null -w '%{http_code}' -b "$4" -c "$4" --data-urlencode "username=$2" \
        --data-urlencode "password=$3" --data-urlencode "csrf_token=$csrf" "$1/login")"
    [ "$code" = 303 ] || die "signing in to $1 as $2 failed (HTTP $code)"
}

live_phase() {
    # The directory's name is the compose project's, for compose and for `all` alike.
    local dir="$WORK/$RUN_ID-live" i svc p_web p_gw p_mcp web t0 t1 e0 e1 cpu0 cpu1 jar pids=() rss_pid
    local services=30 talkers=10 idle_seconds=60 stream_seconds=120
    mkdir -p "$dir/data"
    {
        echo "# bench/run.sh: $services services for the live-operations rows; $talkers print 5 lines a second."
        echo "services:"
        for i in $(seq -w 1 "$services"); do
            echo "  svc$i:"
            echo "    image: $FILLER_IMAGE"
            echo "    labels: { $BENCH_LABEL: \"$RUN_ID\" }"
            echo "    stop_grace_period: 1s"
            echo "    entrypoint: [\"/bin/sh\", \"-c\"]"
            if [ "$((10#$i))" -le "$talkers" ]; then
                echo "    command: [\"i=0; while true; do i=\$\$((i+1)); echo \\\"[Info] svc$i: tick \$\$i apikey=0123456789abcdef0123456789abcdef\\\"; usleep 200000; done\"]"
            else
                echo "    command: [\"while true; do sleep 60; done\"]"
            fi
        done
    } >"$dir/docker-compose.yml"
    say "live operations: $services services ($talkers writing 5 lines a second), ops-copilot all on them"
    (cd "$dir" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "${COMPOSE[@]}" up -d >"$LOGS/live-up.log" 2>&1) ||
        die "the live stack did not start: $(tail -n 20 "$LOGS/live-up.log")"
    p_web="$(free_port)"
    p_gw="$(free_port)"
    p_mcp="$(free_port)"
    start_bg live-all "${OURS[@]}" all --compose-file "$dir/docker-compose.yml" --data-dir "$dir/data" \
        --listen "127.0.0.1:$p_web" --gateway-listen "127.0.0.1:$p_gw" --docker-mcp-listen "127.0.0.1:$p_mcp"
    LIVE_PID=$STARTED_PID
    kv pid_live "$LIVE_PID"
    web="http://127.0.0.1:$p_web"
    wait_ready live-all "$web/health" "$STARTED_T0" >/dev/null
    for i in 1 2 3; do
        printf 'bench-live-password-%s\n' "$i" |
            "${OURS[@]}" pi-health user add "bench$i" --role admin --data-dir "$dir/data" >>"$LOGS/live-users.log" 2>&1 ||
            die "pi-health user add failed: $(tail -n 5 "$LOGS/live-users.log")"
        live_sign_in "$web" "bench$i" "bench-live-password-$i" "$dir/cookies-$i"
    done
    curl -sf -m 20 -b "$dir/cookies-1" "$web/api/containers" >/dev/null || die "the live stack's containers are not readable"

    # Idle, no page open: only the Engine's event stream is followed.
    sleep 5
    kv live_mem_idle "$("$BENCH" mem "$LIVE_PID")"
    cpu0="$(proc_cpu_ticks "$LIVE_PID")"
    e0="$(engine_cpu_ticks)"
    sleep "$idle_seconds"
    cpu1="$(proc_cpu_ticks "$LIVE_PID")"
    e1="$(engine_cpu_ticks)"
    kv live_idle_seconds "$idle_seconds"
    kv live_idle_cpu_ticks "$((cpu1 - cpu0))"
    kv live_idle_engine_ticks "$((e1 - e0))"
    kv clk_tck "$(getconf CLK_TCK)"

    # One stats round of the 30 containers (what the first page to ask costs), against
    # `docker stats --no-stream` for the same containers.
    cpu0="$(engine_cpu_ticks)"
    t0="$(date +%s%N)"
    curl -sf -m 120 -b "$dir/cookies-1" "$web/api/containers/stats" >"$RES/live-stats.json" ||
        die "GET /api/containers/stats failed: $(tail -n 20 "$LOGS/live-all.log")"
    t1="$(date +%s%N)"
    cpu1="$(engine_cpu_ticks)"
    kv live_stats_round_ms "$(((t1 - t0) / 1000000))"
    kv live_stats_round_engine_ticks "$((cpu1 - cpu0))"
    local ids
    ids="$(docker ps -q --filter "label=com.docker.compose.project=$RUN_ID-live")"
    kv live_stats_containers "$(wc -w <<<"$ids")"
    sleep 2
    cpu0="$(engine_cpu_ticks)"
    t0="$(date +%s%N)"
    # shellcheck disable=SC2086
    docker stats --no-stream $ids >/dev/null || die "docker stats failed"
    t1="$(date +%s%N)"
    cpu1="$(engine_cpu_ticks)"
    kv live_docker_stats_ms "$(((t1 - t0) / 1000000))"
    kv live_docker_stats_engine_ticks "$((cpu1 - cpu0))"

    # Live logs open on the 10 writing services (three people: 4, 4 and 2 streams) while
    # the Containers page asks for stats every 15 s: resident memory and CPU over the phase.
    "$BENCH" rss "$stream_seconds" 500 "$LIVE_PID" >"$RES/rss-live.json" &
    rss_pid=$!
    for i in $(seq 1 "$talkers"); do
        svc="svc$(printf '%02d' "$i")"
        jar="$dir/cookies-$(((i - 1) / 4 + 1))"
        curl -sN -m "$((stream_seconds + 10))" -b "$jar" "$web/api/logs/follow?service=$svc&tail=200" \
            >"$RES/live-stream-$svc.txt" 2>/dev/null &
        pids+=($!)
    done
    cpu0="$(proc_cpu_ticks "$LIVE_PID")"
    t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$stream_seconds" ]; do
        curl -s -m 60 -b "$dir/cookies-1" "$web/api/containers/stats" >"$RES/live-stats-last.json" || true
        sleep 15
    done
    cpu1="$(proc_cpu_ticks "$LIVE_PID")"
    wait "$rss_pid" || true
    kv live_streams_seconds "$((SECONDS - t0))"
    kv live_streams_cpu_ticks "$((cpu1 - cpu0))"
    kv live_mem_streams "$("$BENCH" mem "$LIVE_PID")"
    for i in "${pids[@]}"; do kill "$i" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    local lines=0 opened=0 f
    for f in "$RES"/live-stream-svc*.txt; do
        lines=$((lines + $(grep -c '^event: line' "$f" || true)))
        grep -q '^event: line' "$f" && opened=$((opened + 1))
        if grep -q '0123456789abcdef0123456789abcdef' "$f"; then die "a followed line kept its API key: $f"; fi
    done
    kv live_streams_open "$opened"
    kv live_stream_lines "$lines"
    stop_bg "$LIVE_PID"
    (cd "$dir" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "${COMPOSE[@]}" down -t 1 >/dev/null 2>&1) || true
}

# The ARR test stack; its directory name is the compose project name. Sets STACK_DIR and
# STACK_FILE (taken down by cleanup).
stack_up() {
    STACK_DIR="$WORK/$RUN_ID"
    mkdir -p "$STACK_DIR"
    cp "$REPO/testing/arr-stack/docker-compose.yml" "$STACK_DIR/docker-compose.yml"
    STACK_FILE="$STACK_DIR/docker-compose.yml"
    say "bringing up the ARR test stack ($RUN_ID)"
    (cd "$STACK_DIR" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME OPS_TEST_RUN_ID="$RUN_ID" \
        "${COMPOSE[@]}" up -d) >"$LOGS/compose-up.log" 2>&1 || die "compose up failed: $(tail -n 5 "$LOGS/compose-up.log")"
    kv project "$RUN_ID"
}

# --- 7. several Docker hosts (issue 15) -------------------------------------------------
# Five docker-mcp on this machine's one Engine and the same compose file (what is measured
# is the gateway's routing and pi-health's fan-out, not the Engines); h5 optionally behind
# a fixed delay (a host farther away). Three gateways with 1, 2 and 5 hosts registered,
# each with its own data directory and token; pi-health on the 5-host one.
HOSTS_ROLES=10
HOSTS_ROUND_MS=5500

# Writes DIR/tool_registry.yaml and DIR/policy.yaml: the guide's files with hosts h1..hN
# (h1 is the guide's `docker-mcp` service) and the roles bench01..bench10 (as `standard`
# reads: pi-health's overview is kept 5 s per role and host, so each round of the
# overview is asked by ten people of ten roles, each read anew).
hosts_config() { # DIR FILE URL...
    "$VENV/bin/python" - "$REPO/config" "$@" "$HOSTS_ROLES" <<'PY' || die "could not write the several-hosts registry and policy"
import sys
from pathlib import Path
src, out, file, urls, roles = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:-1], int(sys.argv[-1])
registry = (src / "tool_registry.yaml").read_text()
if not registry.startswith("services:\n") or "http://docker-mcp:8080" not in registry:
    raise SystemExit("config/tool_registry.yaml: no services: block with http://docker-mcp:8080 first")
registry = registry.replace("http://docker-mcp:8080", urls[0])
extra = "".join(
    f"  docker-mcp-h{k}:\n    base_url: {url}\n    transport: http\n    auth: none\n" for k, url in enumerate(urls[1:], 2)
)
registry = registry.replace("services:\n", "services:\n" + extra, 1).rstrip("\n") + "\n\nhosts:\n"
registry += "".join(f"  h{k}: {{ service: {'docker-mcp' if k == 1 else f'docker-mcp-h{k}'} }}\n" for k in range(1, len(urls) + 1))
policy = (src / "policy.yaml").read_text()
if "/opt/stack/docker-compose.yml" not in policy or "\nroles:\n" not in policy:
    raise SystemExit("config/policy.yaml: no roles: block or no /opt/stack/docker-compose.yml")
policy = policy.replace("/opt/stack/docker-compose.yml", file)
policy = policy.replace("\nroles:\n", "\nroles:\n" + "".join(f"  bench{r:02d}: {{}}\n" for r in range(1, roles + 1)), 1)
out.mkdir(parents=True, exist_ok=True)
(out / "tool_registry.yaml").write_text(registry)
(out / "policy.yaml").write_text(policy)
PY
}

# The cookies of a curl cookie jar as one Cookie header value.
jar_cookie() { # JAR
    awk -F'\t' '(/^#HttpOnly_/ || !/^#/) && NF >= 7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$1"
}

hosts_phase() { # FILE: the compose file of a running stack
    local file="$1" dir="$WORK/hosts" i n p r pids=() mcp_urls=() gw_ports=() gw_tokens=() roles="" labels=(1 2 5 1b) label
    mkdir -p "$dir"
    note_load hosts
    if [ "${#HOST_DELAYS[@]}" != 5 ] || [ "${HOST_DELAYS[0]}" != 0 ]; then
        die "OPS_BENCH_HOST_DELAYS: five numbers, h1's 0 (h1 is also measured alone)"
    fi
    say "several hosts: 5 docker-mcp on this Engine (delays in front of h1..h5: ${HOST_DELAYS[*]} ms), gateways with 1, 2 and 5 hosts, pi-health on the 5-host one"
    for i in 1 2 3 4 5; do
        p="$(free_port)"
        start_bg "hosts-mcp-h$i" "${OURS[@]}" docker-mcp --compose-file "$file" --listen "127.0.0.1:$p"
        pids+=("$STARTED_PID")
        wait_ready "hosts-mcp-h$i" "http://127.0.0.1:$p/health" "$STARTED_T0" >/dev/null
        mcp_urls+=("http://127.0.0.1:$p")
    done
    local h1_port="${mcp_urls[0]##*:}"
    # A host farther away: a fixed delay in front of its docker-mcp.
    for i in 1 2 3 4; do
        [ "${HOST_DELAYS[$i]}" != 0 ] || continue
        p="$(free_port)"
        start_bg "hosts-delay-h$((i + 1))" "$VENV/bin/python" "$HERE/delay_proxy.py" "$p" "${mcp_urls[$i]##*:}" "${HOST_DELAYS[$i]}"
        pids+=("$STARTED_PID")
        wait_ready "hosts-delay-h$((i + 1))" "http://127.0.0.1:$p/health" "$STARTED_T0" >/dev/null
        mcp_urls[i]="http://127.0.0.1:$p"
    done
    kv hosts_delays "${HOST_DELAYS[*]}"

    for r in $(seq -w 1 "$HOSTS_ROLES"); do roles+="${roles:+,}bench$r"; done
    # Gateways with 1, 2 and 5 hosts, and a second one with 1 (its own process: how far
    # two identical gateways differ is the noise the growth is read against).
    for label in "${labels[@]}"; do
        local gwdir="$dir/gw$label" paths token
        n="${label%b}"
        hosts_config "$gwdir/config" "$file" "${mcp_urls[@]:0:$n}"
        paths=(--registry "$gwdir/config/tool_registry.yaml" --policy "$gwdir/config/policy.yaml" --data-dir "$gwdir/data")
        mkdir -p "$gwdir/data"
        token="$("${OURS[@]}" gateway token add bench --role standard "${paths[@]}" 2>>"$LOGS/token.log")" ||
            die "token add (gateway with $n hosts) failed: $(cat "$LOGS/token.log")"
        gw_tokens+=("$token")
        p="$(free_port)"
        start_bg "hosts-gw$label" "${OURS[@]}" gateway "${paths[@]}" --listen "127.0.0.1:$p"
        pids+=("$STARTED_PID")
        wait_ready "hosts-gw$label" "http://127.0.0.1:$p/health" "$STARTED_T0" >/dev/null
        gw_ports+=("$p")
    done
    local gw5="127.0.0.1:${gw_ports[2]}" ps_h1
    ps_h1="{\"file\":$(json_str "$file"),\"host\":\"h1\"}"
    for i in 0 1 2 3; do
        curl -sf -X POST "http://127.0.0.1:${gw_ports[$i]}/chat/tool" -H "Authorization: Bearer ${gw_tokens[$i]}" \
            -H 'Content-Type: application/json' -d "{\"tool\":\"compose_ps\",\"args\":$ps_h1}" >/dev/null ||
            die "compose_ps on h1 through gateway gw${labels[$i]} failed: $(tail -n 20 "$LOGS/hosts-gw${labels[$i]}.log")"
    done

    say "gateway added latency with 1, 2 and 5 hosts, and 1 again ($HOSTS_REQUESTS requests per target, interleaved)"
    local a1="{\"Authorization\":\"Bearer ${gw_tokens[0]}\"}" a2="{\"Authorization\":\"Bearer ${gw_tokens[1]}\"}"
    local a5="{\"Authorization\":\"Bearer ${gw_tokens[2]}\"}" a1b="{\"Authorization\":\"Bearer ${gw_tokens[3]}\"}" call="{\"tool\":\"compose_ps\",\"args\":$ps_h1}"
    local ps_args
    ps_args="{\"file\":$(json_str "$file")}"
    kv hosts_requests "$HOSTS_REQUESTS"
    latency "$RES/hosts-added.json" "{
      \"requests\": $HOSTS_REQUESTS, \"warmup\": 100, \"max_seconds\": 120, \"rotate\": true,
      \"targets\": [
        {\"name\":\"direct_h1\",\"addr\":\"127.0.0.1:$h1_port\",\"method\":\"POST\",\"path\":\"/tools/compose_ps\",\"body\":$ps_args},
        {\"name\":\"gw1_h1\",\"addr\":\"127.0.0.1:${gw_ports[0]}\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$a1,\"body\":$call},
        {\"name\":\"gw2_h1\",\"addr\":\"127.0.0.1:${gw_ports[1]}\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$a2,\"body\":$call},
        {\"name\":\"gw5_h1\",\"addr\":\"$gw5\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$a5,\"body\":$call},
        {\"name\":\"gw1b_h1\",\"addr\":\"127.0.0.1:${gw_ports[3]}\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$a1b,\"body\":$call}
      ]}"
    note_load hosts_overview

    # pi-health on the 5-host gateway: its token may assert the ten roles; ten people.
    local phdir="$dir/pi-health" pi_token p_web web cookies="" jar
    mkdir -p "$phdir/data"
    pi_token="$("${OURS[@]}" gateway token add pi-health --role admin --may-act-as "$roles" \
        --registry "$dir/gw5/config/tool_registry.yaml" --policy "$dir/gw5/config/policy.yaml" \
        --data-dir "$dir/gw5/data" 2>>"$LOGS/token.log")" || die "token add (pi-health) failed: $(cat "$LOGS/token.log")"
    (umask 077 && printf '%s\n' "$pi_token" >"$phdir/gateway.token")
    for r in $(seq -w 1 "$HOSTS_ROLES"); do
        printf 'bench-hosts-password-%s\n' "$r" |
            "${OURS[@]}" pi-health user add "bench$r" --role "bench$r" --data-dir "$phdir/data" >>"$LOGS/hosts-users.log" 2>&1 ||
            die "pi-health user add failed: $(tail -n 5 "$LOGS/hosts-users.log")"
    done
    p_web="$(free_port)"
    start_bg hosts-pi-health env -u OPS_COPILOT_LLM_BASE_URL -u PI_HEALTH_GATEWAY_TOKEN -u PI_HEALTH_LISTEN \
        DOCKER_MCP_BASE_URL="http://$gw5" DOCKER_MCP_COMPOSE_FILE="$file" PI_HEALTH_GATEWAY_TOKEN_FILE="$phdir/gateway.token" \
        "${OURS[@]}" pi-health --listen "127.0.0.1:$p_web" --data-dir "$phdir/data"
    pids+=("$STARTED_PID")
    web="http://127.0.0.1:$p_web"
    wait_ready hosts-pi-health "$web/health" "$STARTED_T0" >/dev/null
    for r in $(seq -w 1 "$HOSTS_ROLES"); do
        jar="$phdir/cookies-$r"
        live_sign_in "$web" "bench$r" "bench-hosts-password-$r" "$jar"
        cookies+="${cookies:+,}{\"Cookie\":$(json_str "$(jar_cookie "$jar")")}"
    done
    curl -sf -m 30 -b "$phdir/cookies-01" "$web/api/hosts" >"$RES/hosts-overview-sample.json" ||
        die "GET /api/hosts failed: $(tail -n 20 "$LOGS/hosts-pi-health.log")"
    "$VENV/bin/python" - "$RES/hosts-overview-sample.json" <<'PY' || die "the overview does not show 5 reachable hosts: $(head -c 600 "$RES/hosts-overview-sample.json")"
import json, sys
hosts = json.load(open(sys.argv[1]))["hosts"]
assert len(hosts) == 5 and all(h["reachable"] and h["services"] > 0 for h in hosts), hosts
PY

    say "all-hosts overview against each host's read ($HOSTS_ROUNDS rounds ${HOSTS_ROUND_MS} ms apart, $HOSTS_ROLES people each)"
    local singles="" as_pi
    as_pi="{\"Authorization\":\"Bearer $pi_token\",\"X-On-Behalf-Of\":\"bench01\",\"X-On-Behalf-Role\":\"bench01\"}"
    for i in 1 2 3 4 5; do
        singles+=",{\"name\":\"single_h$i\",\"addr\":\"$gw5\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$as_pi,\"repeat\":$HOSTS_ROLES,\"body\":{\"tool\":\"compose_ps\",\"args\":{\"file\":$(json_str "$file"),\"host\":\"h$i\"}}}"
    done
    kv hosts_rounds "$HOSTS_ROUNDS"
    kv hosts_roles "$HOSTS_ROLES"
    kv hosts_round_ms "$HOSTS_ROUND_MS"
    curl -s "http://$gw5/metrics" >"$RES/hosts-metrics-before.txt" || true
    latency "$RES/hosts-overview.json" "{
      \"requests\": $HOSTS_ROUNDS, \"warmup\": 1, \"round_ms\": $HOSTS_ROUND_MS, \"rotate\": true,
      \"max_seconds\": $((HOSTS_ROUNDS * HOSTS_ROUND_MS / 1000 + 60)), \"timeout_ms\": 15000,
      \"targets\": [
        {\"name\":\"overview\",\"addr\":\"127.0.0.1:$p_web\",\"method\":\"GET\",\"path\":\"/api/hosts\",\"repeat\":$HOSTS_ROLES,\"header_sets\":[$cookies]}
        $singles
      ]}"
    curl -s "http://$gw5/metrics" >"$RES/hosts-metrics-after.txt" || true
    note_load hosts_end
    # pi-health and the gateways first, then the docker-mcp they follow.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_bg "${pids[$i]}"; done
}

main() {
    ensure_tools
    ensure_venv
    kv date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    machine_info
    note_load start
    kv requests "$REQUESTS"
    kv gw_requests "$GW_REQUESTS"
    kv point_seconds "$POINT_SECONDS"
    kv wrk_seconds "$WRK_SECONDS"
    kv wrk_connections "$WRK_CONNECTIONS"
    kv count_at_requested "$AT"

    say "building (release): ops-copilot, ops-bench"
    cargo build --release --quiet -p ops-copilot -p ops-bench || die "cargo build --release failed"
    kv binary_bytes "$(stat -c %s "$BIN")"
    cp "$BIN" "$WORK/ops-copilot.stripped"
    strip "$WORK/ops-copilot.stripped" 2>/dev/null && kv binary_stripped_bytes "$(stat -c %s "$WORK/ops-copilot.stripped")"
    rm -f "$WORK/ops-copilot.stripped"

    say "test images (testing/images/build.sh)"
    "$REPO/testing/images/build.sh" 2>"$LOGS/images.log" || die "testing/images/build.sh failed: $(tail -n 5 "$LOGS/images.log")"

    if [ "${OPS_BENCH_ONLY:-}" = live ]; then
        live_phase
        "$VENV/bin/python" "$HERE/report.py" "$RES" "$OUT"
        SUCCESS=1
        return
    fi
    if [ "${OPS_BENCH_ONLY:-}" = hosts ]; then
        # Only the several-hosts rows, merged into OUT's table when it has one (the
        # other rows and their notes stay as they are).
        stack_up
        hosts_phase "$STACK_FILE"
        "$VENV/bin/python" "$HERE/report.py" "$RES" "$OUT" --merge
        SUCCESS=1
        return
    fi

    stack_up
    local file="$STACK_FILE" project="$RUN_ID"

    local engine_addr="unix:/var/run/docker.sock" api
    case "${DOCKER_HOST:-}" in
        unix://*) engine_addr="unix:${DOCKER_HOST#unix://}" ;;
        tcp://*) engine_addr="${DOCKER_HOST#tcp://}" ;;
    esac
    api="$(docker version --format '{{.Server.APIVersion}}')"
    local sab_id
    sab_id="$(docker ps -q --no-trunc --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=sabnzbd" | head -n 1)"
    [ -n "$sab_id" ] || die "the stack's sabnzbd container is not running"

    # docker-mcp (HTTP), the gateway in front of it, the guide's FastAPI gateway too.
    local p_mcp p_gw p_fa ms
    p_mcp="$(free_port)"
    start_bg docker-mcp "${OURS[@]}" docker-mcp --compose-file "$file" --listen "127.0.0.1:$p_mcp"
    MCP_PID=$STARTED_PID
    kv pid_docker_mcp "$MCP_PID"
    MCP_URL="http://127.0.0.1:$p_mcp"
    ms="$(wait_ready docker-mcp "$MCP_URL/health" "$STARTED_T0")"
    kv ready_docker_mcp_ms "$ms"

    local gwdir="$WORK/gateway"
    mkdir -p "$gwdir/config"
    sed "s|http://docker-mcp:8080|$MCP_URL|" "$REPO/config/tool_registry.yaml" >"$gwdir/config/tool_registry.yaml"
    sed "s|/opt/stack/docker-compose.yml|$file|g" "$REPO/config/policy.yaml" >"$gwdir/config/policy.yaml"
    grep -q "$MCP_URL" "$gwdir/config/tool_registry.yaml" || die "config/tool_registry.yaml has no http://docker-mcp:8080"
    grep -q "$file" "$gwdir/config/policy.yaml" || die "config/policy.yaml does not pin /opt/stack/docker-compose.yml"
    # compose_diagnose and compose_stats are not in the guide's files: registered as the
    # adaptation that `all` and deploy/config/ use does (reads, no approval, their schemas
    # with `file` const, compose_stats' longer timeout).
    "$VENV/bin/python" - "$REPO/deploy/config" "$gwdir/config" "$file" <<'PY' || die "could not add compose_diagnose and compose_stats to the bench's registry and policy"
import re, sys
from pathlib import Path
deploy, gw, file = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
def block(text: str, head: str) -> str:
    m = re.search(rf"^  {head}:\n(?:    .*\n|\n)*?(?=^  \S|^\S|\Z)", text, re.M)
    if not m:
        raise SystemExit(f"no {head} block in deploy/config")
    return m.group(0).rstrip("\n") + "\n"
for tool in ("compose_diagnose", "compose_stats"):
    entry = block((deploy / "tool_registry.yaml").read_text(), tool)
    schema = block((deploy / "policy.yaml").read_text(), tool).replace("/opt/stack/docker-compose.yml", file)
    registry = gw / "tool_registry.yaml"
    registry.write_text(registry.read_text().rstrip("\n") + "\n\n" + entry)
    policy = gw / "policy.yaml"
    text = policy.read_text()
    if "\nguards:" not in text:
        raise SystemExit("policy.yaml has no guards block")
    policy.write_text(text.replace("\nguards:", "\n" + schema + "\nguards:", 1))
PY
    local paths=(--registry "$gwdir/config/tool_registry.yaml" --policy "$gwdir/config/policy.yaml" --data-dir "$gwdir/data")
    local token
    token="$("${OURS[@]}" gateway token add bench --role standard "${paths[@]}" 2>>"$LOGS/token.log")" || die "token add failed: $(cat "$LOGS/token.log")"
    p_gw="$(free_port)"
    start_bg gateway "${OURS[@]}" gateway "${paths[@]}" --listen "127.0.0.1:$p_gw"
    GW_PID=$STARTED_PID
    kv pid_gateway "$GW_PID"
    local gw_url="http://127.0.0.1:$p_gw"
    ms="$(wait_ready gateway "$gw_url/health" "$STARTED_T0")"
    kv ready_gateway_ms "$ms"

    local fadir="$WORK/fastapi/gateway"
    write_fastapi_gateway "$fadir"
    cp "$gwdir/config/tool_registry.yaml" "$gwdir/config/policy.yaml" "$fadir/"
    p_fa="$(free_port)"
    # One uvicorn worker, access log off (its best case).
    start_bg fastapi env -C "$fadir" DOCKER_MCP_BASE="$MCP_URL" "$VENV/bin/python" -m uvicorn main:app \
        --host 127.0.0.1 --port "$p_fa" --no-access-log --log-level warning
    FA_PID=$STARTED_PID
    kv pid_fastapi "$FA_PID"
    local fa_url="http://127.0.0.1:$p_fa"
    ms="$(wait_ready fastapi "$fa_url/openapi.json" "$STARTED_T0")"
    kv ready_fastapi_ms "$ms"

    # A second baseline, for fairness: the same gateway with the one change a Python
    # programmer would make first, one shared httpx.Client instead of httpx.post (which
    # builds a client, TLS context included, on every call).
    local fpdir="$WORK/fastapi-pooled/gateway"
    mkdir -p "$(dirname "$fpdir")"
    cp -r "$fadir" "$fpdir"
    sed -i -e 's/^class ToolError(Exception): \.\.\./_CLIENT = httpx.Client()\n\nclass ToolError(Exception): .../' \
        -e 's/r = httpx\.post(url, json=args, timeout=timeout)/r = _CLIENT.post(url, json=args, timeout=timeout)/' \
        "$fpdir/adapters/docker_mcp.py"
    if ! grep -q '^_CLIENT = httpx.Client()' "$fpdir/adapters/docker_mcp.py" ||
        ! grep -q '_CLIENT.post' "$fpdir/adapters/docker_mcp.py"; then
        die "could not make the pooled FastAPI variant"
    fi
    local p_fp fp_url
    p_fp="$(free_port)"
    start_bg fastapi-pooled env -C "$fpdir" DOCKER_MCP_BASE="$MCP_URL" "$VENV/bin/python" -m uvicorn main:app \
        --host 127.0.0.1 --port "$p_fp" --no-access-log --log-level warning
    FP_PID=$STARTED_PID
    fp_url="http://127.0.0.1:$p_fp"
    wait_ready fastapi-pooled "$fp_url/openapi.json" "$STARTED_T0" >/dev/null

    local ps_args logs_args
    ps_args="{\"file\":$(json_str "$file")}"
    logs_args="{\"file\":$(json_str "$file"),\"service\":\"sabnzbd\",\"tail\":$LOGS_TAIL}"
    # Sanity: the same answer through each path before timing anything.
    curl -sf -X POST "$MCP_URL/tools/compose_ps" -H 'Content-Type: application/json' -d "$ps_args" >/dev/null ||
        die "docker-mcp compose_ps failed"
    curl -sf -X POST "$gw_url/chat/tool" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"tool\":\"compose_ps\",\"args\":$ps_args}" >/dev/null || die "gateway compose_ps failed: $(tail -n 20 "$LOGS/gateway.log")"
    curl -sf -X POST "$fa_url/chat/tool" -H 'Content-Type: application/json' \
        -d "{\"tool\":\"compose_ps\",\"args\":$ps_args}" >/dev/null || die "FastAPI gateway compose_ps failed: $(tail -n 20 "$LOGS/fastapi.log")"

    sleep 2
    kv mem_start_docker_mcp "$("$BENCH" mem "$MCP_PID")"
    kv mem_start_gateway "$("$BENCH" mem "$GW_PID")"
    kv mem_start_fastapi "$("$BENCH" mem "$FA_PID")"

    local compose_filter engine_host mcp_hostport="127.0.0.1:$p_mcp"
    compose_filter="$("$VENV/bin/python" -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps({"label":["com.docker.compose.project="+sys.argv[1]]})))' "$project")"
    engine_host="$engine_addr"

    local n count
    for n in "${COUNTS[@]}"; do
        note_load "n$n"
        fill_to "$n"
        count="$(wait_cache)"
        kv "count_$n" "$count"
        say "latency at $count running containers ($REQUESTS requests per target, interleaved)"
        latency "$RES/latency-$n.json" "{
          \"requests\": $REQUESTS, \"warmup\": 50, \"max_seconds\": $POINT_SECONDS,
          \"targets\": [
            {\"name\":\"engine_ps\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/containers/json\"},
            {\"name\":\"rest_docker_ps\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/docker_ps\",\"body\":{}},
            {\"name\":\"mcp_docker_ps\",\"kind\":\"mcp\",\"addr\":\"$mcp_hostport\",\"tool\":\"docker_ps\",\"args\":{}},
            {\"name\":\"engine_compose_ps\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/containers/json?all=1&filters=$compose_filter\"},
            {\"name\":\"rest_compose_ps\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/compose_ps\",\"body\":$ps_args},
            {\"name\":\"mcp_compose_ps\",\"kind\":\"mcp\",\"addr\":\"$mcp_hostport\",\"tool\":\"compose_ps\",\"args\":$ps_args},
            {\"name\":\"engine_logs\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/containers/$sab_id/logs?stdout=1&stderr=1&tail=$LOGS_TAIL\"},
            {\"name\":\"rest_compose_logs\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/compose_logs\",\"body\":$logs_args},
            {\"name\":\"mcp_compose_logs\",\"kind\":\"mcp\",\"addr\":\"$mcp_hostport\",\"tool\":\"compose_logs\",\"args\":$logs_args}
          ]}"
        kv "count_after_$n" "$(running_count)"
        if [ "$n" = "${COUNTS[0]}" ]; then
            sleep 1
            kv mem_idle_docker_mcp "$("$BENCH" mem "$MCP_PID")"
            kv mem_idle_gateway "$("$BENCH" mem "$GW_PID")"
            kv mem_idle_fastapi "$("$BENCH" mem "$FA_PID")"
        fi
        [ "$n" = "$AT" ] || continue

        kv count_at "$count"
        say "gateway added latency: ours and the guide's FastAPI gateway, same docker-mcp ($GW_REQUESTS requests per target)"
        local auth="{\"Authorization\":\"Bearer $token\"}"
        latency "$RES/gateway.json" "{
          \"requests\": $GW_REQUESTS, \"warmup\": 30, \"max_seconds\": 90,
          \"targets\": [
            {\"name\":\"direct_compose_ps\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/compose_ps\",\"body\":$ps_args},
            {\"name\":\"gw_compose_ps\",\"addr\":\"127.0.0.1:$p_gw\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$auth,\"body\":{\"tool\":\"compose_ps\",\"args\":$ps_args}},
            {\"name\":\"fastapi_compose_ps\",\"addr\":\"127.0.0.1:$p_fa\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"body\":{\"tool\":\"compose_ps\",\"args\":$ps_args}},
            {\"name\":\"direct_docker_ps\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/docker_ps\",\"body\":{}},
            {\"name\":\"gw_docker_ps\",\"addr\":\"127.0.0.1:$p_gw\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$auth,\"body\":{\"tool\":\"docker_ps\",\"args\":{}}},
            {\"name\":\"fastapi_docker_ps\",\"addr\":\"127.0.0.1:$p_fa\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"body\":{\"tool\":\"docker_ps\",\"args\":{}}},
            {\"name\":\"fastapi_pooled_compose_ps\",\"addr\":\"127.0.0.1:$p_fp\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"body\":{\"tool\":\"compose_ps\",\"args\":$ps_args}},
            {\"name\":\"fsync_data_dir\",\"kind\":\"fsync\",\"dir\":$(json_str "$gwdir/data")}
          ]}"

        # compose_diagnose (inspect + logs tail 500 + the event history) through the gateway,
        # against the raw Engine calls that gather the same evidence.
        say "compose_diagnose through the gateway against the raw Engine calls ($GW_REQUESTS requests per target)"
        local diag_args="{\"file\":$(json_str "$file"),\"service\":\"sabnzbd\"}"
        # The same evidence the raw way includes the container's events of the last
        # 10 minutes (its starts, deaths, OOM kills, health changes), which docker-mcp
        # keeps in memory from the event stream it follows anyway.
        local now_s events_filter
        now_s="$(date +%s)"
        events_filter="$(printf '%%7B%%22container%%22%%3A%%5B%%22%s%%22%%5D%%7D' "$sab_id")"
        curl -sf -X POST "$gw_url/chat/tool" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d "{\"tool\":\"compose_diagnose\",\"args\":$diag_args}" >/dev/null ||
            die "gateway compose_diagnose failed: $(tail -n 20 "$LOGS/gateway.log")"
        latency "$RES/diagnose.json" "{
          \"requests\": $GW_REQUESTS, \"warmup\": 30, \"max_seconds\": 90,
          \"targets\": [
            {\"name\":\"engine_inspect\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/containers/$sab_id/json\"},
            {\"name\":\"engine_events_10min\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/events?since=$((now_s - 600))&until=$now_s&filters=$events_filter\"},
            {\"name\":\"engine_logs_500\",\"addr\":\"$engine_host\",\"method\":\"GET\",\"path\":\"/v$api/containers/$sab_id/logs?stdout=1&stderr=1&tail=500\"},
            {\"name\":\"direct_compose_diagnose\",\"addr\":\"$mcp_hostport\",\"method\":\"POST\",\"path\":\"/tools/compose_diagnose\",\"body\":$diag_args},
            {\"name\":\"gw_compose_diagnose\",\"addr\":\"127.0.0.1:$p_gw\",\"method\":\"POST\",\"path\":\"/chat/tool\",\"headers\":$auth,\"body\":{\"tool\":\"compose_diagnose\",\"args\":$diag_args}}
          ]}"

        say "MCP over stdio with the MCP Python SDK: ours (docker_ps) and mcp-server-docker (list containers)"
        (cd "$WORK" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME LOG_LEVEL=info \
            "$VENV/bin/python" "$HERE/stdio_mcp.py" --label ours --tool docker_ps --calls 500 --max-seconds 15 \
            --errlog "$LOGS/stdio-ours.log" -- "$BIN" docker-mcp --compose-file "$file" --stdio) \
            >"$RES/stdio-ours.json" 2>"$LOGS/stdio-ours-client.log" ||
            die "stdio run (ours) failed: $(tail -n 20 "$LOGS/stdio-ours-client.log")"
        (cd "$WORK" && "$VENV/bin/python" "$HERE/stdio_mcp.py" --label mcp-server-docker \
            --calls 500 --max-seconds 15 --errlog "$LOGS/stdio-peer.log" -- "$VENV/bin/mcp-server-docker") \
            >"$RES/stdio-peer.json" 2>"$LOGS/stdio-peer-client.log" ||
            die "stdio run (mcp-server-docker) failed: $(tail -n 20 "$LOGS/stdio-peer-client.log")"

        say "throughput with wrk ($WRK_CONNECTIONS connections, ${WRK_SECONDS}s each): our gateway, the FastAPI gateway (as written, and pooled), docker-mcp alone"
        local chat_body="{\"tool\":\"compose_ps\",\"args\":$ps_args}"
        curl -s "$gw_url/metrics" >"$RES/metrics-before.txt" || true
        run_wrk gateway "$gw_url/chat/tool" "$chat_body" "$token" "$MCP_PID" "$GW_PID"
        curl -s "$gw_url/metrics" >"$RES/metrics-after.txt" || true
        sleep 1
        run_wrk fastapi "$fa_url/chat/tool" "$chat_body" "" "$MCP_PID" "$FA_PID"
        sleep 1
        run_wrk fastapi-pooled "$fp_url/chat/tool" "$chat_body" "" "$MCP_PID" "$FP_PID"
        sleep 1
        run_wrk docker-mcp "$MCP_URL/tools/compose_ps" "$ps_args" "" "$MCP_PID"
        sleep 1

        # The issue's memory target is for `ops-copilot all` (docker-mcp, the gateway and
        # pi-health in one process): the same load through its gateway.
        say "ops-copilot all: the same wrk load through its gateway"
        local alldir="$WORK/all" all_token p_all p_all_gw p_all_mcp all_url
        mkdir -p "$alldir/data"
        all_token="$("${OURS[@]}" gateway token add bench --role standard --registry "$REPO/config/tool_registry.yaml" \
            --policy "$REPO/config/policy.yaml" --data-dir "$alldir/data" 2>>"$LOGS/token.log")" ||
            die "token add (all) failed: $(cat "$LOGS/token.log")"
        p_all="$(free_port)"
        p_all_gw="$(free_port)"
        p_all_mcp="$(free_port)"
        start_bg all "${OURS[@]}" all --compose-file "$file" --data-dir "$alldir/data" --listen "127.0.0.1:$p_all" \
            --gateway-listen "127.0.0.1:$p_all_gw" --docker-mcp-listen "127.0.0.1:$p_all_mcp"
        ALL_PID=$STARTED_PID
        kv pid_all "$ALL_PID"
        all_url="http://127.0.0.1:$p_all_gw"
        ms="$(wait_ready all "$all_url/health" "$STARTED_T0")"
        kv ready_all_ms "$ms"
        curl -sf -X POST "$all_url/chat/tool" -H "Authorization: Bearer $all_token" -H 'Content-Type: application/json' \
            -d "$chat_body" >/dev/null || die "compose_ps through ops-copilot all failed: $(tail -n 20 "$LOGS/all.log")"
        sleep 1
        kv mem_start_all "$("$BENCH" mem "$ALL_PID")"
        run_wrk all "$all_url/chat/tool" "$chat_body" "$all_token" "$ALL_PID"
        sleep 1
        kv mem_end_all "$("$BENCH" mem "$ALL_PID")"
        stop_bg "$ALL_PID"

        sleep 1
        kv mem_after_load_docker_mcp "$("$BENCH" mem "$MCP_PID")"
        kv mem_after_load_gateway "$("$BENCH" mem "$GW_PID")"
        kv mem_after_load_fastapi "$("$BENCH" mem "$FA_PID")"
        note_load "after_load"
    done
    note_load live
    live_phase
    hosts_phase "$file"
    note_load end
    kv mem_end_docker_mcp "$("$BENCH" mem "$MCP_PID")"
    kv mem_end_gateway "$("$BENCH" mem "$GW_PID")"
    kv mem_end_fastapi "$("$BENCH" mem "$FA_PID")"
    # The audit log holds one record per call: check it is intact after the load.
    "${OURS[@]}" audit verify --data-dir "$gwdir/data" >"$RES/audit-verify.txt" 2>&1 || true

    "$VENV/bin/python" "$HERE/report.py" "$RES" "$OUT"
    SUCCESS=1
}

main "$@"
