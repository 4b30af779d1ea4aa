"""The fail-safe story: what happens around the gates when things go wrong outside their checks,
played with the real binaries.

- An invocation that errors every time (CodePipeline unreachable) still ends its job: Lambda
  gives the invocation record to job-dead-letter, which fails the job.
- At Lambda's TRACE log level, no credential from the job event reaches a function's output.
- drift-callback with a broken configuration keeps answering: it errors on every event (so its
  alarm fires) and fails the open jobs it can.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

from ..paths import log_dir, target_dir
from ..runtime import invoke_binary
from ..samples import SAMPLE_SECRETS, SAMPLE_STACKS, job_id_of
from ..story import Play, Result

NAME = "fail-safe"
SUMMARY = "never hang, never leak: Lambda's on-failure destination, TRACE-level logs, a drift callback with broken configuration"
FUNCTIONS = ("health-gate", "drift-gate", "drift-callback", "job-dead-letter")  # under cargo lambda watch
EXAMPLES = {"job-dead-letter": "job-dead-letter.retries-exhausted.json"}

# What Lambda sends an on-failure destination for an asynchronous invocation it gave up on
# (the "invocation record"), as AWS documents it.
LAMBDA_RETRIES = 2


def invocation_record(function_arn: str, event: dict, error: dict, attempts: int) -> dict:
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": "c7f2d0a4-5e0b-4d5c-9d7e-0d3f1a1b2c3d",
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def run_binary(play: Play, function: str, event: dict, env: dict, label: str):
    """One invocation of the real binary (target/debug/<function>) with `env`; (invocation, log)."""
    log = log_dir() / f"failsafe-{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    invocation = invoke_binary(target_dir() / "debug" / function, env, json.dumps(event).encode(),
                               play.box.function_arn(function), 30.0, log)
    return invocation, log.read_text(errors="replace")


def play(play: Play) -> Iterator[Result]:
    fake, box = play.fake, play.box

    # -------------------------------------------------- an invocation that errors every time
    event = play.event("health-gate.healthy.json")
    job_id = job_id_of(event)
    fake.health_events, fake.health_error = [], None
    fake.codepipeline_outage = True
    answers = [box.invoke("health-gate", event) for _ in range(1 + LAMBDA_RETRIES)]
    fake.codepipeline_outage = False
    errored = all("invokeError" in a for a in answers)
    try:
        last_error = json.loads(answers[-1].get("body") or "{}")
    except ValueError:
        last_error = {"errorMessage": answers[-1].get("body", "")}
    waiting = job_id not in fake.results
    play.sent.append("(Lambda's invocation record for the same event)")
    dead_letter = box.invoke("job-dead-letter",
                             invocation_record(box.function_arn("health-gate"), event, last_error, 1 + LAMBDA_RETRIES))
    outcome, detail = play.job(job_id)
    yield play.result(
        "CodePipeline is unreachable for every attempt: Lambda gives up, and job-dead-letter still ends the job",
        outcome, f"{len(answers)} invocations errored: {errored}; then job-dead-letter answered {json.dumps(dead_letter)}; {detail}",
        errored and waiting and outcome == "job failed" and "could not finish this job" in detail
        and "/aws/lambda/tollgate-health-gate" in detail,
        "3 invocations error with no job result, then job-dead-letter fails the job naming the gate's log group")

    # -------------------------------------------------- TRACE-level logs hold no credential
    for function, sample_name in (("health-gate", "health-gate.healthy.json"), ("drift-gate", "drift-gate.one-stack.json")):
        existing = {s["StackName"] for s in box.cloudformation.describe_stacks().get("Stacks", [])}
        for stack in SAMPLE_STACKS:
            if stack not in existing:
                box.create_stack(stack)
        trace_event = play.event(sample_name)
        env = {**box.lambda_env(function), "AWS_LAMBDA_LOG_LEVEL": "TRACE", "AWS_LAMBDA_LOG_FORMAT": "JSON"}
        invocation, log = run_binary(play, function, trace_event, env, f"{function}-trace")
        leaked = [s for s in SAMPLE_SECRETS if s in log]
        raw_event = "raw JSON event received" in log
        debug_lines = log.count('"level":"DEBUG"')
        yield play.result(
            f"{function} at Lambda's TRACE log level: no credential and no raw event in its output",
            "log check",
            f"{len(log.splitlines())} lines ({debug_lines} at DEBUG) answered {invocation.kind}; "
            + (f"LEAKED: {', '.join(leaked)}" if leaked else "no artifact credentials")
            + ("; the runtime's raw event WAS logged" if raw_event else "; the runtime's raw event was held back"),
            invocation.kind == "response" and not leaked and not raw_event and debug_lines > 0,
            "the function answers; its TRACE output has DEBUG lines but no credential and no raw event",
            checks=f"the function's output at TRACE, {log_dir().name}/failsafe-{function}-trace.log")

    # -------------------------------------------------- drift-callback with broken configuration
    fake.stack_drifts["orders-api"] = []
    gate_event = play.event("drift-gate.one-stack.json")
    gate_job = job_id_of(gate_event)
    started = box.invoke("drift-gate", gate_event)
    schedule = play.event("drift-callback.schedule.json")
    broken = {**box.lambda_env("drift-callback"), "CROSS_ACCOUNT_ALLOWED_ACCOUNTS": "2222"}
    invocation, _ = run_binary(play, "drift-callback", schedule, broken, "drift-callback-misconfigured")
    outcome, detail = play.job(gate_job)
    error_type = invocation.payload.get("errorType") if isinstance(invocation.payload, dict) else None
    yield play.result(
        "drift-callback deployed with a broken setting keeps answering: it errors on every event and fails the open jobs",
        outcome,
        f"the gate answered {started.get('result')}; the broken callback answered {invocation.kind} ({error_type}), "
        f"still running: {invocation.exit_status is None}; {detail}",
        started.get("result") == "waiting" and invocation.kind == "error" and invocation.exit_status is None
        and error_type == "Tollgate.DriftCallbackMisconfigured"
        and outcome == "job failed" and "CROSS_ACCOUNT_ALLOWED_ACCOUNTS" in detail,
        "the callback reports an invocation error, stays up, and the open job fails as a ConfigurationError naming the variable")
