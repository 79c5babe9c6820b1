#!/usr/bin/env bash
# Runs every fuzz target for a while (cargo-fuzz with libFuzzer):
#
#   fuzz/run.sh               each target 10 minutes
#   fuzz/run.sh 30            each target 30 seconds (what CI runs)
#   fuzz/run.sh 600 filter    one target
#
# Installs cargo-fuzz if it is missing. The targets build on the stable
# toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags) without a
# sanitizer: the code under test is safe Rust, where crashes are panics.
# New inputs go to fuzz/work/<target> (not committed); the seeds in
# fuzz/corpus/<target> are read, never written. A crash stops the run and
# leaves its input in fuzz/artifacts/<target>/; the script then fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    TARGETS=(descriptor entity_ref_subject filter page_token rest_query identity)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1

for target in "${TARGETS[@]}"; do
    mkdir -p "work/$target"
    echo "==> fuzzing $target for ${SECONDS_EACH}s"
    status=0
    cargo fuzz run --sanitizer none "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"work/$target.log" 2>&1 || status=$?
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs' "work/$target.log" || true
    if [[ $status -ne 0 ]]; then
        tail -40 "work/$target.log" >&2
        echo "fuzz/run.sh: $target failed (exit $status); failing inputs, if any, in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
