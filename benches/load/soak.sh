#!/usr/bin/env bash
# Soak test: DURATION seconds (default 600) of mixed load from CLIENTS (default 200)
# keep-alive clients against `exo serve` (todo example, 10 users x 100 todos): reads of every
# shape, creates, nested creates and updates, deletes, invalid and oversized requests,
# unauthenticated calls. Postgres is stopped and restarted in the middle, and the pool is
# exhausted on purpose for a while (the `todos` table locked for a few seconds at a time, so
# every pooled connection waits in Postgres; requests queue for a free connection up to
# POOL_TIMEOUT_MS, 30 s here, so exhaustion shows as latency, not errors). The checks and the figures are printed by soak.py; the exit status says
# whether every check passed. Runs at the lowest priority (`nice`), as does its Postgres.
#
#   DURATION=600 CLIENTS=200 POOL=10 benches/load/soak.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
if [ -z "${EXO:-}" ]; then
  EXO="$ROOT/target/release/exo"
  [ -x "$EXO" ] || EXO="$ROOT/target/debug/exo"
fi
[ -x "$EXO" ] || { echo "exo missing: cargo build --release -p exo-cli" >&2; exit 1; }
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
export PATH="$PGBIN:$PATH"
export DURATION="${DURATION:-600}" CLIENTS="${CLIENTS:-200}" POOL="${POOL:-10}" USERS=10
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
export PORT

WORK="$(mktemp -d /tmp/exo-soak.XXXXXX)"
chmod 755 "$WORK"
EXO_PID=""
PGDATA_DIR="$WORK/pgdata"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$EXO_PID" ] && kill -0 "$EXO_PID" 2>/dev/null; then
    kill -TERM "$EXO_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$EXO_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$EXO_PID" 2>/dev/null || true
  fi
  [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg pg_ctl -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -r "$ROOT/schema-examples/ok/todo" "$WORK/todo"
rm -rf "$WORK/todo/target"

# ---- a throwaway cluster ----
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$PGDATA_DIR" && { [ "$(id -u)" != 0 ] || chown postgres: "$PGDATA_DIR"; }
as_pg initdb -D "$PGDATA_DIR" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
PG_OPTS="-p $PG_PORT -h 127.0.0.1 -k $PGDATA_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
pg_start() { as_pg nice -n 19 pg_ctl -D "$PGDATA_DIR" -w -l "$PGDATA_DIR/postgres.log" -o "$PG_OPTS" start >/dev/null; }
pg_start || { cat "$PGDATA_DIR/postgres.log" >&2; exit 1; }
export DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/soak"
psql -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -c 'CREATE DATABASE soak'
# soak.py stops and starts Postgres through these.
as_pg_cmd=""; [ "$(id -u)" = 0 ] && as_pg_cmd="runuser -u postgres --"
export PG_STOP="$as_pg_cmd pg_ctl -D $PGDATA_DIR -m fast -w stop >/dev/null"
export PG_START="$as_pg_cmd nice -n 19 pg_ctl -D $PGDATA_DIR -w -l $PGDATA_DIR/postgres.log -o '$PG_OPTS' start >/dev/null"

# ---- the model, its tables and rows, `exo serve` ----
"$EXO" build --quiet --project "$WORK/todo"
"$EXO" schema create --quiet --project "$WORK/todo" | psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" <<'SQL'
INSERT INTO users (email, name)
  SELECT 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 10) g;
INSERT INTO todos (title, completed, priority, user_id)
  SELECT 'todo ' || g, g % 2 = 0, (ARRAY['LOW','MEDIUM','HIGH'])[1 + g % 3]::priority, 1 + (g - 1) / 100
  FROM generate_series(1, 1000) g;
VACUUM ANALYZE;
SQL
export SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
(cd "$WORK/todo" && EXO_POSTGRES_URL="$DB_URL" EXO_JWT_SECRET="$SECRET" EXO_POSTGRES_READ_WRITE=true \
  EXO_CONNECTION_POOL_SIZE="$POOL" EXO_SERVER_HOST=127.0.0.1 EXO_CONNECTION_POOL_TIMEOUT_MS="${POOL_TIMEOUT_MS:-30000}" \
  exec nice -n 19 "$EXO" serve --port "$PORT") >"$WORK/exo.log" 2>&1 &
EXO_PID=$!
export EXO_PID
for _ in $(seq 300); do
  grep -q 'Started server' "$WORK/exo.log" 2>/dev/null && break
  kill -0 "$EXO_PID" 2>/dev/null || { cat "$WORK/exo.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "Started server" "$WORK/exo.log" || { echo "exo did not start:" >&2; cat "$WORK/exo.log" >&2; exit 1; }
echo "soak: exo serve pid $EXO_PID on port $PORT, Postgres on $PG_PORT, $DURATION s, $CLIENTS clients" >&2

status=0
nice -n 19 python3 "$HERE/soak.py" || status=$?
# After exo stops, no connection of its may remain.
kill -TERM "$EXO_PID"; wait "$EXO_PID" 2>/dev/null || true; EXO_PID=""
left=$(psql -X -At "$DB_URL" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exo'")
echo "Postgres connections from exo after it stopped: $left"
[ "$left" = 0 ] || status=1
grep -c 'database error' "$WORK/exo.log" | xargs -I{} echo "database errors logged by exo: {}"
exit $status
