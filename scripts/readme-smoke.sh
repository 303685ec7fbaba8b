#!/usr/bin/env bash
# scripts/readme-smoke.sh: the README's quick start, run as a newcomer would, in this
# clone (CI runs it from a fresh one, after the tests: .ci/run). It fails loudly when
# anything the README or the first start says does not work as written:
#
#   1. takes the README's first command (the line ending in `# run it` of its first
#      code block) and checks that its second one is scripts/test.sh (what CI runs);
#   2. runs the first command exactly as written, in the background (no stdin, a
#      timeout), and waits until http://127.0.0.1:8080/health and :8090/health answer;
#   3. reads what the first start printed on standard output: the admin token, the web
#      sign-in and the commands it suggests;
#   4. runs every README code block marked `<!-- readme-smoke expects: WORD... -->`
#      (the curl examples), the placeholder line `TOKEN=oct_...` replaced by the
#      printed token, and checks that the output holds every WORD;
#   5. signs in to the web app with the printed password and reads the containers;
#   6. runs the printed `gateway token add` and `pi-health user add` commands as
#      printed, from another directory, and uses what they made; `policy check
#      --data-dir` must check the configuration the running app uses;
#   7. stops Ops-Copilot with SIGTERM (it must exit 0), verifies the audit log, runs
#      the printed command that removes the demo stack, and checks that git sees
#      nothing new in the clone (data/ is ignored).
#
# Needs: the ports 8080, 8090 and 8091 free, no data/ in the clone (a first start),
# and what scripts/run.sh needs. Environment: OPS_SMOKE_START_SECONDS (default 1500:
# how long the first command may take to answer, a cold release build included).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
exec </dev/null

START_SECONDS="${OPS_SMOKE_START_SECONDS:-1500}"
WEB=http://127.0.0.1:8080
GATEWAY=http://127.0.0.1:8090
DEMO_SERVICES=(sonarr radarr sabnzbd prowlarr recyclarr)
WORK="$(mktemp -d /tmp/ops-readme-smoke.XXXXXX)"
OUT="$WORK/first-command.stdout"
ERR="$WORK/first-command.stderr"
PID=""
DEMO_DOWN=""

say() { echo "readme-smoke: $*" >&2; }

show_logs() {
    [ -e "$OUT" ] || return 0
    {
        echo "---- the first command's standard output ($OUT) ----"
        cat "$OUT" 2>/dev/null || true
        echo "---- the last 60 lines of its standard error ($ERR) ----"
        tail -n 60 "$ERR" 2>/dev/null || true
        echo "----"
    } >&2
}

fail() {
    {
        echo
        echo "################################################################################"
        echo "## README SMOKE TEST FAILED: $1"
        shift
        for line in "$@"; do echo "## $line"; done
        echo "################################################################################"
    } >&2
    show_logs
    exit 1
}

cleanup() {
    local rc=$?
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [ -n "$DEMO_DOWN" ]; then
        bash -c "$DEMO_DOWN" >/dev/null 2>&1 || true
    fi
    [ "$rc" = 0 ] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# Lines of the first ```bash block of README.md.
first_block() {
    awk '/^```bash$/ { if (seen++ == 0) { inside = 1; next } } inside && /^```$/ { exit } inside { print }' README.md
}

# A README line without its trailing comment and spaces.
command_of() { sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' <<<"$1"; }

http_code() { # URL
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

# --- 1. the README's two commands -----------------------------------------------------
block="$(first_block)"
run_line="$(grep -E '#[[:space:]]*run it$' <<<"$block" || true)"
test_line="$(grep -E '#[[:space:]]*test it$' <<<"$block" || true)"
[ -n "$run_line" ] && [ -n "$test_line" ] ||
    fail "README.md's first code block must hold the two commands, marked '# run it' and '# test it'" "found: $block"
RUN="$(command_of "$run_line")"
[ "$(command_of "$test_line")" = scripts/test.sh ] ||
    fail "README.md's test command is '$(command_of "$test_line")'; CI runs scripts/test.sh (.ci/run): make them agree"
say "the README's first command: $RUN"

# --- preconditions ---------------------------------------------------------------------
for port in 8080 8090 8091; do
    code="$(http_code "http://127.0.0.1:$port/")"
    [ "$code" = 000 ] || fail "something already answers on 127.0.0.1:$port (HTTP $code)" \
        "the README's first command needs 8080, 8090 and 8091: stop what runs there and retry"
done
[ ! -e data ] || fail "$REPO/data exists: this is not a first start" \
    "run this from a fresh clone (git clone ... && bash scripts/readme-smoke.sh), or move data/ away"
git_before="$(git status --porcelain --untracked-files=all)"

# --- 2. run it --------------------------------------------------------------------------
say "running it in the background (output: $WORK), waiting up to ${START_SECONDS}s for $WEB/health"
timeout --kill-after=15 "$((START_SECONDS + 600))" bash -c "$RUN" >"$OUT" 2>"$ERR" &
PID=$!
deadline=$((SECONDS + START_SECONDS))
until [ "$(http_code "$WEB/health")" = 200 ] && [ "$(http_code "$GATEWAY/health")" = 200 ]; do
    kill -0 "$PID" 2>/dev/null || { wait "$PID" || rc=$?; fail "the first command exited (status ${rc:-0}) before $WEB/health answered"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "$WEB/health did not answer 200 within ${START_SECONDS}s"
    sleep 2
done
say "up after ${SECONDS}s"
DEMO_DOWN="$(grep -A1 'remove it with:' "$ERR" | tail -n 1 | sed 's/^run.sh: *//')"
[ -n "$DEMO_DOWN" ] || fail "the first command did not say how to remove the demo stack"

# --- 3. what the first start printed -----------------------------------------------------
TOKEN="$(grep -oE '\boct_[0-9a-f]{64}\b' "$OUT" | head -n 1 || true)"
[ -n "$TOKEN" ] || fail "no admin token (oct_...) on the first command's standard output"
password_line="$(grep 'created the user admin with the password' "$OUT" || true)"
[ -n "$password_line" ] || fail "no web sign-in on the first command's standard output"
PASSWORD="${password_line##* }"
TOKEN_ADD="$(grep -E '^[[:space:]]+[^[:space:]]+ gateway token add ' "$OUT" | sed 's/^[[:space:]]*//' || true)"
USER_ADD="$(grep -E '^[[:space:]]+[^[:space:]]+ pi-health user add ' "$OUT" | sed 's/^[[:space:]]*//' || true)"
[ -n "$TOKEN_ADD" ] || fail "the first start printed no \`gateway token add\` command on its own line"
[ -n "$USER_ADD" ] || fail "the first start printed no \`pi-health user add\` command on its own line"
DATA="$(sed -n 's/.* --data-dir \([^ ]*\)$/\1/p' <<<"$TOKEN_ADD")"
BINARY="${TOKEN_ADD%% gateway token add *}"
[ -d "$DATA" ] || fail "the printed token add command names no data directory that exists: $TOKEN_ADD"
[ -x "$BINARY" ] || fail "the printed token add command does not start with the binary's absolute path: $TOKEN_ADD"
say "data directory $DATA, binary $BINARY"

# --- 4. the README's marked examples ----------------------------------------------------
examples=0
while IFS= read -r marker_line; do
    line_no="${marker_line%%:*}"
    expects="$(sed -n "${line_no}p" README.md | sed -e 's/.*readme-smoke expects: *//' -e 's/ *-->.*//')"
    script="$(awk -v start="$((line_no + 1))" 'NR == start { if ($0 != "```bash") exit 1; inside = 1; next }
        NR > start && inside && /^```$/ { exit } NR > start && inside { print }' README.md)" ||
        fail "README.md line $line_no: a readme-smoke marker must be followed by a \`\`\`bash block"
    if grep -q '^TOKEN=oct_\.\.\.' <<<"$script"; then
        script="$(sed "s/^TOKEN=oct_\.\.\..*/TOKEN=$TOKEN/" <<<"$script")"
    fi
    examples=$((examples + 1))
    say "README.md line $line_no: running the example, expecting: $expects"
    output="$(bash -euo pipefail -c "$script" 2>&1)" ||
        fail "the README example at line $line_no failed:" "$script" "output: ${output:0:2000}"
    for word in $expects; do
        grep -qF -- "$word" <<<"$output" ||
            fail "the README example at line $line_no answered without '$word':" "${output:0:2000}"
    done
done < <(grep -n 'readme-smoke expects:' README.md)
[ "$examples" -ge 2 ] ||
    fail "README.md has $examples examples marked readme-smoke (the gateway's and docker-mcp's curl examples must be)"

# --- 5. the web sign-in ------------------------------------------------------------------
sign_in() { # PASSWORD -> 0 when it signs in (session cookie in $WORK/cookies)
    local form csrf location
    rm -f "$WORK/cookies"
    form="$(curl -s -m 10 -c "$WORK/cookies" "$WEB/login")"
    csrf="$(grep -o 'name="csrf_token"[^>]*' <<<"$form" | sed -n 's/.*value="\([^"]*\)".*/\1/p' | head -n 1)"
    [ -n "$csrf" ] || fail "no csrf_token in $WEB/login"
    location="$(curl -s -m 30 -o /dev/null -w '%{http_code} %{redirect_url}' -b "$WORK/cookies" -c "$WORK/cookies" \
        --data-urlencode username=admin --data-urlencode "password=$1" --data-urlencode "csrf_token=$csrf" "$WEB/login")"
    [ "$location" = "303 $WEB/" ]
}
sign_in "$PASSWORD" || fail "signing in to $WEB as admin with the printed password failed"
containers="$(curl -s -m 20 -b "$WORK/cookies" "$WEB/api/containers")"
for service in "${DEMO_SERVICES[@]}"; do
    grep -q "\"$service\"" <<<"$containers" ||
        fail "signed in, $WEB/api/containers does not show the demo's $service:" "${containers:0:2000}"
done
say "signed in with the printed password; the web app shows the demo's services"

# --- 6. the printed commands, as printed, from elsewhere ----------------------------------
mkdir -p "$WORK/elsewhere"
new_token="$(cd "$WORK/elsewhere" && bash -c "$TOKEN_ADD")" ||
    fail "the printed command failed from another directory: $TOKEN_ADD"
[[ "$new_token" =~ ^oct_[0-9a-f]{64}$ ]] || fail "$TOKEN_ADD printed '$new_token', not a token"
chat_as() { # TOKEN -> the gateway's answer to docker_ps
    curl -s -m 10 -X POST "$GATEWAY/chat/tool" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d '{"tool":"docker_ps","args":{}}'
}
for _ in $(seq 1 20); do
    answer="$(chat_as "$new_token")"
    grep -q '"ok":true' <<<"$answer" && break
    sleep 0.5
done
grep -q '"ok":true' <<<"$answer" || fail "the token made by the printed command is not accepted: $answer"
say "the printed token add command works from another directory: $TOKEN_ADD"

(cd "$WORK/elsewhere" && printf 'a-new-demo-password\n' | bash -c "$USER_ADD") >/dev/null 2>&1 ||
    fail "the printed command failed from another directory: $USER_ADD"
sign_in a-new-demo-password || fail "after the printed $USER_ADD, the new password does not sign in"
say "the printed user add command works from another directory"

check="$(cd "$WORK/elsewhere" && "$BINARY" policy check --data-dir "$DATA" 2>&1)" ||
    fail "policy check --data-dir $DATA failed: $check"
grep -qF "$DATA/config/policy.yaml" <<<"$check" ||
    fail "policy check --data-dir $DATA did not check $DATA/config (what the app serves): $check"
say "policy check --data-dir checks $DATA/config"

# --- 7. stop, verify, tear down ------------------------------------------------------------
say "stopping it with SIGTERM"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
[ "$rc" = 0 ] || fail "after SIGTERM the first command exited with status $rc, not 0"
"$BINARY" audit verify --data-dir "$DATA" >&2 || fail "the audit log does not verify"
say "removing the demo stack as printed: $DEMO_DOWN"
bash -c "$DEMO_DOWN" >&2 || fail "the printed command that removes the demo stack failed: $DEMO_DOWN"
DEMO_DOWN=""
left="$(docker ps -aq --filter label=com.docker.compose.project=ops-copilot-demo)"
[ -z "$left" ] || fail "containers of the demo stack are left after the printed command: $left"
git_after="$(git status --porcelain --untracked-files=all)"
[ "$git_after" = "$git_before" ] ||
    fail "the first command left files git sees in the clone:" "$(diff <(echo "$git_before") <(echo "$git_after") || true)"
say "ok: the README's first command, its examples and every command the first start printed work as written"
