#!/usr/bin/env bash
# Several `exo serve` replicas behind a load balancer, with a pooler in front of Postgres:
#
#   wrk -> HAProxy (health checks on GET /ready) -> N x exo serve -> PgBouncer (transaction
#   pooling) -> PostgreSQL
#
# Everything is local and throwaway (loopback only). The script runs a steady phase, then a
# phase in which one replica is killed (SIGKILL) halfway through, and reports requests,
# failures and throughput for each, with HAProxy's view of every replica.
#
#   scripts/replicas-demo.sh                          # 3 replicas, 10 s per phase
#   REPLICAS=4 DURATION=20 CONNECTIONS=32 scripts/replicas-demo.sh
#   EXO=target/release/exo scripts/replicas-demo.sh   # default: target/release/exo if built,
#                                                     # else target/debug/exo (built if missing)
#
# Needs: PostgreSQL binaries (PGBIN, default /usr/lib/postgresql/15/bin), pgbouncer, haproxy,
# wrk, python3 (`scripts/install-toolchain.sh` installs pgbouncer and haproxy; wrk:
# `apt-get install -y wrk`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPLICAS="${REPLICAS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
export PATH="$PGBIN:/usr/sbin:$PATH"

for tool in pgbouncer haproxy wrk python3 initdb pg_ctl psql; do
  command -v "$tool" >/dev/null || { echo "replicas-demo: \`$tool\` not found (see the header of this script)" >&2; exit 1; }
done
if [ -z "${EXO:-}" ]; then
  if [ -x "$ROOT/target/release/exo" ]; then EXO="$ROOT/target/release/exo"; else
    EXO="$ROOT/target/debug/exo"
    [ -x "$EXO" ] || (cd "$ROOT" && cargo build -q -p exo-cli)
  fi
fi

WORK="$(mktemp -d /tmp/exo-replicas.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -f "$WORK/pgbouncer.pid" ] && kill -TERM "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
  [ -f "$WORK/pgdata/postmaster.pid" ] && as_pg pg_ctl -D "$WORK/pgdata" -m immediate stop >/dev/null 2>&1 || true
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "replicas-demo: $*" >&2; }

# ---- PostgreSQL ----
PG_PORT="$(free_port)"
mkdir -p "$WORK/pgdata"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK/pgdata" "$WORK"
as_pg initdb -D "$WORK/pgdata" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg pg_ctl -D "$WORK/pgdata" -w -l "$WORK/pgdata/postgres.log" \
  -o "-p $PG_PORT -h 127.0.0.1 -k $WORK/pgdata -c fsync=off -c synchronous_commit=off -c max_connections=100" \
  start >/dev/null || { cat "$WORK/pgdata/postgres.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -c 'CREATE DATABASE demo'
say "PostgreSQL on 127.0.0.1:$PG_PORT"

# ---- the todo example: build, tables, 10 users x 100 todos ----
cp -r "$ROOT/schema-examples/ok/todo" "$WORK/todo"
rm -rf "$WORK/todo/target"
"$EXO" build --quiet --project "$WORK/todo"
DB="postgres://postgres@127.0.0.1:$PG_PORT/demo"
"$EXO" schema create --quiet --project "$WORK/todo" | psql -X -q -v ON_ERROR_STOP=1 "$DB" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DB" >/dev/null <<'SQL'
INSERT INTO users (name, email) SELECT 'user ' || i, 'user' || i || '@example.com' FROM generate_series(1, 10) i;
INSERT INTO todos (title, completed, priority, user_id)
  SELECT 'todo ' || i, i % 3 = 0, 'MEDIUM', 1 + i % 10 FROM generate_series(1, 1000) i;
VACUUM ANALYZE;
SQL

# ---- PgBouncer, transaction pooling ----
BOUNCER_PORT="$(free_port)"
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/users.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
echo '"postgres" ""' >"$WORK/users.txt"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK/pgbouncer.ini" "$WORK/users.txt"
as_pg pgbouncer -d -q "$WORK/pgbouncer.ini"
for _ in $(seq 100); do [ -f "$WORK/pgbouncer.pid" ] && break; sleep 0.1; done
say "PgBouncer (transaction pooling) on 127.0.0.1:$BOUNCER_PORT"

# ---- the replicas ----
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
TOKEN="$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": 1, "role": "admin", "exp": int(time.time()) + 3600}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
print(f"{head}.{claims}.{b64(sig)}")
PY
)"
REPLICA_PORTS=()
REPLICA_PIDS=()
for i in $(seq "$REPLICAS"); do
  port="$(free_port)"
  # Statements go unnamed: PgBouncer 1.18 in transaction pooling does not keep prepared
  # statements (exo would notice and switch by itself; the setting avoids the first failure).
  EXO_POSTGRES_URL="postgres://postgres@127.0.0.1:$BOUNCER_PORT/demo" \
  EXO_POSTGRES_PREPARED_STATEMENTS=false \
  EXO_JWT_SECRET="$SECRET" EXO_SERVER_HOST=127.0.0.1 EXO_SERVER_PORT="$port" \
  EXO_SERVER_THREADS=1 EXO_CONNECTION_POOL_SIZE=4 EXO_LOG="warn" \
    "$EXO" serve --project "$WORK/todo" >"$WORK/replica-$i.log" 2>&1 &
  REPLICA_PIDS+=("$!")
  PIDS+=("$!")
  REPLICA_PORTS+=("$port")
done
for i in $(seq "$REPLICAS"); do
  port="${REPLICA_PORTS[$((i - 1))]}"
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready" 2>/dev/null || true)" = 200 ] && break
    sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] || { cat "$WORK/replica-$i.log" >&2; exit 1; }
done
say "$REPLICAS replicas ready on ports ${REPLICA_PORTS[*]}"

# ---- HAProxy ----
LB_PORT="$(free_port)"
{
  cat <<EOF
global
  maxconn 2000
  stats socket $WORK/haproxy.sock mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  # A request that found its replica gone (refused, or closed without an answer) is sent to
  # another one. The load here is GraphQL queries, safe to repeat; mutations would need care.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
frontend graphql
  bind 127.0.0.1:$LB_PORT
  default_backend exo
backend exo
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
  default-server check inter 500ms fall 2 rise 2
EOF
  for i in $(seq "$REPLICAS"); do echo "  server replica$i 127.0.0.1:${REPLICA_PORTS[$((i - 1))]}"; done
} >"$WORK/haproxy.cfg"
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LB_PORT/ready" 2>/dev/null || true)" = 200 ] && break
  sleep 0.1
done
sleep 1.5 # every replica through `rise 2` checks
say "HAProxy on 127.0.0.1:$LB_PORT (health check: GET /ready every 500 ms)"

stat() {
  python3 - "$WORK/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = [l.split(",") for l in data.decode().splitlines() if l and not l.startswith("#")]
head = data.decode().splitlines()[0].lstrip("# ").split(",")
col = {name: i for i, name in enumerate(head)}
print("| server | status | requests sent | connect errors | response errors | retries | redispatched |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    if r[col["pxname"]] == "exo" and r[col["svname"]] not in ("FRONTEND", "BACKEND"):
        print(f"| {r[col['svname']]} | {r[col['status']]} | {r[col['stot']]} | {r[col['econ']] or 0} | {r[col['eresp']] or 0} | {r[col['wretr']] or 0} | {r[col['wredis']] or 0} |")
PY
}

run_load() { # $1 = label; prints one table row from wrk's RESULT line
  GQL_BODY='{"query":"{ todos(orderBy: {id: ASC}, limit: 10) { id title completed priority } }"}' EXO_TOKEN="$TOKEN" \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$ROOT/benches/load/post.lua" "http://127.0.0.1:$LB_PORT/graphql" >"$WORK/wrk-$1.txt" 2>&1
  python3 - "$1" "$WORK/wrk-$1.txt" <<'PY'
import re, sys
text = open(sys.argv[2]).read()
m = re.search(r"RESULT requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) errors=(\d+)", text)
if not m:
    sys.exit(f"wrk gave no result:\n{text}")
req, dur, p50, p99, err = map(int, m.groups())
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: (.*)", text)
print(f"| {sys.argv[1]} | {req} | {err} | {req / (dur / 1e6):.0f} | {p50 / 1000:.2f} | {p99 / 1000:.2f} | "
      f"{non2xx.group(1) if non2xx else 0} | {sock.group(1) if sock else 'none'} |")
PY
}

echo "## exo replicas demo: $REPLICAS x exo serve ($(basename "$EXO") $( [ "${EXO#*release}" != "$EXO" ] && echo release || echo debug) build, 1 HTTP thread and 4 connections each) -> PgBouncer 1.18 (transaction) -> PostgreSQL 15"
echo
echo "wrk: $CONNECTIONS connections, ${DURATION} s per phase, query \`todos(orderBy: {id: ASC}, limit: 10)\` through HAProxy."
echo
echo "| phase | requests | failed | req/s | p50 ms | p99 ms | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|"
run_load "steady, $REPLICAS replicas"
(sleep "$(python3 -c "print($DURATION / 2)")"; kill -KILL "${REPLICA_PIDS[0]}"; echo "killed replica1 (pid ${REPLICA_PIDS[0]}) with SIGKILL" >"$WORK/killed.txt") &
KILLER=$!
run_load "replica1 killed at $((DURATION / 2)) s"
wait "$KILLER"
# Quiet bash's "Killed" job notice: the replica was meant to die.
wait "${REPLICA_PIDS[0]}" 2>/dev/null || true
echo
echo "$(cat "$WORK/killed.txt"). HAProxy afterwards:"
echo
stat
