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

# The Python client used by the cross-language producer test
# (examples/python), in a virtual environment of its own.
PY_ENV="${CATALOG_DEV_DIR:-$ROOT/.dev}/py"
PY_REQ=examples/python/requirements.txt
if [[ ! -x "$PY_ENV/bin/python" ]] || ! cmp -s "$PY_REQ" "$PY_ENV/requirements.txt"; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv >/dev/null
        else
            echo "error: Python 3 with venv is needed: sudo apt-get install -y python3 python3-venv" >&2
            exit 1
        fi
    fi
    python3 -m venv "$PY_ENV"
    "$PY_ENV/bin/pip" install --quiet --disable-pip-version-check -r "$PY_REQ"
    cp "$PY_REQ" "$PY_ENV/requirements.txt"
fi
export CATALOG_PYTHON="$PY_ENV/bin/python"

# A real browser for the web UI tests: Debian's Chromium and ChromeDriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
    else
        echo "error: the browser tests need Chromium: sudo apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
fi
export CATALOG_CHROMEDRIVER="${CATALOG_CHROMEDRIVER:-$(command -v chromedriver)}"
export CATALOG_CHROMIUM="${CATALOG_CHROMIUM:-$(command -v chromium)}"

# The web UI's pure modules (no browser): Node's built-in test runner.
if ! command -v node >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs >/dev/null
    else
        echo "error: the web UI's module tests need Node.js: sudo apt-get install -y nodejs" >&2
        exit 1
    fi
fi
node --test ui-bridge/web/tests/

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
