#!/usr/bin/env bash
# Load benchmark: exo (todo example, admin token) vs. a raw pgbench floor running
# the exact SQL exo generates. See README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
EXO="${EXO:-$ROOT/target/release/exo}"
PORT="${PORT:-19191}"
DURATION="${DURATION:-5}"
CONCURRENCY="${CONCURRENCY:-1 16}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
export PATH="$PGBIN:$PATH"

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$EXO" ] || { echo "$EXO missing: cargo build --release -p exo-cli" >&2; exit 1; }

WORK="$(mktemp -d /tmp/exo-load.XXXXXX)"
chmod 755 "$WORK"
EXO_PID=""
PGDATA_DIR="$WORK/pgdata"
# initdb refuses root: the cluster then belongs to the `postgres` user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$EXO_PID" ] && kill -0 "$EXO_PID" 2>/dev/null; then
    kill -TERM "$EXO_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$EXO_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$EXO_PID" 2>/dev/null || true
  fi
  [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg pg_ctl -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Mutations come last: they add rows (create) and change them (update).
read -r -a CASES <<<"${CASES:-pk list10 list1000 nested create update}"
declare -A QUERY=(
  [pk]='{ todo(id: 1) { id title completed priority } }'
  [list10]='{ todos(orderBy: {id: ASC}, limit: 10) { id title completed priority } }'
  [list1000]='{ todos(orderBy: {id: ASC}) { id title completed priority } }'
  [nested]='{ users { id name todos { id title } } }'
  [create]='mutation { createTodo(data: {title: "load test", priority: HIGH, user: {id: 1}}) { id title completed priority } }'
  [update]='mutation { updateTodo(id: __ID__, data: {title: "updated", completed: true}) { id title completed priority } }'
)
cp -r "$ROOT/schema-examples/ok/todo" "$WORK/todo"
rm -rf "$WORK/todo/target"
# TRUSTED=1: the cases' documents become trusted documents, compiled by `exo build`; requests
# then run the precompiled SQL (the update case's text changes per request, so it stays plain).
if [ "${TRUSTED:-0}" = 1 ]; then
  mkdir -p "$WORK/todo/trusted-documents"
  for c in "${!QUERY[@]}"; do [ "$c" = update ] || printf '%s\0' "${QUERY[$c]}"; done | python3 -c '
import hashlib, json, sys
docs = [d for d in sys.stdin.read().split("\0") if d]
print(json.dumps({hashlib.sha256(d.encode()).hexdigest(): d for d in docs}))' >"$WORK/todo/trusted-documents/load.json"
  echo "trusted documents: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/todo/trusted-documents/load.json")" >&2
fi

# ---- a throwaway cluster (the same durability settings exo's test clusters use) ----
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$PGDATA_DIR" && [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR"
as_pg initdb -D "$PGDATA_DIR" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg pg_ctl -D "$PGDATA_DIR" -w -l "$PGDATA_DIR/postgres.log" \
  -o "-p $PG_PORT -h 127.0.0.1 -k $PGDATA_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$PGDATA_DIR/postgres.log" >&2; exit 1; }
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/load"
psql -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -c 'CREATE DATABASE load'

# ---- build the model, create its tables, start `exo serve` ----
"$EXO" build --quiet --project "$WORK/todo"
"$EXO" schema create --quiet --project "$WORK/todo" | psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
TOKEN="$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": 1, "role": "admin", "roles": ["admin"], "exp": int(time.time()) + 86400}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
print(f"{head}.{claims}.{b64(sig)}")
PY
)"
# READ_WRITE=false: exo's default read-only mode (each query in a pipelined BEGIN READ ONLY ...
# COMMIT); only meaningful for the query cases. EXO_LOG passes through (default: request lines on).
(cd "$WORK/todo" && EXO_POSTGRES_URL="$DB_URL" EXO_JWT_SECRET="$SECRET" EXO_POSTGRES_READ_WRITE="${READ_WRITE:-true}" \
  EXO_LOG="${EXO_LOG:-info}" EXO_SERVER_HOST=127.0.0.1 exec "$EXO" serve --port "$PORT") >"$WORK/exo.log" 2>&1 &
EXO_PID=$!

for _ in $(seq 300); do
  grep -q 'Started server' "$WORK/exo.log" && break
  kill -0 "$EXO_PID" 2>/dev/null || { cat "$WORK/exo.log" >&2; exit 1; }
  sleep 0.1
done
grep -q 'Started server' "$WORK/exo.log" || { echo "exo did not start" >&2; cat "$WORK/exo.log" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/graphql"
echo "exo serve pid=$EXO_PID db=$DB_URL" >&2

PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$DB_URL")
"${PSQL[@]}" <<'SQL'
INSERT INTO users (email, name)
  SELECT 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 10) g;
INSERT INTO todos (title, completed, priority, user_id)
  SELECT 'todo ' || g, g % 2 = 0, (ARRAY['LOW','MEDIUM','HIGH'])[1 + g % 3]::priority, 1 + (g - 1) / 100
  FROM generate_series(1, 1000) g;
VACUUM ANALYZE;
SQL

# `__ID__` becomes a random todo id per request (post.lua) and per pgbench transaction
# (`\set id random(1, 1000)`), so concurrent updates do not all queue on one row lock.
CAPTURE_ID=777
is_mutation() { case "$1" in create|update) return 0;; *) return 1;; esac; }
body() { python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1"; }

gql() {
  curl -sf "$URL" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$(body "$1")"
}

# ---- capture the SQL exo actually sends, via the cluster's statement log ----
PGLOG="$PGDATA_DIR/postgres.log"
"${PSQL[@]}" -c 'ALTER SYSTEM SET log_min_duration_statement = 0' -c 'SELECT pg_reload_conf()' >/dev/null
sleep 0.3
for c in "${CASES[@]}"; do
  off=$(stat -c %s "$PGLOG" 2>/dev/null || echo 0)
  resp="$(gql "${QUERY[$c]//__ID__/$CAPTURE_ID}")"
  case "$resp" in *'"errors"'*|'') echo "case $c failed: $resp" >&2; exit 1;; esac
  sleep 0.3
  tail -c +"$((off + 1))" "$PGLOG" > "$WORK/$c.log" 2>/dev/null || true
  # Turn "execute <unnamed>: SQL" + "DETAIL: parameters: $1 = 'x', ..." into literal SQL.
  python3 - "$WORK/$c.log" "$WORK/$c.sql" "$c" "$CAPTURE_ID" <<'PY' || true
import re, sys
src, dst, case, capture_id = sys.argv[1:]
mutation = case in ("create", "update")
lines = open(src, errors="replace").read().splitlines()
stmts = []  # (sql, params)
i = 0
while i < len(lines):
    m = re.search(r'LOG:  duration: [\d.]+ ms  (?:execute [^:]*|statement): (.*)$', lines[i])
    if m:
        sql = m.group(1)
        j = i + 1
        while j < len(lines) and not re.match(r'^\d{4}-\d\d-\d\d ', lines[j]):
            sql += "\n" + lines[j]; j += 1
        params = {}
        if j < len(lines) and 'DETAIL:  parameters:' in lines[j]:
            for k, v in re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", lines[j]):
                params[k] = v
        stmts.append((sql, params)); i = j; continue
    i += 1
# A query is one statement; a mutation is its whole script (BEGIN/COMMIT included when exo
# sends them), replayed in order.
skip = r'\s*(SET|SHOW|RESET|DISCARD)\b' if mutation else r'\s*(BEGIN|COMMIT|SET|SHOW|RESET|DISCARD)\b'
stmts = [s for s in stmts if not re.match(skip, s[0], re.I)]
if not [s for s in stmts if not re.match(r'\s*(BEGIN|COMMIT)\b', s[0], re.I)]:
    sys.exit(1)
if not mutation:
    stmts = stmts[-1:]
out = []
for sql, params in stmts:
    # Substitute $N placeholders (not the "$N" inside aliases such as "todos$1").
    sql = re.sub(r'(?<![\w"$])\$(\d+)', lambda m: params.get(m.group(1), 'NULL'), sql)
    out.append(sql.rstrip().rstrip(';') + ";")
text = "\n".join(out) + "\n"
if case == "update":
    # The captured id becomes a pgbench variable, as a scalar and as the key list.
    for key_list in ("'{%s}'" % capture_id, "'{\"%s\"}'" % capture_id):
        text = text.replace(key_list, "ARRAY[:id]::text[]")
    text = text.replace("'%s'" % capture_id, ":id")
    text = "\\set id random(1, 1000)\n" + text
open(dst, "w").write(text)
print(f"captured {case}: {len(stmts)} statement(s) for one request", file=sys.stderr)
PY
done
"${PSQL[@]}" -c 'ALTER SYSTEM RESET log_min_duration_statement' -c 'SELECT pg_reload_conf()' >/dev/null

# Fallback hand-written SQL (same shape exo generated at the time of writing).
fb_cols="json_build_object('id', \"todos\$1\".\"id\", 'title', \"todos\$1\".\"title\", 'completed', \"todos\$1\".\"completed\", 'priority', \"todos\$1\".\"priority\")"
declare -A FALLBACK=(
  [pk]="SELECT $fb_cols::text FROM \"todos\" AS \"todos\$1\" WHERE \"todos\$1\".\"id\" = 1::int4;"
  [list10]="SELECT COALESCE(json_agg($fb_cols), '[]'::json)::text FROM (SELECT \"todos\$1\".* FROM \"todos\" AS \"todos\$1\" ORDER BY \"todos\$1\".\"id\" ASC NULLS FIRST LIMIT 10::int8) AS \"todos\$1\";"
  [list1000]="SELECT COALESCE(json_agg($fb_cols), '[]'::json)::text FROM (SELECT \"todos\$1\".* FROM \"todos\" AS \"todos\$1\" ORDER BY \"todos\$1\".\"id\" ASC NULLS FIRST) AS \"todos\$1\";"
  [nested]="SELECT COALESCE(json_agg(json_build_object('id', \"users\$1\".\"id\", 'name', \"users\$1\".\"name\", 'todos', (SELECT COALESCE(json_agg(json_build_object('id', \"todos\$2\".\"id\", 'title', \"todos\$2\".\"title\")), '[]'::json) FROM (SELECT \"todos\$2\".* FROM \"todos\" AS \"todos\$2\" WHERE \"users\$1\".\"id\" = \"todos\$2\".\"user_id\" ORDER BY \"todos\$2\".\"id\" ASC) AS \"todos\$2\"))), '[]'::json)::text FROM (SELECT \"users\$1\".* FROM \"users\" AS \"users\$1\" ORDER BY \"users\$1\".\"id\" ASC) AS \"users\$1\";"
)
declare -A SQLSRC
for c in "${CASES[@]}"; do
  if [ -s "$WORK/$c.sql" ]; then SQLSRC[$c]=captured
  elif is_mutation "$c"; then echo "case $c: SQL capture failed; a mutation has no hand-written fallback" >&2; exit 1
  else printf '%s\n' "${FALLBACK[$c]}" > "$WORK/$c.sql"; SQLSRC[$c]=fallback; fi
  # sanity: it runs (pgbench's `\set` and `:id` replaced for psql)
  sed -e '/^\\set /d' -e 's/:id/1/g' "$WORK/$c.sql" | "${PSQL[@]}" -At >/dev/null
done
if [ -n "${SAVE_SQL:-}" ]; then mkdir -p "$SAVE_SQL"; for c in "${CASES[@]}"; do cp "$WORK/$c.sql" "$SAVE_SQL/"; done; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$EXO_PID/stat"; }
HZ=$(getconf CLK_TCK)

ROUNDS="${ROUNDS:-3}"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ROWS=()
for c in "${CASES[@]}"; do
  export EXO_TOKEN="$TOKEN" GQL_BODY="$(body "${QUERY[$c]}")"
  for conc in $CONCURRENCY; do
    threads=$(( conc < $(nproc) ? conc : $(nproc) ))
    wrk -t1 -c1 -d1s -s "$HERE/post.lua" "$URL" >/dev/null 2>&1 || true   # warm-up
    # exo and the floor alternate, so a burst of load from elsewhere on the machine hits both.
    R_RPS=(); R_P50=(); R_P99=(); R_CPU=(); R_TPS=(); R_ERR=0
    for round in $(seq "$ROUNDS"); do
      t0=$(cpu_ticks)
      out="$(wrk -t"$threads" -c"$conc" -d"${DURATION}s" -s "$HERE/post.lua" "$URL")"
      t1=$(cpu_ticks)
      res="$(grep '^RESULT' <<<"$out")"
      eval "$(sed 's/^RESULT //' <<<"$res")"   # requests duration_us p50_us p99_us errors
      rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN{printf "%.0f", r/(d/1e6)}')
      cpu_us=$(awk -v a="$t0" -v b="$t1" -v r="$requests" -v hz="$HZ" 'BEGIN{printf "%.0f", (b-a)*1e6/hz/r}')
      pgb="$(pgbench -n -M prepared -c "$conc" -j "$conc" -T "$DURATION" -f "$WORK/$c.sql" "$DB_URL" 2>&1)"
      tps=$(grep -oP 'tps = \K[\d.]+' <<<"$pgb" | tail -1)
      echo "$c c=$conc round $round: exo ${rps} req/s p50=${p50_us}us p99=${p99_us}us errors=$errors cpu=${cpu_us}us/req | pgbench ${tps} tps" >&2
      R_RPS+=("$rps"); R_P50+=("$p50_us"); R_P99+=("$p99_us"); R_CPU+=("$cpu_us"); R_TPS+=("$tps"); R_ERR=$((R_ERR + errors))
    done
    rps=$(printf '%s\n' "${R_RPS[@]}" | median)
    tps=$(printf '%s\n' "${R_TPS[@]}" | median)
    cpu_us=$(printf '%s\n' "${R_CPU[@]}" | median)
    p50=$(printf '%s\n' "${R_P50[@]}" | median | awk '{printf "%.2f", $1/1000}')
    p99=$(printf '%s\n' "${R_P99[@]}" | median | awk '{printf "%.2f", $1/1000}')
    ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN{printf "%.2f", a/b}')
    ROWS+=("| $c | $conc | ${rps%.*} | $p50 | $p99 | ${cpu_us%.*} | ${tps%.*} | $ratio | $R_ERR |")
  done
done

echo
echo "Host: $(nproc) CPUs; wrk, exo, Postgres and pgbench share them. $ROUNDS alternating rounds of ${DURATION}s per side; medians."
echo "SQL source per case: $(for c in "${CASES[@]}"; do printf '%s=%s ' "$c" "${SQLSRC[$c]}"; done)"
echo
echo "| case | conc | exo req/s | exo p50 (ms) | exo p99 (ms) | exo CPU µs/req | pgbench tps | exo/pgbench | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
