#!/usr/bin/env bash
# Builds the exo Worker bundle (the same for every model) into target/cf-worker-dist/:
#   exo_cf_worker_bg.wasm  the runtime (wasm-bindgen output, then wasm-opt -Oz)
#   exo_cf_worker.js       wasm-bindgen's JS glue (--target web)
#   index.js               the Worker entry (imports ../index.exo_ir beside it)
# `exo deploy cf-worker` copies these into a project's target/cf-worker/.
# Needs scripts/install-worker-toolchain.sh (wasm target, wasm-bindgen-cli, binaryen).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${EXO_CF_WORKER_DIST:-$root/target/cf-worker-dist}

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
bindgen=$(command -v wasm-bindgen || true)
[ -z "$bindgen" ] && [ -x "$HOME/.cargo/bin/wasm-bindgen" ] && bindgen=$HOME/.cargo/bin/wasm-bindgen
if [ -z "$bindgen" ] || [ "$("$bindgen" --version | awk '{print $2}')" != "$bindgen_version" ]; then
  echo "build-cf-worker: wasm-bindgen $bindgen_version is missing; run scripts/install-worker-toolchain.sh" >&2
  exit 1
fi
wasm_opt=$root/cf-worker/node_modules/.bin/wasm-opt
if [ ! -x "$wasm_opt" ]; then
  echo "build-cf-worker: wasm-opt (binaryen) is missing; run scripts/install-worker-toolchain.sh" >&2
  exit 1
fi

# -p: the Worker's features must not unify with the native crates'.
cargo build --locked -q --profile cf-worker --target wasm32-unknown-unknown -p exo-cf-worker
# Build beside the destination and swap it in at the end, so readers never see half a bundle.
tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
"$bindgen" --target web --no-typescript --out-name exo_cf_worker --out-dir "$tmp" \
  "$root/target/wasm32-unknown-unknown/cf-worker/exo_cf_worker.wasm"
"$wasm_opt" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$tmp/exo_cf_worker_bg.wasm" -o "$tmp/exo_cf_worker_bg.wasm"
cp "$root/cf-worker/js/index.js" "$tmp/index.js"
rm -rf "$out"
mv "$tmp" "$out"
raw=$(stat -c %s "$out/exo_cf_worker_bg.wasm")
gz=$(gzip -9 -n -c "$out/exo_cf_worker_bg.wasm" | wc -c)
echo "build-cf-worker: $out/exo_cf_worker_bg.wasm: $raw bytes raw, $gz bytes gzip"
