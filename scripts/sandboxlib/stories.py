"""The stories scripts/run.sh tells and `sandbox.py e2e` checks: per feature, situations played
against the sandbox with the sample events in events/, each with what Tollgate should do.

A story is one entry in STORIES (add one per feature: approvals, branch pipelines, DORA...):

    @story("approvals", "email approvals: ...", functions=("approval-mailer", "approval-api"))
    def approvals(play: Play):
        event = play.event("approval-mailer.request.json")      # remembered as sent
        response = play.invoke("approval-mailer", event)
        yield play.job_result("a request mails the approvers", event, expect="...", ok=...)

Importable without the sandbox venv's packages (only the Sandbox passed in uses them).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .samples import SAMPLE_ALARM, SAMPLE_SECRETS, SAMPLE_STACKS, health_issue, job_id_of, sample

# How a result reads (the legend scripts/run.sh prints).
LEGEND = """\
How to read this: each ▶ is a situation, the event file(s) from events/ it sends, and what Tollgate did:
  job succeeded / job failed   the result the pipeline sees (a failed job is right when the gate must stop the deployment)
  job waiting                  no result yet: the pipeline shows the action In progress
  event ignored                the function left every job alone
  duplicate delivery           what a second delivery of the same event changed (nothing, when all is well)
  reconciler run               what drift-callback's one-minute schedule did
  log check                    what the functions' logs contain
  stack created / deleted      what moto's CloudFormation holds after branch-pipelines handled a branch event
  nothing created / stack untouched   the same, when Tollgate must leave things alone
  week seeded / backfill / OpsItems recorded / report / figures match / datapoints
                               the DORA story: what `tollgate dora` and the calculators did with a week of history,
                               and whether the report and CloudWatch say what the definitions give for that week
✔ that is what Tollgate should do    ✘ it is not: what was expected and the end of the function log follow"""


@dataclass
class Result:
    title: str  # the situation, and what Tollgate should do
    events: list[str]  # files from events/ sent, in order
    outcome: str  # job succeeded | job failed | job waiting | event ignored | duplicate delivery | ...
    detail: str
    ok: bool
    expected: str  # shown when not ok
    checks: str = ""  # what a check without events looked at


@dataclass(frozen=True)
class Story:
    name: str
    summary: str
    functions: tuple[str, ...]
    play: Callable[["Play"], Iterator[Result]]


STORIES: dict[str, Story] = {}


def story(name: str, summary: str, functions: tuple[str, ...]):
    def register(play: Callable[["Play"], Iterator[Result]]):
        STORIES[name] = Story(name, summary, functions, play)
        return play
    return register


@dataclass
class Play:
    """A story's view of the sandbox: sends sample events (remembering which), reads job results."""

    box: object  # sandboxlib.box.Sandbox
    sent: list[str] = field(default_factory=list)
    jobs_sent: bool = False  # a CodePipeline job event was sent (the log check then looks for it)

    @property
    def fake(self):
        return self.box.fake

    def event(self, name: str, job_id: str | None = None) -> dict:
        self.sent.append(name)
        event = sample(name, job_id)
        self.jobs_sent = self.jobs_sent or "CodePipeline.job" in event
        return event

    def drift_event(self, name: str, detection_id: str) -> dict:
        event = self.event(name)
        event["detail"]["stack-drift-detection-id"] = detection_id
        return event

    def invoke(self, function: str, event: dict) -> dict:
        return self.box.invoke(function, event)

    def job(self, job_id: str) -> tuple[str, str]:
        """(outcome, detail) of a pipeline job as CodePipeline would show it."""
        return job_outcome(self.fake.results.get(job_id))

    def result(self, title: str, outcome: str, detail: str, ok: bool, expected: str, checks: str = "") -> Result:
        sent, self.sent = self.sent, []
        return Result(title, sent, outcome, detail, bool(ok), expected, checks)


def job_outcome(result) -> tuple[str, str]:
    """(outcome, detail) for a stand-in job result: ("success" | "failure", request) or None."""
    if result is None:
        return "job waiting", "no result reported yet: the pipeline shows the action In progress"
    kind, body = result
    if kind == "success":
        variables = ", ".join(f"{k}={v}" for k, v in sorted((body.get("outputVariables") or {}).items()))
        summary = (body.get("executionDetails") or {}).get("summary", "")
        return "job succeeded", f"{summary} [{variables}]" if variables else summary
    details = body.get("failureDetails") or {}
    return "job failed", f"{details.get('type')}: {details.get('message')}"


# ----------------------------------------------------------------------------- health gate
@story("health-gate", "the health gate with AWS Health issues, alarms, no support plan, typos, CodePipeline errors, duplicates",
       functions=("health-gate",))
def health_gate(play: Play) -> Iterator[Result]:
    fake, box = play.fake, play.box

    def gate(event_file: str, job_id: str | None = None) -> tuple[str, str, str, dict]:
        event = play.event(event_file, job_id)
        response = play.invoke("health-gate", event)
        job = job_id_of(event)
        return (*play.job(job), job, response)

    fake.health_events, fake.health_error = [], None
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    yield play.result("platform healthy: the gate lets the deployment through", outcome, detail,
                      outcome == "job succeeded" and "HealthStatus=HEALTHY" in detail,
                      "the job succeeds with HealthStatus=HEALTHY")

    fake.health_events = [health_issue("LAMBDA", "us-east-1"), health_issue("EC2", "ap-south-1")]
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    yield play.result("AWS Health reports a Lambda issue in us-east-1: the gate stops the deployment", outcome, detail,
                      outcome == "job failed" and "LAMBDA in us-east-1" in detail and "ap-south-1" not in detail,
                      "the job fails naming LAMBDA in us-east-1, and not the EC2 issue in ap-south-1")

    fake.health_events = [health_issue("EC2", "ap-south-1")]
    outcome, detail, _, _ = gate("health-gate.regions-csv.json")
    yield play.result("an issue only in a region not deployed to (ap-south-1) does not block", outcome, detail,
                      outcome == "job succeeded" and "RegionsChecked=us-east-1,eu-west-1" in detail,
                      "the job succeeds with RegionsChecked=us-east-1,eu-west-1")

    fake.health_events = []
    box.set_alarm(SAMPLE_ALARM, "ALARM", "5xx rate 12% > 5% for 1 datapoint")
    outcome, detail, _, _ = gate("health-gate.alarms.json")
    box.set_alarm(SAMPLE_ALARM, "OK", "recovered")
    yield play.result("the service's own 5xx alarm fires (CloudWatch in moto): the gate stops the deployment", outcome, detail,
                      outcome == "job failed" and f"{SAMPLE_ALARM} is in ALARM: 5xx rate 12%" in detail,
                      f"the job fails naming {SAMPLE_ALARM} and its reason")

    fake.health_error = (400, "SubscriptionRequiredException", "The AWS Health API requires a Business, Enterprise On-Ramp or Enterprise Support plan.")
    outcome, detail, _, _ = gate("health-gate.healthy.json")
    fake.health_error = None
    yield play.result("account without a support plan: the gate fails closed and says how to opt out", outcome, detail,
                      outcome == "job failed" and "whenHealthUnavailable" in detail,
                      "the job fails and mentions whenHealthUnavailable")

    outcome, detail, _, _ = gate("health-gate.bad-params.json")
    yield play.result("a typo in UserParameters: the job fails with a configuration error naming the field", outcome, detail,
                      outcome == "job failed" and detail.startswith("ConfigurationError: UserParameters: unknown field `region`"),
                      "the job fails with ConfigurationError naming the unknown field `region`")

    outcome, detail, _, _ = gate("health-gate.region-typo.json")
    yield play.result("a region typo (us-esat-1): the gate fails closed and names the region meant", outcome, detail,
                      outcome == "job failed" and "us-esat-1" in detail and "us-east-1" in detail,
                      "the job fails naming us-esat-1 and suggesting us-east-1")

    outcome, detail, _, _ = gate("health-gate.alarm-prefix-typo.json")
    yield play.result("an alarm prefix that matches no alarm: the gate fails closed rather than watch nothing", outcome, detail,
                      outcome == "job failed" and "tollgate-demo-apl-" in detail,
                      "the job fails naming the prefix tollgate-demo-apl-")

    fake.codepipeline_outage = 2
    outcome, detail, job, _ = gate("health-gate.healthy.json")
    fake.codepipeline_outage = False
    statuses = [a[2] for a in fake.report_attempts if a[0] == job]
    yield play.result("CodePipeline answers the job result with 500 twice: the result is retried and lands once", outcome,
                      f"{detail}; report calls answered {', '.join(map(str, statuses))}",
                      outcome == "job succeeded" and statuses[:2] == [500, 500] and statuses[2:] == [200],
                      "two 500s, then one accepted result (report calls answered 500, 500, 200)")

    job_id = str(uuid.uuid4())
    gate("health-gate.healthy.json", job_id)
    before = dict(fake.results)
    _, _, _, response = gate("health-gate.healthy.json", job_id)
    count = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    yield play.result("the same job delivered twice: one result, the duplicate is recognised", "duplicate delivery",
                      f"second delivery answered duplicate={json.dumps(response.get('duplicate'))}; results for the job still {count}",
                      response.get("duplicate") is True and fake.results == before and count == 1,
                      "the second delivery answers duplicate=true and the job keeps its one result")


# ----------------------------------------------------------------------------- drift gate
@story("drift-gate", "the drift gate and its callback with ignored drift, a deleted subnet, duplicates, strangers, typos, the reconciler",
       functions=("drift-gate", "drift-callback"))
def drift_gate(play: Play) -> Iterator[Result]:
    fake, box = play.fake, play.box
    existing = {s["StackName"] for s in box.cloudformation.describe_stacks().get("Stacks", [])}
    for stack in SAMPLE_STACKS:
        if stack not in existing:
            box.create_stack(stack)

    def detection_of(stack: str) -> str:
        return [d for d, s in fake.detections.items() if s == stack][-1]

    def start(event_file: str) -> tuple[str, dict]:
        event = play.event(event_file)
        return job_id_of(event), play.invoke("drift-gate", event)

    fake.stack_drifts["orders-api"] = []
    job_id, response = start("drift-gate.one-stack.json")
    waiting = response.get("result") == "waiting" and job_id not in fake.results
    fake.stack_drifts["orders-api"] = [("OrdersBucket", "AWS::S3::Bucket", "MODIFIED", ["/Tags/0/Value"])]
    play.invoke("drift-callback", play.drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    outcome, detail = play.job(job_id)
    yield play.result("drift only in ignored tags: the gate waits for CloudFormation, then lets the deployment through",
                      outcome, detail, waiting and outcome == "job succeeded" and "DriftStatus=IN_SYNC" in detail,
                      "the gate answers waiting, then the callback's event makes the job succeed with DriftStatus=IN_SYNC")

    fake.stack_drifts["orders-api"] = []  # someone put the bucket's tags back
    job_id, _ = start("drift-gate.two-stacks.json")
    fake.stack_drifts["orders-network"] = [("PrivateSubnet", "AWS::EC2::Subnet", "DELETED", [])]
    first = play.invoke("drift-callback", play.drift_event("drift-callback.drifted.json", detection_of("orders-network")))
    play.invoke("drift-callback", play.drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    outcome, detail = play.job(job_id)
    yield play.result("someone deleted a subnet by hand: the gate stops the deployment once both stacks are checked",
                      outcome, detail,
                      first.get("progress") == "waiting for other stacks" and outcome == "job failed"
                      and "orders-network: PrivateSubnet (AWS::EC2::Subnet) DELETED" in detail and "orders-api:" not in detail,
                      "the first stack's event waits for the other; then the job fails naming PrivateSubnet in orders-network only")

    before = dict(fake.results)
    count = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    again = play.invoke("drift-callback", play.drift_event("drift-callback.duplicate.json", detection_of("orders-network")))
    count_after = sum(1 for a in fake.report_attempts if a[0] == job_id and a[2] == 200)
    yield play.result("the drift event delivered twice: nothing changes", "duplicate delivery",
                      f"second delivery answered progress={json.dumps(again.get('progress'))}; results for the job still {count_after}",
                      again.get("progress") == "already decided" and fake.results == before and count == count_after == 1,
                      "the second delivery answers progress=\"already decided\" and the job keeps its one result")

    stranger = play.invoke("drift-callback", play.drift_event("drift-callback.drifted.json", "not-started-by-tollgate"))
    yield play.result("a drift detection someone else started: ignored", "event ignored",
                      f"drift-callback answered {json.dumps(stranger)}",
                      stranger.get("ignored") == "detection not started by Tollgate",
                      "drift-callback answers ignored: detection not started by Tollgate")

    job_id, _ = start("drift-gate.bad-params.json")
    outcome, detail = play.job(job_id)
    yield play.result("a typo in the drift gate's UserParameters: a configuration error naming the field", outcome, detail,
                      outcome == "job failed" and detail.startswith("ConfigurationError: UserParameters: unknown field `stack`"),
                      "the job fails with ConfigurationError naming the unknown field `stack`")

    job_id, _ = start("drift-gate.stack-typo.json")
    outcome, detail = play.job(job_id)
    yield play.result("a stack name typo (orders-apl): the gate fails closed and names the stack meant", outcome, detail,
                      outcome == "job failed" and "orders-apl" in detail and "orders-api" in detail,
                      "the job fails naming orders-apl and suggesting orders-api")

    schedule = play.invoke("drift-callback", play.event("drift-callback.schedule.json"))
    reconciled = schedule.get("reconciled") if isinstance(schedule, dict) else None
    yield play.result("the reconciler's schedule finds every job closed", "reconciler run",
                      f"{len(reconciled) if isinstance(reconciled, list) else '?'} open job(s) reconciled; drift-callback answered {json.dumps(schedule)}",
                      reconciled == [], "no open job to reconcile ({\"reconciled\": []})")


# ----------------------------------------------------------------------------- approvals
# No functions under cargo lambda watch: scripts/approvals_story.py runs approval-mailer and
# approval-api itself, as Lambda would (behind a local HTTP API), on this sandbox's moto.
@story("approvals", "email approvals: a release waits, the email and its link, a mail scanner, approve, a double click, "
       "reject with a reason, a release too small to ask, the sample events, the logs", functions=())
def approvals(play: Play) -> Iterator[Result]:
    from approvals_story import play as approvals_play

    yield from approvals_play(play)


# ----------------------------------------------------------------------------- branch pipelines
@story("branch-pipelines", "a stack per feature branch: created from CodeCommit and a signed GitHub webhook, duplicates, "
       "excluded branches, deleted with its bucket emptied first, stacks that are not Tollgate's left alone",
       functions=("branch-pipelines",))
def branch_pipelines(play: Play) -> Iterator[Result]:
    from .branches import play_branch_pipelines

    yield from play_branch_pipelines(play)


# ----------------------------------------------------------------------------- DORA
# No functions under cargo lambda watch: the story runs the `tollgate` CLI and the calculator
# binaries itself (sandboxlib.dora), with a GitHub stand-in and a week of history.
@story("dora", "DORA metrics: a week of history replayed by `tollgate dora backfill`, OpsItems delivered to the calculators, "
       "the report checked against hand-worked figures, the datapoints in CloudWatch", functions=())
def dora(play: Play) -> Iterator[Result]:
    from .dora import play_dora

    yield from play_dora(play)


# ----------------------------------------------------------------------------- fail-safe
@story("fail-safe", "never hang, never leak: Lambda's on-failure destination, TRACE-level logs, a drift callback with broken configuration",
       functions=("health-gate", "drift-gate", "drift-callback", "job-dead-letter"))
def fail_safe(play: Play) -> Iterator[Result]:
    from .failsafe import play_fail_safe

    yield from play_fail_safe(play)


def log_check(play: Play, log_path: str) -> Result:
    """Closes every run: the functions' logs never contain the sample events' secrets."""
    logs = play.box.logs()
    leaked = [s for s in SAMPLE_SECRETS if s in logs]
    lines = logs.count("\n")
    return play.result("the functions' JSON logs never contain the job's artifact credentials", "log check",
                       f"{lines} log lines checked; " + (f"LEAKED: {', '.join(leaked)}" if leaked else "no artifact credentials in them"),
                       # (a run of stories that sends no pipeline job, like approvals or branch-pipelines, has no job events)
                       not leaked and ('"pipeline job received"' in logs or not play.jobs_sent),
                       "no secret from the sample events in the log, and the job events logged (redacted)",
                       checks=f"the functions' log, {log_path}")
