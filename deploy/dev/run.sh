#!/usr/bin/env bash
# Runs the whole catalog locally in one process (`catalog all`: ingester,
# projector, gRPC API and the web UI), reading the demo catalog in
# deploy/demo/catalog.
#
#   deploy/dev/run.sh [more arguments for `catalog all`]
#
# Starts NATS and PostgreSQL first if needed (deploy/dev/services.sh), builds
# the release binary, then runs it with deploy/dev/catalog.yaml.
#
# Ports come from the config file and can be overridden with environment
# variables, which the binary reads itself:
#   CATALOG_API__LISTEN        gRPC API   (default 127.0.0.1:50051)
#   CATALOG_UI_BRIDGE__LISTEN  web UI and REST API (default 127.0.0.1:7007)
# Any other key works the same way: CATALOG_<SECTION>__<KEY>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

deploy/dev/services.sh
cargo build --release -p catalog -p catalog-demo-ci

# The stand-in third-party CI server the ci-builds plugin reaches through the
# bridge's proxy (endpoint `ci` in deploy/dev/catalog.yaml).
export DEMO_CI_TOKEN="${DEMO_CI_TOKEN:-demo-ci-token}"
"${CARGO_TARGET_DIR:-target}/release/catalog-demo-ci" --listen "${DEMO_CI_LISTEN:-127.0.0.1:7010}" &
DEMO_CI_PID=$!
trap 'kill "$DEMO_CI_PID" 2>/dev/null || true' EXIT

# The web UI talks to the gRPC API; follow a moved API unless told otherwise.
if [[ -n "${CATALOG_API__LISTEN:-}" && -z "${CATALOG_UI_BRIDGE__API_URL:-}" ]]; then
    export CATALOG_UI_BRIDGE__API_URL="http://${CATALOG_API__LISTEN}"
fi

echo "catalog: web UI on http://${CATALOG_UI_BRIDGE__LISTEN:-127.0.0.1:7007}, gRPC API on ${CATALOG_API__LISTEN:-127.0.0.1:50051}"
echo "demo CI server (third party, through /api/proxy/ci) on http://${DEMO_CI_LISTEN:-127.0.0.1:7010}"
"${CARGO_TARGET_DIR:-target}/release/catalog" all --config deploy/dev/catalog.yaml "$@"
