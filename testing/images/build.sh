#!/usr/bin/env bash
# Builds the fake ARR images used by the tests and pushes them to a local registry.
#
#   testing/images/build.sh
#       Build the base image (busybox + fake-arr) if its inputs changed, make sure a
#       registry answers on 127.0.0.1:5000, and push 127.0.0.1:5000/arr/<service>:test
#       for every service of testing/arr-stack (skipped when the registry already holds
#       exactly that image). Idempotent and fast when nothing changed. Running it again
#       also undoes any --push-variant.
#
#   testing/images/build.sh --push-variant SERVICE MARKER
#       Build a variant image whose /etc/arr-build holds MARKER, push it as
#       127.0.0.1:5000/arr/SERVICE:test, then point the local tag back at the image it
#       named before (and delete the variant locally), so that a later `docker pull`
#       (or compose_pull) is a real change. Prints the variant's image ID
#       (sha256:...) on stdout; that is the ID a pull of the tag gives afterwards.
#
#   testing/images/build.sh --tag IMAGE
#       Build the base image if its inputs changed and tag it as IMAGE (e.g.
#       ops-copilot-demo/arr:local, the demo stack's, see scripts/run.sh). No registry.
#
#   testing/images/build.sh --stop-registry
#       Stop the registry this script started (pid in /var/tmp/ops-registry.pid).
#
# Environment:
#   BUILD_MARKER   content of /etc/arr-build in the base image (default: 1)
#   BUSYBOX        the static busybox binary (default: /bin/busybox, Debian's busybox-static)
#
# Needs: docker (Engine reachable), busybox-static, docker-registry, curl, flock
# (--tag: docker, busybox-static and flock only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REGISTRY="127.0.0.1:5000"
SERVICES=(sonarr radarr sabnzbd prowlarr recyclarr bazarr)
BASE_IMAGE="ops-copilot/arr-base:test"
INPUTS_LABEL="org.ops-copilot.arr-inputs"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
BUILD_MARKER="${BUILD_MARKER:-1}"
REG_CONFIG="$HERE/registry.yml"
REG_LOG="/var/tmp/ops-registry.log"
REG_PIDFILE="/var/tmp/ops-registry.pid"
LOCKFILE="/var/tmp/ops-arr-build.lock"
MANIFEST_V2="application/vnd.docker.distribution.manifest.v2+json"

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: ERROR: $*" >&2; exit 1; }

usage() {
    sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found ($2)"
}

check_tools() { # [--tag]
    need docker "install Docker Engine"
    [ "${1:-}" = --tag ] || need curl "apt-get install curl"
    need flock "apt-get install util-linux"
    [ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install busybox-static)"
    # A dynamically linked busybox would not run in an image without libc.
    if command -v file >/dev/null 2>&1 && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
        die "$BUSYBOX is not statically linked (apt-get install busybox-static)"
    fi
}

# Hash of everything that goes into an image: changing any of it rebuilds.
inputs_hash() { # MARKER
    {
        echo "layout-v1 marker=$1"
        sha256sum "$BUSYBOX" | cut -d' ' -f1
        sha256sum "$HERE/fake-arr" | cut -d' ' -f1
        # The part of this script that shapes the image.
        declare -f build_rootfs import_rootfs
    } | sha256sum | cut -d' ' -f1
}

build_rootfs() { # DIR MARKER
    local root="$1" marker="$2" applet
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,root,proc,sys,dev,config}
    chmod 1777 "$root/tmp"
    cp "$BUSYBOX" "$root/bin/busybox"
    chmod 0755 "$root/bin/busybox"
    # Relative links, so that they work inside the image (busybox --install -s DIR
    # would point them at the host's path of the binary).
    for applet in $("$BUSYBOX" --list); do
        [ "$applet" = busybox ] && continue
        ln -sf busybox "$root/bin/$applet"
    done
    install -m 0755 "$HERE/fake-arr" "$root/usr/local/bin/fake-arr"
    printf '%s\n' "$marker" >"$root/etc/arr-build"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

import_rootfs() { # DIR TAG HASH -> prints image ID
    local root="$1" tag="$2" hash="$3"
    # A reproducible tar: same inputs, same layer digest, so pushes find the layer.
    tar -C "$root" --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -cf - . |
        docker import \
            --change 'CMD ["/usr/local/bin/fake-arr"]' \
            --change 'ENV PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin' \
            --change "LABEL $INPUTS_LABEL=$hash" \
            --change 'LABEL org.opencontainers.image.title=ops-copilot-fake-arr' \
            --message "ops-copilot fake-arr test image" \
            - "$tag"
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

image_label() { # IMAGE LABEL
    docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}

registry_code() {
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$REGISTRY/v2/" 2>/dev/null || true
}

ensure_registry() {
    local code
    code="$(registry_code)"
    if [ "$code" = 200 ]; then
        return 0
    fi
    if [ "$code" != 000 ] && [ -n "$code" ]; then
        die "something answers on $REGISTRY/v2/ with HTTP $code (auth on?). Stop it, or run a registry without auth there (testing/images/registry.yml)."
    fi
    need docker-registry "apt-get install docker-registry"
    mkdir -p /var/tmp/ops-registry/data
    log "starting docker-registry on $REGISTRY (log: $REG_LOG)"
    # Own session, no inherited stdio: it must not hold a CI job's pipes open.
    (
        exec </dev/null >>"$REG_LOG" 2>&1
        # Close every other inherited descriptor (the build lock, a caller's pipes).
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec setsid nohup docker-registry serve "$REG_CONFIG"
    ) &
    echo $! >"$REG_PIDFILE"
    for _ in $(seq 1 100); do
        [ "$(registry_code)" = 200 ] && return 0
        if ! kill -0 "$(cat "$REG_PIDFILE")" 2>/dev/null; then
            tail -n 20 "$REG_LOG" >&2 || true
            die "docker-registry exited; see $REG_LOG"
        fi
        sleep 0.1
    done
    tail -n 20 "$REG_LOG" >&2 || true
    die "registry on $REGISTRY did not answer within 10 s; see $REG_LOG"
}

stop_registry() {
    if [ -f "$REG_PIDFILE" ]; then
        local pid
        pid="$(cat "$REG_PIDFILE")"
        if kill -0 "$pid" 2>/dev/null && grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" && log "stopped registry (pid $pid)"
        fi
        rm -f "$REG_PIDFILE"
    fi
}

# Digest of REPO:TAG in the registry, or empty.
registry_digest() { # REPO TAG
    curl -s -I -m 5 -H "Accept: $MANIFEST_V2" "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null |
        tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

push_tag() { # LOCAL_IMAGE REPO (without registry) TAG
    local image="$1" repo="$2" tag="$3" remote digest
    remote="$(registry_digest "$repo" "$tag")"
    if [ -n "$remote" ] &&
        docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$image" |
        grep -qx "$REGISTRY/$repo@$remote"; then
        log "$REGISTRY/$repo:$tag is up to date"
        docker tag "$image" "$REGISTRY/$repo:$tag"
        return 0
    fi
    docker tag "$image" "$REGISTRY/$repo:$tag"
    docker push --quiet "$REGISTRY/$repo:$tag" >/dev/null
    digest="$(registry_digest "$repo" "$tag")"
    [ -n "$digest" ] || die "push of $REGISTRY/$repo:$tag did not reach the registry"
    log "pushed $REGISTRY/$repo:$tag ($digest)"
}

build_base() {
    local hash tmp
    hash="$(inputs_hash "$BUILD_MARKER")"
    if [ "$(image_label "$BASE_IMAGE" "$INPUTS_LABEL")" = "$hash" ]; then
        log "$BASE_IMAGE is up to date"
        return 0
    fi
    tmp="$(mktemp -d /tmp/ops-arr-rootfs.XXXXXX)"
    build_rootfs "$tmp/root" "$BUILD_MARKER"
    import_rootfs "$tmp/root" "$BASE_IMAGE" "$hash" >/dev/null
    rm -rf "$tmp"
    log "built $BASE_IMAGE ($(image_id "$BASE_IMAGE"))"
}

push_all() {
    local svc
    for svc in "${SERVICES[@]}"; do
        push_tag "$BASE_IMAGE" "arr/$svc" test
    done
}

push_variant() { # SERVICE MARKER
    local svc="$1" marker="$2" ref prev new tmp known=0 s
    for s in "${SERVICES[@]}"; do [ "$s" = "$svc" ] && known=1; done
    [ "$known" = 1 ] || die "unknown service '$svc' (one of: ${SERVICES[*]})"
    ref="$REGISTRY/arr/$svc:test"
    prev="$(image_id "$ref")"
    tmp="$(mktemp -d /tmp/ops-arr-rootfs.XXXXXX)"
    build_rootfs "$tmp/root" "$marker"
    new="$(import_rootfs "$tmp/root" "$ref" "$(inputs_hash "$marker")")"
    rm -rf "$tmp"
    docker push --quiet "$ref" >/dev/null
    # Forget the variant locally: the tag goes back to what it named before (or away),
    # and the variant image is deleted, so that only a pull brings it here.
    if [ -n "$prev" ] && [ "$prev" != "$new" ]; then
        docker tag "$prev" "$ref"
    else
        docker rmi "$ref" >/dev/null
    fi
    docker rmi "$new" >/dev/null 2>&1 || true
    log "pushed variant $ref (marker $marker, image $new; local tag -> ${prev:-none})"
    echo "$new"
}

main() {
    case "${1:-}" in
        -h | --help) usage ;;
        --stop-registry)
            stop_registry
            return 0
            ;;
    esac
    check_tools "${1:-}"
    docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable (docker info failed)"
    # One build at a time: tests may call --push-variant concurrently.
    exec 9>"$LOCKFILE"
    flock 9
    case "${1:-}" in
        "")
            build_base
            ensure_registry
            push_all
            ;;
        --tag)
            [ $# -eq 2 ] && [ -n "$2" ] || usage
            build_base
            docker tag "$BASE_IMAGE" "$2"
            log "tagged $BASE_IMAGE as $2"
            ;;
        --push-variant)
            [ $# -eq 3 ] || usage
            ensure_registry
            push_variant "$2" "$3"
            ;;
        *) usage ;;
    esac
}

main "$@"
