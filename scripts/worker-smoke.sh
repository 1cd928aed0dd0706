#!/usr/bin/env bash
# A new user's path, checked against the native server: `exo deploy cf-worker` in a copy of the
# todo example, `wrangler dev` (workerd) on the generated wrangler.toml and .dev.vars, then the
# same HTTP requests to the Worker and to `exo yolo` (same database, same JWT secret). Statuses,
# bodies and CORS/Allow headers must be identical, mutations included. Then the hostile-request
# list against `exo serve` and a second `wrangler dev`, both with the token in a cookie
# (scripts/hostile.py). Every process started here is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXO="${EXO:-$ROOT/target/debug/exo}"
WRANGLER="${EXO_WRANGLER:-$ROOT/cf-worker/node_modules/.bin/wrangler}"
export EXO_CF_WORKER_DIST="${EXO_CF_WORKER_DIST:-$ROOT/target/cf-worker-dist}"
[ -x "$EXO" ] || { echo "worker-smoke: $EXO missing: cargo build -p exo-cli" >&2; exit 1; }

WORK="$(mktemp -d /tmp/exo-worker-smoke.XXXXXX)"
NAME=worker-smoke
# shellcheck source=scripts/worker-lib.sh
source "$ROOT/scripts/worker-lib.sh"

cp -r "$ROOT/schema-examples/ok/todo" "$WORK/todo"
rm -rf "$WORK/todo/target"
free_port NPORT
# Both sides get the same statement timeout and a selection depth that lets the slow query
# at the end through.
BOUNDS=(EXO_STATEMENT_TIMEOUT_MS=1500 EXO_MAX_SELECTION_DEPTH=6)
env "${BOUNDS[@]}" setsid "$EXO" yolo --project "$WORK/todo" --port "$NPORT" >"$WORK/exo.log" 2>&1 </dev/null &
PIDS+=($!)
wait_for "$WORK/exo.log" 'Started server' "${PIDS[-1]}"
DB_URL="$(grep -o 'postgres://[^ ]*' "$WORK/exo.log" | head -1)"
SECRET="$(grep -o 'JWT secret: [0-9A-Za-z]*' "$WORK/exo.log" | head -1 | cut -d' ' -f3)"
TOKEN="$(grep -o 'Bearer [^ ]*' "$WORK/exo.log" | head -1 | cut -d' ' -f2)"

(cd "$WORK/todo" && "$EXO" deploy cf-worker | tee "$WORK/deploy.log")
grep -q 'npx wrangler deploy' "$WORK/deploy.log"
# The user fills in .dev.vars; yolo also enables introspection and CORS for every origin.
printf 'EXO_POSTGRES_URL = "%s"\nEXO_JWT_SECRET = "%s"\nEXO_INTROSPECTION = "true"\nEXO_CORS_DOMAINS = "*"\n' \
  "$DB_URL" "$SECRET" > "$WORK/todo/.dev.vars"
for v in "${BOUNDS[@]}"; do printf '%s = "%s"\n' "${v%%=*}" "${v#*=}"; done >> "$WORK/todo/.dev.vars"
free_port WPORT
free_port IPORT
# No subshell: `$!` must be wrangler itself (setsid makes it a group leader without forking).
cd "$WORK/todo"
XDG_CONFIG_HOME="$WORK/xdg" WRANGLER_SEND_METRICS=false CI=true \
  setsid "$WRANGLER" dev --ip 127.0.0.1 --port "$WPORT" --inspector-port "$IPORT" \
  >"$WORK/wrangler.log" 2>&1 </dev/null &
PIDS+=($!)
cd "$ROOT"
wait_for "$WORK/wrangler.log" 'Ready on' "${PIDS[-1]}"

# request NAME METHOD PATH BODY [HEADER...] -> "$WORK/NAME.{native,worker}"
fails=0
checks=0
request() {
  local name=$1 method=$2 path=$3 body=$4; shift 4
  # -m: a query the statement timeout failed to stop fails the check instead of hanging it.
  local args=(-s -m 60 -X "$method" -D - -o "$WORK/body" -H 'Content-Type: application/json')
  for h in "$@"; do args+=(-H "$h"); done
  [ -n "$body" ] && args+=(--data-binary "$body")
  for side in native worker; do
    local port=$NPORT; [ $side = worker ] && port=$WPORT
    local head
    head=$(curl "${args[@]}" "http://127.0.0.1:$port$path" | tr -d '\r')
    {
      sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/status \1/p' <<<"$head"
      { grep -i -E '^(allow|access-control-allow-origin|access-control-allow-methods|access-control-max-age):' <<<"$head" || true; } \
        | tr 'A-Z' 'a-z' | sort
      cat "$WORK/body"; echo
    } > "$WORK/$name.$side"
  done
  checks=$((checks + 1))
  if ! grep -q '^status [1-5][0-9][0-9]$' "$WORK/$name.worker"; then
    echo "worker-smoke: $name got no HTTP answer from the Worker" >&2
    fails=$((fails + 1))
  elif ! cmp -s "$WORK/$name.native" "$WORK/$name.worker"; then
    echo "worker-smoke: $name differs (native, then Worker):" >&2
    diff "$WORK/$name.native" "$WORK/$name.worker" >&2 || true
    fails=$((fails + 1))
  fi
}
AUTH="Authorization: Bearer $TOKEN"
# Set-up through the native server; then each side creates one todo (ids are not selected).
curl -sf "http://127.0.0.1:$NPORT/graphql" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"query":"mutation { createUser(data: {email: \"a@example.com\", name: \"Ann\"}) { id } }"}' >/dev/null
request create-todo POST /graphql '{"query":"mutation($t: String!) { createTodo(data: {title: $t, user: {id: 1}}) { title completed priority user { name } } }","variables":{"t":"Water plants"}}' "$AUTH"
request list POST /graphql '{"query":"{ todos(orderBy: {id: ASC}) { id title user { id email } } users { id name todosAgg { id { count } } } }"}' "$AUTH"
request anonymous POST /graphql '{"query":"{ todos { id } }"}'
request bad-token POST /graphql '{"query":"{ todos { id } }"}' 'Authorization: Bearer not.a.token'
request syntax POST /graphql '{"query":"{ todos { id "}' "$AUTH"
request unknown-field POST /graphql '{"query":"{ todos { nope } }"}' "$AUTH"
request bad-json POST /graphql '{"query": '
request introspection POST /graphql '{"query":"{ __schema { queryType { name } } __type(name: \"Todo\") { fields { name } } }"}'
request not-found POST /other '{"query":"{ __typename }"}'
request get GET /graphql ''
request cors-preflight OPTIONS /graphql '' 'Origin: https://app.example' 'Access-Control-Request-Method: POST'
request cors-post POST /graphql '{"query":"{ __typename }"}' 'Origin: https://app.example'

grep -Eq '"createTodo" ?: ?\{"title" ?: ?"Water plants"' "$WORK/create-todo.worker" || { echo "worker-smoke: the Worker's mutation did not answer" >&2; cat "$WORK/create-todo.worker" >&2; fails=$((fails + 1)); }
grep -Eq '"count" ?: ?2' "$WORK/list.worker" || { echo "worker-smoke: the Worker does not see both writes" >&2; cat "$WORK/list.worker" >&2; fails=$((fails + 1)); }
# The statement timeout: with 1,000 todos, `todos { user { todos { user { todos ... } } } }`
# is 10^9 rows; Postgres ends it after 1.5 s on both sides (natively by a cancel request, in the
# Worker by `SET LOCAL statement_timeout`), with the same error. Then a normal request works.
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
"$PSQL" -q "$DB_URL" -c "INSERT INTO todos (title, user_id) SELECT 'todo ' || n, 1 FROM generate_series(1, 998) n"
request slow POST /graphql '{"query":"{ todos { user { todos { user { todos { id } } } } } }"}' "$AUTH"
grep -q 'cancelled after 1500 ms in the database (`EXO_STATEMENT_TIMEOUT_MS`)' "$WORK/slow.worker" \
  || { echo "worker-smoke: the Worker's slow query was not cut by the statement timeout" >&2; cat "$WORK/slow.worker" >&2; fails=$((fails + 1)); }
request after-slow POST /graphql '{"query":"{ todosAgg { id { count } } }"}' "$AUTH"
grep -Eq '"count" ?: ?1000' "$WORK/after-slow.worker" || { echo "worker-smoke: no normal answer after the timeout" >&2; fails=$((fails + 1)); }
echo "worker-smoke: $((checks - fails + 4)) passed, $fails failed"

# The hostile-request list (integration/tests/it/hostile-requests.json: form, text/plain,
# multipart and untyped posts carrying a JWT cookie, wrong methods, oversized and malformed
# bodies, preflights from a foreign origin, ...) to `exo serve` and to the Worker, both set up
# as the list says: the token read from a cookie, one allowed origin, introspection off.
# scripts/hostile.py requires identical answers from both, each as listed.
stop "${PIDS[-1]}"
HOSTILE_VARS=(
  "EXO_POSTGRES_URL=$DB_URL" "EXO_JWT_SECRET=$SECRET" "EXO_JWT_SOURCE_COOKIE=token"
  "EXO_CORS_DOMAINS=https://app.example" "EXO_POSTGRES_READ_WRITE=true" "EXO_INTROSPECTION=false"
)
free_port SPORT
env "${HOSTILE_VARS[@]}" setsid "$EXO" serve --project "$WORK/todo" --port "$SPORT" >"$WORK/serve.log" 2>&1 </dev/null &
PIDS+=($!)
wait_for "$WORK/serve.log" 'Started server' "${PIDS[-1]}"
for v in "${HOSTILE_VARS[@]}"; do printf '%s = "%s"\n' "${v%%=*}" "${v#*=}"; done > "$WORK/todo/.dev.vars"
free_port WPORT2
free_port IPORT2
cd "$WORK/todo"
XDG_CONFIG_HOME="$WORK/xdg" WRANGLER_SEND_METRICS=false CI=true \
  setsid "$WRANGLER" dev --ip 127.0.0.1 --port "$WPORT2" --inspector-port "$IPORT2" \
  >"$WORK/wrangler-hostile.log" 2>&1 </dev/null &
PIDS+=($!)
cd "$ROOT"
wait_for "$WORK/wrangler-hostile.log" 'Ready on' "${PIDS[-1]}"
python3 "$ROOT/scripts/hostile.py" "$ROOT/integration/tests/it/hostile-requests.json" "$SECRET" "$SPORT" "$WPORT2" \
  || fails=$((fails + 1))
[ "$fails" -eq 0 ]
