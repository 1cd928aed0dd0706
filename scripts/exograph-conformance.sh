#!/usr/bin/env bash
# Runs Exograph's own integration tests through `exo test`, as an Exograph user's projects would
# run, and prints the pass/fail/unsupported/skipped counts. The tracking document is
# CONFORMANCE-STATUS.md.
#
# Not part of CI: the reference suite is fetched by hand and nothing of it is committed. It is
# copied into a temporary directory (its projects are built there) and removed afterwards.
#
# Usage: scripts/exograph-conformance.sh [SOURCE] [PATTERN]
#   SOURCE   Exograph's repository (a bare or normal git dir: its HEAD is used), a checkout, or
#            an `integration-tests/` directory. Default: the mirror at
#            /work/.mirror/exograph+exograph/repo.
#   PATTERN  only tests whose names match (`*` wildcards), e.g. 'todo/*'.
# The full log is written to target/exograph-conformance.log.
set -euo pipefail
cd "$(dirname "$0")/.."

source=${1:-/work/.mirror/exograph+exograph/repo}
pattern=${2:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if git -C "$source" rev-parse --git-dir >/dev/null 2>&1 \
  && git -C "$source" cat-file -e HEAD:integration-tests 2>/dev/null; then
  # `git archive` keeps the symlinked `tests/` folders as symlinks.
  git -C "$source" archive HEAD integration-tests | tar -x -C "$tmp"
  echo "exograph-conformance: integration-tests/ of $(git -C "$source" rev-parse --short HEAD) in $source"
elif [ -d "$source/integration-tests" ]; then
  cp -a "$source/integration-tests" "$tmp/"
  echo "exograph-conformance: $source/integration-tests"
elif [ -d "$source" ]; then
  cp -a "$source" "$tmp/integration-tests"
  echo "exograph-conformance: $source"
else
  echo "exograph-conformance: no Exograph repository or integration-tests/ at '$source';" \
    "pass its path as the first argument" >&2
  exit 2
fi

cargo build -q -p exo-cli
exo=$(pwd)/target/debug/exo
mkdir -p target
log=$(pwd)/target/exograph-conformance.log

status=0
if [ -n "$pattern" ]; then
  "$exo" test "$tmp/integration-tests" "$pattern" >"$log" 2>&1 || status=$?
else
  "$exo" test "$tmp/integration-tests" >"$log" 2>&1 || status=$?
fi

echo "exograph-conformance: full log in $log"
grep -E '^(FAIL|SKIP|UNSUPPORTED) ' "$log" | sed -E 's/ \([0-9]+ ms\)//' | cut -c1-200 || true
tail -n 1 "$log"
exit "$status"
