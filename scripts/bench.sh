#!/usr/bin/env bash
# Builds the binaries and runs the benchmark (scripts/bench.py); writes figures into README.md.
#   scripts/bench.sh                      every function's release binary: the cold-start table, then the history row
#   scripts/bench.sh --only history       dora-lead-time's release binary alone: the history row only
#   ... --profile debug                   debug binaries instead (quicker to build; figures say "debug build")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
TOLLGATE_SKIP_SAM=1 scripts/tools.sh
profile=release only=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --profile) profile=${args[i + 1]:-release} ;;
    --profile=*) profile=${args[i]#--profile=} ;;
    --only) only=${args[i + 1]:-} ;;
    --only=*) only=${args[i]#--only=} ;;
  esac
done
build=(cargo build --locked)
[[ $profile == release ]] && build+=(--release)
if [[ $only == history ]]; then
  "${build[@]}" -p dora --bin dora-lead-time   # the history row's calculator
else
  "${build[@]}" --bins  # default members: the Lambda crates, without test-only features
fi
exec .tools/sandbox/bin/python scripts/bench.py "$@"
