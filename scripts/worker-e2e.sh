#!/usr/bin/env bash
# The Worker end to end: install the toolchain (idempotent), build the Worker bundle, check its
# size against cf-worker/wasm-size.txt, then run every .exotest suite of schema-examples/ok
# through the Worker in local workerd (`wrangler dev`), directly and through a local Hyperdrive
# binding, and MCP with the official SDK client (scripts/worker-mcp.sh). Each test file gets its
# own database and its own `wrangler dev`, stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-worker-toolchain.sh
bash scripts/build-cf-worker.sh
bash scripts/check-worker-size.sh
cargo test --locked -q -p exo-cf-worker
cargo build --locked -q -p exo-cli
export EXO_CF_WORKER_DIST=$PWD/target/cf-worker-dist

echo "worker-e2e: deploy + wrangler dev, answers compared with the native server"
bash scripts/worker-smoke.sh
echo "worker-e2e: MCP through the Worker, with the official SDK client"
bash scripts/worker-mcp.sh
echo "worker-e2e: the example suites through the Worker, EXO_POSTGRES_URL"
target/debug/exo test schema-examples/ok --cf-worker
echo "worker-e2e: the example suites through the Worker, Hyperdrive (local)"
target/debug/exo test schema-examples/ok --cf-worker --hyperdrive
echo "worker-e2e: the example suites through the Worker, every operation a trusted document"
target/debug/exo test schema-examples/ok --cf-worker --trusted
echo "worker-e2e: the OIDC suite through the Worker (EXO_OIDC_URL, a local issuer)"
cargo test --locked -q -p exo-cli --features worker-e2e --bin exo -- oidc_suite_worker oidc_cold_start_worker
echo "worker-e2e: all checks passed"
