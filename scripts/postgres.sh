#!/usr/bin/env bash
# The serving database of the embedded default: a PostgreSQL server of this checkout, its files
# in .pg/ (git-ignored), listening on loopback on the port of conf/env/$CDP_ENV.yml (`postgres:`,
# or CDP_PG_PORT: a second checkout on the same machine needs a port of its own), with the
# database and login role the publish stage and `cdp serve` use.
#
#   bash scripts/postgres.sh [start]   install PostgreSQL if missing, initdb, start, create roles and
#                                      databases; a no-op when they already are
#   bash scripts/postgres.sh stop      stop this checkout's server
#   bash scripts/postgres.sh status    exit 0 when it runs
#   bash scripts/postgres.sh psql      a psql session as the serving role
#
# The role's password is CDP_PG_PASSWORD, by default a random one written once to
# .secrets/pg_password (the code reads the same two places, jobs/config.py). PostgreSQL refuses to
# run as root: as root the server runs as the `postgres` OS user of the Debian package, which owns
# .pg/; otherwise as the calling user.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

command=${1:-start}
python=.venv/bin/python
password_file=.secrets/pg_password
# .pg/ holds the cluster; as root, when the server's OS user cannot enter the checkout (a clone in
# a private folder) or the socket path would pass the kernel's 107 bytes, a symlink to a folder
# of that user under /var/lib/postgresql.
pg_link=$repo/.pg

fail() { echo "postgres: $*" >&2; exit 1; }

[ -x "$python" ] || fail "no $python: run \`make setup\` first (it reads the settings with the project's own Python)"
# This environment's server, then the database and role of every environment served by it (the
# tests' environment publishes into a database of its own).
settings=$("$python" -c '
from jobs.config import conf_dir, load_settings
pg = load_settings().postgres
if pg is None:
    raise SystemExit("the environment has no postgres: section in conf/env")
print(pg.host, pg.port, pg.database, pg.user)
for path in sorted((conf_dir() / "env").glob("*.yml")):
    other = load_settings(path.stem).postgres
    if other is not None and (other.host, other.port) == (pg.host, pg.port):
        print(other.database, other.user)')
read -r pg_host pg_port pg_database pg_user <<< "$(head -n 1 <<< "$settings")"
served=$(tail -n +2 <<< "$settings" | sort -u)
case "$pg_host" in
    127.0.0.1 | localhost | ::1) ;;
    *) fail "conf/env/${CDP_ENV:-local}.yml names the server $pg_host:$pg_port; this script only runs a local one" ;;
esac

# The newest installed server's binaries (Debian keeps them out of PATH).
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_server() {
    [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] && return
    echo "postgres: installing the Debian package postgresql"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || fail "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
        sudo="sudo"
    fi
    # The package's own cluster (port 5432) is not ours; policy-rc.d keeps it from starting.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } \
        || fail "apt-get install postgresql failed"
}

# Runs a command as the server's OS user.
if [ "$(id -u)" = 0 ]; then
    server_user=postgres
    # From /: the server's user may not enter the caller's folder (every path here is absolute).
    as_server() { (cd / && runuser -u "$server_user" -- "$@"); }
else
    server_user=$(id -un)
    as_server() { "$@"; }
fi

# Where the cluster lives: .pg/, or the folder .pg links to, or (before the first initdb) the
# folder under /var/lib/postgresql when the server's user cannot use .pg/.
cluster_home() {
    if [ -e "$pg_link" ]; then readlink -f "$pg_link"; return; fi
    if [ "$(id -u)" = 0 ] && { ! runuser -u "$server_user" -- test -x "$repo" \
            || [ ${#pg_link} -gt $((100 - ${#pg_port} - 15)) ]; }; then
        echo "/var/lib/postgresql/cdp-$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
    else
        echo "$pg_link"
    fi
}
locate() {
    pg_root=$(cluster_home)
    data=$pg_root/data
    sockets=$pg_root/run
    log=$pg_root/postgres.log
}
locate

running() { [ -n "$(pg_bin)" ] && [ -f "$data/PG_VERSION" ] && as_server "$(pg_bin)/pg_ctl" status -D "$data" >/dev/null 2>&1; }

password() {
    if [ -n "${CDP_PG_PASSWORD:-}" ]; then
        printf '%s' "$CDP_PG_PASSWORD"
        return
    fi
    if [ ! -f "$password_file" ]; then
        mkdir -p .secrets && chmod 700 .secrets
        (umask 077 && "$python" -c "import secrets; print(secrets.token_hex(24))" > "$password_file")
    fi
    tr -d '\n' < "$password_file"
}

# psql as the server's superuser over the unix socket of .pg/run (peer authentication).
admin_psql() { as_server "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockets" -p "$pg_port" -d postgres "$@"; }

init_cluster() {
    [ "$pg_root" = "$pg_link" ] || ln -sfn "$pg_root" "$pg_link"
    [ -f "$data/PG_VERSION" ] && return
    local socket_path="$sockets/.s.PGSQL.$pg_port"
    [ ${#socket_path} -le 100 ] || fail "the socket path $socket_path is longer than unix sockets allow; clone the repository to a shorter path"
    if [ "$(id -u)" = 0 ]; then
        getent passwd "$server_user" >/dev/null || fail "no OS user $server_user (the Debian package creates it)"
    fi
    echo "postgres: initdb into $data"
    mkdir -p "$pg_root"
    if [ "$(id -u)" = 0 ]; then chown "$server_user" "$pg_root"; fi
    chmod 700 "$pg_root"
    # Local connections only by the server's own OS user (peer); TCP by password (scram).
    as_server "$(pg_bin)/initdb" -D "$data" -U "$server_user" --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    as_server mkdir -p "$sockets"
}

# Another server on the port (most often another checkout's) would make pg_ctl fail with only
# "could not start server"; say which port and both ways out.
port_free() {
    "$python" -c 'import socket, sys
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind((sys.argv[1], int(sys.argv[2])))' "$pg_host" "$pg_port" 2>/dev/null \
        || fail "port $pg_port on $pg_host is taken by another server (another checkout's PostgreSQL? stop it there with \`bash scripts/postgres.sh stop\`), or give this checkout its own: export CDP_PG_PORT=<free port>"
}

start_server() {
    port_free
    # Sized for a 2-core machine shared with Spark: bulk loads want WAL room and maintenance
    # memory for index builds, not many connections.
    as_server "$(pg_bin)/pg_ctl" start -D "$data" -l "$log" -w -t 60 -o "\
 -c listen_addresses=$pg_host -c port=$pg_port -c unix_socket_directories=$sockets\
 -c max_connections=100 -c shared_buffers=256MB -c maintenance_work_mem=256MB -c max_wal_size=2GB\
 -c wal_level=minimal -c max_wal_senders=0" >/dev/null \
        || fail "the server did not start; see $log"
}

# Each served login role and database. With `set_password`, an existing role takes the current
# password too: a cluster can outlive the .secrets/ it was made with (a clone made again at the
# same path reuses the cluster under /var/lib/postgresql).
ensure_roles_and_databases() {
    local set_password=${1:-} secret database user
    secret=$(password)
    case "$secret" in *"'"*) fail "CDP_PG_PASSWORD must not contain a single quote" ;; esac
    while read -r database user; do
        if [ -z "$(admin_psql -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" ]; then
            echo "postgres: creating role $user"
            # CREATEDB: the tests make throwaway databases of their own.
            admin_psql -c "CREATE ROLE \"$user\" LOGIN CREATEDB PASSWORD '$secret'"
        elif [ -n "$set_password" ]; then
            admin_psql -c "ALTER ROLE \"$user\" PASSWORD '$secret'"
        fi
        if [ -z "$(admin_psql -tA -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
            echo "postgres: creating database $database"
            admin_psql -c "CREATE DATABASE \"$database\" OWNER \"$user\""
        fi
    done <<< "$served"
}

case "$command" in
    start)
        # Already running: only what an environment added since is created.
        if running; then ensure_roles_and_databases; exit 0; fi
        install_server
        # The package may have just created the server's OS user.
        locate
        init_cluster
        start_server
        ensure_roles_and_databases set_password
        echo "postgres: running on $pg_host:$pg_port (database $pg_database, role $pg_user, files in .pg/)"
        ;;
    stop)
        if running; then as_server "$(pg_bin)/pg_ctl" stop -D "$data" -m fast -w >/dev/null; echo "postgres: stopped"; fi
        ;;
    status)
        running
        ;;
    psql)
        running || fail "not running: bash scripts/postgres.sh"
        PGPASSWORD=$(password) exec "$(pg_bin)/psql" -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_database" "${@:2}"
        ;;
    *)
        fail "unknown command $command; use start, stop, status or psql"
        ;;
esac
