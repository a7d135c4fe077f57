#!/usr/bin/env bash
# Kroma's two set-up commands:
#   ./kroma.sh up     install everything, migrate, seed the demo, serve web + worker on :8788
#   ./kroma.sh test   install what tests need (dev extras, Debian chromium, PostgreSQL), run ruff
#                     and the whole pytest suite twice: on SQLite, then on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY=$VENV/bin/python

say() { printf '\033[1m[kroma]\033[0m %s\n' "$*" >&2; }

find_python() {
  local candidates=(python3.13 python3.12 python3)
  local p
  for p in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for p in "${candidates[@]}"; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$p"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    return 0
  fi
  local python
  if ! python=$(find_python); then
    say "Kroma needs Python 3.12 or newer and none was found."
    say "Install one (Debian/Ubuntu: apt-get install python3.12 python3.12-venv; or pyenv install 3.12) and retry."
    exit 1
  fi
  say "Creating $VENV with $python ($("$python" --version))"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
}

# Reinstall only when pyproject.toml changed; an install with [dev] also covers the plain one.
ensure_installed() {
  local extras=$1 stamp="$VENV/.kroma-installed-${1:-base}"
  if [ -z "$extras" ] && [ -f "$VENV/.kroma-installed-dev" ] && [ "$VENV/.kroma-installed-dev" -nt pyproject.toml ]; then
    return 0
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "Installing Kroma${extras:+ with [$extras]}"
    "$PY" -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
    touch "$stamp"
  fi
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  say "Installing Debian chromium for the browser tests"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

cmd_up() {
  ensure_venv
  ensure_installed ""
  "$PY" manage.py migrate --noinput
  "$PY" manage.py collectstatic --noinput -v0
  "$PY" manage.py kroma_seed --with-default-user --demo
  export KROMA_SINGLE_USER="${KROMA_SINGLE_USER:-1}"
  exec "$PY" manage.py kroma_serve "$@"
}

# A PostgreSQL server for the second test pass: KROMA_TEST_POSTGRES_URL if set, else one on
# 127.0.0.1:5432 that answers, else a throwaway cluster from Debian's binaries in var/pgtest
# (installing `postgresql` first when its binaries are missing; KROMA_TEST_PG_THROWAWAY=1 forces
# this). Sets PG_URL (and PG_STARTED when it started one, for stop_postgres).
PG_URL="" PG_STARTED=""
ensure_postgres() {
  if [ -n "${KROMA_TEST_POSTGRES_URL:-}" ]; then PG_URL="$KROMA_TEST_POSTGRES_URL"; return 0; fi
  if [ "${KROMA_TEST_PG_THROWAWAY:-0}" != 1 ] && "$PY" -c 'import psycopg,sys; psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3).close()' 2>/dev/null; then
    PG_URL="postgres://postgres@127.0.0.1:5432/kroma"
    return 0
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    say "Installing Debian postgresql for the PostgreSQL test pass"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  say "Starting a throwaway PostgreSQL ($bin) on 127.0.0.1:54329"
  local dir="$PWD/var/pgtest" port=54329 as=()
  # PostgreSQL refuses to run as root: run the throwaway cluster as the postgres user.
  if [ "$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  PG_STARTED="$bin/pg_ctl -D $dir/data"
  PG_URL="postgres://postgres@127.0.0.1:$port/kroma"
}

stop_postgres() {
  if [ -n "$PG_STARTED" ]; then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- $PG_STARTED -m fast stop >/dev/null; else $PG_STARTED -m fast stop >/dev/null; fi
  fi
}

cmd_test() {
  ensure_venv
  ensure_installed dev
  ensure_chromium
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  export KROMA_MODELS_DIR="${KROMA_MODELS_DIR:-$PWD/../shared/models}"
  trap stop_postgres EXIT
  ensure_postgres
  export KROMA_TEST_POSTGRES_URL="$PG_URL"
  say "Test pass 1 of 2: SQLite"
  env -u DATABASE_URL "$PY" -m pytest "$@"
  say "Test pass 2 of 2: PostgreSQL ($PG_URL)"
  DATABASE_URL="$PG_URL" "$PY" -m pytest "$@"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: ./kroma.sh up | ./kroma.sh test [pytest args]" >&2; exit 2 ;;
esac
