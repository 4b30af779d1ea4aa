"""Inspecting release artefacts: a bootstrap's ELF header (architecture, interpreter, the glibc it
needs, stripped or not), its zipped size, test-only features in the build, samconfig.toml's traps."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sandboxlib.paths import ROOT

from .plan import RUNTIME_GLIBC

@dataclass
class Elf:
    machine: str = "?"
    interpreter: str = "-"
    needed: list = field(default_factory=list)
    glibc: tuple = ()
    stripped: bool | None = None


def readelf(path: Path) -> Elf:
    info = Elf()
    if not shutil.which("readelf"):
        return info

    def run(flag: str) -> str:
        return subprocess.run(["readelf", flag, "-W", str(path)], capture_output=True, text=True).stdout

    if m := re.search(r"Machine:\s+(.+)", run("-h")):
        info.machine = m.group(1).strip()
    if m := re.search(r"Requesting program interpreter: ([^\]]+)", run("-l")):
        info.interpreter = m.group(1)
    info.needed = re.findall(r"\(NEEDED\).*\[(.+?)\]", run("-d"))
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"Name: GLIBC_([0-9.]+)", run("-V"))}
    info.glibc = max(versions) if versions else ()
    sections = run("-S")
    info.stripped = ".symtab" not in sections and ".debug_info" not in sections
    return info


def test_features(triple: str) -> list[str]:
    """Test-only features the release build gets. `sam build` runs cargo at the workspace root
    (CodeUri ./), where cargo unifies features over every default member, dev-dependencies aside:
    a member with test helpers as normal dependencies (the tests crate) lends them to the binaries."""
    out = subprocess.run(["cargo", "tree", "-e", "no-dev", "--target", triple, "-f", "{p} [{f}]", "--prefix", "none"],
                         cwd=ROOT, capture_output=True, text=True)
    found = set()
    for line in out.stdout.splitlines():
        if not (m := re.match(r"(\S+) v\S+(?: \([^)]*\))? \[([^\]]*)\]", line)):
            continue
        name, features = m.group(1), set(filter(None, m.group(2).split(",")))
        if name == "aws-smithy-mocks":
            found.add(name)
        elif name.startswith("tollgate") and "testing" in features:
            found.add(f"{name}[testing]")
        elif name.startswith("aws-sdk-") and "test-util" in features:
            found.add(f"{name}[test-util]")
    return sorted(found)


def zipped_bytes(binary: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    return len(buffer.getvalue())



def sha256(path: Path) -> str:
    """The file's SHA-256, hex (the artefact SAM packages against the combined build's binary)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def glibc_text(elf: Elf, runtime: str) -> str:
    if not elf.glibc:
        return "no glibc symbol versions" if elf.machine != "?" else "n/a (no readelf)"
    needed = ".".join(map(str, elf.glibc))
    have = RUNTIME_GLIBC.get(runtime)
    return f"glibc {needed}" + (f" (≤ {'.'.join(map(str, have))} ✔)" if have and elf.glibc <= have
                                else f" (> {runtime}'s {'.'.join(map(str, have))} ✘)" if have else "")


def samconfig_warnings(template: dict, arch: str) -> list[str]:
    """What `sam deploy` with samconfig.toml's defaults would get wrong for these artefacts."""
    import shlex
    import tomllib

    try:
        config = tomllib.loads((ROOT / "samconfig.toml").read_text())
        overrides = config["default"]["deploy"]["parameters"].get("parameter_overrides", "")
    except (OSError, KeyError, ValueError) as e:
        return [f"samconfig.toml: cannot read [default.deploy.parameters] ({e})"]
    pairs = dict(item.split("=", 1) for item in shlex.split(overrides) if "=" in item)
    params = template.get("Parameters") or {}
    warnings = [f"samconfig.toml's deploy parameter_overrides name {name}, which template.yaml does not have "
                "(CloudFormation rejects the deployment)" for name in pairs if name not in params]
    deployed = pairs.get("Architecture", str((params.get("Architecture") or {}).get("Default", arch)))
    if "Architecture" in params and deployed != arch:
        warnings.append(f"these are {arch} binaries, but `sam deploy` with samconfig.toml deploys Architecture={deployed}: "
                        f"deploy with --parameter-overrides Architecture={arch} (and the other overrides), or the "
                        "functions fail to start")
    return warnings
