#!/usr/bin/env bash
# `make cluster` / `make cluster-stop`: Sandpit as a cluster on one machine.
#
#   nginx 127.0.0.1:8000 ──┬── node1 127.0.0.1:8001 ──┐
#   (HTTP and WebSockets)  └── node2 127.0.0.1:8002 ──┼── PostgreSQL 127.0.0.1:5433
#                                                      └── Redis      127.0.0.1:6380
#
# Everything from Debian's packages, on loopback, with its state under
# $SANDPIT_STATE_DIR/cluster (PostgreSQL's under a folder the postgres user can reach).
# Idempotent: what runs already is left running.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state=${SANDPIT_STATE_DIR:-$here/.sandpit}/cluster
bin=$here/.venv/bin
pg_port=5433
redis_port=6380
mkdir -p "$state"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

pg_data() {
  # PostgreSQL runs as postgres, which may not reach a folder under root's home.
  if runuser -u postgres -- test -x "$state"; then echo "$state/postgres"; else echo /var/lib/sandpit-cluster/postgres; fi
}

start() {
  command -v redis-server >/dev/null && command -v nginx >/dev/null && [ -n "$(pg_bin)" ] \
    || "$here/scripts/apt-install.sh" postgresql redis-server nginx
  local pg data
  pg=$(pg_bin)
  data=$(pg_data)
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data" && chown -R postgres:postgres "$(dirname "$data")"
    runuser -u postgres -- "$pg/initdb" -D "$data" --auth=trust -U postgres >/dev/null
  fi
  if ! runuser -u postgres -- "$pg/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    runuser -u postgres -- "$pg/pg_ctl" -D "$data" -l "$data/../postgres.log" -w start \
      -o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1" >/dev/null
    "$pg/psql" -h 127.0.0.1 -p $pg_port -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='sandpit'" \
      | grep -q 1 || "$pg/psql" -h 127.0.0.1 -p $pg_port -U postgres -c "CREATE DATABASE sandpit" >/dev/null
  fi
  mkdir -p "$state/redis"
  running "$state/redis.pid" || redis-server --port $redis_port --bind 127.0.0.1 --daemonize yes \
    --dir "$state/redis" --pidfile "$state/redis.pid" --logfile "$state/redis.log" >/dev/null

  # One SECRET_KEY and one secrets key for every node: sessions and secrets work on any.
  [ -f "$state/secret_key" ] || (umask 077 && "$bin/python" -c "import secrets; print(secrets.token_urlsafe(50))" >"$state/secret_key")
  [ -f "$state/secrets_key" ] || (umask 077 && "$bin/python" -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" >"$state/secrets_key")
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/sandpit"
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
  export SECRET_KEY SANDPIT_SECRETS_KEY SANDPIT_TRUSTED_PROXIES=127.0.0.1
  SECRET_KEY=$(cat "$state/secret_key")
  SANDPIT_SECRETS_KEY=$(cat "$state/secrets_key")
  "$bin/python" "$here/manage.py" migrate --noinput -v 0
  for n in 1 2; do
    mkdir -p "$state/node$n"
    running "$state/node$n.pid" && continue
    SANDPIT_STATE_DIR="$state/node$n" SANDBOX_INSTANCE="sandpit-node$n" \
      "$bin/python" "$here/manage.py" collectstatic --noinput -v 0
    SANDPIT_STATE_DIR="$state/node$n" SANDBOX_INSTANCE="sandpit-node$n" nohup \
      "$bin/uvicorn" playground.asgi:application --app-dir "$here" --host 127.0.0.1 \
      --port "800$n" --lifespan on --no-proxy-headers --ws-max-size 1048576 \
      >"$state/node$n.log" 2>&1 &
    echo $! >"$state/node$n.pid"
  done
  sed "s|@STATE@|$state|g" "$here/scripts/cluster-nginx.conf" >"$state/nginx.conf"
  running "$state/nginx.pid" || nginx -c "$state/nginx.conf"
  echo "Sandpit cluster: http://127.0.0.1:8000 (nodes on 8001 and 8002; logs in $state)"
}

stop() {
  for n in 1 2; do running "$state/node$n.pid" && kill "$(cat "$state/node$n.pid")"; rm -f "$state/node$n.pid"; done
  running "$state/nginx.pid" && nginx -c "$state/nginx.conf" -s quit
  running "$state/redis.pid" && kill "$(cat "$state/redis.pid")"
  local pg
  pg=$(pg_bin)
  [ -n "$pg" ] && runuser -u postgres -- "$pg/pg_ctl" -D "$(pg_data)" -m fast stop >/dev/null 2>&1 || true
  echo "Sandpit cluster stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
