#!/usr/bin/env bash
# A three-node NATS JetStream cluster on loopback, for trying replicated
# streams (nats.replicas: 3) and for the cluster integration test.
#
#   deploy/local/nats-cluster.sh start [DIR] [BASE_PORT]
#   deploy/local/nats-cluster.sh stop  [DIR]
#
# Node i (1..3) listens for clients on BASE_PORT+i-1 (default 14222-14224)
# and for routes on BASE_PORT+2000+i-1; data, logs, configs and pids live in
# DIR/n<i> (default .dev/nats-cluster). `start` waits until every node
# accepts clients and prints the URL list for `nats.url`. Needs nats-server
# 2.9 or newer (deploy/dev/services.sh installs it).
set -euo pipefail

cmd="${1:-}"
DIR="${2:-.dev/nats-cluster}"
BASE="${3:-14222}"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"

die() { echo "error: $*" >&2; exit 1; }

start() {
    [[ -x "$NATS_SERVER" ]] || die "nats-server not found (install the nats-server package, or set NATS_SERVER)"
    mkdir -p "$DIR"
    local routes=""
    for i in 1 2 3; do
        routes+="nats-route://127.0.0.1:$((BASE + 2000 + i - 1)),"
    done
    routes="${routes%,}"
    for i in 1 2 3; do
        local node="$DIR/n$i"
        mkdir -p "$node/store"
        cat > "$node/nats.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((BASE + i - 1))
jetstream {
  store_dir: "$node/store"
}
cluster {
  name: catalog-local
  listen: 127.0.0.1:$((BASE + 2000 + i - 1))
  routes: [$routes]
}
CONF
        # Detached from our output, so a caller reading it sees its end.
        "$NATS_SERVER" -c "$node/nats.conf" -l "$node/nats.log" -P "$node/nats.pid" \
            </dev/null >/dev/null 2>&1 &
    done
    for i in 1 2 3; do
        local port=$((BASE + i - 1)) waited=0
        until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            waited=$((waited + 1))
            [[ $waited -lt 100 ]] || die "node n$i did not start; see $DIR/n$i/nats.log"
            sleep 0.1
        done
    done
    echo "nats://127.0.0.1:${BASE},nats://127.0.0.1:$((BASE + 1)),nats://127.0.0.1:$((BASE + 2))"
}

stop() {
    for i in 1 2 3; do
        local pidfile="$DIR/n$i/nats.pid"
        if [[ -f "$pidfile" ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop [DIR] [BASE_PORT]" ;;
esac
