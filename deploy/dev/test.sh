#!/usr/bin/env bash
# Runs the whole test suite: doc tests, then unit, integration and end-to-end
# tests against real NATS and PostgreSQL. Starts those first if needed
# (deploy/dev/services.sh).
#
#   deploy/dev/test.sh [more arguments for the test runner]
#
# The test runner is cargo-nextest when installed, else `cargo test`; either
# way the last line is the runner's summary of every test.
#
# Tests that need the services find them through
#   CATALOG_TEST_PG_URL    (default postgres://catalog:catalog@127.0.0.1:5432/postgres)
#   CATALOG_TEST_NATS_URL  (default nats://127.0.0.1:4222)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

deploy/dev/services.sh

export CATALOG_TEST_PG_URL="${CATALOG_TEST_PG_URL:-postgres://catalog:catalog@127.0.0.1:5432/postgres}"
export CATALOG_TEST_NATS_URL="${CATALOG_TEST_NATS_URL:-nats://127.0.0.1:4222}"

cargo test --workspace --doc

if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --all-targets --no-fail-fast "$@"
else
    # Sum the per-binary results into one closing line.
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    status=0
    cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
    awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' \
        <(sed 's/;//g' "$log")
    exit "$status"
fi
