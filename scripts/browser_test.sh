#!/usr/bin/env bash
# The approval page in a real browser (scripts/browser_test.py): installs what it needs first,
# pinned: Debian's chromium and chromium-driver (apt, when missing), selenium into .tools/browser,
# the sandbox's tools (scripts/tools.sh), and the two approval binaries. Every server it starts
# binds 127.0.0.1 and is stopped at the end. Options go to browser_test.py (--screenshots DIR).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CHROMIUM_VERSION=${CHROMIUM_VERSION:-156.0.8078.79-1~deb12u1}
SELENIUM_VERSION=4.51.0
PYTHON=${PYTHON:-python3}

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "browser: installing chromium and chromium-driver $CHROMIUM_VERSION (Debian packages)"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "chromium=$CHROMIUM_VERSION" "chromium-driver=$CHROMIUM_VERSION"; then
    echo "browser: chromium $CHROMIUM_VERSION is not available from apt any more ($(apt-cache policy chromium | sed -n 's/ *Candidate: //p') is);" \
         "set CHROMIUM_VERSION (and the pin in scripts/browser_test.sh) to it" >&2
    exit 1
  fi
fi

venv="$root/.tools/browser"
stamp="selenium==$SELENIUM_VERSION"
if [[ ! -f "$venv/.stamp" || "$(cat "$venv/.stamp")" != "$stamp" ]]; then
  echo "tools: installing selenium ($stamp) into .tools/browser"
  [[ -x "$venv/bin/python" ]] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q "$stamp"
  echo "$stamp" > "$venv/.stamp"
fi

TOLLGATE_SKIP_SAM=1 scripts/tools.sh
cargo build --bin approval-mailer --bin approval-api
exec "$venv/bin/python" scripts/browser_test.py "$@"
