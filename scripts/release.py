"""Release build helper for scripts/release.sh (not part of CI): reads template.yaml to plan the
`sam build` (releaselib.plan), then verifies its artefacts: each .aws-sam/build/<Function>/bootstrap's
size (and zipped, as Lambda receives it) and ELF header (releaselib.artefacts), and a smoke run of the
binary itself (under user-mode QEMU when it is not for this machine) against the sandbox, with what
every function needs seeded by the stories (releaselib.smoke). Figures go into README.md between the
release markers (releaselib.table).

    .tools/sandbox/bin/python scripts/release.py plan   --arch arm64     (shell assignments)
    .tools/sandbox/bin/python scripts/release.py verify --arch arm64 [--timing NAME=SECONDS ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from releaselib import plan as planning  # noqa: E402
from releaselib.artefacts import glibc_text, mb, readelf, samconfig_warnings, sha256, test_features, zipped_bytes  # noqa: E402
from releaselib.plan import ARCHES, BUDGET_MB, LOG_DIR, RUNTIME_GLIBC, fail, load_template, plan_functions  # noqa: E402
from releaselib.smoke import KNOWN, check_drift_callback_event, check_generic, event_for, runner, smoke  # noqa: E402
from releaselib.table import Row, readme_text, write_readme  # noqa: E402
from sandboxlib.box import Sandbox  # noqa: E402
from sandboxlib.paths import ROOT  # noqa: E402
from sandboxlib.samples import sample  # noqa: E402
from sandboxlib.stories import deployment, seed  # noqa: E402


def cmd_plan(args) -> None:
    print(planning.shell_plan(Path(args.template), args.arch))


def cmd_verify(args) -> None:
    # What sam build built (its copy of the template), not what the template says now: other work
    # may change template.yaml while the build runs.
    build_dir = planning.BUILD_DIR
    built = build_dir / "template.yaml"
    if not built.is_file():
        fail(f"no {built.relative_to(ROOT)}: run sam build first (scripts/release.sh does)")
    template = load_template(built)
    functions, problems = plan_functions(template, args.arch)
    if problems:
        fail("cannot verify " + args.arch + ":\n  " + "\n  ".join(problems))
    source, _ = plan_functions(load_template(Path(args.template)), args.arch)
    changed = sorted({f.logical_id for f in source} ^ {f.logical_id for f in functions})
    if changed:
        print(f"  ⚠ {Path(args.template).name} changed during the build: {', '.join(changed)} "
              "differ from what sam build built; run scripts/release.sh again")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    expected_machine = ARCHES[args.arch][2]
    rows: list[Row] = []
    errors: list[str] = []

    print(f"artefacts ({args.arch}, .aws-sam/build/<Function>/bootstrap):")
    for f in functions:
        row = Row(f)
        rows.append(row)
        bootstrap = build_dir / f.logical_id / "bootstrap"
        if not bootstrap.is_file():
            row.detail = f"missing {bootstrap.relative_to(ROOT)} (did sam build succeed?)"
            errors.append(f"{f.logical_id}: {row.detail}")
            print(f"  ✘ {f.logical_id}: {row.detail}")
            continue
        row.size, row.zipped, row.elf = bootstrap.stat().st_size, zipped_bytes(bootstrap), readelf(bootstrap)
        problems = []
        if row.elf.machine not in ("?", expected_machine):
            problems.append(f"built for {row.elf.machine}, not {expected_machine}")
        combined = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "lambda" / f.binary / "bootstrap"
        if not combined.is_file():
            problems.append(f"no {combined} from the combined cargo lambda build to compare with")
        elif sha256(combined) != sha256(bootstrap):
            problems.append(f"differs from {combined} (the combined build's binary): sam build did not copy it")
        else:
            row.same_as_combined = True
        if row.elf.stripped is False:
            problems.append("not stripped (symbols or debug info left: check [profile.release] strip)")
        have = RUNTIME_GLIBC.get(f.runtime)
        if row.elf.glibc and have and row.elf.glibc > have:
            problems.append(f"needs glibc {'.'.join(map(str, row.elf.glibc))}, {f.runtime} has {'.'.join(map(str, have))}")
        over = [what for what, size in (("binary", row.size), ("zip", row.zipped)) if size / 1e6 > BUDGET_MB[what]]
        print(f"  {'✘' if problems else '✔'} {f.logical_id} ({f.binary}): {mb(row.size)}"
              f"{', sha256 ' + sha256(bootstrap)[:12] + ' = the combined build' if row.same_as_combined else ''}"
              f"{' stripped' if row.elf.stripped else ''}, zipped {mb(row.zipped)}; {row.elf.machine}, "
              f"interpreter {row.elf.interpreter}, needs {', '.join(row.elf.needed) or '-'}; {glibc_text(row.elf, f.runtime)}"
              + (f"; over the bench budget: {', '.join(over)}" if over else ""))
        for p in problems:
            errors.append(f"{f.logical_id}: {p}")
            print(f"      ✘ {p}")

    leaked = test_features(ARCHES[args.arch][0])
    if leaked:
        print(f"  ⚠ the release build includes test-only code: {', '.join(leaked)} (cargo unifies features over every "
              "workspace member when sam build runs it at the root; a member's normal dependencies on test helpers, "
              "e.g. tests/Cargo.toml's, reach the binaries)")
    args.leaked = leaked
    for warning in samconfig_warnings(template, args.arch):
        print(f"  ⚠ {warning}")

    prefix, how = runner(args.arch)
    print(f"\nsmoke runs: each bootstrap {how}, against the sandbox (moto + stand-in), one sample event each:")
    order = {name: i for i, name in enumerate(KNOWN)}
    runnable = sorted((r for r in rows if r.size), key=lambda r: (order.get(r.function.binary, len(order)), r.function.binary))
    extra: list[Row] = []
    parameters, resources = deployment()
    with Sandbox(watch=False, parameters=parameters, resources=resources) as box:
        # What every function's sample events refer to, with the sample deploy-time values (the
        # stacks drift-gate checks, the approvals' sender and signing secret, the DORA pipelines...).
        seed(box)
        shared: dict = {}
        for row in runnable:
            f = row.function
            found = event_for(f.binary)
            if not found:
                row.detail = f"not smoke-tested: no sample event (add events/{f.binary}.<case>.json, and a check in scripts/releaselib/smoke.py)"
                errors.append(f"{f.logical_id}: {row.detail}")
                print(f"  ✘ {f.logical_id}: {row.detail}")
                continue
            row.event, event = found
            check = KNOWN.get(f.binary, (None, check_generic))[1]
            try:
                env = box.function_env(f.logical_id)
            except Exception as e:  # noqa: BLE001 (the sandbox's message says what it lacks)
                row.detail = f"not smoke-tested: the sandbox cannot make its environment ({type(e).__name__}: {e})"
                errors.append(f"{f.logical_id}: {row.detail}")
                print(f"  ✘ {f.logical_id}: {row.detail}")
                continue
            row.run = smoke(prefix, f, env, event, LOG_DIR / f"{f.binary}.smoke.log")
            row.ok, row.detail = check(row.run, event, box, shared) if row.run.ok else (False, row.run.detail)
            report(row, errors)
            if f.binary == "drift-callback" and shared.get("detection"):
                # The chain Lambda runs in AWS: the arm64 drift-gate's job, finished by the arm64 callback.
                chained = Row(f, event="events/drift-callback.in-sync.json")
                chained_event = sample("drift-callback.in-sync.json")
                chained_event["detail"]["stack-drift-detection-id"] = shared["detection"]
                chained.run = smoke(prefix, f, box.function_env(f.logical_id), chained_event, LOG_DIR / "drift-callback.chain.smoke.log")
                chained.ok, chained.detail = (check_drift_callback_event(chained.run, chained_event, box, shared)
                                              if chained.run.ok else (False, chained.run.detail))
                report(chained, errors)
                extra.append(chained)

    ordered = [r for row in rows for r in (row, *(e for e in extra if e.function is row.function))]
    if not args.no_readme:
        write_readme(readme_text(args, ordered, how))
    if errors:
        print("\nrelease verification FAILED:\n  " + "\n  ".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"\nrelease verification passed: {len(rows)} functions built for {args.arch}, each started and answered.")


def report(row: Row, errors: list[str]) -> None:
    f, run = row.function, row.run
    timing = (f" [start → first poll {run.init_ms:.0f} ms, → answer {run.total_ms:.0f} ms]"
              if run and run.init_ms is not None and run.total_ms is not None else "")
    print(f"  {'✔' if row.ok else '✘'} {f.logical_id} + {row.event}: {row.detail}{timing}")
    if not row.ok:
        errors.append(f"{f.logical_id} with {row.event}: {row.detail}")
        if run and run.log:
            lines = run.log.read_text(errors="replace").splitlines()
            print(f"      --- {run.log.relative_to(ROOT)} (last 30 of {len(lines)} lines) ---")
            for line in lines[-30:]:
                print(f"      | {line[:400]}")




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "verify"):
        p = sub.add_parser(name)
        p.add_argument("--arch", choices=sorted(ARCHES), default="arm64")
        p.add_argument("--template", default=str(ROOT / "template.yaml"))
        if name == "verify":
            p.add_argument("--timing", action="append", default=[], metavar="NAME=TEXT")
            p.add_argument("--no-readme", action="store_true")
            p.add_argument("--build-dir", type=Path, help="sam build's output, inside the workspace (default .aws-sam/build)")
    args = parser.parse_args()
    if getattr(args, "build_dir", None):
        planning.BUILD_DIR = args.build_dir.resolve()
    {"plan": cmd_plan, "verify": cmd_verify}[args.command](args)


if __name__ == "__main__":
    main()
