#!/usr/bin/env bash
# Installs (Debian packages) and starts throw-away Redis and PostgreSQL servers
# on loopback for the registry and lpns tests.
#   scripts/services.sh start   install if needed, start both
#   scripts/services.sh env     print the export lines for the test variables
#   scripts/services.sh stop    stop both
set -euo pipefail
STATE="${PUSHWIRE_SERVICES_DIR:-/tmp/pushwire-services}"
REDIS_PORT="${PUSHWIRE_REDIS_PORT:-6399}"
PG_PORT="${PUSHWIRE_PG_PORT:-5439}"

need_install() {
  command -v redis-server >/dev/null 2>&1 || return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || return 0
  return 1
}

pgbin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

start() {
  if need_install; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server postgresql >/dev/null
  fi
  mkdir -p "$STATE"
  # Redis: no persistence, loopback only.
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  fi
  # PostgreSQL: a fresh cluster owned by the postgres user, trust auth on loopback.
  local bin; bin=$(pgbin)
  local data="$STATE/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data"; mkdir -p "$data"; chown postgres:postgres "$STATE" "$data"
    su postgres -c "$bin/initdb -D '$data' -A trust -U postgres --no-sync" >/dev/null
  fi
  if ! su postgres -c "$bin/pg_ctl -D '$data' status" >/dev/null 2>&1; then
    su postgres -c "$bin/pg_ctl -D '$data' -l '$STATE/pg.log' -w -o \"-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" start" >/dev/null
  fi
  for _ in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && \
      su postgres -c "$bin/pg_isready -h 127.0.0.1 -p $PG_PORT" >/dev/null 2>&1 && break
    sleep 0.2
  done
  su postgres -c "psql -h 127.0.0.1 -p $PG_PORT -tAc \"SELECT 1 FROM pg_database WHERE datname='pushwire'\"" | grep -q 1 || \
    su postgres -c "createdb -h 127.0.0.1 -p $PG_PORT pushwire"
  echo "redis on 127.0.0.1:$REDIS_PORT, postgresql on 127.0.0.1:$PG_PORT" >&2
}

stop() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  local bin; bin=$(pgbin 2>/dev/null) || return 0
  [ -d "$STATE/pg" ] && su postgres -c "$bin/pg_ctl -D '$STATE/pg' -m fast stop" >/dev/null 2>&1 || true
}

env_lines() {
  echo "export PUSHWIRE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export PUSHWIRE_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/pushwire?sslmode=disable"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
