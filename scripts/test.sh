#!/usr/bin/env bash
# The whole test suite: what the README names and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# 0. Hygiene: one lint policy (`[workspace.lints]`), no warnings, no unused dependencies.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if command -v cargo-machete >/dev/null; then
  cargo machete
else
  echo "scripts/test.sh: cargo-machete is missing; run scripts/install-toolchain.sh" >&2
  exit 1
fi

# 1. Every crate's tests (unit, integration against an ephemeral Postgres, snapshots).
cargo test --workspace --locked

# 2. The .exotest suites of every schema example, through `exo test` against a real Postgres.
cargo run --locked -q -p exo-cli -- test schema-examples/ok

# 2b. The same suites with every operation compiled ahead of time as a trusted document:
#     they must pass identically, answered by the precompiled plans.
cargo run --locked -q -p exo-cli -- test schema-examples/ok --trusted

# 2c. The playground in a real headless Chromium (screenshot in target/browser-test/).
bash scripts/browser-test.sh

# 3. The runtime core must keep compiling for Cloudflare Workers.
if rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  cargo check --locked --target wasm32-unknown-unknown -p exo-runtime
elif [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src ] || [ -d /usr/src/rustc-*/library ]; then
  # Debian's rust-web toolchain: build std for wasm32 ourselves (TOOLCHAIN.md section 1).
  PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 /usr/bin/cargo check --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort -p exo-runtime
else
  echo "scripts/test.sh: the wasm32-unknown-unknown target is missing; run scripts/install-toolchain.sh" >&2
  exit 1
fi

# 3b. The Worker: build it (size checked against cf-worker/wasm-size.txt), then every suite
#     through real workerd (`wrangler dev`), directly, through a local Hyperdrive binding, and
#     with every operation compiled as a trusted document.
bash scripts/worker-e2e.sh

# 3c. A short fuzzing run (about a minute in all): every cargo-fuzz target, seeded from the
#     examples and their suites (scripts/fuzz.sh; longer runs: scripts/fuzz.sh 3600).
bash scripts/fuzz.sh 15

# 4. The runtime (and the planner it shares with the compiler) never depends on the compiler,
#    pest, miette, petgraph or sqlparser.
for crate in exo-runtime exo-planner; do
  deps=$(cargo tree --locked -p "$crate" -e normal --prefix none --target all | awk '{print $1}' | sort -u)
  for forbidden in exo-compiler pest miette petgraph sqlparser; do
    if grep -qx "$forbidden" <<<"$deps"; then
      echo "scripts/test.sh: $crate must not depend on $forbidden" >&2
      exit 1
    fi
  done
done
echo "scripts/test.sh: all checks passed"
