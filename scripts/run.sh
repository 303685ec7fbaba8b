#!/usr/bin/env bash
# The quick start: scripts/run.sh [COMPOSE_FILE]
#
# Runs `ops-copilot all` in the foreground (Ctrl-C stops it) on the embedded defaults:
# the web app on http://127.0.0.1:8080, the gateway on 127.0.0.1:8090, docker-mcp on
# 127.0.0.1:8091, locked to one compose file:
#
#   scripts/run.sh                                    the demo stack (testing/ops-copilot-demo):
#                                                     its images are built here from busybox,
#                                                     with no registry, and it is (re)started
#   scripts/run.sh /opt/stack/docker-compose.yml      your stack (started as you start it);
#                                                     no demo, nothing else is built
#
# On a Debian machine with Docker Engine (and Rust) installed, it:
#   1. installs what is missing (as root, with apt-get): gcc and libc6-dev for the build,
#      curl, and for the demo busybox-static and a compose tool (`docker compose` v2 or
#      Debian's `docker-compose` v1); without root it says what to install and fails
#   2. checks that the Docker Engine answers; fails loudly if not
#   3. builds ops-copilot: the static release build deploy/build.sh makes (same flags,
#      so that the two share one build; the first one takes several minutes)
#   4. demo only: testing/images/build.sh --tag ops-copilot-demo/arr:local, then the
#      demo stack down and up again (a known state at every start)
#   5. exec ops-copilot all --compose-file FILE --data-dir DATA
#
# DATA is data/<name of the compose file's directory> in this clone (git ignores data/):
# data/ops-copilot-demo for the demo. A first start there prints, once, on standard
# output: the gateway's admin token, the web sign-in (admin and a random password) and
# the commands to add principals and change the password. Logs go to standard error.
#
# Environment: CARGO_TARGET_DIR (default /var/tmp/ops-target), OPS_COPILOT_DATA_DIR
# (another data directory), and whatever `ops-copilot all` reads (PI_HEALTH_LISTEN,
# GATEWAY_LISTEN, DOCKER_MCP_LISTEN, OPS_COPILOT_LLM_*, ...; see README.md).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ops-target}"
export DEBIAN_FRONTEND=noninteractive
DEMO_FILE="$REPO/testing/ops-copilot-demo/docker-compose.yml"
DEMO_IMAGE="ops-copilot-demo/arr:local"

say() { echo "run.sh: $*" >&2; }
die() {
    {
        echo
        echo "run.sh: ERROR: $1"
        shift
        for line in "$@"; do echo "run.sh: $line"; done
    } >&2
    exit 1
}

usage() {
    sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The compose CLI, into COMPOSE (an array), or nothing.
find_compose() {
    COMPOSE=()
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    fi
}

# --- 1. system packages --------------------------------------------------------------
install_missing() { # demo: 0 or 1
    local demo="$1" missing=()
    command -v docker >/dev/null 2>&1 ||
        die "the docker CLI is not installed." "Install Docker Engine (Debian: apt-get install docker.io), start it, and run this again."
    command -v cargo >/dev/null 2>&1 ||
        die "cargo is not installed: Ops-Copilot is built from source with Rust 1.95 or newer." \
            "Install it with rustup (https://rustup.rs), open a new shell (or: . \"\$HOME/.cargo/env\"), and run this again."
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    pkg_installed libc6-dev || missing+=(libc6-dev)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if [ "$demo" = 1 ]; then
        pkg_installed busybox-static || missing+=(busybox-static)
        command -v flock >/dev/null 2>&1 || missing+=(util-linux)
        find_compose
        [ ${#COMPOSE[@]} -gt 0 ] || missing+=(docker-compose)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing: ${missing[*]}" "Install them: sudo apt-get update && sudo apt-get install -y ${missing[*]}" "Then run this again."
    fi
    say "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- 2. Docker Engine ----------------------------------------------------------------
check_docker() {
    local err
    if ! err="$(docker info 2>&1 >/dev/null)"; then
        die "the Docker Engine is not reachable: \`docker info\` failed:" "${err:0:300}" \
            "Start it (e.g. 'service docker start'), make sure you may use it (root, or the docker group), or set DOCKER_HOST."
    fi
}

# --- 3. the binary -------------------------------------------------------------------
# Exactly deploy/build.sh's build_binary (target, RUSTFLAGS, --locked): cargo then
# builds once for both, and for the deployment tests.
build_binary() {
    local triple
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    BINARY="$CARGO_TARGET_DIR/$triple/release/ops-copilot"
    say "building $BINARY (cargo build --release; the first build takes several minutes)"
    (cd "$REPO" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$triple" -p ops-copilot) ||
        die "the build failed (above)."
}

# --- 4. the demo stack ---------------------------------------------------------------
start_demo() {
    say "building the demo image $DEMO_IMAGE (testing/images/build.sh --tag; no registry)"
    "$REPO/testing/images/build.sh" --tag "$DEMO_IMAGE"
    say "starting the demo stack with ${COMPOSE[*]}: $DEMO_FILE"
    "${COMPOSE[@]}" -f "$DEMO_FILE" down --remove-orphans -t 3 >/dev/null 2>&1 || true
    "${COMPOSE[@]}" -f "$DEMO_FILE" up -d ||
        die "the demo stack did not start (above)." "Try: ${COMPOSE[*]} -f $DEMO_FILE up -d"
}

main() {
    local file demo=1
    case "${1:-}" in
        -h | --help) usage 0 ;;
        -*) say "unknown option $1 (usage below)" && usage ;;
    esac
    [ $# -le 1 ] || { say "one argument at most, the compose file (usage below)" && usage; }
    if [ $# -eq 1 ]; then
        demo=0
        [ -n "$1" ] || die "the compose file argument is empty." "Give your stack's compose file, e.g. scripts/run.sh /opt/stack/docker-compose.yml, or nothing for the demo."
        [ -e "$1" ] || die "$1 does not exist." "Give your stack's compose file, e.g. scripts/run.sh /opt/stack/docker-compose.yml, or nothing for the demo."
        [ -f "$1" ] && [ -r "$1" ] || die "$1 is not a readable file." "Give your stack's compose file (a YAML file), or nothing for the demo."
        file="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    else
        file="$DEMO_FILE"
    fi
    local name
    name="$(basename "$(dirname "$file")")"
    [ "$name" != / ] || name=root
    local data="${OPS_COPILOT_DATA_DIR:-$REPO/data/$name}"
    mkdir -p "$(dirname "$data")"
    data="$(cd "$(dirname "$data")" && pwd)/$(basename "$data")"

    install_missing "$demo"
    check_docker
    build_binary
    if [ "$demo" = 1 ]; then
        start_demo
        say "the demo stack keeps running when Ops-Copilot stops; remove it with:"
        say "  $(printf '%q ' "${COMPOSE[@]}")-f $(printf '%q' "$DEMO_FILE") down"
    fi
    say "ops-copilot is $BINARY (not on your PATH: the commands it prints use this path)"
    say "data directory: $data"
    say "exec ops-copilot all --compose-file $file --data-dir $data"
    exec "$BINARY" all --compose-file "$file" --data-dir "$data"
}

main "$@"
