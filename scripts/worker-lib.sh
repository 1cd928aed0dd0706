#!/usr/bin/env bash
# Shared by the Worker scripts (worker-smoke.sh, worker-mcp.sh): process bookkeeping, free
# ports and log waits. Source it after setting WORK (a scratch directory removed on exit) and
# NAME (the prefix of messages).
PIDS=()
stop() { # SIGTERM to a `setsid` child (wrangler and exo stop their children), then its group
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() { for p in "${PIDS[@]}"; do stop "$p"; done; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# A free port below Linux's ephemeral range (32768 and up), so no outgoing connection can take
# it before the server binds it; never one handed out before by this script. `free_port VAR`
# sets VAR (no subshell, so the ports already handed out are remembered).
PICKED=""
free_port() {
  local p
  # shellcheck disable=SC2086
  p=$(python3 - $PICKED <<'PY'
import random, socket, sys
taken = set(sys.argv[1:])
for _ in range(1000):
    port = random.randrange(20000, 32000)
    if str(port) in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
)
  [ -n "$p" ] || { echo "$NAME: no free port between 20000 and 32000" >&2; exit 1; }
  PICKED="$PICKED $p"
  printf -v "$1" '%s' "$p"
}
wait_for() { # file pattern pid
  for _ in $(seq 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  echo "$NAME: timed out waiting for '$2'" >&2; cat "$1" >&2; return 1
}
