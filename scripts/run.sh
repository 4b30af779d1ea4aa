#!/usr/bin/env bash
# The README's run command: Tollgate on this machine, against a local AWS sandbox (moto and a
# stand-in for the APIs moto lacks), telling what each function does with the sample events.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
TOLLGATE_SKIP_SAM=1 scripts/tools.sh
echo "building the functions (the first build takes a few minutes)..."
cargo build --workspace --bins --quiet
exec .tools/sandbox/bin/python scripts/sandbox.py run
