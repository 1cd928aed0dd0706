#!/usr/bin/env bash
# Installs what the playground's browser test needs: Debian's Chromium and the npm packages of
# playground/ (playwright-core, plus graphiql/react/esbuild for rebuilding the bundle), from the
# committed lock file. Idempotent; quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null; then
  echo "install-browser-test: installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-browser-test: installing node and npm"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d playground/node_modules/playwright-core ]; then
  echo "install-browser-test: npm ci in playground/"
  (cd playground && npm ci --no-audit --no-fund --silent)
fi
