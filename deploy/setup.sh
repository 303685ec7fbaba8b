#!/usr/bin/env bash
# deploy/setup.sh: the secrets of a first deployment, made once (run as root: the
# files are handed to UID 10001, the containers' user, and readable by it only).
#
#   docker-mcp.token           random; docker-mcp accepts calls only with it, and
#                              the gateway sends it (config: bearer_token_file)
#   gateway-tokens.yaml        the gateway's principals, as hashes: `admin` (role
#                              admin) and `pi-health` (the web app's principal)
#   pi-health-gateway.token    pi-health's token for the gateway
#
# The admin token is printed once on stdout: keep it (a password manager). Nothing
# existing is overwritten. Environment: OPS_SECRETS_DIR (default deploy/secrets),
# OPS_CONFIG_DIR (default deploy/config), OPS_IMAGE_TAG (default local).
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SECRETS="${OPS_SECRETS_DIR:-$DEPLOY/secrets}"
CONFIG="${OPS_CONFIG_DIR:-$DEPLOY/config}"
IMAGE="ops-copilot:${OPS_IMAGE_TAG:-local}"
UID_GID=10001:10001

say() { echo "deploy/setup.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "run as root (sudo): the secrets are made readable by UID 10001 only"
    exit 1
fi
if [ -e "$SECRETS/gateway-tokens.yaml" ] || [ -e "$SECRETS/docker-mcp.token" ]; then
    say "$SECRETS already holds secrets; nothing changed (add principals with \`ops-copilot gateway token add\`, see deploy/README.md)"
    exit 1
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || {
    say "no image $IMAGE: run deploy/build.sh first"
    exit 1
}

install -d -m 0700 -o 10001 -g 10001 "$SECRETS"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRETS/docker-mcp.token")
chown "$UID_GID" "$SECRETS/docker-mcp.token"
chmod 0400 "$SECRETS/docker-mcp.token"

# The gateway's own CLI makes the tokens (only their hashes are stored); it
# checks the configuration first, docker-mcp's token file included.
token_add() {
    docker run --rm --user "$UID_GID" --network none --read-only \
        -v "$SECRETS:/secrets" -v "$CONFIG:/config:ro" \
        -v "$SECRETS/docker-mcp.token:/run/secrets/docker_mcp_token:ro" "$IMAGE" \
        gateway token add "$@" --tokens /secrets/gateway-tokens.yaml \
        --registry /config/tool_registry.yaml --policy /config/policy.yaml
}
admin_token="$(token_add admin --role admin)"
# pi-health asserts each signed-in person's role (X-On-Behalf-Role): the roles
# it may assert are listed here; the gateway refuses any other.
(umask 077 && token_add pi-health --role admin --may-act-as admin,standard \
    >"$SECRETS/pi-health-gateway.token")

chown "$UID_GID" "$SECRETS"/*
chmod 0400 "$SECRETS"/*
say "secrets in $SECRETS (owned by UID 10001, mode 0400)"
say "the gateway's admin token, shown only now (Authorization: Bearer <token>):"
echo "$admin_token"
