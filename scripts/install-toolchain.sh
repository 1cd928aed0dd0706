#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine: PostgreSQL and the
# wasm32 target (rustup first; Debian's rust-web toolchain as a fallback, see TOOLCHAIN.md).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "install-toolchain: installing PostgreSQL"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# openssl generates the RSA keys of the OIDC tests (ring signs but does not generate RSA keys);
# ca-certificates are the roots exo trusts for `https://` OIDC providers.
if ! command -v openssl >/dev/null || [ ! -d /etc/ssl/certs ]; then
  echo "install-toolchain: installing openssl and ca-certificates"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl ca-certificates >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  echo "install-toolchain: adding the wasm32-unknown-unknown target"
  if ! rustup target add wasm32-unknown-unknown; then
    echo "install-toolchain: rustup could not download the wasm32 std; falling back to Debian's rust-web" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
  fi
fi

# Fuzzing (scripts/fuzz.sh): a nightly toolchain and cargo-fuzz.
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "install-toolchain: installing the nightly toolchain for cargo-fuzz"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "install-toolchain: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# PgBouncer (the pooler tests in cli/tests/it/production.rs) and HAProxy (scripts/replicas-demo.sh).
if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ] || [ ! -x /usr/sbin/haproxy ]; then
  echo "install-toolchain: installing pgbouncer and haproxy"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer haproxy >/dev/null
fi

# clippy for the lint gate, cargo-machete for the unused-dependency gate (scripts/test.sh).
rustup component add clippy rustfmt >/dev/null 2>&1 || true
if ! command -v cargo-machete >/dev/null; then
  echo "install-toolchain: installing cargo-machete"
  cargo install --locked cargo-machete --version 0.9.2
fi

# graphql-js, used by the introspection tests as a real client.
if [ ! -d integration/js/node_modules/graphql ]; then
  echo "install-toolchain: installing graphql-js for the introspection tests"
  (cd integration/js && npm ci --no-audit --no-fund --silent)
fi

# The official MCP TypeScript SDK, the client of the `/mcp` tests (cli/tests/it/mcp.rs).
if [ ! -d integration/mcp-js/node_modules/@modelcontextprotocol/sdk ]; then
  echo "install-toolchain: installing the MCP SDK for the MCP tests"
  (cd integration/mcp-js && npm ci --no-audit --no-fund --silent)
fi

# Chromium and playwright-core for the playground's browser test.
bash scripts/install-browser-test.sh

# The Worker toolchain: wasm-bindgen-cli (pinned to Cargo.lock), binaryen and wrangler (npm).
bash scripts/install-worker-toolchain.sh
