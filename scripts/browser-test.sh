#!/usr/bin/env bash
# The playground in a real headless Chromium: installs what it needs, builds exo, then
# playground/browser-test.mjs starts `exo yolo` on the todo example, runs a query from the page
# (without and with a JWT), reads the results and the schema docs, and writes
# target/browser-test/playground.png.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-browser-test.sh
cargo build --locked -q -p exo-cli
node playground/browser-test.mjs target/debug/exo schema-examples/ok/todo target/browser-test/playground.png
