"""The README's release table: the artefacts, their smoke runs and the tools that built them,
written between README.md's release markers."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from sandboxlib.paths import ROOT

from .artefacts import Elf, glibc_text, mb
from .plan import Function
from .smoke import Run


@dataclass
class Row:
    function: Function
    size: int = 0
    zipped: int = 0
    elf: Elf = field(default_factory=Elf)
    event: str = "-"
    run: Run | None = None
    ok: bool = False
    detail: str = ""
    same_as_combined: bool = False


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def readme_text(args, rows: list[Row], how: str) -> str:
    built = "; ".join(t.replace("=", " ", 1) for t in args.timing)
    machine = f"on {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    versions = ", ".join([
        tool_version([str(ROOT / ".tools/sam/bin/sam"), "--version"]).replace(", version", ""),
        tool_version([str(ROOT / ".tools/sandbox/bin/cargo-lambda"), "lambda", "--version"]).split(" (")[0],
        tool_version(["rustc", "--version"]).split(" (")[0],
    ])
    lines = [
        f"Measured by `scripts/release.sh` ({args.arch} build {machine}; {versions}; {built or 'no timings'}). "
        f"Smoke runs: each `.aws-sam/build/<Function>/bootstrap` {how}, against the sandbox.",
        "",
        "| function | bootstrap (stripped) | zipped | needs | smoke event | result | start → first poll / → answer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        f, run = row.function, row.run
        timing = (f"{run.init_ms:.0f} ms / {run.total_ms:.0f} ms" if run and run.init_ms is not None and run.total_ms is not None else "-")
        size = f"{mb(row.size)}" if row.size else "-"
        zipped = f"{mb(row.zipped)}" if row.zipped else "-"
        detail = row.detail.replace("|", "\\|")
        name = f"{f.logical_id} (`{f.binary}`)" if row.size else f"↳ `{f.binary}` again"
        lines.append(f"| {name} | {size} | {zipped} | {glibc_text(row.elf, f.runtime) if row.size else '-'} "
                     f"| {event_cell(row.event)} | {'✔' if row.ok else '✘'} {detail} | {timing} |")
    if args.leaked:
        lines += ["", f"⚠ Built with test-only features: {', '.join(args.leaked)} (cargo unifies features over every "
                  "workspace member, and `sam build` builds at the workspace root)."]
    return "\n".join(lines)


def event_cell(event: str) -> str:
    return re.sub(r"events/(\S+\.json)", r"`\1`", event).replace("|", "\\|")


def write_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- release:start -->", "<!-- release:end -->"
    if start not in text or end not in text:
        print(f"README.md has no {start} … {end} markers; figures not written", file=sys.stderr)
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")
    print("README.md: release figures updated")
