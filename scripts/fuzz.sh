#!/usr/bin/env bash
# The fuzz suite: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds every cargo fuzz (libFuzzer) target in fuzz/ and runs each for a bounded
# time (default 8 s) from the seed corpus in fuzz/corpus/<target>/, failing on any
# crash, panic, failed property, timeout or out-of-memory. fuzz/README.md says what
# each target checks and records the last long run.
#
# - Installs cargo-fuzz (crates.io, `cargo install cargo-fuzz --locked`) if missing.
# - Stable Rust only: cargo fuzz passes nightly `-Z` flags to rustc, which a stable
#   rustc accepts with RUSTC_BOOTSTRAP=1 (set here, for this build only; why in
#   fuzz/README.md).
# - Sanitizer: none (FUZZ_SANITIZER to change it). The project has no unsafe code, so
#   AddressSanitizer would find nothing Rust's own checks do not, and it made the
#   build several times slower; coverage guidance, panics, debug assertions and
#   overflow checks are all still on (fuzz/Cargo.toml's release profile).
# - Nothing is written inside the clone: what the fuzzer learns goes to a scratch
#   corpus and crash inputs to a scratch artifacts folder under FUZZ_WORK_DIR
#   (default: a new temporary folder, removed after a clean run; after a failure it is
#   kept, and a crash input's path printed with the command that replays it).
#
# Environment: CARGO_TARGET_DIR (the fuzz build goes to "$CARGO_TARGET_DIR-fuzz",
# default /var/tmp/ops-target-fuzz, apart from the normal build whose flags differ),
# FUZZ_TARGET_DIR to choose it outright, FUZZ_WORK_DIR, FUZZ_SANITIZER,
# FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_MAX_LEN (default 16384 bytes).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO/fuzz"

SECONDS_PER_TARGET="${1:-8}"
shift || true
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: SECONDS_PER_TARGET must be a whole number of seconds above 0, not '$SECONDS_PER_TARGET'" >&2
    exit 2
fi
TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-/var/tmp/ops-target}-fuzz}"
SANITIZER="${FUZZ_SANITIZER:-none}"
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
MAX_LEN="${FUZZ_MAX_LEN:-16384}"
# A scratch folder of our own is removed after a clean run, kept when something failed.
OWN_WORK_DIR=""
if [ -z "${FUZZ_WORK_DIR:-}" ]; then
    OWN_WORK_DIR="$(mktemp -d -t ops-fuzz.XXXXXX)"
fi
WORK_DIR="${FUZZ_WORK_DIR:-$OWN_WORK_DIR}"
# The flags cargo fuzz hands rustc are nightly-only (-Zsanitizer, -Cpasses=sancov...).
export RUSTC_BOOTSTRAP=1
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --quiet
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "fuzz: $(cargo fuzz --version), ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each, sanitizer $SANITIZER, target dir $TARGET_DIR, work dir $WORK_DIR"
build_started=$SECONDS
cargo fuzz build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"
echo "fuzz: built in $((SECONDS - build_started))s"

passed=0
failed=()
for target in "${targets[@]}"; do
    corpus="$WORK_DIR/corpus/$target"
    artifacts="$WORK_DIR/artifacts/$target"
    log="$WORK_DIR/$target.log"
    mkdir -p "$corpus" "$artifacts"
    # New inputs go to the scratch corpus (the first folder); the seeds are only read.
    if cargo fuzz run --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" "$target" \
        "$corpus" "corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" \
        -max_len="$MAX_LEN" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        echo "fuzz: $target ok: $runs inputs tried, corpus $(find "$corpus" -type f | wc -l) new + $(find "corpus/$target" -type f | wc -l) seeds, 0 crashes"
        passed=$((passed + 1))
    else
        echo "fuzz: $target FAILED; the end of its log ($log):" >&2
        tail -n 40 "$log" >&2
        for input in "$artifacts"/*; do
            [ -e "$input" ] || continue
            echo "fuzz: crash input kept at $input; replay it with:" >&2
            echo "  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $SANITIZER --target-dir $TARGET_DIR $target $input)" >&2
        done
        failed+=("$target")
    fi
done

echo "fuzz: ${passed} passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed targets: ${failed[*]}" >&2
    exit 1
fi
if [ -n "$OWN_WORK_DIR" ]; then
    rm -rf "$OWN_WORK_DIR"
fi
