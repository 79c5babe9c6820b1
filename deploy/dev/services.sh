#!/usr/bin/env bash
# Makes sure the services the catalog needs for development and tests are up:
#
#   - NATS with JetStream on 127.0.0.1:4222 (nats-server 2.9 or newer);
#   - PostgreSQL on 127.0.0.1:5432 (13 or newer), with the role `catalog`
#     (LOGIN CREATEDB, password `catalog`) and the database `catalog` it owns.
#
# A server already listening on one of those ports is used as it is. A missing
# one is installed (Debian/Ubuntu packages `nats-server` and `postgresql`, when
# running as root) and started in the background, where it keeps running after
# this script ends. Running the script again is quick and changes nothing.
#
# A nats-server started here keeps its data in $CATALOG_DEV_DIR/nats, its log
# in $CATALOG_DEV_DIR/nats.log and its pid in $CATALOG_DEV_DIR/nats.pid
# (CATALOG_DEV_DIR defaults to <repo>/.dev). Stop it with
#   kill "$(cat .dev/nats.pid)"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${CATALOG_DEV_DIR:-$ROOT/.dev}"

HOST=127.0.0.1
NATS_PORT=4222
PG_PORT=5432
CATALOG_PG_URL="postgres://catalog:catalog@$HOST:$PG_PORT/catalog"
INSTALL_HINT="sudo apt-get install -y nats-server postgresql"

export PGCONNECT_TIMEOUT=5

say() { printf '%-9s %s\n' "$1:" "$2"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# True when something accepts TCP connections on $HOST:$1.
listening() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Waits up to 20 s for $HOST:$2; on timeout shows the end of log $3, if any.
wait_for_port() {
    local name=$1 port=$2 log=${3:-} _
    for _ in $(seq 1 100); do
        listening "$port" && return 0
        sleep 0.2
    done
    if [[ -n "$log" && -f "$log" ]]; then
        printf '%s: last lines of %s:\n' "$name" "$log" >&2
        tail -n 20 "$log" >&2
    fi
    die "$name did not start listening on $HOST:$port within 20 s"
}

APT_UPDATED=0
# Installs Debian packages as root; otherwise says what to run and stops.
install_packages() {
    if ! command -v apt-get >/dev/null 2>&1; then
        die "$* not found. Install nats-server (2.9 or newer) and PostgreSQL (13 or newer) with your package manager, then run this script again."
    fi
    if ! is_root; then
        printf '%s not found. Install the services with:\n  %s\nthen run this script again.\n' "$*" "$INSTALL_HINT" >&2
        exit 1
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- NATS -------------------------------------------------------------------

# Reads the INFO line the server sends on connect; it says whether JetStream
# is enabled.
nats_has_jetstream() {
    local info
    info=$(
        exec 3<>"/dev/tcp/$HOST/$NATS_PORT" || exit 0
        IFS= read -r -t 2 line <&3 || true
        printf '%s' "${line:-}"
    ) 2>/dev/null || true
    [[ "$info" == *'"jetstream":true'* ]]
}

ensure_nats() {
    if listening "$NATS_PORT"; then
        if nats_has_jetstream; then
            say nats "using existing server on $HOST:$NATS_PORT (JetStream enabled)"
        else
            say nats "using existing server on $HOST:$NATS_PORT, but it does not report JetStream; restart it with -js"
        fi
        return
    fi

    local how=started
    if ! command -v nats-server >/dev/null 2>&1; then
        install_packages nats-server
        how="installed and started"
    fi

    mkdir -p "$STATE_DIR/nats"
    local log="$STATE_DIR/nats.log"
    # setsid (when available) puts the server in its own session, so it is not
    # stopped with the terminal or the process group that ran this script.
    local detach=()
    if command -v setsid >/dev/null 2>&1; then
        detach=(setsid)
    fi
    nohup ${detach[@]+"${detach[@]}"} nats-server -a "$HOST" -p "$NATS_PORT" -js -sd "$STATE_DIR/nats" \
        >>"$log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/nats.pid"
    wait_for_port nats "$NATS_PORT" "$log"
    say nats "$how nats-server $(nats-server --version 2>/dev/null | sed 's/^nats-server: //') on $HOST:$NATS_PORT (log: $log)"
}

# --- PostgreSQL -------------------------------------------------------------

# Prints the newest major version with a cluster in /etc/postgresql, if any.
newest_cluster_version() { newest_version /etc/postgresql/*/main; }
# Prints the newest installed PostgreSQL server version, if any.
newest_server_version() { newest_version /usr/lib/postgresql/*/bin/postgres; }

# Prints the largest number that follows `postgresql/` in the existing paths.
newest_version() {
    local path v best=""
    for path in "$@"; do
        [[ -e "$path" ]] || continue
        v=${path#*/postgresql/}
        v=${v%%/*}
        if [[ "$v" =~ ^[0-9]+$ ]] && { [[ -z "$best" ]] || ((v > best)); }; then
            best=$v
        fi
    done
    printf '%s' "$best"
}

has_pg_cluster() { [[ -e "/etc/postgresql/$1/main" ]]; }

# Starts the newest Debian PostgreSQL cluster; prints what it did.
start_postgres() {
    local how=$1 version
    version=$(newest_cluster_version)
    [[ -n "$version" ]] || version=$(newest_server_version)
    [[ -n "$version" ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
    if ! is_root; then
        printf 'PostgreSQL %s is installed but not running. Start it with:\n  sudo pg_ctlcluster --skip-systemctl-redirect %s main start\nthen run this script again.\n' \
            "$version" "$version" >&2
        exit 1
    fi
    if ! has_pg_cluster "$version"; then
        pg_createcluster --port "$PG_PORT" "$version" main >/dev/null
        how="$how, created cluster $version/main,"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for_port postgres "$PG_PORT" "/var/log/postgresql/postgresql-$version-main.log"
    PG_DID="$how PostgreSQL $version on $HOST:$PG_PORT"
}

# Runs the psql script $1 as a superuser: over TCP as `postgres` (works with
# trust authentication), else, as root, as the `postgres` OS user over the
# Unix socket (peer authentication).
psql_admin() {
    local sql=$1
    local opts=(-w -X -q -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -f -)
    if printf '%s' "$sql" | psql -h "$HOST" -U postgres "${opts[@]}" 2>/dev/null; then
        return 0
    fi
    if ! is_root || ! id postgres >/dev/null 2>&1; then
        return 1
    fi
    if command -v runuser >/dev/null 2>&1; then
        printf '%s' "$sql" | (cd / && runuser -u postgres -- psql "${opts[@]}")
    else
        printf '%s' "$sql" | (cd / && su postgres -s /bin/sh -c "psql ${opts[*]}")
    fi
}

# True when `catalog` can log in to its database and may create databases.
catalog_role_ready() {
    local out
    out=$(psql -w -X -q -At "$CATALOG_PG_URL" \
        -c "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null) || return 1
    [[ "$out" == t ]]
}

# CREATE DATABASE cannot run inside a DO block or a transaction, so each
# statement is generated behind a NOT EXISTS guard and run with \gexec.
ROLE_SQL="
SELECT 'CREATE ROLE catalog LOGIN CREATEDB PASSWORD ''catalog'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'catalog')
\\gexec
ALTER ROLE catalog LOGIN CREATEDB PASSWORD 'catalog';
SELECT 'CREATE DATABASE catalog OWNER catalog'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'catalog')
\\gexec
"

ensure_catalog_role() {
    if catalog_role_ready; then
        PG_DID="$PG_DID; role and database catalog present"
        return
    fi
    if ! psql_admin "$ROLE_SQL"; then
        printf 'Could not connect to PostgreSQL as a superuser. As one, run:\n%s\n' "$ROLE_SQL" >&2
        exit 1
    fi
    catalog_role_ready || die "role catalog still cannot log in to $CATALOG_PG_URL (check pg_hba.conf allows password or trust authentication for $HOST)"
    PG_DID="$PG_DID; role and database catalog created"
}

ensure_psql() {
    command -v psql >/dev/null 2>&1 && return
    if command -v apt-get >/dev/null 2>&1 && ! is_root; then
        printf 'psql not found. Install it with:\n  sudo apt-get install -y postgresql-client\nthen run this script again.\n' >&2
        exit 1
    fi
    install_packages postgresql-client
}

ensure_postgres() {
    PG_DID=""
    if listening "$PG_PORT"; then
        PG_DID="using existing server on $HOST:$PG_PORT"
    else
        local how=started
        if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z "$(newest_server_version)" ]]; then
            install_packages postgresql
            how="installed and started"
        fi
        # The package may have created and started a cluster already.
        if listening "$PG_PORT"; then
            PG_DID="$how PostgreSQL $(newest_cluster_version) on $HOST:$PG_PORT"
        else
            start_postgres "$how"
        fi
    fi
    ensure_psql
    ensure_catalog_role
    psql -w -X -q "$CATALOG_PG_URL" -c 'select 1' >/dev/null ||
        die "cannot query $CATALOG_PG_URL"
    say postgres "$PG_DID"
}

ensure_nats
ensure_postgres

if ! command -v cargo >/dev/null 2>&1; then
    say rust "cargo not found: building needs a Rust toolchain (rustup, stable channel, Rust 1.89 or newer for edition 2024)"
fi
