#!/usr/bin/env bash
# Installs the pinned local tooling into .tools/ (idempotent): moto server and cargo-lambda in one
# venv, AWS SAM CLI (with its own cfn-lint) in another, since SAM pins boto3 differently from moto.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
PYTHON=${PYTHON:-python3}

MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
SAM_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0

mkvenv() { # dir, stamp, packages...
  local dir=$1 stamp=$2; shift 2
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then return 0; fi
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$stamp" > "$dir/.stamp"
}

mkdir -p "$tools"
mkvenv "$tools/sandbox" "moto=$MOTO_VERSION cargo-lambda=$CARGO_LAMBDA_VERSION" \
  "moto[server]==$MOTO_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
if [[ "${TOLLGATE_SKIP_SAM:-}" != 1 ]]; then
  mkvenv "$tools/sam" "sam=$SAM_VERSION cfn-lint=$CFN_LINT_VERSION" \
    "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi
