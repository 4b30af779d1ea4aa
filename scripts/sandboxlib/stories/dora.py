"""The DORA story: a week of pipeline history (dora_week) replayed into the sandbox with the
real `tollgate` CLI and the real calculator binaries, and the report checked against figures
worked out by hand from the definitions.

  1. the week is seeded: the pipelines in moto's CodePipeline, their execution history and the
     OpsItems in the front's stand-in, the commits in a local GitHub stand-in, a GitHub token in
     moto's Secrets Manager;
  2. `tollgate dora backfill --days 7` (target/debug/tollgate) replays it, twice (the second adds nothing);
  3. the OpsItem events (OpsItem Create, then OpsItem Update once resolved) go to
     dora-change-failure-rate and dora-time-to-restore, each run as Lambda runs it
     (sandboxlib.runtime), one delivery twice;
  4. `tollgate dora report --days 7` (table and --json) is checked against the hand-worked figures,
     and moto's CloudWatch against the datapoints they imply (GetMetricData, ListMetrics).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..github import GitHubStandIn
from ..paths import ACCOUNT, CREDENTIALS, REGION, ROOT, log_dir, relative, target_dir
from ..procs import clean_environ
from ..runtime import invoke_binary
from ..samples import sample
from ..story import Play, Result
from .dora_week import DAY, HOUR, Week, expected, ops_item, pipeline_declaration, pipeline_history, sample_week

CALCULATORS = ("dora-deployment-frequency", "dora-lead-time", "dora-change-failure-rate", "dora-time-to-restore")
NAME = "dora"
SUMMARY = ("DORA metrics: a week of history replayed by `tollgate dora backfill`, OpsItems delivered to the calculators, "
           "the report checked against hand-worked figures, the datapoints in CloudWatch")
FUNCTIONS = ()  # none under cargo lambda watch: the story runs the CLI and the calculators itself
RUNS = ("tollgate", *CALCULATORS)  # the binaries it runs (built up front)
EXAMPLES = {"dora-deployment-frequency": "dora-deployment-frequency.stage-succeeded.json",
            "dora-lead-time": "dora-lead-time.execution-succeeded.json",
            "dora-change-failure-rate": "dora-change-failure-rate.opsitem-create.json",
            "dora-time-to-restore": "dora-time-to-restore.opsitem-resolved.json"}
TOKEN_SECRET = "tollgate-dora-github-token"
SAMPLE_EVENT_ACCOUNT = ACCOUNT  # the account events/dora-*.json come from: the sandbox's own
RESOURCES = {
    "DoraGitHubTokenSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{TOKEN_SECRET}",
    "DoraDeadLetterQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:tollgate-dora-dead-letters",
}
# A made-up token for the GitHub stand-in: it must never reach a log.
SAMPLE_TOKEN = "ghp_tollgateSandboxSampleToken0000000000"
NAMESPACE = "DORA"
METRICS = ("DeploymentCount", "LeadTimeForChanges", "FailedDeploymentCount", "TimeToRestore")


def week_start(now: float) -> int:
    """The sample week's start: on the hour, a little less than seven days ago, so that the whole
    week is inside `--days 7` windows taken while the story runs (it ends an hour before now)."""
    return int((now - 7 * DAY + HOUR) // HOUR * HOUR)


def session():
    import boto3

    return boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def seed_week(box, week: Week, fake) -> dict:
    """The week in moto and the stand-in; what was seeded, for the story's first result."""
    _pipelines(box, week.runs)
    token_arn = token_secret(box)
    with fake.lock:
        fake.pipeline_history.update(pipeline_history(week))
        for plan in week.ops_items:
            fake.ops_items[plan.id] = ops_item(plan, resolved=False)
    return {"token_arn": token_arn}


def token_secret(box) -> str:
    """The GitHub token's secret (the template's DoraGitHubTokenSecret) with the sample token; its ARN."""
    from botocore.exceptions import ClientError

    secrets = session().client("secretsmanager", endpoint_url=box.url)
    try:
        secrets.create_secret(Name=TOKEN_SECRET, SecretString=SAMPLE_TOKEN)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        secrets.put_secret_value(SecretId=TOKEN_SECRET, SecretString=SAMPLE_TOKEN)
    return secrets.describe_secret(SecretId=TOKEN_SECRET)["ARN"]


def seed(box) -> None:
    """What the sample events in events/dora-*.json refer to: their pipelines in moto, their
    executions and OpsItem in the stand-in, the GitHub token's secret, and a GitHub stand-in
    holding their commits (the deployment's DoraGitHubApiUrl; stopped with the sandbox)."""
    from .dora_week import sample_event_history, sample_event_repositories

    history, items = sample_event_history()
    _pipelines(box, history)
    with box.fake.lock:
        box.fake.pipeline_history.update(history)
        box.fake.ops_items.update(items)
    box.resources["DoraGitHubTokenSecret"] = token_secret(box)
    github = GitHubStandIn(SAMPLE_TOKEN)
    github.start()
    box.closers.append(github.stop)
    for name, commits in sample_event_repositories().items():
        github.add_repository(name, commits)
    box.parameters["DoraGitHubApiUrl"] = github.url


def _pipelines(box, names) -> None:
    from botocore.exceptions import ClientError

    s = session()
    iam = s.client("iam", endpoint_url=box.url)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    try:
        iam.create_role(RoleName="tollgate-sandbox-codepipeline", AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    s3 = s.client("s3", endpoint_url=box.url)
    if "tollgate-sandbox-pipeline-artifacts" not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket="tollgate-sandbox-pipeline-artifacts")
    codepipeline = s.client("codepipeline", endpoint_url=box.url)
    known = {p["name"] for p in codepipeline.list_pipelines().get("pipelines", [])}
    for name in names:
        if name not in known:
            codepipeline.create_pipeline(pipeline=pipeline_declaration(name))


def cli_env(box, github_url: str, token_arn: str) -> dict[str, str]:
    """The environment an operator gives `tollgate` against this sandbox."""
    return {**clean_environ(), **CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": box.url, "TABLE_NAME": box.table,
            "GITHUB_API_URL": github_url, "GITHUB_TOKEN_SECRET_ARN": token_arn, "METRICS_NAMESPACE": NAMESPACE,
            "TOLLGATE_MAX_ATTEMPTS": "1", "NO_COLOR": "1"}


def function_env(box, function: str, github_url: str, token_arn: str) -> tuple[dict[str, str], str]:
    """A calculator's environment: template.yaml's (as Lambda gives it), pointed at the stand-ins;
    the second value says where it came from."""
    from ..template import functions as template_functions

    overrides = {"GITHUB_API_URL": github_url, "GITHUB_TOKEN_SECRET_ARN": token_arn}
    if function in template_functions():
        env = box.lambda_env(function)
        if "GITHUB_API_URL" in env:
            env.update(overrides)
        return env, "template.yaml"
    env = {**CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": box.url,
           "TABLE_NAME": box.table, "METRICS_NAMESPACE": NAMESPACE, "AWS_LAMBDA_FUNCTION_NAME": f"tollgate-{function}",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_FORMAT": "JSON",
           **(overrides if function == "dora-lead-time" else {})}
    return env, "a stand-in environment (template.yaml does not declare it yet)"


def run_cli(env: dict, *args: str, label: str) -> tuple[int, str, str]:
    binary = target_dir() / "debug" / "tollgate"
    proc = subprocess.run([str(binary), *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600)
    log = log_dir() / f"dora-cli-{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ tollgate {' '.join(args)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.returncode, proc.stdout, proc.stderr


def opsitem_event(sample_name: str, plan, resolved: bool) -> dict:
    """events/<sample_name> (an OpsItem Create or Update as EventBridge delivers it) for an OpsItem of the week."""
    event = copy.deepcopy(sample(sample_name))
    when = plan.resolved if resolved else plan.created
    event["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{plan.id}/{'resolved' if resolved else 'created'}"))
    event["account"] = ACCOUNT
    event["time"] = _iso(when)
    event["resources"] = [f"arn:aws:ssm:{REGION}:{ACCOUNT}:opsitem/{plan.id}"]
    detail = event["detail"]
    detail.update({"ops-item-id": plan.id, "title": plan.title, "status": "Resolved" if resolved else "Open",
                   "created-time": _iso(plan.created), "created-by": f"arn:aws:iam::{ACCOUNT}:user/oncall"})
    if resolved:
        detail.update({"modified-time": _iso(plan.resolved), "modified-by": f"arn:aws:iam::{ACCOUNT}:user/oncall"})
    return event


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(seconds) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 3600:.2f} h"


class Metrics:
    """moto's CloudWatch, as the checks read it."""

    def __init__(self, box, start: int, end: int) -> None:
        self.cw = session().client("cloudwatch", endpoint_url=box.url)
        self.start, self.end = start, end

    def listed(self) -> set[tuple[str, str]]:
        """(metric, pipeline or "") of every metric in the namespace."""
        found = set()
        for page in self.cw.get_paginator("list_metrics").paginate(Namespace=NAMESPACE):
            for m in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
                found.add((m["MetricName"], dims.get("Pipeline", "")))
        return found

    def values(self, metric: str, pipeline: str | None, stat: str, period: int | None = None) -> list[float]:
        """The stat per period over the week (one period: the whole week), oldest first."""
        period = period or -(-(self.end - self.start) // 60) * 60  # CloudWatch periods are multiples of 60 s
        dims = [{"Name": "Pipeline", "Value": pipeline}] if pipeline else []
        out = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                                                           "Period": period, "Stat": stat}, "ReturnData": True}],
            StartTime=datetime.fromtimestamp(self.start, timezone.utc), EndTime=datetime.fromtimestamp(self.end, timezone.utc),
            ScanBy="TimestampAscending")
        result = out["MetricDataResults"][0]
        return [v for _, v in sorted(zip(result.get("Timestamps", []), result.get("Values", [])))]

    def total(self, metric: str, pipeline: str | None, stat: str = "Sum") -> float:
        return sum(self.values(metric, pipeline, stat))


def play(play: Play) -> Iterator[Result]:
    box, fake = play.box, play.box.fake
    now = time.time()
    week = sample_week(week_start(now))
    want = expected(week)

    missing = [name for name in RUNS if not (target_dir() / "debug" / name).exists()]
    if missing:
        yield play.result("the tollgate CLI and the four DORA calculators are built", "not built",
                          f"missing in target/debug: {', '.join(missing)}", False,
                          "cargo build -p tollgate-cli -p dora --bins has built them (scripts/run.sh does)", checks="target/debug")
        return

    with GitHubStandIn(SAMPLE_TOKEN) as github:
        # ---------------------------------------------------------------- 1. the week
        seeded = seed_week(box, week, fake)
        for name, commits in week.repositories.items():
            github.add_repository(name, commits)
        codepipeline = session().client("codepipeline", endpoint_url=box.url)
        listed = sorted(p["name"] for p in codepipeline.list_pipelines()["pipelines"] if p["name"] in week.runs)
        pages = list(codepipeline.get_paginator("list_pipeline_executions").paginate(
            pipelineName="orders-api-prod", PaginationConfig={"PageSize": 3}))
        executions = sum(len(r) for r in week.runs.values())
        yield play.result(
            "a week of pipeline history is seeded: 3 pipelines, 17 executions (14 production deployments, one a rollback), "
            "3 OpsItems, 2 GitHub repositories", "week seeded",
            f"moto's CodePipeline: {', '.join(listed)}; the stand-in: {executions} executions "
            f"(ListPipelineExecutions of orders-api-prod in {len(pages)} pages of 3: "
            f"{sum(len(p['pipelineExecutionSummaries']) for p in pages)}), OpsItems {', '.join(p.id for p in week.ops_items)} (open); "
            f"GitHub stand-in at {github.url}: " + ", ".join(f"{n} ({len(c)} commits)" for n, c in week.repositories.items())
            + f"; week from {_iso(week.base)} (day 0) to {_iso(week.at(6, '15:00'))}",
            listed == sorted(week.runs) and executions == 17 and len(pages) == 3
            and sum(len(p["pipelineExecutionSummaries"]) for p in pages) == 8,
            "the three pipelines in moto, their 17 executions served page by page", checks="moto and the stand-ins")

        env = cli_env(box, github.url, seeded["token_arn"])

        # ---------------------------------------------------------------- 2. backfill, twice
        github.requests.clear()
        status, out, err = run_cli(env, "dora", "backfill", "--days", "7", label="backfill")
        big_pages = [q for path, q, s in github.requests if path.endswith(f"...{week.runs['payments-release'][1].head.sha}")]
        play.sent.append("(command: tollgate dora backfill --days 7)")
        yield play.result(
            "tollgate dora backfill --days 7 replays the week through the calculators (GitHub's compare read page by page)",
            "backfill", f"exit {status}: {out.strip() or err.strip()[-600:]}; GitHub compare requests for B2's 130 commits: "
            + ", ".join(f"page {q.get('page')} (per_page {q.get('per_page')})" for q in big_pages),
            status == 0 and "3 production pipelines" in out and "15 succeeded executions" in out
            and "14 production deployments" in out and [q.get("page") for q in big_pages] == ["1", "2"],
            "exit 0; 3 pipelines, 15 succeeded executions (C2 on feature/dark-mode among them), 14 production deployments; "
            "B2's comparison read in pages 1 and 2")

        metrics = Metrics(box, week.base - HOUR, int(time.time()) + HOUR)
        before = {m: metrics.total(m, None, "SampleCount") for m in METRICS}
        status, out, err = run_cli(env, "dora", "backfill", "--days", "7", label="backfill-again")
        after = {m: metrics.total(m, None, "SampleCount") for m in METRICS}
        play.sent.append("(command: tollgate dora backfill --days 7, again)")
        yield play.result(
            "the same backfill again adds nothing", "duplicate delivery",
            f"exit {status}: {out.strip() or err.strip()[-300:]}; CloudWatch datapoints before "
            + ", ".join(f"{m} {before[m]:.0f}" for m in METRICS) + "; after: " + ", ".join(f"{m} {after[m]:.0f}" for m in METRICS),
            status == 0 and "0 new datapoints" in out and before == after,
            "exit 0, \"0 new datapoints\", and the same datapoint counts in CloudWatch")

        # ---------------------------------------------------------------- 3. the OpsItems
        deliveries = []
        for plan, resolved in sorted([(p, False) for p in week.ops_items] + [(p, True) for p in week.ops_items if p.resolved],
                                     key=lambda x: x[0].resolved if x[1] else x[0].created):
            if resolved:
                with fake.lock:
                    fake.ops_items[plan.id] = ops_item(plan, resolved=True)
            sample_name = "dora-time-to-restore.opsitem-resolved.json" if resolved else "dora-change-failure-rate.opsitem-create.json"
            event = opsitem_event(sample_name, plan, resolved)
            for function in ("dora-change-failure-rate", "dora-time-to-restore"):
                deliveries.append((plan.id, "Update (Resolved)" if resolved else "Create", function, event))
        # One delivery twice: EventBridge delivers at least once.
        deliveries.append((deliveries[0][0], deliveries[0][1] + ", again", deliveries[0][2], deliveries[0][3]))
        answers = []
        sources = set()
        for n, (item_id, kind, function, event) in enumerate(deliveries):
            fn_env, source = function_env(box, function, github.url, seeded["token_arn"])
            sources.add(source)
            log = log_dir() / f"dora-{n:02d}-{function}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            invocation = invoke_binary(target_dir() / "debug" / function, fn_env, json.dumps(event).encode(),
                                       f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tollgate-{function}", 30.0, log)
            answers.append((item_id, kind, function, invocation))
        play.sent.extend(["dora-change-failure-rate.opsitem-create.json (oi-1, oi-2, oi-3 created)",
                          "dora-time-to-restore.opsitem-resolved.json (oi-2, oi-1 resolved)"])
        failed_answers = [f"{i} {k} → {f}: {inv.kind} {json.dumps(inv.payload)[:200]}" for i, k, f, inv in answers if inv.kind != "response"]
        failed_now = metrics.total("FailedDeploymentCount", None, "SampleCount")
        restore_now = metrics.total("TimeToRestore", None, "SampleCount")
        yield play.result(
            "the OpsItems' events reach dora-change-failure-rate and dora-time-to-restore (each created, then resolved; one delivered twice)",
            "OpsItems recorded",
            f"{len(answers)} invocations ({'; '.join(sorted(sources))}): "
            + (f"{len(failed_answers)} failed: {' | '.join(failed_answers)}" if failed_answers else "every one answered")
            + f"; CloudWatch now holds {failed_now:.0f} FailedDeploymentCount datapoints (2 per failure: per pipeline and all) "
            f"and {restore_now:.0f} TimeToRestore",
            not failed_answers and failed_now == 2 * (want["(all pipelines)"]["failed"]) and restore_now == 2 * want["(all pipelines)"]["restored"],
            f"every invocation answers; {2 * want['(all pipelines)']['failed']} FailedDeploymentCount datapoints "
            f"(A4 with two OpsItems counts once, A6 by the rollback, B5) and {2 * want['(all pipelines)']['restored']} TimeToRestore "
            "(oi-1, oi-2; oi-3 is open), the duplicate adding none")

        # ---------------------------------------------------------------- 4. the report
        status, table, err = run_cli(env, "dora", "report", "--days", "7", label="report")
        jstatus, raw, jerr = run_cli(env, "dora", "report", "--days", "7", "--json", label="report-json")
        try:
            report = json.loads(raw)
        except ValueError:
            report = {}
        rows = {r.get("pipeline"): r for r in report.get("pipelines", [])}
        if "all" in report:
            rows[report["all"].get("pipeline", "(all pipelines)")] = report["all"]
        play.sent.append("(command: tollgate dora report --days 7, and --json)")
        yield play.result(
            "tollgate dora report --days 7 prints the four keys per pipeline", "report",
            f"exit {status}:\n" + (table.rstrip() or err.strip()[-600:]),
            status == 0 and jstatus == 0 and all(name in table for name in week.runs),
            "exit 0, a row per pipeline (the figures are checked one pipeline at a time below)", checks="tollgate dora report")
        for name, w in want.items():
            row = rows.get(name, {})
            got = {
                "deployments": row.get("deployments"), "rollbacks": row.get("rollbacks"),
                "per day": row.get("deploymentsPerDay"), "changes": row.get("changes"),
                "lead median": row.get("leadTimeMedianSeconds"), "lead p90": row.get("leadTimeP90Seconds"),
                "failed": row.get("failedDeployments"), "CFR": row.get("changeFailureRate"),
                "incidents": row.get("incidents"), "restored": row.get("restoredIncidents"),
                "TTR median": row.get("timeToRestoreMedianSeconds"), "open": row.get("openIncidents"),
                "rework": row.get("reworkDeployments"), "rework rate": row.get("reworkRate"),
            }
            should = {
                "deployments": w["deployments"], "rollbacks": w["rollbacks"], "per day": w["per_day"], "changes": w["changes"],
                "lead median": w["lead_median"], "lead p90": w["lead_p90"], "failed": w["failed"], "CFR": w["cfr"],
                "incidents": w["incidents"], "restored": w["restored"], "TTR median": w["ttr_median"], "open": w["open"],
                "rework": w["rework"], "rework rate": w["rework_rate"],
            }
            wrong = [k for k in should if not _same(got[k], should[k])]
            yield play.result(
                f"{name}: the report's figures are the ones worked out by hand from the week",
                "figures match" if not wrong else "figures differ",
                f"{w['deployments']} deployments ({w['rollbacks']} rollback), {w['per_day']:.2f}/day; "
                f"lead time over {w['changes']} commits: median {_hours(w['lead_median'])}, p90 {_hours(w['lead_p90'])}; "
                f"CFR {w['failed']}/{w['deployments']}; rework {w['rework']}/{w['deployments']}; TTR median {_hours(w['ttr_median'])} over {w['restored']} restored, {w['open']} open"
                + ("" if not wrong else "; REPORT SAYS " + ", ".join(f"{k} {got[k]!r} (expected {should[k]!r})" for k in wrong)),
                bool(row) and not wrong,
                "every figure equal to the hand-worked one", checks="tollgate dora report --days 7 --json")

        # ---------------------------------------------------------------- 5. CloudWatch
        listed_metrics = metrics.listed()
        needed = {(m, p) for m in ("DeploymentCount", "LeadTimeForChanges") for p in ("", *week.runs)}
        needed |= {("FailedDeploymentCount", p) for p in ("", "orders-api-prod", "payments-release")}
        needed |= {("TimeToRestore", p) for p in ("", "orders-api-prod")}
        # moto answers a query without dimensions with every series of the metric (CloudWatch: only
        # the series without dimensions), so the all-pipelines series is that less the per-pipeline ones.
        stats = (("DeploymentCount", "Sum", "deployments"), ("LeadTimeForChanges", "SampleCount", "changes"),
                 ("FailedDeploymentCount", "Sum", "failed"), ("TimeToRestore", "SampleCount", "restored"))
        checks = {}
        for name, w in want.items():
            if name.startswith("("):
                continue
            checks[name] = tuple(x for metric, stat, key in stats for x in (metrics.total(metric, name, stat), w[key]))
        every = want["(all pipelines)"]
        checks["(all pipelines)"] = tuple(
            x for i, (metric, stat, key) in enumerate(stats)
            for x in (metrics.total(metric, None, stat) - sum(c[2 * i] for c in checks.values()), every[key]))
        per_day = Metrics(box, week.base, week.base + 7 * DAY)
        orders_days = per_day.values("DeploymentCount", "orders-api-prod", "Sum", DAY)
        want_days = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]  # A1..A5 one a day, A6 and A7 on day 5, none on day 6
        wrong = [name for name, c in checks.items() if c[0::2] != c[1::2]]
        yield play.result(
            "moto's CloudWatch holds the datapoints: per pipeline and all pipelines, at the deployments' own times",
            "datapoints", "namespace DORA lists " + ", ".join(sorted(f"{m}/{p or '*'}" for m, p in listed_metrics)) + "; "
            + "; ".join(f"{n}: DeploymentCount {c[0]:.0f}, LeadTimeForChanges {c[2]:.0f} samples, FailedDeploymentCount {c[4]:.0f}, "
                        f"TimeToRestore {c[6]:.0f}" for n, c in checks.items())
            + f"; orders-api-prod's DeploymentCount per day of the week: {', '.join(f'{v:.0f}' for v in orders_days)}",
            needed <= listed_metrics and not wrong and orders_days == want_days,
            "each of the four metrics with dimension Pipeline and without; sums equal to the report's counts; "
            "orders-api-prod's deployments per day 1, 1, 1, 1, 1, 2 (the event times, not the backfill's)",
            checks="GetMetricData and ListMetrics on moto's CloudWatch")

        # ---------------------------------------------------------------- the token stays out of every log
        logs = "".join(p.read_text(errors="replace") for p in log_dir().glob("dora-*.log"))
        yield play.result(
            "the GitHub token never reaches a log or the CLI's output", "log check",
            f"{logs.count(chr(10))} lines of CLI output and calculator logs; "
            + ("LEAKED the token" if SAMPLE_TOKEN in logs else "no token in them"),
            SAMPLE_TOKEN not in logs, "no token", checks=f"{relative(log_dir())}/dora-*.log")


def _same(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        return abs(float(got) - float(want)) < 1e-6
    return got == want



def bench(box, profile: str = "release") -> list[tuple]:
    """For scripts/bench.py: (name, binary, environment, event factory, event label) of the four
    calculators, each event doing a calculator's real work on this sandbox (the week seeded, a
    GitHub stand-in stopped with the sandbox): a new SUCCEEDED execution of orders-api-prod per
    run (GetPipeline, GetPipelineExecution, ListActionExecutions, the ledger, PutMetricData; for
    lead time also a GitHub compare of one new commit), a new OpsItem per run (GetOpsItem, the
    ledger, PutMetricData)."""
    import itertools

    from ..github import Commit
    from .dora_week import Run, execution_record, sha

    now = int(time.time())
    week = sample_week(week_start(now))
    github = GitHubStandIn(SAMPLE_TOKEN)
    github.start()
    box.closers.append(github.stop)
    for name, commits in week.repositories.items():
        github.add_repository(name, commits)
    seeded = seed_week(box, week, box.fake)
    counter = itertools.count(1)
    repo = github.repositories["octo-org/orders-api"]

    def execution() -> dict:
        i = next(counter)
        commit = Commit(sha(f"orders-api/bench-{i}"), now - 1800 + i, f"bench change {i}")
        with github.lock:
            repo.append(commit)
        run = Run(f"bench-{i}-{now}", "orders-api-prod", now - 900 + i, commit)
        with box.fake.lock:
            box.fake.pipeline_history["orders-api-prod"].append(execution_record(run))
        event = copy.deepcopy(sample("dora-lead-time.execution-succeeded.json"))
        event.update({"id": str(uuid.uuid4()), "account": ACCOUNT, "time": _iso(run.time),
                      "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:orders-api-prod"]})
        event["detail"].update({"pipeline": "orders-api-prod", "execution-id": run.id})
        return event

    def ops_item_event(resolved: bool) -> dict:
        i = next(counter)
        plan = copy.deepcopy(week.ops_items[1])  # linked through tollgate:pipeline to orders-api-prod
        plan.id = f"oi-{i:012x}"
        plan.created, plan.resolved = now - 600 + i, now - 300 + i
        with box.fake.lock:
            box.fake.ops_items[plan.id] = ops_item(plan, resolved=resolved)
        name = "dora-time-to-restore.opsitem-resolved.json" if resolved else "dora-change-failure-rate.opsitem-create.json"
        return opsitem_event(name, plan, resolved)

    events = {
        "dora-deployment-frequency": (execution, "dora-lead-time.execution-succeeded.json, a new execution each run"),
        "dora-lead-time": (execution, "dora-lead-time.execution-succeeded.json, a new execution and commit each run"),
        "dora-change-failure-rate": (lambda: ops_item_event(False), "dora-change-failure-rate.opsitem-create.json, a new OpsItem each run"),
        "dora-time-to-restore": (lambda: ops_item_event(True), "dora-time-to-restore.opsitem-resolved.json, a new OpsItem each run"),
    }
    rows = []
    for function in CALCULATORS:
        env, _ = function_env(box, function, github.url, seeded["token_arn"])
        for lambda_only in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_LEVEL"):
            env.pop(lambda_only, None)  # bench.py sets what Lambda sets
        factory, label = events[function]
        rows.append((function, target_dir() / profile / function, env, factory, label))
    return rows


def _seed_ledger(box, pipeline: str, prior: int, until: int, commit: str) -> None:
    """`prior` deployments of `pipeline`, a minute apart and ending at `until`, written straight into
    the ledger as the calculators write them (by time, by execution id, and lead times), 25 items to
    a BatchWriteItem. Every one deployed `commit`."""
    from .dora_week import REPOSITORY

    retention = 400 * DAY
    items = []
    for i in range(prior):
        t = until - (prior - 1 - i) * 60
        execution = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate-bench-history/{pipeline}/{i}"))
        deployment = json.dumps({"pipeline": pipeline, "executionId": execution, "time": t, "commit": commit,
                                 "repository": REPOSITORY[pipeline], "branch": "main", "commitMessage": f"change {i}",
                                 "triggerType": "WebhookV2"})
        lead = json.dumps({"pipeline": pipeline, "executionId": execution, "time": t, "seconds": [1800],
                           "baseCommit": commit})
        for pk, sk, data in ((f"DORA#DEPLOY#{pipeline}", f"{t:012}#{execution}", deployment),
                             (f"DORA#EXEC#{pipeline}", execution, deployment),
                             (f"DORA#LEAD#{pipeline}", f"{t:012}#{execution}", lead)):
            items.append({"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, "data": {"S": data},
                                                  "expires_at": {"N": str(t + retention)}}}})
    for start in range(0, len(items), 25):
        pending = {box.table: items[start:start + 25]}
        while pending:
            pending = box.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def bench_history(box, profile: str = "release", events: int = 20) -> list[dict]:
    """For scripts/bench.py's history row: one warm dora-lead-time (one process, as a warm Lambda
    instance) handles `events` new deployments of each of three pipelines whose ledgers already
    hold 10, 1,000 and 10,000 deployments (seeded straight into the sandbox's DynamoDB). The
    pipelines take turns, in a new order each round, so that the machine's load falls on all three
    alike; all three are in one table, so that moto's per-table costs (it copies the whole table
    for each TransactWriteItems) fall on them alike too. Per event: the time from handing it out
    to the answer, the items DynamoDB read (what it bills reads by: Query's ScannedCount,
    GetItem's item) and the read requests, from the front's DynamoDbMeter, the time moto took to
    answer them, and the CPU time the calculator's process spent (its threads' schedstat). One
    dict per history size."""
    import gc
    import random
    import statistics

    from ..front import DynamoDbMeter
    from ..github import Commit
    from ..runtime import Function
    from .dora_week import HISTORY_REPOSITORY, HISTORY_SIZES, Run, execution_record, sha

    function = "dora-lead-time"
    now = int(time.time())
    github = GitHubStandIn(SAMPLE_TOKEN)
    github.start()
    box.closers.append(github.stop)
    root = Commit(sha("orders-history/root"), now - 30 * DAY, "Initial import")
    github.add_repository(HISTORY_REPOSITORY, [root])
    pipelines = {prior: f"orders-history-{prior}" for prior in HISTORY_SIZES}
    _pipelines(box, pipelines.values())
    history_end = now - 2 * HOUR
    for prior, pipeline in pipelines.items():
        with box.fake.lock:
            box.fake.pipeline_history[pipeline] = []
        _seed_ledger(box, pipeline, prior, history_end, root.sha)
    token_arn = token_secret(box)
    env, _ = function_env(box, function, github.url, token_arn)
    env["PATH"] = clean_environ().get("PATH", "/usr/bin:/bin")
    counter = iter(range(1, 1_000_000))

    def event(pipeline: str) -> dict:
        i = next(counter)
        commit = Commit(sha(f"orders-history/{pipeline}/{i}"), history_end + i * 10 - 300, f"history change {i}")
        with github.lock:
            github.repositories[HISTORY_REPOSITORY].append(commit)
        run = Run(f"history-{pipeline}-{i}-{now}", pipeline, history_end + i * 10, commit)
        with box.fake.lock:
            box.fake.pipeline_history[pipeline].append(execution_record(run))
        sample_event = copy.deepcopy(sample("dora-lead-time.execution-succeeded.json"))
        sample_event.update({"id": str(uuid.uuid4()), "account": ACCOUNT, "time": _iso(run.time),
                             "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{pipeline}"]})
        sample_event["detail"].update({"pipeline": pipeline, "execution-id": run.id})
        return sample_event

    meter = DynamoDbMeter()
    box.front.dynamodb_meter = meter
    binary = target_dir() / profile / function
    warm = Function(binary, env, 1, log_dir() / f"bench-history-{function}.log",
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}", 30.0)
    measured: dict[int, list[tuple[float, dict, float]]] = {prior: [] for prior in HISTORY_SIZES}

    def cpu_ms() -> float:
        """The warm process's CPU time so far, all its threads (schedstat: nanoseconds on a CPU)."""
        total = 0
        for task in Path(f"/proc/{warm.procs[0].pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that ended between the listing and the read
        return total / 1e6

    try:
        for prior, pipeline in pipelines.items():  # the first event of each: start-up, token, connections
            kind, answer = warm.invoke(event(pipeline))
            if kind != "response":
                raise RuntimeError(f"{function} did not answer ({kind}): {str(answer)[:300]}")
        order = list(pipelines.items())
        shuffle = random.Random(17).shuffle  # the same order every run, different in each round
        for _ in range(events):
            shuffle(order)
            for prior, pipeline in order:
                payload = event(pipeline)
                gc.collect()  # moto's garbage (it copies the table per transaction) is not the next event's
                meter.take()
                cpu = cpu_ms()
                started = time.perf_counter()
                kind, answer = warm.invoke(payload)
                took = (time.perf_counter() - started) * 1000
                if kind != "response":
                    raise RuntimeError(f"{function} did not answer ({kind}): {str(answer)[:300]}")
                measured[prior].append((took, meter.take(), cpu_ms() - cpu))
    finally:
        box.front.dynamodb_meter = None
        warm.close()
    rows = []
    for prior, runs in measured.items():
        times = [t for t, _, _ in runs]
        rows.append({
            "function": function, "prior": prior, "events": len(runs),
            "median_ms": statistics.median(times), "max_ms": max(times),
            "items_read": statistics.mean(r["items_read"] for _, r, _ in runs),
            "items_read_max": max(r["items_read"] for _, r, _ in runs),
            "read_requests": statistics.mean(r["read_requests"] for _, r, _ in runs),
            "dynamodb_ms": statistics.median(r["seconds"] * 1000 for _, r, _ in runs),
            "outside_ms": statistics.median(t - r["seconds"] * 1000 for t, r, _ in runs),
            "cpu_ms": statistics.median(c for _, _, c in runs),
        })
    return rows
