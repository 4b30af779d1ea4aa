"""What every story is made of: Play (a story's view of the sandbox), Result (one situation and
what Tollgate did), the legend that says how a result reads, and job_outcome / log_check.

A story (sandboxlib/stories/<feature>.py) plays situations with the sample events in events/:

    def play(play: Play):
        event = play.event("health-gate.healthy.json")      # remembered as sent
        play.invoke("health-gate", event)
        outcome, detail = play.job(job_id_of(event))
        yield play.result("the platform is healthy: the gate lets the deployment through", outcome, detail,
                          outcome == "job succeeded", "the job succeeds")

Standard library only (only the Sandbox passed in uses the sandbox venv's packages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .samples import SAMPLE_SECRETS, sample

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
✔ that is what Tollgate should do (the line after it says what was expected)
✘ it is not: what was expected and the end of the function log follow"""


@dataclass
class Result:
    title: str  # the situation, and what Tollgate should do
    events: list[str]  # files from events/ sent, in order
    outcome: str  # job succeeded | job failed | job waiting | event ignored | duplicate delivery | ...
    detail: str
    ok: bool
    expected: str  # what Tollgate should do
    checks: str = ""  # what a check without events looked at


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
