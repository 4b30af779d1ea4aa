#!/usr/bin/env bash
# The approval page in a real browser (scripts/browser_test.py): installs what it needs first:
# Debian's current chromium and chromium-driver (apt, one install, the two at the same version),
# selenium (pinned) into .tools/browser, the sandbox's tools (scripts/tools.sh), and the two
# approval binaries. Every server it starts binds 127.0.0.1 and is stopped at the end. Options go
# to browser_test.py (--screenshots DIR).
#
# Chromium is not pinned: Debian replaces its package with every security update and stops serving
# the old revision, so a pin breaks CI on every fresh machine at Debian's next update. The test
# prints the exact version it ran with and fails only when the browser is older than
# MIN_CHROMIUM_MAJOR, the oldest major version it is known to work with.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

MIN_CHROMIUM_MAJOR=120
SELENIUM_VERSION=4.51.0
PYTHON=${PYTHON:-python3}

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
apt_install() {
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}
# The version a program reports ("Chromium 156.0.8078.114 built on Debian…" -> 156.0.8078.114).
version_of() { "$1" --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+){3}' | head -n 1; }
# Debian's package version of an installed package, or nothing.
package_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "browser: installing Debian's current chromium and chromium-driver (one apt-get install, one version)"
  apt_install chromium chromium-driver
elif ! command -v chromedriver >/dev/null 2>&1 || [[ "$(version_of chromium)" != "$(version_of chromedriver)" ]]; then
  # The browser is there; bring the driver that matches it rather than a pinned pair.
  browser_package=$(package_version chromium)
  if [[ -n "$browser_package" ]] && apt_install "chromium-driver=$browser_package"; then
    echo "browser: installed chromium-driver $browser_package to match the installed chromium"
  else
    echo "browser: no chromium-driver matches the installed chromium ${browser_package:-$(version_of chromium)}; upgrading both to Debian's current version"
    apt_install chromium chromium-driver
  fi
fi

browser=$(version_of chromium)
driver=$(version_of chromedriver)
echo "browser: testing with Chromium $browser and ChromeDriver $driver (Debian packages; not pinned: see the header of scripts/browser_test.sh)"
if [[ -z "$browser" || "$browser" != "$driver" ]]; then
  echo "browser: chromium ($browser) and chromedriver ($driver) differ; run: apt-get install chromium chromium-driver" >&2
  exit 1
fi
if (( ${browser%%.*} < MIN_CHROMIUM_MAJOR )); then
  echo "browser: Chromium $browser is older than $MIN_CHROMIUM_MAJOR, the oldest major version this test supports; run: apt-get install chromium chromium-driver" >&2
  exit 1
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
CHROMIUM_VERSION=$browser exec "$venv/bin/python" scripts/browser_test.py "$@"
