#!/usr/bin/env bash
# Builds release binaries and runs the benchmark (scripts/bench.py); writes figures into README.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
TOLLGATE_SKIP_SAM=1 scripts/tools.sh
cargo build --release --bins --locked  # default members: the Lambda crates, without test-only features
exec .tools/sandbox/bin/python scripts/bench.py "$@"
