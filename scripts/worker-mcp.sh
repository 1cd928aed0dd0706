#!/usr/bin/env bash
# MCP through the Worker: the official MCP TypeScript SDK client (integration/mcp-js/mcp-test.mjs)
# against `exo deploy cf-worker` + `wrangler dev` (workerd), the same checks as against
# `exo serve` in cli/tests/it/mcp.rs: the todo example without exo.toml (the default
# `execute_query`), then with the `reader`/`writer` profiles, in both `EXO_MCP_MODE`s, and with
# `EXO_ENABLE_MCP=false` (nothing at /mcp). `exo yolo` provides the database
# (emptied between the runs) and the JWT secret. Every process started here is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXO="${EXO:-$ROOT/target/debug/exo}"
WRANGLER="${EXO_WRANGLER:-$ROOT/cf-worker/node_modules/.bin/wrangler}"
PSQL="${PSQL:-/usr/lib/postgresql/15/bin/psql}"
export EXO_CF_WORKER_DIST="${EXO_CF_WORKER_DIST:-$ROOT/target/cf-worker-dist}"
[ -x "$EXO" ] || { echo "worker-mcp: $EXO missing: cargo build -p exo-cli" >&2; exit 1; }
[ -d "$ROOT/integration/mcp-js/node_modules/@modelcontextprotocol/sdk" ] \
  || { echo "worker-mcp: the MCP SDK is missing: npm ci --prefix integration/mcp-js" >&2; exit 1; }

WORK="$(mktemp -d /tmp/exo-worker-mcp.XXXXXX)"
NAME=worker-mcp
# shellcheck source=scripts/worker-lib.sh
source "$ROOT/scripts/worker-lib.sh"

# The database and the JWT secret.
cp -r "$ROOT/schema-examples/ok/todo" "$WORK/db"
rm -rf "$WORK/db/target"
free_port NPORT
setsid "$EXO" yolo --project "$WORK/db" --port "$NPORT" >"$WORK/exo.log" 2>&1 </dev/null &
PIDS+=($!)
wait_for "$WORK/exo.log" 'Started server' "${PIDS[-1]}"
DB_URL="$(grep -o 'postgres://[^ ]*' "$WORK/exo.log" | head -1)"
SECRET="$(grep -o 'JWT secret: [0-9A-Za-z]*' "$WORK/exo.log" | head -1 | cut -d' ' -f3)"

# run SCENARIO [EXO_TOML [EXTRA_DEV_VARS]]: deploy a copy of the todo example, serve it with
# wrangler dev, run the client (for `disabled`: check /mcp is not served), stop wrangler.
run() {
  local scenario=$1 toml=${2:-} extra=${3:-}
  local dir="$WORK/$scenario"
  cp -r "$ROOT/schema-examples/ok/todo" "$dir"
  rm -rf "$dir/target"
  [ -n "$toml" ] && printf '%s' "$toml" > "$dir/exo.toml"
  (cd "$dir" && "$EXO" deploy cf-worker >"$WORK/deploy-$scenario.log")
  printf 'EXO_POSTGRES_URL = "%s"\nEXO_JWT_SECRET = "%s"\nEXO_POSTGRES_READ_WRITE = "true"\n%b' "$DB_URL" "$SECRET" "$extra" > "$dir/.dev.vars"
  "$PSQL" -q "$DB_URL" -c 'TRUNCATE todos, users RESTART IDENTITY' >/dev/null
  local wport iport
  free_port wport
  free_port iport
  cd "$dir"
  XDG_CONFIG_HOME="$WORK/xdg" WRANGLER_SEND_METRICS=false CI=true \
    setsid "$WRANGLER" dev --ip 127.0.0.1 --port "$wport" --inspector-port "$iport" \
    >"$WORK/wrangler-$scenario.log" 2>&1 </dev/null &
  local pid=$!
  PIDS+=("$pid")
  cd "$ROOT"
  wait_for "$WORK/wrangler-$scenario.log" 'Ready on' "$pid"
  echo "worker-mcp: $scenario (wrangler dev on $wport)"
  if [ "$scenario" = disabled ]; then
    local mcp gql
    mcp="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "http://127.0.0.1:$wport/mcp")"
    gql="$(curl -s -H 'Content-Type: application/json' -d '{"query":"{ __typename }"}' "http://127.0.0.1:$wport/graphql")"
    [ "$mcp" = 404 ] || { echo "worker-mcp: EXO_ENABLE_MCP=false, yet /mcp answered $mcp" >&2; exit 1; }
    [ "$gql" = '{"data":{"__typename":"Query"}}' ] || { echo "worker-mcp: /graphql answered $gql" >&2; exit 1; }
    echo "ok   EXO_ENABLE_MCP=false: /mcp is 404, /graphql still answers"
  else
    node "$ROOT/integration/mcp-js/mcp-test.mjs" "http://127.0.0.1:$wport" "$SECRET" "$scenario"
  fi
  stop "$pid"
}

run default
# The profiles of cli/tests/it/mcp.rs (PROFILES_TOML).
PROFILES="$(sed -n '/^pub const PROFILES_TOML: &str = r#"/,/^"#;/p' "$ROOT/cli/tests/it/mcp.rs" | sed '1s/.*r#"//; $d')"
run profiles "$PROFILES"
run separate "$PROFILES" 'EXO_MCP_MODE = "separate"\n'
run disabled "" 'EXO_ENABLE_MCP = "false"\n'
echo "worker-mcp: all checks passed"
