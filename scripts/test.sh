#!/usr/bin/env bash
# The README's test command: formatting, lints, unit + moto-backed integration tests, end-to-end
# tests of the binaries under cargo lambda watch, and template linting. Installs its own pinned
# tools into .tools/ first; every server it starts binds to 127.0.0.1 and is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

for tool in cargo cargo-fmt cargo-clippy python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain (with rustfmt and clippy) and Python 3" >&2; exit 1; }
done

step "tools (pinned, into .tools/)"
scripts/tools.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests (moto on 127.0.0.1)"
cargo test --workspace --locked

step "end-to-end: the Lambda binaries under cargo lambda watch, against moto"
cargo build --workspace --bins --locked
.tools/sandbox/bin/python scripts/sandbox.py e2e

step "template: cfn-lint and sam validate --lint"
.tools/sam/bin/cfn-lint template.yaml
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing SAM_CLI_TELEMETRY=0 \
  .tools/sam/bin/sam validate --lint --region us-east-1

step "all checks passed"
