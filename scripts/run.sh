#!/usr/bin/env bash
# The README's run command: Tollgate on this machine, against a local AWS sandbox (moto and a
# stand-in for the APIs moto lacks, one endpoint on 127.0.0.1), telling what each function does
# with the sample events in events/. See --help.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() {
  cat <<'HELP'
Usage: scripts/run.sh [--only STORY]... [--serve] [--no-build] [--list] [--help]

Builds the functions, starts a local AWS sandbox on 127.0.0.1 (moto, plus a stand-in for AWS
Health, CodePipeline job results and execution history, CloudFormation drift detection and SSM
OpsItems; and a GitHub stand-in for the DORA story), runs the functions under
cargo lambda watch, and tells each story: the situation, the sample event(s) from events/ it
sends, and what Tollgate did (✔ what it should do, ✘ not). Everything it starts is stopped when
it ends, or on Ctrl-C, SIGTERM or SIGHUP.

  --only STORY  tell only this story (repeat, or separate with commas); --list shows them
                (health-gate, drift-gate, approvals, branch-pipelines, dora, fail-safe)
  --serve       tell no story: start the sandbox with what every function needs (the sample
                deploy-time values: a verified SES sender, the approval signing secret, the
                GitHub secrets, the sample stacks, alarm and pipelines) and the stories'
                functions under cargo lambda watch, print what it provisioned and how to
                invoke a function, and keep it up until Ctrl-C (scripts/invoke.sh then uses
                this sandbox for any function). With --only approvals: the approval API
                with a release waiting, and the link to open in a browser
  --no-build    use the binaries already in target/debug (otherwise everything the run
                needs is built first, in one cargo build with its progress shown; the
                first build takes about 8 minutes on 2 cores, later ones seconds)
  --list        list the stories and exit
  --help        this text

Installs (first run only) moto, cbor2, boto3 and cargo-lambda into .tools/sandbox; not the SAM
CLI. The function log goes to target/tollgate/logs/ (its path is printed). Needs the Rust
toolchain and Python 3.11+.
One function with an event of your own: scripts/invoke.sh --help.
HELP
}

for arg in "$@"; do
  case "$arg" in -h|--help) usage; exit 0 ;; esac
done

# The toolchain first, before a minute of installs.
if ! cargo --version >/dev/null 2>&1; then
  echo "run.sh: cargo does not work here: install the Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
  echo "run.sh: needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi
# Arguments next (stories, --list), with the system Python: nothing installed yet.
status=0
python3 scripts/sandbox.py run --check-args "$@" || status=$?
if (( status == 2 )); then
  echo "(scripts/run.sh --help says more)" >&2
fi
(( status == 0 )) || exit "$status"
for arg in "$@"; do
  case "$arg" in --list) exit 0 ;; esac
done

TOLLGATE_SKIP_SAM=1 scripts/tools.sh
exec .tools/sandbox/bin/python scripts/sandbox.py run "$@"
