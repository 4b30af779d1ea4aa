#!/usr/bin/env bash
# The README's test command: formatting, lints, unit + integration tests (against the local AWS
# sandbox: moto behind the stand-in's front), end-to-end tests of the binaries under cargo lambda
# watch, the sandbox's own tests (its front; clean shutdown), and template linting. Installs its
# own pinned tools into .tools/ first; every server it starts binds to 127.0.0.1 and is stopped
# on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

for tool in cargo cargo-fmt cargo-clippy; do
  "$tool" --version >/dev/null 2>&1 || { echo "missing $tool: install the Rust toolchain (https://rustup.rs) with rustfmt and clippy" >&2; exit 1; }
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
  || { echo "needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1 || echo none))" >&2; exit 1; }

# A cold build of the workspace and its tests takes about 9 GB under target/ (11 GB with
# incremental compilation, which a one-off CI run gains nothing from). Say so up front rather than
# fail half-way with "No space left on device".
if [[ "${CI:-}" == true ]]; then export CARGO_INCREMENTAL=0; fi
if [[ ! -d target/debug/deps ]]; then
  free_kb=$(df -Pk "$root" | awk 'NR==2 {print $4}')
  if (( free_kb < 12 * 1024 * 1024 )); then
    echo "a cold build needs about 12 GB free under $root; $((free_kb / 1024 / 1024)) GB are free: free some space (cargo clean in other checkouts) and run again" >&2
    exit 1
  fi
fi

step "tools (pinned, into .tools/)"
scripts/tools.sh

step "the sandbox's Python: no import circle under scripts/, every module says what it is for"
python3 scripts/test_imports.py

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests (against the sandbox: moto and the stand-in, on 127.0.0.1)"
# One sandbox for every test binary (each would otherwise start its own); it also stops by itself
# if this script dies, since it watches this shell's pid.
coproc SANDBOX { exec .tools/sandbox/bin/python scripts/sandbox.py serve --parent-pid $$; }
sandbox_pid=$SANDBOX_PID
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
if ! read -r -t 60 sandbox_url <&"${SANDBOX[0]}" || [[ "$sandbox_url" != http://127.0.0.1:* ]]; then
  echo "the sandbox did not start (scripts/sandbox.py serve); its errors are above" >&2
  exit 1
fi
TOLLGATE_SANDBOX_URL=$sandbox_url cargo test --workspace --locked
kill "$sandbox_pid" 2>/dev/null || true
wait "$sandbox_pid" 2>/dev/null || true

step "end-to-end: the Lambda binaries under cargo lambda watch, against the sandbox"
# Builds as run.sh does (no --workspace: the features cargo lambda watch's `cargo run --bin` selects).
.tools/sandbox/bin/python scripts/sandbox.py e2e --build

step "every function with every sample event: scripts/invoke.sh against scripts/run.sh --serve, no panic in any log"
.tools/sandbox/bin/python scripts/test_invoke.py

step "the approval page in headless Chromium (installs Debian's current chromium and chromium-driver if missing, and a pinned selenium)"
scripts/browser_test.sh

step "the sandbox: its front answers as AWS does, and it shuts down cleanly on SIGTERM, SIGINT and SIGHUP"
.tools/sandbox/bin/python scripts/test_front.py
.tools/sandbox/bin/python scripts/test_shutdown.py

step "template: cfn-lint and sam validate --lint"
.tools/sam/bin/cfn-lint template.yaml
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing SAM_CLI_TELEMETRY=0 \
  .tools/sam/bin/sam validate --lint --region us-east-1

step "all checks passed"
