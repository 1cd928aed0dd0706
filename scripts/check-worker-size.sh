#!/usr/bin/env bash
# Fails when the Worker wasm grows past the size recorded in cf-worker/wasm-size.txt (gzip -9),
# or past the 1 MB gzip target. After an intended change, record the new size with
#   bash scripts/check-worker-size.sh --update
# and commit cf-worker/wasm-size.txt with the change that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=${EXO_CF_WORKER_DIST:-target/cf-worker-dist}/exo_cf_worker_bg.wasm
record=cf-worker/wasm-size.txt
target=$((1024 * 1024))
# Build noise (paths, compiler patch releases) may move the size a little: 0.5% slack.
slack_per_mille=5

[ -f "$wasm" ] || { echo "check-worker-size: $wasm is missing; run scripts/build-cf-worker.sh" >&2; exit 1; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -n -c "$wasm" | wc -c)
if [ "${1:-}" = "--update" ]; then
  printf '# exo_cf_worker_bg.wasm as scripts/build-cf-worker.sh writes it; checked by scripts/check-worker-size.sh\nraw_bytes %s\ngzip_bytes %s\n' "$raw" "$gz" > "$record"
  echo "check-worker-size: recorded $raw bytes raw, $gz bytes gzip in $record"
  exit 0
fi
recorded_gz=$(awk '$1 == "gzip_bytes" { print $2 }' "$record")
recorded_raw=$(awk '$1 == "raw_bytes" { print $2 }' "$record")
limit=$((recorded_gz + recorded_gz * slack_per_mille / 1000))
echo "check-worker-size: $raw bytes raw, $gz bytes gzip (recorded $recorded_raw raw, $recorded_gz gzip; target <= $target gzip)"
if [ "$gz" -gt "$target" ]; then
  echo "check-worker-size: the Worker wasm is over the 1 MB gzip target" >&2
  exit 1
fi
if [ "$gz" -gt "$limit" ]; then
  echo "check-worker-size: the Worker wasm grew past $record ($gz > $recorded_gz bytes gzip);" \
       "find what grew it, or record the new size with --update and commit it" >&2
  exit 1
fi
