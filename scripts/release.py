"""Release build helper for scripts/release.sh (not part of CI): reads template.yaml to plan the
`sam build`, then verifies its artefacts: each .aws-sam/build/<Function>/bootstrap's size (and
zipped, as Lambda receives it), its ELF header (architecture, interpreter, the glibc it needs),
and a smoke run of the binary itself (under user-mode QEMU when it is not for this machine)
against the sandbox, with a local Lambda Runtime API handing it one sample event. Figures go into
README.md between the release markers.

    .tools/sandbox/bin/python scripts/release.py plan   --arch arm64     (shell assignments)
    .tools/sandbox/bin/python scripts/release.py verify --arch arm64 [--timing NAME=SECONDS ...]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench import RuntimeApi
from sandbox import ROOT, Sandbox, sample

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


# ----------------------------------------------------------------------------- template.yaml
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


def plan_functions(template: dict, arch: str) -> tuple[list[Function], list[str]]:
    """The rust-cargolambda functions `sam build --parameter-overrides Architecture=<arch>` would
    build, with the architecture each would get; and problems that stop a release build."""
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
        if metadata.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{logical_id}: BuildMethod is {metadata.get('BuildMethod')!r}, not rust-cargolambda; "
                            "this script only builds and smoke-runs Rust functions")
            continue
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not binary:
            problems.append(f"{logical_id}: no Metadata.BuildProperties.Binary; SAM would copy whichever binary "
                            "target/lambda/ holds (the workspace has several)")
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
        problems.append("template.yaml has no AWS::Serverless::Function with BuildMethod rust-cargolambda")
    return functions, problems


def cargo_lambda_flags(runtime: str, arch: str) -> list[str]:
    """The target flags aws-lambda-builders' RustCargoLambdaBuildAction gives `cargo lambda build`
    (so that the pre-build leaves nothing for `sam build` to compile)."""
    triple = ARCHES[arch][0]
    if runtime == "provided.al2":
        return ["--target", f"{triple}.2.26"]
    return ["--arm64"] if arch == "arm64" else []


def cmd_plan(args) -> None:
    template = load_template(Path(args.template))
    functions, problems = plan_functions(template, args.arch)
    if problems:
        fail("cannot build for " + args.arch + ":\n  " + "\n  ".join(problems))
    flags = {tuple(cargo_lambda_flags(f.runtime, f.arch)) for f in functions}
    if len(flags) != 1:
        fail(f"functions need different cargo lambda targets ({flags}); build them with plain `sam build`")
    quote = lambda items: " ".join(f"'{i}'" for i in items)  # noqa: E731 (names are [\w-]+)
    print(f"FUNCTIONS=({quote(f.logical_id for f in functions)})")
    print(f"BINARIES=({quote(f.binary for f in functions)})")
    print(f"CARGO_LAMBDA_FLAGS=({quote(flags.pop())})")
    print(f"TRIPLE='{ARCHES[args.arch][0]}'")
    print(f"HAS_ARCH_PARAM={1 if 'Architecture' in (template.get('Parameters') or {}) else 0}")


# ----------------------------------------------------------------------------- artefacts
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


# ----------------------------------------------------------------------------- smoke runs
@dataclass
class Run:
    ok: bool
    detail: str
    init_ms: float | None = None
    total_ms: float | None = None
    log: Path | None = None
    response: dict | None = None


def runner(arch: str) -> tuple[list[str], str]:
    """The command prefix that runs a binary for `arch` here, and a description of it."""
    if arch == HOST_ARCH:
        return [], "natively"
    qemu_arch = ARCHES[arch][1]
    qemu = os.environ.get("QEMU") or shutil.which(f"qemu-{qemu_arch}-static") or shutil.which(f"qemu-{qemu_arch}")
    if not qemu:
        fail(f"no qemu-{qemu_arch}(-static) on PATH (scripts/release.sh installs qemu-user-static)")
    sysroot = os.environ.get("QEMU_SYSROOT") or f"/usr/{qemu_arch}-linux-gnu"
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return [qemu, "-L", sysroot], f"under {version} (-L {sysroot})"


def smoke(prefix: list[str], function: Function, env: dict, event: dict, log: Path) -> Run:
    """Starts the bootstrap as Lambda would, hands it `event` through a local Runtime API and
    waits for its answer (or its exit)."""
    bootstrap = BUILD_DIR / function.logical_id / "bootstrap"
    api = RuntimeApi(event)
    # The runtime's next poll may still be open when the process is stopped: not worth a traceback.
    api.server.handle_error = lambda request, client_address: None
    env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": f"tollgate-{function.binary}",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "LAMBDA_TASK_ROOT": str(bootstrap.parent), "_HANDLER": "bootstrap", "PATH": os.environ.get("PATH", "")}
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([*prefix, str(bootstrap)], env=env, cwd=bootstrap.parent, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SMOKE_TIMEOUT_S
            while not api.done.wait(0.1):
                if proc.poll() is not None:
                    init = (api.first_poll_at - started) * 1000 if api.first_poll_at else None
                    return Run(False, f"exited with status {proc.returncode} before answering "
                                      f"({'it took the event' if api.handed_out else 'it never asked for an event'})", init, None, log)
                if time.monotonic() > deadline:
                    return Run(False, f"no answer within {SMOKE_TIMEOUT_S:.0f}s "
                                      f"({'it took the event' if api.handed_out else 'it never asked for an event'})", None, None, log)
            init_ms, total_ms = (api.first_poll_at - started) * 1000, (api.done_at - started) * 1000
            kind, body = api.result
            try:
                response = json.loads(body or b"null")
            except ValueError:
                response = {"raw": body.decode(errors="replace")}
            if kind != "response":
                return Run(False, f"posted an invocation {kind}: {body[:400].decode(errors='replace')}", init_ms, total_ms, log, response)
            return Run(True, "answered", init_ms, total_ms, log, response)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            api.server.shutdown()


def job_results(box: Sandbox) -> dict:
    """job id -> (success|failure, request) as the sandbox's CodePipeline stand-in received them."""
    try:
        return box.fake.results
    except AttributeError:
        fail("scripts/sandbox.py no longer exposes the CodePipeline stand-in's results as box.fake.results; "
             "update job_results() in scripts/release.py")


def detections(box: Sandbox) -> dict:
    try:
        return box.fake.detections
    except AttributeError:
        fail("scripts/sandbox.py no longer exposes box.fake.detections; update detections() in scripts/release.py")


def describe_result(result: tuple) -> str:
    kind, body = result
    if kind == "success":
        variables = ",".join(f"{k}={v}" for k, v in sorted((body.get("outputVariables") or {}).items()))
        return f"PutJobSuccessResult [{variables}]"
    details = body.get("failureDetails") or {}
    message = str(details.get("message"))
    return f"PutJobFailureResult {details.get('type')}: {message[:150]}{'…' if len(message) > 150 else ''}"


# Each known function: its sample event and what must reach the sandbox. A check gets the run, the
# event it was handed, the sandbox and a dict shared across functions; it returns (ok, detail).
def check_health_gate(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    job_id = event["CodePipeline.job"]["id"]
    result = job_results(box).get(job_id)
    if not result:
        return False, f"answered {json.dumps(run.response)} but no job result reached the sandbox"
    ok = result[0] == "success" and (result[1].get("outputVariables") or {}).get("HealthStatus") == "HEALTHY"
    return ok, describe_result(result)


def check_drift_gate(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    job_id = event["CodePipeline.job"]["id"]
    started = [d for d, stack in detections(box).items() if stack == "orders-api"]
    if job_id in job_results(box):
        return False, f"reported at once: {describe_result(job_results(box)[job_id])} (expected: waiting for drift detection)"
    if (run.response or {}).get("result") != "waiting" or not started:
        return False, f"answered {json.dumps(run.response)}; DetectStackDrift on orders-api: {bool(started)}"
    shared["drift_job"], shared["detection"] = job_id, started[-1]
    return True, "job waiting, DetectStackDrift started on orders-api, job state in DynamoDB"


def check_drift_callback(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    reconciled = (run.response or {}).get("reconciled")
    if not isinstance(reconciled, list):
        return False, f"answered {json.dumps(run.response)} (expected a reconciler report)"
    job = shared.get("drift_job")
    if job and not any(r.get("jobId") == job for r in reconciled):
        return False, f"the reconciler did not find drift-gate's open job {job}: {json.dumps(reconciled)}"
    return True, f"reconciler read {len(reconciled)} open job(s) from DynamoDB" + (" (drift-gate's, still waiting)" if job else "")


def check_drift_callback_event(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    result = job_results(box).get(shared["drift_job"])
    if not result:
        return False, f"answered {json.dumps(run.response)} but drift-gate's job got no result"
    ok = result[0] == "success" and (result[1].get("outputVariables") or {}).get("DriftStatus") == "IN_SYNC"
    return ok, "drift-gate's job: " + describe_result(result)


def pipeline_job(event: dict) -> dict | None:
    """The CodePipeline job in an event: a gate's own, or the one in a Lambda invocation record's
    requestPayload (what an on-failure destination such as job-dead-letter receives)."""
    for candidate in (event, event.get("requestPayload")):
        if isinstance(candidate, dict) and isinstance(candidate.get("CodePipeline.job"), dict):
            return candidate["CodePipeline.job"]
    return None


def check_dead_letter(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    job = pipeline_job(event)
    result = job_results(box).get(job["id"]) if job else None
    if not result:
        return False, f"answered {json.dumps(run.response)[:200]} but the job got no result"
    return result[0] == "failure", describe_result(result)


def check_generic(run: Run, event: dict, box: Sandbox, shared: dict) -> tuple[bool, str]:
    job = pipeline_job(event)
    status = run.response.get("statusCode") if isinstance(run.response, dict) else None
    if isinstance(status, int):  # an HTTP-shaped answer (API Gateway, function URL)
        return status < 500, f"answered HTTP {status}" + ("" if status < 500 else f": {str(run.response.get('body'))[:200]}")
    if not job:
        return True, f"answered {json.dumps(run.response)[:200]} (no job result to check for this function)"
    job_id = job["id"]
    if job_id in job_results(box):
        return True, describe_result(job_results(box)[job_id]) + " (no expected result known for this function)"
    if (run.response or {}).get("result") == "waiting":
        return True, "job waiting (no expected result known for this function)"
    return False, f"answered {json.dumps(run.response)[:200]} but no job result reached the sandbox"


def dead_letter_record() -> tuple[str, dict]:
    """What Lambda sends an on-failure destination (its documented invocation record) after giving
    up on health-gate.healthy.json; used while events/ has no job-dead-letter sample."""
    return "Lambda's invocation record of events/health-gate.healthy.json (no job-dead-letter sample in events/ yet)", {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:tollgate-health-gate:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": sample("health-gate.healthy.json"),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: signal: killed"},
    }


KNOWN = {  # binary -> (sample event, check, fallback when events/ has none); run in this order, others after
    "health-gate": ("health-gate.healthy.json", check_health_gate, None),
    "drift-gate": ("drift-gate.one-stack.json", check_drift_gate, None),
    "drift-callback": ("drift-callback.schedule.json", check_drift_callback, None),
    "job-dead-letter": (None, check_dead_letter, dead_letter_record),  # None: its first events/job-dead-letter.*.json
}


def event_for(binary: str) -> tuple[str, dict] | None:
    """(what to call it, the event) for a function's smoke run: its known sample, else its first
    events/<binary>.*.json, else a known fallback."""
    name, _, fallback = KNOWN.get(binary, (None, None, None))
    if not name:
        candidates = sorted(p.name for p in (ROOT / "events").glob(f"{binary}.*.json"))
        name = candidates[0] if candidates else None
    if name:
        event = sample(name)
        job = pipeline_job(event)
        if job and job is not event.get("CodePipeline.job"):
            job["id"] = str(uuid.uuid4())  # a fresh job, as sample() gives a gate's event
        return f"events/{name}", event
    return fallback() if fallback else None


# ----------------------------------------------------------------------------- verify
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


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def glibc_text(elf: Elf, runtime: str) -> str:
    if not elf.glibc:
        return "no glibc symbol versions" if elf.machine != "?" else "n/a (no readelf)"
    needed = ".".join(map(str, elf.glibc))
    have = RUNTIME_GLIBC.get(runtime)
    return f"glibc {needed}" + (f" (≤ {'.'.join(map(str, have))} ✔)" if have and elf.glibc <= have
                                else f" (> {runtime}'s {'.'.join(map(str, have))} ✘)" if have else "")


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


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


def cmd_verify(args) -> None:
    # What sam build built (its copy of the template), not what the template says now: other work
    # may change template.yaml while the build runs.
    built = BUILD_DIR / "template.yaml"
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
        bootstrap = BUILD_DIR / f.logical_id / "bootstrap"
        if not bootstrap.is_file():
            row.detail = f"missing {bootstrap.relative_to(ROOT)} (did sam build succeed?)"
            errors.append(f"{f.logical_id}: {row.detail}")
            print(f"  ✘ {f.logical_id}: {row.detail}")
            continue
        row.size, row.zipped, row.elf = bootstrap.stat().st_size, zipped_bytes(bootstrap), readelf(bootstrap)
        problems = []
        if row.elf.machine not in ("?", expected_machine):
            problems.append(f"built for {row.elf.machine}, not {expected_machine}")
        if row.elf.stripped is False:
            problems.append("not stripped (symbols or debug info left: check [profile.release] strip)")
        have = RUNTIME_GLIBC.get(f.runtime)
        if row.elf.glibc and have and row.elf.glibc > have:
            problems.append(f"needs glibc {'.'.join(map(str, row.elf.glibc))}, {f.runtime} has {'.'.join(map(str, have))}")
        over = [what for what, size in (("binary", row.size), ("zip", row.zipped)) if size / 1e6 > BUDGET_MB[what]]
        print(f"  {'✘' if problems else '✔'} {f.logical_id} ({f.binary}): {mb(row.size)}"
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
    with Sandbox(watch=False) as box:
        box.create_stack("orders-api")  # drift-gate.one-stack.json checks it
        shared: dict = {}
        # Email approvals need a signing secret, a verified sender and a stored approval on the
        # sandbox: the same set-up the benchmark uses (scripts/approvals_story.py).
        from approvals_story import bench_functions

        prepared = {name: (env, make_event, f"events/{event_file}")
                    for name, _, env, make_event, event_file in bench_functions(box)}
        for row in runnable:
            f = row.function
            if f.binary in prepared:
                env, make_event, row.event = prepared[f.binary]
                event = make_event()
                row.run = smoke(prefix, f, env, event, LOG_DIR / f"{f.binary}.smoke.log")
                row.ok, row.detail = check_generic(row.run, event, box, shared) if row.run.ok else (False, row.run.detail)
                report(row, errors)
                continue
            found = event_for(f.binary)
            if not found:
                row.detail = f"not smoke-tested: no sample event (add events/{f.binary}.<case>.json, and a check in scripts/release.py)"
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
    args = parser.parse_args()
    {"plan": cmd_plan, "verify": cmd_verify}[args.command](args)


if __name__ == "__main__":
    main()
