#!/usr/bin/env bash
# Fuzzes exo with cargo-fuzz (nightly): `.exo` sources, GraphQL requests against the example
# models, trusted-document files and HTTP bodies through the engine. Seeds come from
# `schema-examples/` and its suites; `fuzz/exo.dict` and `fuzz/graphql.dict` hold the
# grammars' keywords. Runs at the lowest priority (the machine may be shared).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 15 s each, every target)
#
# A crash leaves its input under fuzz/artifacts/<target>/ and fails the script; turn it into a
# regression test in the normal suite (integration/tests/it/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-15}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(exo_source graphql_request trusted_documents http_body)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: cargo-fuzz on nightly is missing; run scripts/install-toolchain.sh" >&2
  exit 1
fi

seed() {
  local corpus=fuzz/corpus
  mkdir -p "$corpus"/{exo_source,graphql_request,trusted_documents,http_body}
  python3 - "$corpus" <<'PY'
import hashlib, json, pathlib, re, sys
corpus = pathlib.Path(sys.argv[1])
root = pathlib.Path("schema-examples")
examples = ["todo", "blog", "all-types", "composite-keys", "concerts", "trusted-documents"]

def put(target, data: bytes):
    name = hashlib.sha1(data).hexdigest()
    (corpus / target / name).write_bytes(data)

for f in root.rglob("*.exo"):
    put("exo_source", f.read_bytes())

# Operations (and their variables) from the suites, addressed to their own example.
op_re = re.compile(r"^operation: \|\n((?:  .*\n|\n)+)", re.M)
var_re = re.compile(r"^variables: \|\n((?:  .*\n|\n)+)", re.M)
for index, name in enumerate(examples):
    tests = root / "ok" / name / "tests"
    for f in list(tests.rglob("*.exotest")) + list(tests.rglob("*.gql")):
        text = f.read_text()
        ops = [m.group(1) for m in op_re.finditer(text)] if f.suffix == ".exotest" else [text]
        vars_ = [m.group(1) for m in var_re.finditer(text)]
        for i, op in enumerate(ops):
            op = "\n".join(l[2:] if f.suffix == ".exotest" else l for l in op.splitlines())
            variables = "\n".join(l[2:] for l in vars_[i].splitlines()) if i < len(vars_) else ""
            for who in range(3):
                selector = bytes([index + who * len(examples)])
                put("graphql_request", selector + op.encode() + b"\0" + variables.encode())
                try:
                    v = json.loads(variables) if variables.strip() else None
                except ValueError:
                    v = None
                put("http_body", selector + json.dumps({"query": op, "variables": v}).encode())

for f in (root / "ok" / "trusted-documents" / "trusted-documents").rglob("*.json"):
    put("trusted_documents", bytes([examples.index("trusted-documents")]) + f.read_bytes())
PY
}

seed
status=0
log=fuzz/fuzz-time.log
for target in "${targets[@]}"; do
  dict=fuzz/graphql.dict
  [ "$target" = exo_source ] && dict=fuzz/exo.dict
  started=$(date +%s)
  if ! nice -n 19 cargo +nightly fuzz run -O "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -dict="$dict" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 2>"fuzz/last-$target.log"; then
    echo "scripts/fuzz.sh: $target found a crash (see fuzz/last-$target.log and fuzz/artifacts/$target/)" >&2
    tail -40 "fuzz/last-$target.log" >&2
    status=1
  fi
  # libFuzzer's own count and time (the wall clock also holds building the target).
  done_line=$(grep -a -o 'Done [0-9]* runs in [0-9]* second' "fuzz/last-$target.log" | tail -1 || true)
  echo "$(date -u +%FT%TZ) $target ${done_line:-no summary} (wall clock $(( $(date +%s) - started )) s)" | tee -a "$log"
done
exit $status
