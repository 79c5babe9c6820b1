#!/usr/bin/env bash
# The benchmark suite in one command:
#
#   bench/run.sh                      10,000 and 100,000 entities
#   bench/run.sh --sizes 1000000      any sizes; see --help for every option
#   bench/run.sh --quick              1,000 and 10,000 entities, fewer samples
#
# Starts NATS and PostgreSQL if they are not running (deploy/dev/services.sh),
# builds the release binaries, runs the suite, prints its tables and writes
# bench/results/<time>-<host>.json. Uses its own streams and databases and
# removes them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

args=()
for a in "$@"; do
  if [[ "$a" == "--quick" ]]; then
    args+=(--sizes 1000,10000 --changes 200 --file-changes 20 --seconds 2)
  else
    args+=("$a")
  fi
done

bash deploy/dev/services.sh >&2
cargo build --release -p catalog -p catalog-bench --bin catalog --bin bench-suite >&2
exec target/release/bench-suite "${args[@]}"
