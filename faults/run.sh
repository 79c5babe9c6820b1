#!/usr/bin/env bash
# The fault suite in one command:
#
#   faults/run.sh                     every scenario at full size (100,000
#                                     entities, 20 projector kills, a backlog
#                                     of 1,000,000 events) and the table
#                                     written into docs/faults.md
#   faults/run.sh --entities 10000 --kills 5 --backlog 100000   smaller
#   faults/run.sh --only projector-kill,backlog                 some scenarios
#
# Installs NATS and PostgreSQL if they are missing (deploy/dev/services.sh;
# the suite starts servers of its own from their programs), builds the
# release binaries and runs target/release/fault-suite (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash deploy/dev/services.sh >&2
cargo build --release -p catalog -p catalog-faults --bin catalog --bin fault-suite >&2
exec target/release/fault-suite --report docs/faults.md "$@"
