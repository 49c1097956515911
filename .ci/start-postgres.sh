#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server for the `postgres` tests.
#
# Usage (as root, Debian 12):
#   eval "$(.ci/start-postgres.sh)"            # sets PROVENANCE_TEST_PG_URL in this shell
#   .ci/start-postgres.sh --env-file FILE      # also writes the export line to FILE
#
# stdout carries exactly one line, `export PROVENANCE_TEST_PG_URL=postgresql+psycopg://...`;
# progress goes to stderr. Idempotent: a second run finds the package installed, the cluster
# running and the role/database present, and finishes in about a second.
#
# The role (default `provenance`, password `provenance`, overridable with PG_TEST_USER /
# PG_TEST_PASSWORD / PG_TEST_DB) has CREATEDB: the tests connect to PG_TEST_DB and create and
# drop a uniquely named database per test. The server listens on 127.0.0.1 only.
set -euo pipefail

env_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env-file) env_file="${2:?--env-file needs a path}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "start-postgres: unknown argument $1" >&2; exit 2 ;;
  esac
done

user="${PG_TEST_USER:-provenance}"
password="${PG_TEST_PASSWORD:-provenance}"
db="${PG_TEST_DB:-provenance_test}"

log() { echo "start-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs packages and starts the cluster as user postgres)"
  exit 1
fi

server_version() {
  ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1
}

ver="$(server_version || true)"
if [ -z "$ver" ] || [ ! -x "/usr/lib/postgresql/$ver/bin/postgres" ] \
    || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  ver="$(server_version)"
fi
[ -n "$ver" ] || { log "no PostgreSQL server found after installing"; exit 1; }

# The Debian package creates cluster <ver>/main unless configured not to; create it if absent.
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main"' | grep -q .; then
  log "creating cluster $ver/main"
  pg_createcluster "$ver" main >&2
fi

status="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {print $4}')"
if [ "$status" != "online" ]; then
  log "starting cluster $ver/main"
  pg_ctlcluster "$ver" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {print $3}')"

for _ in $(seq 1 60); do
  if runuser -u postgres -- pg_isready -q -p "$port"; then break; fi
  sleep 0.5
done
runuser -u postgres -- pg_isready -q -p "$port" || { log "server on port $port not ready"; exit 1; }

psql_admin() {
  runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qAtX "$@"
}

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != "1" ]; then
  log "creating role $user"
  psql_admin -c "CREATE ROLE \"$user\" LOGIN CREATEDB PASSWORD '$password'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
  log "creating database $db"
  psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$user\""
fi

url="postgresql+psycopg://$user:$password@127.0.0.1:$port/$db"
line="export PROVENANCE_TEST_PG_URL=$url"
if [ -n "$env_file" ]; then
  printf '%s\n' "$line" > "$env_file"
fi
log "PostgreSQL $ver ready on 127.0.0.1:$port (database $db, role $user)"
printf '%s\n' "$line"
