"""Planning the release build: which functions template.yaml has `sam build` build, for which
architecture and Rust target, and what stops a release build (scripts/release.sh's `plan`)."""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandboxlib.paths import ROOT

BUILD_DIR = ROOT / ".aws-sam" / "build"
LOG_DIR = ROOT / ".aws-sam" / "release"
# Lambda architecture -> (Rust target triple, QEMU user-mode binary, ELF e_machine as readelf names it)
ARCHES = {
    "arm64": ("aarch64-unknown-linux-gnu", "aarch64", "AArch64"),
    "x86_64": ("x86_64-unknown-linux-gnu", "x86_64", "Advanced Micro Devices X86-64"),
}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
# glibc of the Lambda runtime the template names; a binary needing a newer one does not start there.
RUNTIME_GLIBC = {"provided.al2023": (2, 34), "provided.al2": (2, 26)}
# Same budgets as scripts/bench.py (informative here).
BUDGET_MB = {"binary": 10.0, "zip": 4.0}
SMOKE_TIMEOUT_S = 90.0


def fail(message: str) -> None:
    print(f"release.py: {message}", file=sys.stderr)
    sys.exit(1)


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass
class Function:
    logical_id: str
    binary: str
    runtime: str
    arch: str


def load_template(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


def plan_functions(template: dict, arch: str, makefile_map: dict[str, str] | None = None,
                   ) -> tuple[list[Function], list[str]]:
    """The functions `sam build --parameter-overrides Architecture=<arch>` would build (through the
    Makefile), with the architecture each would get; and problems that stop a release build.
    `makefile_map` (LogicalId -> binary, `make list`) is checked against the template when given."""
    params = template.get("Parameters") or {}
    overrides = {"Architecture": arch} if "Architecture" in params else {}
    values = {name: str(p.get("Default", "")) for name, p in params.items()} | overrides

    def resolve(value):
        if isinstance(value, dict) and "Ref" in value:
            return values.get(value["Ref"], f"<unresolved !Ref {value['Ref']}>")
        return str(value)

    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    functions, problems = [], []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata") or {}
        props = resource.get("Properties") or {}
        if metadata.get("BuildMethod") != "makefile":
            problems.append(f"{logical_id}: BuildMethod is {metadata.get('BuildMethod')!r}, not makefile; every "
                            "function builds through the Makefile's one `cargo lambda build`")
            continue
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not binary:
            problems.append(f"{logical_id}: no Metadata.BuildProperties.Binary (the sandbox and this script read "
                            "it to know which binary the function runs)")
            continue
        if makefile_map is not None and makefile_map.get(logical_id) != binary:
            problems.append(f"{logical_id}: the Makefile's FUNCTIONS maps it to {makefile_map.get(logical_id)!r}, "
                            f"template.yaml's BuildProperties.Binary says {binary!r}; make them agree")
            continue
        architectures = props.get("Architectures", globals_fn.get("Architectures", ["x86_64"]))  # SAM's default
        resolved = [resolve(a) for a in architectures] if isinstance(architectures, list) else [resolve(architectures)]
        runtime = resolve(props.get("Runtime", globals_fn.get("Runtime", "")))
        if resolved != [arch]:
            hint = ("" if overrides else
                    "; template.yaml has no Architecture parameter, so `--parameter-overrides Architecture=...` "
                    "cannot change it")
            problems.append(f"{logical_id}: template.yaml builds it for {resolved}, not {arch}{hint}")
            continue
        functions.append(Function(logical_id, binary, runtime, arch))
    if not functions and not problems:
        problems.append("template.yaml has no AWS::Serverless::Function with BuildMethod makefile")
    return functions, problems


def makefile_functions(root: Path = ROOT) -> dict[str, str]:
    """The Makefile's LogicalId -> binary map (`make list`), the one `sam build` builds from."""
    try:
        out = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(root), "list"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        fail(f"`make list` failed ({getattr(error, 'stderr', '') or error}); is GNU make installed?")
    pairs = (line.strip().split("=", 1) for line in out.splitlines() if "=" in line)
    return {logical_id: binary for logical_id, binary in pairs}


def shell_plan(template_path: Path, arch: str) -> str:
    """The plan as shell assignments for scripts/release.sh."""
    template = load_template(template_path)
    functions, problems = plan_functions(template, arch, makefile_functions())
    if problems:
        fail("cannot build for " + arch + ":\n  " + "\n  ".join(problems))
    runtimes = {f.runtime for f in functions}
    if runtimes != {"provided.al2023"}:
        fail(f"the Makefile builds for provided.al2023's glibc; template.yaml has {sorted(runtimes)}")
    quote = lambda items: " ".join(f"'{i}'" for i in items)  # noqa: E731 (names are [\w-]+)
    return "\n".join([
        f"FUNCTIONS=({quote(f.logical_id for f in functions)})",
        f"BINARIES=({quote(f.binary for f in functions)})",
        f"TRIPLE='{ARCHES[arch][0]}'",
        f"HAS_ARCH_PARAM={1 if 'Architecture' in (template.get('Parameters') or {}) else 0}",
    ])
