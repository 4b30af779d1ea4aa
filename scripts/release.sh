#!/usr/bin/env bash
# The release build, verified here (not part of CI; ~8-12 minutes cold on 2 busy cores, seconds warm):
#   1. pinned tools (scripts/tools.sh), the Rust target for the architecture, and for a foreign
#      architecture user-mode QEMU with a glibc sysroot (pinned Debian packages);
#   2. every function compiled in one `make compile` (the Makefile's `cargo lambda build` of all
#      functions, with visible progress), then `sam build` itself, which runs `make build-<Function>`
#      per function: the same cargo command, which finds everything fresh, and a copy. The step
#      counts the crates `sam build` compiled (0 expected) and checks that each artefact is the
#      combined build's binary (same SHA-256);
#   3. scripts/release.py: each .aws-sam/build/<Function>/bootstrap's size (and zipped), its ELF
#      (architecture, glibc), and a smoke run of that very binary against the sandbox with one
#      sample event; figures go into README.md ("Release build (arm64)").
#
#   scripts/release.sh [--arch arm64|x86_64] [--template FILE] [--no-readme]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Debian (bookworm) packages for running arm64 binaries on an x86_64 host. Pinned; if apt no longer
# has a version (Debian point releases replace them), `apt-cache policy <package>` names the new one.
QEMU_USER_STATIC_VERSION=${QEMU_USER_STATIC_VERSION:-1:7.2+dfsg-7+deb12u18+b3}
LIBC6_ARM64_CROSS_VERSION=${LIBC6_ARM64_CROSS_VERSION:-2.36-8cross1}
LIBGCC_S1_ARM64_CROSS_VERSION=${LIBGCC_S1_ARM64_CROSS_VERSION:-12.2.0-14cross1}

arch=arm64 template=template.yaml readme=1
while (($#)); do
  case $1 in
    --arch) arch=${2:?--arch needs arm64 or x86_64}; shift 2 ;;
    --arch=*) arch=${1#*=}; shift ;;
    --template) template=${2:?--template needs a file}; shift 2 ;;
    --no-readme) readme=0; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $arch in arm64|x86_64) ;; *) echo "release.sh: --arch must be arm64 or x86_64, not $arch" >&2; exit 2 ;; esac
case $(uname -m) in x86_64|amd64) host=x86_64 ;; aarch64|arm64) host=arm64 ;; *) host=$(uname -m) ;; esac

logs=$root/.aws-sam/release
mkdir -p "$logs"
export PATH="$root/.tools/sandbox/bin:$root/.tools/sam/bin:$PATH"
export SAM_CLI_TELEMETRY=0
step_name="" t_all=$SECONDS
# The LTO mode [profile.release] really uses, for the progress lines ("fat", "thin", "off"…).
LTO=$(sed -n '/^\[profile\.release\]/,/^\[/s/^lto *= *"\{0,1\}\([a-z]*\)"\{0,1\}.*/\1/p' Cargo.toml)
LTO=${LTO:-no}
declare -a timings=()
step() { step_name=$*; printf '\n==> %s\n' "$*"; }
failed() {
  local rc=$?
  printf '\nrelease.sh: FAILED (exit %s) during: %s\n' "$rc" "$step_name" >&2
  [[ -n ${current_log:-} && -s ${current_log:-/nonexistent} ]] && {
    printf -- '--- last 40 lines of %s ---\n' "${current_log#"$root"/}" >&2
    tail -n 40 "$current_log" >&2
  }
  printf 'logs: %s\n' "${logs#"$root"/}" >&2
}
trap failed ERR

# Prints a line every 20 s while a build runs, so a long compile (or a wait on cargo's target/
# lock, which other builds in this workspace hold) never looks like a hang.
heartbeat() { # label, dirs to watch...
  local label=$1 start=$SECONDS marker sleeper=""; shift
  marker=$(mktemp "$logs/.since.XXXXXX")
  trap '[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 20 & sleeper=$!
    wait "$sleeper"
    local busy count
    # rustc processes compiling for the target (other builds in this workspace compile for the host)
    busy=$(ps -eo args= | awk -v t="--target $TRIPLE" -v lto="$LTO" '/rustc/ && index($0, t) {
      name = ""; bin = 0
      for (i = 1; i < NF; i++) { if ($i == "--crate-name") name = $(i + 1); if ($i == "--crate-type" && $(i + 1) == "bin") bin = 1 }
      if (name != "") print name (bin ? " (the binary: optimising and " lto " LTO)" : "") }' | sort -u | paste -sd, - | sed 's/,/, /g')
    count=$(find "$@" -maxdepth 1 -type f -name '*.rlib' -newer "$marker" 2>/dev/null | wc -l)
    [[ -n $busy ]] || busy="nothing (cargo lambda itself, or a wait for the lock on target/)"
    printf '  … %s: %ds, %d crates compiled, rustc busy with: %s\n' "$label" $((SECONDS - start)) "$count" "$busy"
  done
}
with_heartbeat() { # label, then a command; the heartbeat is stopped whatever the command does
  local label=$1; shift
  heartbeat "$label" "$CARGO_TARGET_DIR/$TRIPLE/release/deps" "$CARGO_TARGET_DIR/release/deps" &
  local hb=$! rc=0
  "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  rm -f "$logs"/.since.*
  return "$rc"
}
timed() { timings+=("$1=$2"); printf '  (%s: %s)\n' "$1" "$2"; }

# ------------------------------------------------------------------------------------------ tools
step "tools (pinned, into .tools/)"
scripts/tools.sh
printf '  %s, %s, %s\n' "$(sam --version)" "$(cargo-lambda lambda --version | cut -d' ' -f1-2)" "$(rustc --version | cut -d' ' -f1-2)"

step "plan: functions in $template for $arch"
plan=$(.tools/sandbox/bin/python scripts/release.py plan --arch "$arch" --template "$template")
eval "$plan"
printf '  %s\n' "${FUNCTIONS[*]}"
export TOLLGATE_ARCH=$arch
echo "  $(make -s --no-print-directory -n compile | tail -n 1 | sed "s|$root/||")"
sam_overrides=()
((HAS_ARCH_PARAM)) && sam_overrides=(--parameter-overrides "Architecture=$arch")

# Installed once, here, before any build: cargo lambda installs a missing target itself, and
# `sam build` starting several of those at once had them race on the same rustup install.
step "Rust target $TRIPLE"
t=$SECONDS
if rustup target list --installed | grep -qx "$TRIPLE"; then
  echo "  installed ($(rustup show active-toolchain | cut -d' ' -f1))"
else
  rustup target add "$TRIPLE"
fi
timed "Rust target" "$((SECONDS - t)) s"

if [[ $arch != "$host" ]]; then
  step "user-mode QEMU for $arch binaries"
  case $arch in
    arm64) qemu=qemu-aarch64 sysroot=/usr/aarch64-linux-gnu ;;
    x86_64) qemu=qemu-x86_64 sysroot=/usr/x86_64-linux-gnu ;;
  esac
  need=()
  command -v "$qemu-static" >/dev/null || command -v "$qemu" >/dev/null || need+=("qemu-user-static=$QEMU_USER_STATIC_VERSION")
  # glibc and libgcc_s (panic = "unwind" links it) for the binary's dynamic loader under -L.
  if [[ ! -e $sysroot/lib/libc.so.6 || ! -e $sysroot/lib/libgcc_s.so.1 ]]; then
    [[ $arch == arm64 ]] || { echo "  no $sysroot sysroot: install libc6 and libgcc-s1 cross packages for $arch" >&2; false; }
    need+=("libc6-arm64-cross=$LIBC6_ARM64_CROSS_VERSION" "libgcc-s1-arm64-cross=$LIBGCC_S1_ARM64_CROSS_VERSION")
  fi
  if ((${#need[@]})); then
    [[ $arch == arm64 && $host == x86_64 ]] || { echo "  install ${need[*]%%=*} for this host yourself" >&2; false; }
    sudo=(); ((EUID == 0)) || sudo=(sudo)
    if ! apt-cache show "${need[@]}" >/dev/null 2>&1; then "${sudo[@]}" apt-get update -qq; fi
    apt-cache show "${need[@]}" >/dev/null || {
      echo "  apt has not got the pinned ${need[*]}; see \`apt-cache policy ${need[*]%%=*}\` and update the pins in scripts/release.sh" >&2
      false
    }
    echo "  installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >"$logs/apt.log" 2>&1 ||
      { current_log=$logs/apt.log; false; }
  fi
  qemu_bin=$(command -v "$qemu-static" || command -v "$qemu")
  echo "  $("$qemu_bin" --version | head -n 1) ($qemu_bin), sysroot $sysroot"
  export QEMU=$qemu_bin QEMU_SYSROOT=$sysroot
fi

# -------------------------------------------------------------------------------------- build
# `sam build` runs `make build-<Function>` here (build_in_source), each running the Makefile's
# `cargo lambda build` of every function into the workspace's target/ (from cargo metadata) and
# copying target/lambda/<bin>/bootstrap to .aws-sam/build/<Function>/. SAM shows none of make's
# output until it has finished (it buffers it), so the same build runs here first, in the open.
if [[ -z ${CARGO_TARGET_DIR:-} ]]; then
  step "cargo metadata (the workspace's target directory)"
  current_log=$logs/cargo-metadata.log
  metadata=$(cargo metadata --no-deps --format-version 1 2>"$current_log")
  CARGO_TARGET_DIR=$(.tools/sandbox/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
fi
export CARGO_TARGET_DIR
step "make compile: one cargo lambda build of all ${#BINARIES[@]} functions ($arch, $LTO LTO, into ${CARGO_TARGET_DIR#"$root"/}/$TRIPLE/release)"
current_log=$logs/cargo-lambda-build.log
t=$SECONDS
prefix_lines() { local line; while IFS= read -r line; do printf '  [%4ds] %s\n' $((SECONDS - t)) "$line"; done; }
with_heartbeat "cargo lambda build" bash -o pipefail -c 'nice -n 10 make -s --no-print-directory compile 2>&1 | tee "$0"' \
  "$current_log" | prefix_lines
timed "cargo lambda build" "$((SECONDS - t)) s ($(grep -c '^ *Compiling ' "$current_log" || true) crates compiled)"

step "sam build (${FUNCTIONS[*]}) ${sam_overrides[*]}"
current_log=$logs/sam-build.log
t=$SECONDS
marker=$(mktemp "$logs/.sam-build.XXXXXX")
with_heartbeat "sam build" bash -o pipefail -c 'nice -n 10 sam build --template-file "$1" "${@:2}" 2>&1 | tee "$0"' \
  "$current_log" "$template" "${sam_overrides[@]}" | prefix_lines
# Crates cargo compiled during sam build (each leaves a new .rlib; the binaries a new file in deps/).
recompiled=$(find "$CARGO_TARGET_DIR/$TRIPLE/release/deps" "$CARGO_TARGET_DIR/release/deps" -maxdepth 1 -type f \
  \( -name '*.rlib' -o -name '*.so' \) -newer "$marker" 2>/dev/null | wc -l)
rm -f "$marker"
timed "sam build" "$((SECONDS - t)) s ($recompiled crates compiled)"
grep -q "Build Succeeded" "$current_log" || { echo "  sam build did not report 'Build Succeeded'" >&2; false; }
((recompiled == 0)) || echo "  ⚠ sam build compiled $recompiled crates after make compile: the Makefile's build and SAM's differ"

# ------------------------------------------------------------------------------------- verify
step "artefacts and smoke runs"
current_log=""
verify=(--arch "$arch" --template "$template")
((readme)) && [[ $arch == arm64 ]] || verify+=(--no-readme)
for timing in "${timings[@]}"; do verify+=(--timing "$timing"); done
.tools/sandbox/bin/python scripts/release.py verify "${verify[@]}"

step "release build verified ($((SECONDS - t_all)) s): .aws-sam/build is what \`sam deploy\` uploads"
