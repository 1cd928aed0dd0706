#!/usr/bin/env bash
# Installs what building and running the exo Worker needs (see ../shared/TOOLCHAIN.md):
#   - the wasm32-unknown-unknown target,
#   - wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock,
#   - binaryen (wasm-opt) and wrangler (workerd) at the versions pinned in
#     cf-worker/package.json + package-lock.json, into cf-worker/node_modules.
# Idempotent: each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  echo "install-worker-toolchain: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
bindgen=$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")
if [ ! -x "$bindgen" ] || [ "$("$bindgen" --version | awk '{print $2}')" != "$version" ]; then
  echo "install-worker-toolchain: installing wasm-bindgen-cli $version (a few minutes)"
  # Not --locked: its lock file names a crate version the registry no longer serves.
  cargo install -q wasm-bindgen-cli --version "=$version" --force
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-worker-toolchain: installing Node.js and npm"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=cf-worker/node_modules/.exo-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s cf-worker/package-lock.json "$stamp"; then
  echo "install-worker-toolchain: installing binaryen and wrangler (cf-worker/package-lock.json)"
  (cd cf-worker && npm ci --no-audit --no-fund --silent)
  cp cf-worker/package-lock.json "$stamp"
fi
echo "install-worker-toolchain: ready (wasm-bindgen $version, $(cf-worker/node_modules/.bin/wrangler --version 2>/dev/null | tail -1))"
