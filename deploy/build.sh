#!/usr/bin/env bash
# deploy/build.sh: builds the Ops-Copilot images on this machine, with no
# container registry (see deploy/README.md):
#
#   ops-copilot:local             FROM scratch, the static binary (ai-gateway, pi-health)
#   ops-copilot-docker-mcp:local  the same plus Debian's compose CLI v2 (compose_up)
#
# 1. cargo build --release of a static binary for this machine's target (x86_64 or,
#    on a Raspberry Pi 5, aarch64), glibc linked in (-C target-feature=+crt-static);
# 2. Debian's docker-compose package (v2, a Go program) fetched with apt, which
#    checks the archive's signatures, from the suite $OPS_COMPOSE_SUITE (default
#    trixie: bookworm only has the Python v1), and the C library it links;
# 3. a staging directory as the build context, then `docker build` of both targets.
#
# Environment: CARGO_TARGET_DIR (default /var/tmp/ops-target), OPS_IMAGE_TAG (default
# local), OPS_COMPOSE_SUITE (default trixie), OPS_DEPLOY_CACHE (apt's lists and the
# package, default /var/tmp/ops-deploy-cache). Needs root for apt (or a cached package).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ops-target}"
TAG="${OPS_IMAGE_TAG:-local}"
SUITE="${OPS_COMPOSE_SUITE:-trixie}"
CACHE="${OPS_DEPLOY_CACHE:-/var/tmp/ops-deploy-cache}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
ARCH="$(dpkg --print-architecture)"

say() { echo "deploy/build.sh: $*" >&2; }

build_binary() {
    say "cargo build --release --target $TRIPLE (static)"
    (cd "$REPO" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$TRIPLE" -p ops-copilot)
    BINARY="$CARGO_TARGET_DIR/$TRIPLE/release/ops-copilot"
    if ldd "$BINARY" 2>&1 | grep -q '=>'; then
        say "$BINARY is not static: ldd lists libraries"
        exit 1
    fi
}

# Debian's docker-compose package from $SUITE, through apt with its own lists
# (the machine's sources stay as they are); prints the .deb's path.
fetch_compose() {
    local apt_dir="$CACHE/apt-$SUITE-$ARCH" deb
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" >"$apt_dir/sources.list"
    local apt_options=(
        -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir"
        -o "APT::Architecture=$ARCH" -o APT::Architectures= -o Debug::NoLocking=1
        -o APT::Sandbox::User=root
    )
    if apt-get "${apt_options[@]}" -qq update >&2 2>"$apt_dir/update.log"; then
        (cd "$apt_dir" && apt-get "${apt_options[@]}" -qq download "docker-compose:$ARCH" >&2)
    else
        say "apt-get update for $SUITE failed ($(tail -1 "$apt_dir/update.log")); trying the cached package"
    fi
    deb="$(ls -t "$apt_dir"/docker-compose_*_"$ARCH".deb 2>/dev/null | head -1 || true)"
    if [ -z "$deb" ]; then
        say "no docker-compose package for $SUITE/$ARCH: apt could not fetch it"
        exit 1
    fi
    echo "$deb"
}

# The compose CLI and the libraries its ELF interpreter loads, at their paths.
stage_compose() {
    local deb="$1" into="$2" unpacked lib
    unpacked="$(mktemp -d)"
    dpkg-deb -x "$deb" "$unpacked"
    install -D -m 0755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$into/usr/local/bin/docker-compose"
    rm -rf "$unpacked"
    for lib in $(ldd "$into/usr/local/bin/docker-compose" | grep -o '/[^ ]*'); do
        install -D -m 0755 "$(readlink -f "$lib")" "$into$lib"
    done
    "$into/usr/local/bin/docker-compose" version >&2
}

stage() {
    local context="$1"
    # audit-seal: the gateway's sealing key and witness, on their own volume (an empty
    # named volume takes this directory's owner and mode on first use).
    mkdir -p "$context/rootfs/etc" "$context/owned/data" "$context/owned/audit-seal" \
        "$context/owned/tmp" "$context/compose"
    printf 'root:x:0:0:root:/:/nonexistent\nops:x:10001:10001:ops-copilot:/data:/nonexistent\n' >"$context/rootfs/etc/passwd"
    printf 'root:x:0:\nops:x:10001:\n' >"$context/rootfs/etc/group"
    chmod 0700 "$context/owned/data" "$context/owned/audit-seal"
    chmod 1777 "$context/owned/tmp"
    install -m 0755 "$BINARY" "$context/ops-copilot"
    stage_compose "$(fetch_compose)" "$context/compose"
}

main() {
    mkdir -p "$CACHE"
    build_binary
    CONTEXT="$(mktemp -d)"
    trap 'rm -rf "$CONTEXT"' EXIT
    stage "$CONTEXT"
    local target image
    for target in ops-copilot docker-mcp; do
        image="ops-copilot:$TAG"
        [ "$target" = docker-mcp ] && image="ops-copilot-docker-mcp:$TAG"
        say "docker build --target $target -t $image"
        DOCKER_BUILDKIT=0 docker build -q -f "$REPO/deploy/Dockerfile" --target "$target" -t "$image" "$CONTEXT" >/dev/null
    done
    docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
        grep -E "^ops-copilot(-docker-mcp)?:$TAG " >&2
}

main "$@"
