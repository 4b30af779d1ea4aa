#!/usr/bin/env bash
# Runs one function with one event, locally, as Lambda would (no Docker): see --help.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'HELP'
Usage: scripts/invoke.sh [--no-build] <function> <event.json | ->

Runs one Tollgate function once with the event you give it (a file, or - for stdin), the way
Lambda runs it, without Docker: builds it, starts its binary with the environment template.yaml
declares plus what Lambda itself sets (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, memory, log group,
JSON log format and level), and hands it the event through a local Lambda Runtime API.

AWS calls go to the local sandbox: the one `scripts/run.sh --serve` keeps up, if it is running
(so you see and change its state), otherwise one started for this call, with the sample events'
stacks and alarm, and stopped after it.

Prints the function's log, the pipeline job's result for a pipeline action's event, and, on stdout,
the function's result (so `scripts/invoke.sh ... | jq` works). Exit status 0 when the function
returned a result, 1 when it reported an error, crashed or timed out.

  function    the Binary of a function in template.yaml (listed below)
  --no-build  use the binary already in target/debug

Every function, with a sample event that works against `scripts/run.sh --serve` (which
provisions what each needs: the sample stacks, alarm, pipelines, a verified sender, the
approval signing secret, the GitHub secrets) and against a sandbox started for the call:
HELP
  python3 "$root/scripts/sandbox.py" examples
  cat <<'HELP'
Other events of a function: events/<function>.*.json. Your own event, changed with jq:
  jq '.["CodePipeline.job"].data.actionConfiguration.configuration.UserParameters = "{\"regions\":[\"eu-west-1\"]}"' \
    events/health-gate.healthy.json | scripts/invoke.sh health-gate -
The log is kept in target/tollgate/logs/invoke-<function>-*.log.
HELP
}

for arg in "$@"; do
  case "$arg" in -h|--help) usage; exit 0 ;; esac
done
args=()
for arg in "$@"; do [[ "$arg" == --* ]] || args+=("$arg"); done
if (( ${#args[@]} != 2 )); then
  usage >&2
  exit 2
fi
# Relative event paths are the caller's; the rest runs from the workspace root.
event=${args[1]}
if [[ "$event" != - && "$event" != /* ]]; then
  event="$PWD/$event"
fi
flags=()
for arg in "$@"; do [[ "$arg" == --* ]] && flags+=("$arg"); done
cd "$root"

if ! cargo --version >/dev/null 2>&1; then
  echo "invoke.sh: cargo does not work here: install the Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
  echo "invoke.sh: needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi
python3 scripts/sandbox.py invoke --check-args "${flags[@]}" "${args[0]}" "$event" || exit $?

TOLLGATE_SKIP_SAM=1 scripts/tools.sh >&2
exec .tools/sandbox/bin/python scripts/sandbox.py invoke "${flags[@]}" "${args[0]}" "$event"
