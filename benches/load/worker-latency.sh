#!/usr/bin/env bash
# Latency of the Worker in local workerd beside the native server, for one query (the todo
# example's primary-key lookup with an admin token, 10 users x 100 todos):
#   cold:   a fresh `wrangler dev` is ready; its first request pays isolate start, wasm
#           instantiation, IR decode, a new Postgres connection and the query (ROUNDS times);
#   warm:   later requests to the same isolate (still a new connection per request: Workers
#           cannot keep sockets between requests);
#   native: the same request to `exo yolo` (pooled connections).
# Also the Worker's warm `{ __typename }` (no database): workerd + wasm overhead alone.
# TRUSTED=1 makes the query a trusted document (`{ __typename }` is introspection, still
# answered). LOAD=1 adds wrk throughput at concurrency 1 and 16 through the last isolate, with
# workerd's CPU per request. Prints medians in ms. Needs scripts/install-worker-toolchain.sh and scripts/build-cf-worker.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
EXO="${EXO:-$ROOT/target/release/exo}"
WRANGLER="${EXO_WRANGLER:-$ROOT/cf-worker/node_modules/.bin/wrangler}"
ROUNDS="${ROUNDS:-5}"
WARM="${WARM:-50}"
export EXO_CF_WORKER_DIST="${EXO_CF_WORKER_DIST:-$ROOT/target/cf-worker-dist}"
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
[ -x "$EXO" ] || { echo "$EXO missing: cargo build --release -p exo-cli" >&2; exit 1; }
[ -x "$WRANGLER" ] || { echo "wrangler missing: bash scripts/install-worker-toolchain.sh" >&2; exit 1; }

WORK="$(mktemp -d /tmp/exo-worker-latency.XXXXXX)"
EXO_PID=""
WR_PID=""
stop_group() { # a `setsid` child: SIGTERM to it (wrangler stops its children), then the group
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() {
  [ -n "$WR_PID" ] && stop_group "$WR_PID"
  [ -n "$EXO_PID" ] && stop_group "$EXO_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -r "$ROOT/schema-examples/ok/todo" "$WORK/todo"
rm -rf "$WORK/todo/target"
PORT=19291
setsid "$EXO" yolo --project "$WORK/todo" --port "$PORT" >"$WORK/exo.log" 2>&1 &
EXO_PID=$!
for _ in $(seq 600); do
  grep -q 'Started server' "$WORK/exo.log" 2>/dev/null && break
  kill -0 "$EXO_PID" 2>/dev/null || { cat "$WORK/exo.log" >&2; exit 1; }
  sleep 0.1
done
DB_URL="$(grep -o 'postgres://[^ ]*' "$WORK/exo.log" | head -1)"
SECRET="$(grep -o 'JWT secret: [0-9A-Za-z]*' "$WORK/exo.log" | head -1 | cut -d' ' -f3)"
TOKEN="$(grep -o 'Bearer [^ ]*' "$WORK/exo.log" | head -1 | cut -d' ' -f2)"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" <<'SQL'
INSERT INTO users (email, name)
  SELECT 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 10) g;
INSERT INTO todos (title, completed, priority, user_id)
  SELECT 'todo ' || g, g % 2 = 0, (ARRAY['LOW','MEDIUM','HIGH'])[1 + g % 3]::priority, 1 + (g - 1) / 100
  FROM generate_series(1, 1000) g;
VACUUM ANALYZE;
SQL

BODY='{"query":"{ todo(id: 1) { id title completed priority } }"}'
EXPECT='"title" : "todo 1"'
time_one() { # URL [BODY EXPECT]: prints ms; fails unless the answer has the expected data
  local out body=${2:-$BODY} expect=${3:-$EXPECT}
  out=$(curl -s -w '\n%{time_total}' "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body")
  case "$(head -1 <<<"$out")" in *"$expect"*) ;; *) echo "unexpected answer: $out" >&2; return 1;; esac
  awk -v s="$(tail -1 <<<"$out")" 'BEGIN { printf "%.2f\n", s * 1000 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# TRUSTED=1: the measured query is a trusted document, so the Worker runs its precompiled SQL.
if [ "${TRUSTED:-0}" = 1 ]; then
  mkdir -p "$WORK/todo/trusted-documents"
  python3 -c 'import hashlib, json, sys; q = json.loads(sys.argv[1])["query"]; print(json.dumps({hashlib.sha256(q.encode()).hexdigest(): q}))' \
    "$BODY" > "$WORK/todo/trusted-documents/latency.json"
fi
(cd "$WORK/todo" && "$EXO" deploy cf-worker --quiet)
printf 'EXO_POSTGRES_URL = "%s"\nEXO_JWT_SECRET = "%s"\n' "$DB_URL" "$SECRET" > "$WORK/todo/.dev.vars"

: > "$WORK/cold" ; : > "$WORK/warm" ; : > "$WORK/nodb"
WPORT=19292
for round in $(seq "$ROUNDS"); do
  # No subshell: `$!` must be wrangler itself (setsid makes it a group leader without forking).
  cd "$WORK/todo"
  XDG_CONFIG_HOME="$WORK/xdg" WRANGLER_SEND_METRICS=false CI=true \
    setsid "$WRANGLER" dev --ip 127.0.0.1 --port "$WPORT" --inspector-port 19293 --persist-to "$WORK/state" \
    >"$WORK/wrangler.log" 2>&1 </dev/null &
  WR_PID=$!
  cd "$ROOT"
    for _ in $(seq 1200); do
    grep -q 'Ready on' "$WORK/wrangler.log" 2>/dev/null && break
    kill -0 "$WR_PID" 2>/dev/null || { cat "$WORK/wrangler.log" >&2; exit 1; }
    sleep 0.05
  done
  # Wait for the listener itself, without sending a request.
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$WPORT") 2>/dev/null && break; sleep 0.05; done
  time_one "http://127.0.0.1:$WPORT/graphql" >> "$WORK/cold"
  for _ in $(seq "$WARM"); do time_one "http://127.0.0.1:$WPORT/graphql" >> "$WORK/warm"; done
  for _ in $(seq 10); do
    time_one "http://127.0.0.1:$WPORT/graphql" '{"query":"{ __typename }"}' '"Query"' >> "$WORK/nodb"
  done
  if [ "${LOAD:-0}" = 1 ] && [ "$round" = "$ROUNDS" ]; then
    # Throughput through the last isolate: wrk at concurrency 1 and 16, and the CPU of every
    # workerd process of this wrangler per request.
    printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
      "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$BODY")" "$TOKEN" > "$WORK/post.lua"
    HZ=$(getconf CLK_TCK)
    group_ticks() { local t=0 p; for p in $(pgrep -g "$WR_PID" workerd); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
    for conc in 1 16; do
      t0=$(group_ticks)
      out=$(wrk -t"$([ "$conc" = 1 ] && echo 1 || echo 2)" -c"$conc" -d5s --latency -s "$WORK/post.lua" "http://127.0.0.1:$WPORT/graphql")
      t1=$(group_ticks)
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      n=$(awk '/requests in/ {print $1}' <<<"$out")
      p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
      cpu=$(awk -v a="$t0" -v b="$t1" -v r="$n" -v hz="$HZ" 'BEGIN{printf "%.0f", (b-a)*1e6/hz/(r ? r : 1)}')
      non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
      echo "worker load c=$conc: ${rps} req/s p50=${p50} p99=${p99} workerd CPU ${cpu} us/req non-2xx=${non2xx:-0}" >> "$WORK/load"
    done
  fi
  stop_group "$WR_PID"; WR_PID=""
done
: > "$WORK/native"
time_one "http://127.0.0.1:$PORT/graphql" >/dev/null
for _ in $(seq "$WARM"); do time_one "http://127.0.0.1:$PORT/graphql" >> "$WORK/native"; done

echo "worker cold (first request, $ROUNDS rounds): median $(median < "$WORK/cold") ms  [$(tr '\n' ' ' < "$WORK/cold")]"
echo "worker warm ($((ROUNDS * WARM)) requests):         median $(median < "$WORK/warm") ms"
echo "worker warm, no database ({ __typename }): median $(median < "$WORK/nodb") ms"
echo "native exo serve ($WARM requests):        median $(median < "$WORK/native") ms"
[ -f "$WORK/load" ] && cat "$WORK/load"
true
