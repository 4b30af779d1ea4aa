"""Every function with every sample event, the way a new user tries them: starts `scripts/run.sh
--serve` (with the binaries already built), runs `scripts/invoke.sh <function> events/<function>.*.json`
for each sample event, and checks each answered as that event should be answered, with no panic in
any function log. scripts/test.sh runs it after the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parent.parent


def status(code: int):
    return lambda out, log: isinstance(out, dict) and out.get("statusCode") == code


def body_outcome(outcome: str):
    return lambda out, log: status(200)(out, log) and json.loads(out.get("body") or "{}").get("outcome") == outcome


def field(name: str, value=None):
    return lambda out, log: isinstance(out, dict) and name in out and (value is None or out[name] == value)


def job(outcome: str):
    return lambda out, log: f": {outcome}: " in log


# What each sample event should give against run.sh --serve: (what that means, check(result, invoke.sh's log)).
EXPECTED = {
    "approval-api.get.json": ("the approval page (200)", status(200)),
    "approval-api.post-approve.json": ("approved (200), or 410 when no workflow waits on the sample token",
                                       lambda out, log: status(200)(out, log) or status(410)(out, log)),
    "approval-api.post-reject-without-reason.json": ("400: a rejection needs a reason", status(400)),
    "approval-api.tampered.json": ("403: the signature does not match", status(403)),
    "approval-mailer.codepipeline-sns.json": ("an email to its approver", field("sentTo", 1)),
    "approval-mailer.step-functions.json": ("emails to its 2 approvers", field("sentTo", 2)),
    "branch-pipelines.codecommit-created.json": ("the branch's stack created", field("outcome", "created")),
    # The sandbox's branch still exists (its create events need it), so a delete event is stale:
    # the function confirms with CodeCommit / GitHub first and keeps the stack.
    "branch-pipelines.codecommit-deleted.json": ("kept: the branch still exists", field("outcome", "kept")),
    "branch-pipelines.github-create.json": ("200 created", body_outcome("created")),
    "branch-pipelines.github-delete.json": ("200 kept: the branch still exists", body_outcome("kept")),
    "branch-pipelines.github-ping.json": ("200 ignored", body_outcome("ignored")),
    "branch-pipelines.schedule.json": ("the sweep ran", field("outcome", "swept")),
    # The sample's stack is not in the sandbox: nothing to tell a pull request.
    "branch-pipelines.stack-status.json": ("ignored: no such stack", field("outcome", "ignored")),
    "drift-callback.detection-failed.json": ("ignored: not Tollgate's detection", field("ignored")),
    "drift-callback.drifted.json": ("ignored: not Tollgate's detection", field("ignored")),
    "drift-callback.duplicate.json": ("ignored: not Tollgate's detection", field("ignored")),
    "drift-callback.in-progress.json": ("ignored: still in progress", field("ignored")),
    "drift-callback.in-sync.json": ("ignored: not Tollgate's detection", field("ignored")),
    "drift-callback.schedule.json": ("the reconciler ran", field("reconciled")),
    "drift-gate.aws-sample.json": ("job waiting for drift detection", job("job waiting")),
    "drift-gate.bad-params.json": ("job failed: a configuration error", job("job failed")),
    "drift-gate.one-stack.json": ("job waiting for drift detection", job("job waiting")),
    "drift-gate.stack-typo.json": ("job failed: no such stack", job("job failed")),
    "drift-gate.two-stacks.json": ("job waiting for drift detection", job("job waiting")),
    "health-gate.alarm-prefix-typo.json": ("job failed: no alarm with that prefix", job("job failed")),
    "health-gate.alarms.json": ("job succeeded: the alarm is OK", job("job succeeded")),
    "health-gate.bad-params.json": ("job failed: a configuration error", job("job failed")),
    "health-gate.healthy.json": ("job succeeded", job("job succeeded")),
    "health-gate.region-typo.json": ("job failed: no such region", job("job failed")),
    "health-gate.regions-csv.json": ("job succeeded", job("job succeeded")),
    # (its record carries health-gate.healthy.json's job, which that event's run has already ended: a duplicate then)
    "job-dead-letter.retries-exhausted.json": ("the job in the record failed", field("result", "failed")),
}
DEFAULT = ("a result (no error)", lambda out, log: True)  # e.g. the DORA calculators answer null


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="invoke-all-", dir=ROOT / "target"))
    env = {**os.environ, "TOLLGATE_SANDBOX_DIR": str(scratch)}
    python = ROOT / ".tools" / "sandbox" / "bin" / "python"
    serve = subprocess.Popen([str(python), "scripts/sandbox.py", "run", "--serve", "--no-build", "--only", "health-gate"],
                             cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    passed = failed = 0
    try:
        deadline = time.monotonic() + 120
        while not (scratch / "sandbox.json").exists():
            if serve.poll() is not None or time.monotonic() > deadline:
                print(f"FAIL - run.sh --serve did not come up: {serve.stdout.read().decode()[-2000:]}")
                return 1
            time.sleep(0.2)
        events = sorted((ROOT / "events").glob("*.json"))
        for path in events:
            function = path.name.split(".", 1)[0]
            what, check = EXPECTED.get(path.name, DEFAULT)
            proc = subprocess.run(["bash", "scripts/invoke.sh", "--no-build", function, f"events/{path.name}"], cwd=ROOT, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
            try:
                out = json.loads(proc.stdout)
            except ValueError:
                out = proc.stdout
            problems = []
            if proc.returncode != 0:
                problems.append(f"invoke.sh exited {proc.returncode}")
            if "panicked" in proc.stderr:
                problems.append("the function log shows a panic")
            if not problems and not check(out, proc.stderr):
                problems.append(f"expected {what}")
            ok = not problems
            passed, failed = passed + ok, failed + (not ok)
            print(f"{'ok' if ok else 'FAIL'} - invoke.sh {function} events/{path.name}: {what}", flush=True)
            if not ok:
                print(f"    {'; '.join(problems)}\n    result: {str(proc.stdout)[:400]}\n    log tail:\n"
                      + "\n".join(f"      {line[:300]}" for line in proc.stderr.splitlines()[-12:]), flush=True)
        logs = "".join(p.read_text(errors="replace") for p in (scratch / "logs").glob("*.log"))
        ok = "panicked" not in logs
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'ok' if ok else 'FAIL'} - no function log under {scratch.name}/logs shows a panic", flush=True)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
        subprocess.run(["rm", "-rf", str(scratch)])
    print(f"invoke: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
