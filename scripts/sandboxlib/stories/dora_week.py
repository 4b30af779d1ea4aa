"""A sample week of pipeline history for the DORA story: three pipelines, their commits, their
executions as CodePipeline reports them, and three OpsItems. Standard library only.

Times are relative to the week's start `base` (about seven days before the story runs, so that
`tollgate dora backfill --days 7` and `report --days 7` see all of it): `at(day, "HH:MM")`.

  orders-api-prod   GitHub octo-org/orders-api, stages Source, Build, Deploy
    A1 d0 10:00  c1 c2 (first deployment: its trigger commit c2 alone has a lead time)
    A2 d1 11:00  c3 c4 c5
    A3 d2 15:00  c6
    -- d3 10:30  c7, Failed in Build (not a deployment)
    A4 d3 14:00  c7 c8            <- OpsItems oi-1 (d3 16:00) and oi-2 (d3 17:30): one failed deployment
    A5 d4 10:00  c9 "Fix checkout timeout under load (oi-1)"   restores oi-1; oi-2 resolved d3 19:00
    A6 d5 16:00  c10 c11
    A7 d5 18:00  AutomatedRollback to A5 (marks A6 failed; ships no change)
  payments-release  GitHub octo-org/payments, stages Source, Build, DeployDEV, DeployPROD
    B1 d0 13:00  p1 (first deployment)
    B2 d2 10:00  130 commits, one every 10 minutes up to 09:00 (two pages of GitHub's compare)
    -- d3 11:00  p132, Failed in DeployDEV (never reached DeployPROD)
    B4 d4 15:00  p132 p133
    B5 d6 09:00  p134             <- OpsItem oi-3 (d6 10:00), still open, names B5 itself
  web-frontend      CodeCommit web-frontend (GitHub does not know it: lead time falls back to
                    the trigger commit's CommitterDate), stages Source, Build, Deploy
    C1 d1 09:00  w1
    -- d3 12:00  w2 on feature/dark-mode, Succeeded (not the main branch: not a deployment)
    C3 d5 10:00  w3
    C4 d6 15:00  w4
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

from ..github import Commit

ACCOUNT = "123456789012"
REGION = "us-east-1"
DAY = 86_400
HOUR = 3_600
CONNECTION = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/5c7b7f0e-3b1a-4d52-9f0e-7f6a1c2d3e4f"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tollgate-sandbox-codepipeline"
ARTIFACTS = "tollgate-sandbox-pipeline-artifacts"
OI_1, OI_2, OI_3 = "oi-0c1d2e3f4a5b", "oi-6c7d8e9f0a1b", "oi-2b3c4d5e6f70"


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def execution_id(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate-sandbox-week/{label}"))


def iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Run:
    """One execution of the week."""
    label: str  # A1, B3...
    pipeline: str
    time: int  # when it ended (lastUpdateTime; for a multi-environment pipeline, DeployPROD's end)
    head: Commit
    status: str = "Succeeded"
    branch: str = "main"
    trigger: str = "WebhookV2"
    rollback_of: "Run | None" = None
    failed_stage: str | None = None
    fixed_id: str | None = None  # an execution id a sample event names

    @property
    def id(self) -> str:
        return self.fixed_id or execution_id(self.label)


@dataclass
class OpsItemPlan:
    id: str
    title: str
    pipeline: str
    created: int
    resolved: int | None
    data: dict  # OperationalData as GetOpsItem answers it


@dataclass
class Week:
    base: int
    repositories: dict[str, list[Commit]] = field(default_factory=dict)  # GitHub's (oldest first)
    codecommit: dict[str, list[Commit]] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)
    ops_items: list[OpsItemPlan] = field(default_factory=list)

    def at(self, day: int, hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return self.base + day * DAY + int(hours) * HOUR + int(minutes) * 60


# Stages per pipeline: (stage, action, category, provider).
GITHUB_SOURCE = ("Source", "Source", "Source", "CodeStarSourceConnection")
CODECOMMIT_SOURCE = ("Source", "Source", "Source", "CodeCommit")
BUILD = ("Build", "Build", "Build", "CodeBuild")
STAGES = {
    "orders-api-prod": [GITHUB_SOURCE, BUILD, ("Deploy", "Deploy", "Deploy", "CloudFormation")],
    "payments-release": [GITHUB_SOURCE, BUILD, ("DeployDEV", "Deploy", "Deploy", "CloudFormation"),
                         ("DeployPROD", "Deploy", "Deploy", "CloudFormation")],
    "web-frontend": [CODECOMMIT_SOURCE, BUILD, ("Deploy", "Deploy", "Deploy", "S3")],
}
REPOSITORY = {"orders-api-prod": "octo-org/orders-api", "payments-release": "octo-org/payments", "web-frontend": "web-frontend"}
# The pipelines the sample events in events/dora-*.json name.
STAGES["orders-service"] = STAGES["orders-api-prod"]
STAGES["payments-multi-env"] = STAGES["payments-release"]
REPOSITORY.update({"orders-service": "octo-org/orders-service", "payments-multi-env": "octo-org/payments"})
# The bench's history row (dora.bench_history): one pipeline per number of prior deployments.
HISTORY_SIZES = (10, 1_000, 10_000)
HISTORY_REPOSITORY = "octo-org/orders-history"
for _prior in HISTORY_SIZES:
    STAGES[f"orders-history-{_prior}"] = STAGES["orders-api-prod"]
    REPOSITORY[f"orders-history-{_prior}"] = HISTORY_REPOSITORY


def sample_week(base: int) -> Week:
    week = Week(base=base)
    at = week.at

    # ---- orders-api-prod
    def c(n: int, time: int, message: str) -> Commit:
        return Commit(sha(f"orders-api/{n}"), time, message)

    orders = [c(0, base - 2 * DAY, "Initial import"),
              c(1, at(0, "08:00"), "Add order export endpoint"), c(2, at(0, "09:10"), "Validate export date range"),
              c(3, at(0, "15:00"), "Paginate order list"), c(4, at(1, "08:00"), "Cache tax rates"),
              c(5, at(1, "09:30"), "Bump aws-sdk"), c(6, at(2, "13:00"), "Retry refund webhooks"),
              c(7, at(3, "10:00"), "Checkout: capture payments asynchronously"), c(8, at(3, "12:00"), "Fix flaky capture test"),
              c(9, at(4, "08:00"), f"Fix checkout timeout under load ({OI_1})"),
              c(10, at(5, "09:00"), "Order search by customer"), c(11, at(5, "14:00"), "Search index migration")]
    week.repositories["octo-org/orders-api"] = orders
    a5 = Run("A5", "orders-api-prod", at(4, "10:00"), orders[9])
    week.runs["orders-api-prod"] = [
        Run("A1", "orders-api-prod", at(0, "10:00"), orders[2]),
        Run("A2", "orders-api-prod", at(1, "11:00"), orders[5]),
        Run("A3", "orders-api-prod", at(2, "15:00"), orders[6]),
        Run("A-failed", "orders-api-prod", at(3, "10:30"), orders[7], status="Failed", failed_stage="Build"),
        Run("A4", "orders-api-prod", at(3, "14:00"), orders[8]),
        a5,
        Run("A6", "orders-api-prod", at(5, "16:00"), orders[11]),
        Run("A7", "orders-api-prod", at(5, "18:00"), orders[9], trigger="AutomatedRollback", rollback_of=a5),
    ]

    # ---- payments-release (multi-environment)
    def p(n: int, time: int, message: str) -> Commit:
        return Commit(sha(f"payments/{n}"), time, message)

    b2 = at(2, "10:00")
    big = [p(131 - k, b2 - HOUR - 600 * k, f"Ledger migration step {130 - k}") for k in range(129, -1, -1)]  # oldest first
    payments = [p(0, base - DAY, "Initial payments service"), p(1, at(0, "12:00"), "Card tokenization v2"), *big,
                p(132, at(3, "09:00"), "Retry settlement on timeout"), p(133, at(4, "13:00"), "Settlement retry backoff"),
                p(134, at(6, "07:00"), "Currency rounding fix")]
    week.repositories["octo-org/payments"] = payments
    week.runs["payments-release"] = [
        Run("B1", "payments-release", at(0, "13:00"), payments[1]),
        Run("B2", "payments-release", b2, payments[131]),
        Run("B-failed", "payments-release", at(3, "11:00"), payments[132], status="Failed", failed_stage="DeployDEV"),
        Run("B4", "payments-release", at(4, "15:00"), payments[133]),
        Run("B5", "payments-release", at(6, "09:00"), payments[134]),
    ]

    # ---- web-frontend (CodeCommit)
    def w(n: int, time: int, message: str) -> Commit:
        return Commit(sha(f"web-frontend/{n}"), time, message, author="dev")

    web = [w(1, at(0, "17:00"), "Dark header"), w(2, at(3, "10:00"), "Dark mode toggle"),
           w(3, at(5, "08:30"), "Accessible focus rings"), w(4, at(6, "14:00"), "Lazy-load hero image")]
    week.codecommit["web-frontend"] = web
    week.runs["web-frontend"] = [
        Run("C1", "web-frontend", at(1, "09:00"), web[0], trigger="CloudWatchEvent"),
        Run("C2", "web-frontend", at(3, "12:00"), web[1], trigger="CloudWatchEvent", branch="feature/dark-mode"),
        Run("C3", "web-frontend", at(5, "10:00"), web[2], trigger="CloudWatchEvent"),
        Run("C4", "web-frontend", at(6, "15:00"), web[3], trigger="CloudWatchEvent"),
    ]

    # ---- OpsItems
    orders_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:orders-api-prod"
    b5 = week.runs["payments-release"][-1]
    week.ops_items = [
        OpsItemPlan(OI_1, "orders-api: checkout p99 above 3 s", "orders-api-prod", at(3, "16:00"), at(4, "11:00"),
                    {"/aws/resources": {"Type": "SearchableString", "Value": json.dumps([{"arn": orders_arn}])}}),
        OpsItemPlan(OI_2, "orders-api: capture webhooks failing", "orders-api-prod", at(3, "17:30"), at(3, "19:00"),
                    {"tollgate:pipeline": {"Type": "SearchableString", "Value": "orders-api-prod"}}),
        OpsItemPlan(OI_3, "payments: settlement totals off by a cent", "payments-release", at(6, "10:00"), None,
                    {"tollgate:pipeline": {"Type": "SearchableString", "Value": "payments-release"},
                     "tollgate:execution-id": {"Type": "String", "Value": b5.id}}),
    ]
    return week


# ----------------------------------------------------------------------------- AWS shapes
def pipeline_declaration(name: str) -> dict:
    """CreatePipeline's `pipeline` for moto."""
    stages = []
    for stage, action, category, provider in STAGES[name]:
        if provider == "CodeStarSourceConnection":
            config = {"ConnectionArn": CONNECTION, "FullRepositoryId": REPOSITORY[name], "BranchName": "main"}
        elif provider == "CodeCommit":
            config = {"RepositoryName": REPOSITORY[name], "BranchName": "main", "PollForSourceChanges": "false"}
        elif provider == "CodeBuild":
            config = {"ProjectName": f"{name}-build"}
        elif provider == "S3":
            config = {"BucketName": f"{name}-site", "Extract": "true"}
        else:
            config = {"ActionMode": "CREATE_UPDATE", "StackName": f"{name}-{stage.lower()}", "RoleArn": ROLE}
        stages.append({"name": stage, "actions": [{
            "name": action, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
            "configuration": config, "runOrder": 1,
            **({"outputArtifacts": [{"name": "SourceArtifact"}], "namespace": "SourceVariables"} if category == "Source" else
               {"inputArtifacts": [{"name": "SourceArtifact" if category == "Build" else "BuildArtifact"}]}),
            **({"outputArtifacts": [{"name": "BuildArtifact"}]} if category == "Build" else {}),
        }]})
    return {"name": name, "roleArn": ROLE, "artifactStore": {"type": "S3", "location": ARTIFACTS},
            "stages": stages, "version": 1, "pipelineType": "V2", "executionMode": "SUPERSEDED"}


def _revision(run: Run, provider: str) -> dict:
    head = run.head
    if provider == "CodeCommit":
        return {"name": "SourceArtifact", "revisionId": head.sha, "revisionSummary": head.message,
                "revisionUrl": f"https://{REGION}.console.aws.amazon.com/codecommit/home#/repository/{REPOSITORY[run.pipeline]}/commit/{head.sha}",
                "created": head.time}
    repo = REPOSITORY[run.pipeline]
    return {"name": "SourceArtifact", "revisionId": head.sha,
            "revisionSummary": json.dumps({"ProviderType": "GitHub", "CommitMessage": head.message}),
            "revisionUrl": (f"https://{REGION}.console.aws.amazon.com/codesuite/settings/connections/redirect?"
                            f"connectionArn={CONNECTION}&referenceType=COMMIT&FullRepositoryId={repo}&Commit={head.sha}"),
            "created": head.time}


def execution_record(run: Run) -> dict:
    """One execution as sandboxlib.history serves it."""
    stages = STAGES[run.pipeline]
    source_provider = stages[0][3]
    source_run = run.rollback_of or run
    revision = _revision(source_run, source_provider)
    started = run.time - 20 * 60
    actions = []
    clock = started
    for stage, action, category, provider in stages:
        if run.rollback_of is not None and stage != stages[-1][0]:
            continue  # a rollback redeploys the target stage with the earlier execution's artifacts
        status = "Succeeded"
        if run.failed_stage == stage:
            status = "Failed"
        ended = clock + 4 * 60 if stage != stages[-1][0] or run.status != "Succeeded" else run.time
        detail = {
            "pipelineExecutionId": run.id,
            "actionExecutionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.id}/{stage}/{action}")),
            "pipelineVersion": 1, "stageName": stage, "actionName": action,
            "startTime": clock, "lastUpdateTime": ended, "status": status,
            "input": {"actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
                      "configuration": {}, "resolvedConfiguration": {}, "region": REGION,
                      "inputArtifacts": [] if category == "Source" else [{"name": "SourceArtifact"}]},
            "output": {"outputArtifacts": [], "executionResult": {"externalExecutionId": run.id[:8],
                                                                    "externalExecutionSummary": status}},
        }
        if category == "Source":
            head = run.head
            detail["input"]["namespace"] = "SourceVariables"
            detail["output"]["outputArtifacts"] = [{"name": "SourceArtifact", "s3location": {"bucket": ARTIFACTS, "key": f"{run.pipeline}/SourceArti/{head.sha[:7]}"}}]
            variables = {"BranchName": run.branch, "CommitId": head.sha, "CommitMessage": head.message, "AuthorDate": iso(head.time)}
            if provider == "CodeCommit":
                variables.update({"RepositoryName": REPOSITORY[run.pipeline], "CommitterDate": iso(head.time)})
            else:
                variables.update({"FullRepositoryName": REPOSITORY[run.pipeline], "ConnectionArn": CONNECTION})
            detail["output"]["outputVariables"] = variables
        actions.append(detail)
        clock = ended
        if status == "Failed":
            break
    record = {
        "pipelineExecutionId": run.id, "pipelineVersion": 1, "status": run.status,
        "statusSummary": f"{run.failed_stage} failed" if run.failed_stage else "",
        "startTime": started, "lastUpdateTime": run.time,
        "trigger": {"triggerType": run.trigger,
                    "triggerDetail": (json.dumps({"rollbackTargetPipelineExecution": run.rollback_of.id}) if run.rollback_of
                                      else CONNECTION if run.trigger == "WebhookV2"
                                      else f"arn:aws:events:{REGION}:{ACCOUNT}:rule/codepipeline-webfro-main")},
        "executionMode": "SUPERSEDED",
        "executionType": "ROLLBACK" if run.rollback_of else "STANDARD",
        "artifactRevisions": [revision],
        "variables": [],
        "actions": actions,
    }
    if not record["statusSummary"]:
        del record["statusSummary"]
    if run.rollback_of:
        record["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": run.rollback_of.id}
    return record


def pipeline_history(week: Week) -> dict[str, list[dict]]:
    return {name: [execution_record(r) for r in runs] for name, runs in week.runs.items()}


def ops_item(plan: OpsItemPlan, resolved: bool) -> dict:
    """GetOpsItem's OpsItem, open or resolved."""
    modified = plan.resolved if resolved and plan.resolved else plan.created
    return {
        "CreatedBy": f"arn:aws:iam::{ACCOUNT}:user/oncall", "OpsItemType": "/aws/issue",
        "CreatedTime": plan.created, "Description": f"{plan.title} (sandbox sample week)",
        "LastModifiedBy": f"arn:aws:iam::{ACCOUNT}:user/oncall", "LastModifiedTime": modified,
        "Notifications": [], "Priority": 2, "RelatedOpsItems": [],
        "Status": "Resolved" if resolved else "Open", "OpsItemId": plan.id, "Version": "2" if resolved else "1",
        "Title": plan.title, "Source": "CloudWatch", "OperationalData": plan.data, "Severity": "2",
        "OpsItemArn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:opsitem/{plan.id}",
    }


# ----------------------------------------------------------------------------- what the report must say
def median(values: list[float]) -> float | None:
    v = sorted(values)
    n = len(v)
    if not n:
        return None
    return float(v[n // 2]) if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def nearest_rank(values: list[float], percent: int) -> float | None:
    v = sorted(values)
    if not v:
        return None
    rank = max(1, -(-percent * len(v) // 100))
    return v[rank - 1]


def expected(week: Week) -> dict[str, dict]:
    """The five metrics per pipeline and for all, from the definitions (docs/dora.md), by hand: the
    lead times below are listed commit by commit from the week above, not read from any code."""
    at = week.at
    h = HOUR
    payments_b2 = [HOUR + 600 * k + 0 for k in range(130)]  # 130 commits, 1 h to 22.5 h before B2
    figures = {
        "orders-api-prod": {
            "deployments": 7, "rollbacks": 1,
            # A1: c2 (first deployment: its trigger commit alone); A2: c3 c4 c5; A3: c6; A4: c7 c8;
            # A5: c9; A6: c10 c11; A7 is a rollback: no lead time.
            "lead_times": [50 * 60, 20 * h, 3 * h, 1.5 * h, 2 * h, 4 * h, 2 * h, 2 * h, 7 * h, 2 * h],
            # A4 (oi-1 and oi-2: one failed deployment), A6 (rolled back by A7)
            "failed": 2,
            # oi-1: created d3 16:00, A5 (d4 10:00) names it before it is resolved (d4 11:00): 18 h;
            # oi-2: created d3 17:30, resolved d3 19:00: 1.5 h
            "restore_times": [at(4, "10:00") - at(3, "16:00"), at(3, "19:00") - at(3, "17:30")],
            "incidents": 2, "open": 0,
            # Rework (docs/dora.md): A5 (names oi-1, and oi-1 is open when it deploys) and A7 (a
            # rollback). A4 deployed before either OpsItem; A6 after both were restored.
            "rework": 2,
        },
        "payments-release": {
            "deployments": 4, "rollbacks": 0,
            # B1: p1 alone (1 h); B2: the 130 commits; B4: p132 (30 h) and p133 (2 h); B5: p134 (2 h)
            "lead_times": [1 * h, *payments_b2, 30 * h, 2 * h, 2 * h],
            "failed": 1,  # B5 (oi-3 names it)
            "restore_times": [], "incidents": 1, "open": 1,
            "rework": 0,  # B5 deployed an hour before oi-3 was created, and names no OpsItem
        },
        "web-frontend": {
            "deployments": 3, "rollbacks": 0,  # C1, C3, C4 (C2 was on feature/dark-mode)
            # GitHub does not know the CodeCommit repository: each deployment's trigger commit alone
            "lead_times": [16 * h, 1.5 * h, 1 * h],
            "failed": 0, "restore_times": [], "incidents": 0, "open": 0, "rework": 0,
        },
    }
    every = {"deployments": 0, "rollbacks": 0, "lead_times": [], "failed": 0, "restore_times": [], "incidents": 0, "open": 0,
             "rework": 0}
    for f in figures.values():
        for key in every:
            every[key] = every[key] + f[key]
    figures["(all pipelines)"] = every
    for f in figures.values():
        f["per_day"] = f["deployments"] / 7
        f["changes"] = len(f["lead_times"])
        f["lead_median"] = median(f["lead_times"])
        f["lead_p90"] = nearest_rank(f["lead_times"], 90)
        f["cfr"] = f["failed"] / f["deployments"] if f["deployments"] else None
        f["rework_rate"] = f["rework"] / f["deployments"] if f["deployments"] else None
        f["restored"] = len(f["restore_times"])
        f["ttr_median"] = median(f["restore_times"])
    return figures


def _sample_event_runs():
    """The executions and the OpsItem the sample events in events/dora-*.json name."""
    from datetime import datetime

    def t(text: str) -> int:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())

    def c(label: str, when: str, message: str) -> Commit:
        return Commit(sha(f"sample/{label}"), t(when), message)

    target = Run("sample-target", "orders-service", t("2026-11-19T16:00:00Z"), c("o1", "2026-11-19T15:10:00Z", "Add order export"),
                 fixed_id="5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a")
    runs = {
        "orders-service": [
            target,
            Run("sample-deploy", "orders-service", t("2026-11-20T10:00:00Z"), c("o2", "2026-11-20T09:20:00Z", "Capture payments asynchronously"),
                fixed_id="7e1c2a3b-4d5e-46f7-8a9b-0c1d2e3f4a5b"),
            Run("sample-rollback", "orders-service", t("2026-11-20T12:15:00Z"), target.head, trigger="AutomatedRollback",
                rollback_of=target, fixed_id="b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"),
        ],
        "payments-multi-env": [
            Run("sample-prod", "payments-multi-env", t("2026-11-20T11:30:00Z"), c("p1", "2026-11-20T10:45:00Z", "Settlement retry backoff"),
                fixed_id="9a8b7c6d-5e4f-4031-b2a1-0f9e8d7c6b5a"),
        ],
    }
    plan = OpsItemPlan("oi-1a2b3c4d5e6f", "orders-service: 5xx rate above 2% after deployment", "orders-service",
                       t("2026-11-20T10:42:10Z"), t("2026-11-20T11:58:03Z"),
                       {"/aws/resources": {"Type": "SearchableString",
                                           "Value": json.dumps([{"arn": f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:orders-service"}])}})
    return runs, plan


def sample_event_history() -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """What the sample events in events/dora-*.json refer to (scripts/invoke.sh, run.sh --serve):
    their executions (pipeline history) and their OpsItem, resolved."""
    runs, plan = _sample_event_runs()
    return ({name: [execution_record(r) for r in rs] for name, rs in runs.items()}, {plan.id: ops_item(plan, resolved=True)})


def sample_event_repositories() -> dict[str, list[Commit]]:
    """The GitHub repositories of the sample events' executions, with their commits (oldest first)."""
    runs, _ = _sample_event_runs()
    repositories: dict[str, list[Commit]] = {}
    for name, rs in runs.items():
        commits = repositories.setdefault(REPOSITORY[name], [])
        for run in rs:
            if run.head not in commits:
                commits.append(run.head)
    return {name: sorted(commits, key=lambda c: c.time) for name, commits in repositories.items()}
