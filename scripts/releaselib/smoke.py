"""Smoke runs of release artefacts: each bootstrap started as Lambda would (natively, or under
user-mode QEMU), handed one sample event through the sandbox's Lambda Runtime API, and what must
reach the sandbox checked per function."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sandboxlib.box import Sandbox
from sandboxlib.paths import ACCOUNT, REGION, ROOT
from sandboxlib.runtime import invoke_binary
from sandboxlib.samples import pipeline_job, sample
from sandboxlib.stories import examples

from . import plan as planning
from .plan import ARCHES, HOST_ARCH, SMOKE_TIMEOUT_S, Function, fail

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
    """Starts the bootstrap as Lambda would (under `prefix`, e.g. QEMU), hands it `event` through
    the sandbox's Lambda Runtime API and waits for its answer (or its exit)."""
    bootstrap = planning.BUILD_DIR / function.logical_id / "bootstrap"
    env = {**env, "AWS_LAMBDA_FUNCTION_NAME": f"tollgate-{function.binary}",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "LAMBDA_TASK_ROOT": str(bootstrap.parent), "_HANDLER": "bootstrap", "PATH": os.environ.get("PATH", "")}
    run = invoke_binary(bootstrap, env, json.dumps(event).encode(), f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tollgate-{function.binary}",
                        SMOKE_TIMEOUT_S, log, prefix=prefix, cwd=bootstrap.parent, init_timeout_s=SMOKE_TIMEOUT_S)
    response = run.payload if isinstance(run.payload, dict) or run.payload is None else {"raw": run.payload}
    if run.kind == "response":
        return Run(True, "answered", run.init_ms, run.total_ms, log, response)
    took = "it took the event" if run.handed_out else "it never asked for an event"
    if run.kind == "crash":
        return Run(False, f"exited with status {run.exit_status} before answering ({took})", run.init_ms, None, log)
    if run.kind == "timeout":
        return Run(False, f"no answer within {SMOKE_TIMEOUT_S:.0f}s ({took})", None, None, log)
    return Run(False, f"posted an invocation {run.kind}: {json.dumps(run.payload)[:400]}", run.init_ms, run.total_ms, log, response)


def job_results(box: Sandbox) -> dict:
    """job id -> (success|failure, request) as the sandbox's CodePipeline stand-in received them."""
    try:
        return box.fake.results
    except AttributeError:
        fail("scripts/sandbox.py no longer exposes the CodePipeline stand-in's results as box.fake.results; "
             "update job_results() in scripts/releaselib/smoke.py")


def detections(box: Sandbox) -> dict:
    try:
        return box.fake.detections
    except AttributeError:
        fail("scripts/sandbox.py no longer exposes box.fake.detections; update detections() in scripts/releaselib/smoke.py")


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
    """(what to call it, the event) for a function's smoke run: its known sample, else the
    stories' example for it, else its first events/<binary>.*.json, else a known fallback."""
    name, _, fallback = KNOWN.get(binary, (None, None, None))
    name = name or examples().get(binary)
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
