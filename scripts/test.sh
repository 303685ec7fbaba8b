#!/usr/bin/env bash
# The test command: scripts/test.sh [extra args for `cargo test`]
#
# On a Debian machine with Docker Engine installed and running, it:
#   1. installs what is missing (as root, with apt-get): busybox-static, docker-registry,
#      the compose tool, curl, e2fsprogs, python3-venv, chromium + chromium-driver,
#      mosquitto + mosquitto-clients; without root it says what to install and fails
#   2. checks that the Docker Engine answers (`docker info`); starts a local one that is
#      installed but stopped (as root); fails loudly if it still does not, never skips
#   3. creates .venv (Python) with the MCP SDK 2.x and pytest, and axe-core (PyPI's
#      axe-selenium-python ships axe.min.js; its path goes to the browser tests in
#      OPS_TEST_AXE_JS)
#   4. builds the fake ARR images and pushes them to a registry on 127.0.0.1:5000
#      (testing/images/build.sh)
#   5. builds the deployment's images ops-copilot:local and ops-copilot-docker-mcp:local
#      (deploy/build.sh: a static release build, Debian's compose v2 fetched with apt)
#   6. cargo build --workspace --all-targets
#   7. cargo test --workspace --no-fail-fast "$@"
#   8. .venv/bin/pytest -q testing/interop (the official MCP SDK against our binary)
# and always removes the test compose projects (names starting "octest") that this run
# left behind, and stale ones (older than OPS_TEST_STALE_MINUTES, default 120).
#
# The registry on 127.0.0.1:5000 is left running afterwards (it says so, and how to stop
# it: testing/images/build.sh --stop-registry), except in CI.
#
# Environment: CARGO_TARGET_DIR (default /var/tmp/ops-target), CI (when "true", a
# registry started by this run is stopped at the end), OPS_TEST_RUN_ID (exported: the
# label value that marks this run's test stacks).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ops-target}"
export OPS_COPILOT_BIN="$CARGO_TARGET_DIR/debug/ops-copilot"
# For integration tests (Rust and Python): where the test fixtures live, and that a
# missing Docker Engine is a failure, not a reason to skip.
export OPS_TEST_ARR_COMPOSE="$REPO/testing/arr-stack/docker-compose.yml"
export OPS_TEST_IMAGES_BUILD="$REPO/testing/images/build.sh"
export OPS_TEST_REQUIRE_DOCKER=1
# Labels the containers of this run's test stacks (testing/arr-stack), for the cleanup.
export OPS_TEST_RUN_ID="${OPS_TEST_RUN_ID:-run-$(date +%s)-$$}"
OPS_TEST_STALE_MINUTES="${OPS_TEST_STALE_MINUTES:-120}"
export DEBIAN_FRONTEND=noninteractive

VENV="$REPO/.venv"
PY_REQS=("mcp>=2,<3" "pytest")
# Only its axe.min.js is used (run in Chromium by the pi_health browser tests), so
# it is installed without its dependencies (selenium).
AXE_REQ="axe-selenium-python==2.1.6"

say() { echo "test.sh: $*" >&2; }

loud_error() {
    {
        echo
        echo "################################################################################"
        for line in "$@"; do echo "## $line"; done
        echo "################################################################################"
        echo
    } >&2
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

have_compose() {
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1
}

python_can_venv() {
    local tmp ok=1
    tmp="$(mktemp -d)"
    python3 -m venv "$tmp/v" >/dev/null 2>&1 && [ -x "$tmp/v/bin/pip" ] && ok=0
    rm -rf "$tmp"
    return $ok
}

# --- 1. system packages --------------------------------------------------------------
install_missing() {
    if ! command -v docker >/dev/null 2>&1; then
        loud_error "docker CLI not found: install Docker Engine (Debian: apt-get install docker.io)"
        exit 1
    fi
    local missing=()
    pkg_installed busybox-static || missing+=(busybox-static)
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    # The fault suite's read-only audit disk is a small ext4 image.
    command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
    have_compose || missing+=(docker-compose)
    # pi-health's browser test: Debian's headless Chromium and its WebDriver.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    # The notifier's MQTT test runs a real broker (crates/gateway/tests/notify.rs).
    pkg_installed mosquitto || missing+=(mosquitto)
    pkg_installed mosquitto-clients || missing+=(mosquitto-clients)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    if command -v python3 >/dev/null 2>&1 && [ ! -x "$VENV/bin/python" ] && ! python_can_venv; then
        missing+=(python3-venv)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        loud_error "missing: ${missing[*]}" "install them: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- 2. Docker Engine ----------------------------------------------------------------
# A local Engine that is installed but not running (a machine booted without its
# service, or a daemon that stopped) is started when this runs as root; anything else
# that keeps `docker info` from answering fails loudly: the tests are never skipped.
start_local_docker() {
    [ "$(id -u)" = 0 ] && [ -z "${DOCKER_HOST:-}" ] && command -v dockerd >/dev/null 2>&1 || return 1
    say "the Docker Engine is not running; starting it"
    if ! service docker start >/dev/null 2>&1; then
        local log=/var/log/ops-copilot-dockerd.log
        say "'service docker start' failed; starting dockerd directly (log: $log)"
        nohup dockerd >>"$log" 2>&1 </dev/null &
    fi
    local waited=0
    while ! docker info >/dev/null 2>&1; do
        [ "$waited" -ge 60 ] && return 1
        sleep 1
        waited=$((waited + 1))
    done
    say "the Docker Engine answers (after ${waited} s)"
}

check_docker() {
    local err
    docker info >/dev/null 2>&1 && return 0
    start_local_docker || true
    if ! err="$(docker info 2>&1 >/dev/null)"; then
        loud_error "THE DOCKER ENGINE IS NOT REACHABLE: \`docker info\` failed." \
            "The integration tests need a running Docker Engine; they are never skipped." \
            "${err:0:300}" \
            "Start it (e.g. 'service docker start' or 'dockerd &'), or set DOCKER_HOST."
        exit 1
    fi
}

# --- leaked bridges of second Engines -------------------------------------------------
# The multi-host and Swarm tests start dockerds of their own (test_support::SecondEngine),
# which remove their bridges when they stop. A run killed midway leaves them behind, and
# each network bridge holds one of the Engines' default address pools: once the pools run
# out, no compose project can create its network. Removed here (as root, and only while no
# other dockerd than the machine's runs, whose bridges could be live): a bridge named as
# the fixture names them (oce*, ocg*), or a br-* of no network of the machine's Engine,
# with nothing attached.
sweep_leaked_bridges() {
    [ "$(id -u)" = 0 ] || return 0
    [ "$(ps -C dockerd --no-headers | wc -l)" -le 1 ] || return 0
    local networks path bridge
    networks="$(docker network ls -q --no-trunc | cut -c1-12)"
    for path in /sys/class/net/*; do
        bridge="${path##*/}"
        case "$bridge" in
            oce[0-9a-f][0-9a-f][0-9a-f][0-9a-f] | ocg[0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;;
            br-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])
                grep -qx "${bridge#br-}" <<<"$networks" && continue ;;
            *) continue ;;
        esac
        [ -d "$path/brif" ] || continue
        [ -z "$(ls -A "$path/brif")" ] || continue
        ip link del "$bridge" 2>/dev/null && say "removed the bridge $bridge left by a stopped test Engine"
    done
}

# --- 3. Python venv ------------------------------------------------------------------
venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1 && [ -f "$(axe_js_path)" ]
import importlib.metadata as md
import mcp.client.streamable_http, pytest  # noqa: F401
assert md.version("mcp").split(".")[0] == "2"
EOF
}

# Where axe-selenium-python keeps axe.min.js (found without importing the package,
# which would need selenium); nothing when it is not installed.
axe_js_path() {
    "$VENV/bin/python" - <<'EOF' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("axe_selenium_python")
print(os.path.join(spec.submodule_search_locations[0], "node_modules", "axe-core", "axe.min.js"))
EOF
}

ensure_venv() {
    venv_ok && return 0
    say "creating $VENV with ${PY_REQS[*]}"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_REQS[@]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$AXE_REQ"
    venv_ok || {
        loud_error "the Python venv at $VENV does not provide mcp 2.x, pytest and axe-core's axe.min.js ($AXE_REQ)"
        exit 1
    }
}

# --- cleanup -------------------------------------------------------------------------
# Removes the compose projects named octest* that this run created (their containers
# carry org.ops-copilot.test-run=$OPS_TEST_RUN_ID, see testing/arr-stack) and those
# whose newest container is older than $OPS_TEST_STALE_MINUTES (left by crashed runs).
# Other octest projects, e.g. another developer's tests on the same Engine, survive.
cleanup_test_projects() {
    local label=com.docker.compose.project now ids projects p n
    docker info >/dev/null 2>&1 || return 0
    now="$(date +%s)"
    ids="$(docker ps -aq --filter "label=$label")"
    [ -n "$ids" ] || return 0
    # project, run id, created (epoch seconds); then one line per project to remove.
    projects="$(
        # shellcheck disable=SC2086
        docker inspect -f "{{index .Config.Labels \"$label\"}} {{index .Config.Labels \"org.ops-copilot.test-run\"}} {{.Created}}" $ids 2>/dev/null |
            while read -r p run created; do
                case "$p" in octest*) ;; *) continue ;; esac
                echo "$p ${run:--} $(date -d "$created" +%s 2>/dev/null || echo "$now")"
            done |
            awk -v run="$OPS_TEST_RUN_ID" -v now="$now" -v stale="$((OPS_TEST_STALE_MINUTES * 60))" '
                { if ($2 == run) ours[$1] = 1; if ($3 > newest[$1]) newest[$1] = $3 }
                END { for (p in newest) if (ours[p] || now - newest[p] > stale) print p }'
    )"
    [ -n "$projects" ] || return 0
    n=0
    for p in $projects; do
        n=$((n + 1))
        docker ps -aq --filter "label=$label=$p" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
        docker network ls -q --filter "label=$label=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
        docker volume ls -q --filter "label=$label=$p" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    done
    say "removed $n leftover test compose project(s): $(echo "$projects" | tr '\n' ' ')"
    # Variant images pulled by update tests, now unused.
    docker image prune -f --filter label=org.ops-copilot.arr-inputs >/dev/null 2>&1 || true
}

REGISTRY_STARTED_HERE=0
on_exit() {
    local rc=$?
    cleanup_test_projects || true
    if [ "$REGISTRY_STARTED_HERE" = 1 ] && [ "${CI:-}" = true ]; then
        "$REPO/testing/images/build.sh" --stop-registry || true
    elif registry_up; then
        local started="started by an earlier run"
        [ "$REGISTRY_STARTED_HERE" = 1 ] && started="started by this run"
        say "the local registry on 127.0.0.1:5000 ($started) keeps running, with the test images," \
            "for a faster next run; stop it with: $REPO/testing/images/build.sh --stop-registry"
    fi
    exit $rc
}

registry_up() {
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:5000/v2/ 2>/dev/null || true)" = 200 ]
}

main() {
    install_missing
    check_docker
    sweep_leaked_bridges
    trap on_exit EXIT
    ensure_venv
    # The browser tests' accessibility checks (they fail without it under CI=true).
    OPS_TEST_AXE_JS="$(axe_js_path)"
    export OPS_TEST_AXE_JS
    say "axe-core for the browser tests: $OPS_TEST_AXE_JS"

    local registry_before=0
    registry_up && registry_before=1
    say "building test images (testing/images/build.sh)"
    "$REPO/testing/images/build.sh"
    [ "$registry_before" = 1 ] || REGISTRY_STARTED_HERE=1

    say "building the deployment images (deploy/build.sh)"
    "$REPO/deploy/build.sh"

    say "cargo build --workspace --all-targets (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --workspace --all-targets

    local failed=()
    # --no-fail-fast: one failing test binary must not hide the others' results.
    say "cargo test --workspace --no-fail-fast $*"
    cargo test --workspace --no-fail-fast "$@" || failed+=("cargo test")

    say "pytest testing/interop (OPS_COPILOT_BIN=$OPS_COPILOT_BIN)"
    "$VENV/bin/pytest" -q testing/interop || failed+=("pytest testing/interop")

    if [ ${#failed[@]} -gt 0 ]; then
        loud_error "FAILED: ${failed[*]}"
        exit 1
    fi
}

main "$@"
