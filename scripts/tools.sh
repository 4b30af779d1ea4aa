#!/usr/bin/env bash
# Installs the pinned local tooling into .tools/ (idempotent; prints nothing when up to date):
#   .tools/sandbox  moto (local AWS emulator), cbor2 (CloudWatch's CBOR protocol for the sandbox's
#                   front), boto3, cargo-lambda (runs the functions locally)
#   .tools/sam      AWS SAM CLI and cfn-lint (template checks, deploy); its own venv, since SAM pins
#                   boto3 differently from moto. Skipped when TOLLGATE_SKIP_SAM=1 (scripts/run.sh
#                   and scripts/invoke.sh do not need it; scripts/test.sh does).
# Each tool is announced on its own line, followed by pip's own progress.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
PYTHON=${PYTHON:-python3}

MOTO_VERSION=5.2.5
BOTO3_VERSION=1.44.5
CBOR2_VERSION=6.3.0
CARGO_LAMBDA_VERSION=1.9.2
SAM_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "tools.sh: Tollgate's local tools need Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11 to choose one)" >&2
  exit 1
fi

# Runs a command in the background and waits for it, so that SIGTERM/SIGHUP/SIGINT sent to this
# script also stop the install it is running (bash would otherwise wait for, or orphan, it).
child=
run() {
  "$@" &
  child=$!
  wait "$child"
  local rc=$?
  child=
  return "$rc"
}
stop() {
  [[ -n "$child" ]] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop 129' HUP

# venv dir, then "label|pip requirement" pairs. Up to date when the stamp lists the same pins; an
# existing venv is updated in place (not recreated), so servers running from it keep working.
venv() {
  local dir=$1; shift
  local stamp="$*"
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then return 0; fi
  if [[ ! -x "$dir/bin/python" ]]; then
    echo "tools: creating ${dir#"$root"/} (a Python venv for the pinned tools below)"
    rm -rf "$dir"
    run "$PYTHON" -m venv "$dir"
  fi
  local entry label requirement
  for entry in "$@"; do
    label=${entry%%|*}
    requirement=${entry#*|}
    echo "tools: installing $label ($requirement) into ${dir#"$root"/}"
    # shellcheck disable=SC2086 # a requirement may name several pinned packages
    run "$dir/bin/python" -m pip install --disable-pip-version-check $requirement
  done
  echo "$stamp" > "$dir/.stamp"
  echo "tools: ${dir#"$root"/} is ready"
}

mkdir -p "$tools"
venv "$tools/sandbox" \
  "boto3, the AWS SDK for Python|boto3==$BOTO3_VERSION botocore==$BOTO3_VERSION" \
  "moto, the local AWS emulator|moto[server]==$MOTO_VERSION" \
  "cbor2, for CloudWatch's CBOR protocol|cbor2==$CBOR2_VERSION" \
  "cargo-lambda, which runs the functions locally|cargo-lambda==$CARGO_LAMBDA_VERSION"
if [[ "${TOLLGATE_SKIP_SAM:-}" != 1 ]]; then
  venv "$tools/sam" \
    "AWS SAM CLI|aws-sam-cli==$SAM_VERSION" \
    "cfn-lint|cfn-lint==$CFN_LINT_VERSION"
fi
