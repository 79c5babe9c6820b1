#!/usr/bin/env bash
# Runs the whole test suite: unit, integration and end-to-end tests, then the
# doc tests. Starts NATS and PostgreSQL first if needed
# (deploy/dev/services.sh).
#
#   deploy/dev/test.sh [more arguments for the first `cargo test`]
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

cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
