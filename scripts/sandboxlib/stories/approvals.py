"""The approvals story: a release waits, the email and its link, a mail scanner, approve, a double
click, reject with a reason, a release too small to ask, the sample events, the logs; played with
the real approval-mailer and approval-api in the approvals world (approvals_world).

`scripts/run.sh --only approvals --serve` keeps the world up for a person (serve() below), and
`scripts/browser_test.sh` drives it in headless Chromium.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Iterator

from ..paths import ACCOUNT, REGION, relative, target_dir
from ..samples import sample
from ..story import Play, Result
from .approvals_world import (
    SAMPLE_APPROVER, SAMPLE_KEY, SENDER, Answer, Approvals, form_fields, hrefs, http, lambda_env, press,
    seed_sample_approval, sent_emails,
)

NAME = "approvals"
SUMMARY = ("email approvals: a release waits, the email and its link, a mail scanner, approve, a double click, "
           "reject with a reason, a release too small to ask, the sample events, the logs")
FUNCTIONS = ()  # none under cargo lambda watch: the world runs both binaries as Lambda would, behind a local HTTP API
RUNS = ("approval-mailer", "approval-api")
EXAMPLES = {"approval-mailer": "approval-mailer.step-functions.json", "approval-api": "approval-api.get.json"}
# The sandbox's deploy-time values (sam deploy --parameter-overrides): a sender SES has verified,
# and who may approve (qa.lead is in both groups: one person, one vote).
APPROVER_GROUPS = {"release": ["release.manager@example.com", "qa.lead@example.com"],
                   "security": ["security.lead@example.com", "qa.lead@example.com"]}
PARAMETERS = {"ApprovalSender": SENDER, "ApproverGroups": json.dumps(APPROVER_GROUPS)}
SIGNING_SECRET = "tollgate-approval-signing"
RESOURCES = {
    "ApprovalHttpApi": "local-approvals",
    "ApprovalSigningSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SIGNING_SECRET}",
    "ApprovalTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:tollgate-approvals",
}


def _session():
    import boto3

    return boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def seed(box) -> None:
    """What a deployment with approvals has, with the sample events' values: the sender verified in
    SES, the signing secret (the sample key, which signed events/approval-api.*.json) and the
    approval those events refer to."""
    from botocore.exceptions import ClientError

    session = _session()
    session.client("ses", endpoint_url=box.url).verify_email_identity(EmailAddress=SENDER)
    secrets = session.client("secretsmanager", endpoint_url=box.url)
    try:
        secrets.create_secret(Name=SIGNING_SECRET, SecretString=SAMPLE_KEY)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
    box.resources["ApprovalSigningSecret"] = secrets.describe_secret(SecretId=SIGNING_SECRET)["ARN"]
    seed_sample_approval(session.client("dynamodb", endpoint_url=box.url), box.table)
    # The pipeline of events/approval-mailer.codepipeline-sns.json waits for approval with the
    # sample's token (GetPipelineState, the front's stand-in): approval-mailer confirms it first.
    with box.fake.lock:
        box.fake.pipeline_states[SAMPLE_PIPELINE] = waiting_pipeline_state(SAMPLE_PIPELINE_TOKEN)


# The sample CodePipeline notification's pipeline and token.
SAMPLE_PIPELINE = "orders-api"
SAMPLE_PIPELINE_TOKEN = "1a2b3c4d-573f-4ea7-a67e-0123456789ab"
SAMPLE_PIPELINE_EXECUTION = "7c2f5c2a-1b7e-4d0a-9a51-0123456789ab"


def waiting_pipeline_state(token: str) -> list[dict]:
    """GetPipelineState's stageStates: Source succeeded, Approve / ReleaseManager waiting with `token`."""
    return [
        {"stageName": "Source", "inboundTransitionState": {"enabled": True},
         "latestExecution": {"pipelineExecutionId": SAMPLE_PIPELINE_EXECUTION, "status": "Succeeded"},
         "actionStates": [{"actionName": "Source", "latestExecution": {"status": "Succeeded", "lastStatusChange": int(time.time())}}]},
        {"stageName": "Approve", "inboundTransitionState": {"enabled": True},
         "latestExecution": {"pipelineExecutionId": SAMPLE_PIPELINE_EXECUTION, "status": "InProgress"},
         "actionStates": [{"actionName": "ReleaseManager", "latestExecution": {
             "actionExecutionId": "5d0e7a5c-3b1f-4c2d-8e9f-0a1b2c3d4e5f", "status": "InProgress",
             "lastStatusChange": int(time.time()), "token": token}}]},
    ]


def play(play: Play, log_level: str = "INFO") -> Iterator[Result]:
    with Approvals(play.box, log_level=log_level) as world:
        yield from situations(world, play.result)


def situations(world: Approvals, result):
    manager = "release.manager@example.com"
    checks = "the example state machine on moto, approval-mailer and approval-api (real binaries)"

    # 1. A big release waits; the email arrives.
    known = len(sent_emails(manager))
    execution = world.start_release("orders-api 2.3", 42, [manager])
    world.executions.append(execution)
    email = world.wait_for_email(manager, known)
    link = world.link_in(email) if email else None
    status = world.sfn.describe_execution(executionArn=execution)["status"]
    yield result("a release changing 42 resources waits; approval-mailer emails the release manager a personal link",
                 "email sent",
                 (f"to {manager}: \"{email['subject']}\"\n{link}\nexecution {status}" if email and link
                  else f"no email to {manager}; mailer answered {world.mailer_answers[-1:]}"),
                 bool(email and link and status == "RUNNING"),
                 "one email with a link to the approval page; the execution RUNNING (waiting on the task token)",
                 checks=checks)
    if not link:
        return

    # 1b. Who may approve is fixed at deploy time.
    outsider = "mallory@example.net"
    status, answer = world.release_for([outsider], "orders-api 2.3-hotfix", 42)
    refused = answer.get("refused") or {}
    done = world.execution(answer["executionArn"]) if answer.get("executionArn") else {}
    yield result("a release asks someone outside every approver group: refused, nobody emailed", "request refused",
                 f"{refused.get('errorType')}: {refused.get('reason')}; execution {done.get('status')} "
                 f"{done.get('error')}; emails to {outsider}: {len(sent_emails(outsider))}",
                 status == 422 and refused.get("errorType") == "ApprovalRequestInvalid"
                 and "ApproverGroups" in (refused.get("reason") or "") and not sent_emails(outsider)
                 and done.get("error") == "ApprovalRequestInvalid",
                 "ApprovalRequestInvalid naming the address and ApproverGroups; the execution FAILED; no email",
                 checks=f"ApproverGroups={json.dumps(APPROVER_GROUPS)}")

    # 1c. Nobody approves their own release.
    known = len(sent_emails(manager))
    request = {**sample("approval-mailer.step-functions.json"), "taskToken": f"self-{uuid.uuid4().hex}",
               "approvers": ["group:release"], "requiredApprovals": 2, "requestedBy": manager}
    kind, answer = world.mailer.invoke(request)
    reason = answer.get("errorMessage", "") if isinstance(answer, dict) else str(answer)
    yield result("the release manager asks the release group (2 approvals) to approve their own release: refused",
                 "request refused", f"{kind}: {answer.get('errorType') if isinstance(answer, dict) else ''}: {reason}; "
                 f"new emails to {manager}: {len(sent_emails(manager)) - known}",
                 kind != "response" and "left out" in reason and len(sent_emails(manager)) == known,
                 "ApprovalRequestInvalid: without the requester the release group cannot give 2 approvals; no email",
                 checks="a task input with requestedBy (AllowSelfApproval=false)")

    # 2. A mail scanner follows every link.
    ours = [h for h in hrefs(email["html"]) if h.startswith(world.api.url)]
    answers = [http("GET", h).status for h in ours for _ in range(3)]
    state = world.approval_state(link)
    status = world.sfn.describe_execution(executionArn=execution)["status"]
    yield result("a mail scanner opens every link in the email (3 times): nothing changes", "nothing changed",
                 f"GET answered {sorted(set(answers))}; approval {state}; execution {status}",
                 state == "PENDING" and status == "RUNNING" and set(answers) == {200},
                 "the page (200) each time, the approval still PENDING, the execution still RUNNING", checks=f"{len(ours)} link(s)")

    # 2b. A program submits each form as it comes: no tick, no reason.
    page = http("GET", link)
    untouched = [http("POST", link.split("?")[0], form_fields(page.body, d),
                      {"Origin": world.api.url, "Sec-Fetch-Site": "same-origin"}).status for d in ("approve", "reject")]
    head = http("HEAD", link).status
    state = world.approval_state(link)
    yield result("a program submits Approve and Reject without a person's input (no tick, no reason): nothing changes",
                 "nothing changed", f"POSTs answered {untouched}, HEAD {head}; approval {state}",
                 untouched == [400, 400] and head in (200, 404) and state == "PENDING",
                 "400 for both (\"I reviewed this release\" unticked, no reason), the approval still PENDING",
                 checks="the forms' own fields, posted untouched")

    # 3. The page.
    page = http("GET", link)
    headers = {k.lower(): v for k, v in page.headers.items()}
    wanted = {"referrer-policy": "no-referrer", "x-frame-options": "DENY", "cache-control": "no-store"}
    good_headers = all(headers.get(k) == v for k, v in wanted.items()) and "frame-ancestors 'none'" in headers.get("content-security-policy", "")
    yield result("the release manager opens the link: the page shows the release and Approve / Reject", "page shown",
                 f"{page.status}; {'Approve' if 'Approve' in page.body else 'no Approve button'}, "
                 f"{'Reject' if 'Reject' in page.body else 'no Reject button'}; CSP, no-referrer, DENY, no-store: {'yes' if good_headers else 'MISSING'}",
                 page.status == 200 and "orders-api 2.3" in page.body and good_headers,
                 "200 with the release, both forms, and the security headers", checks="GET " + link.split("?")[0] + "?…")

    # 4. Tampered link.
    tampered = link.replace("sig=", "sig=A", 1)
    answer = http("GET", tampered)
    yield result("a link with a changed signature is refused", "refused", f"{answer.status}",
                 answer.status == 403, "403", checks="GET with sig changed")

    # 5. Approve.
    answer = press(world.api.url, link, "approve", "Change set reviewed.")
    done = world.execution(execution)
    output = json.loads(done.get("output") or "{}")
    approver = (output.get("approval") or {}).get("approver")
    yield result("the release manager presses Approve: the workflow resumes", "workflow resumed",
                 f"POST answered {answer.status}; execution {done['status']}, approval output "
                 f"{json.dumps(output.get('approval'))}",
                 answer.status == 200 and done["status"] == "SUCCEEDED" and approver == manager,
                 "200, the execution SUCCEEDED with the approver in its output", checks="POST as the page's form sends it")

    # 6. Double click.
    again = http("POST", link.split("?")[0], {**form_fields(page.body, "approve"), "comment": "", "reviewed": "on"},
                 {"Origin": world.api.url, "Sec-Fetch-Site": "same-origin"})
    yield result("a second click on Approve changes nothing", "nothing changed",
                 f"POST answered {again.status}: {'already approved' if 'Already approved' in again.body else again.body[:80]}",
                 again.status == 409, "409 \"approved by … at …\"", checks="the same form, posted again")

    # 7. Reject.
    known = len(sent_emails(manager))
    execution = world.start_release("orders-api 2.4", 57, [manager])
    world.executions.append(execution)
    email = world.wait_for_email(manager, known)
    link = world.link_in(email) if email else ""
    answer = press(world.api.url, link, "reject", "Error budget exhausted this week.") if link else Answer(0, {}, "")
    done = world.execution(execution)
    yield result("another release: the release manager rejects it with a reason", "workflow failed",
                 f"POST answered {answer.status}; execution {done['status']}: {done.get('error')}: {done.get('cause')}",
                 answer.status == 200 and done["status"] == "FAILED" and done.get("error") == "ApprovalRejected"
                 and "Error budget exhausted" in (done.get("cause") or ""),
                 "200, the execution FAILED with ApprovalRejected and the reason as its cause", checks="POST reject")

    # 8. Small release.
    known = len(sent_emails(manager))
    execution = world.start_release("orders-api 2.4.1", 3, [manager])
    done = world.execution(execution)
    time.sleep(0.5)
    yield result("a release changing 3 resources needs no approval (the Choice state)", "workflow resumed",
                 f"execution {done['status']}; emails sent: {len(sent_emails(manager)) - known}",
                 done["status"] == "SUCCEEDED" and len(sent_emails(manager)) == known,
                 "SUCCEEDED without an email", checks="the example state machine's Choice")

    # 9. A forged CodePipeline notification: the sample's pipeline, stage and action, another token.
    # (The sample's pipeline waits with the sample's token: GetPipelineState, the front's stand-in.)
    with world.box.fake.lock:
        world.box.fake.pipeline_states[SAMPLE_PIPELINE] = waiting_pipeline_state(SAMPLE_PIPELINE_TOKEN)
    forged = sample("approval-mailer.codepipeline-sns.json")
    message = json.loads(forged["Records"][0]["Sns"]["Message"])
    message["approval"]["token"] = str(uuid.uuid4())
    forged["Records"][0]["Sns"]["Message"] = json.dumps(message)
    known = len(sent_emails(manager))
    kind, answer = world.mailer.invoke(forged)
    time.sleep(0.5)
    dropped = kind == "response" and isinstance(answer, dict) and answer.get("dropped") is True
    yield result("a forged CodePipeline notification (its token is not the one the action waits with)", "request refused",
                 f"{kind}: {json.dumps(answer)[:300]}; emails sent: {len(sent_emails(manager)) - known}",
                 dropped and len(sent_emails(manager)) == known and message["approval"]["token"] not in world.logs(),
                 "dropped: no email, nothing rejected, the token in no log line",
                 checks="GetPipelineState (the front's stand-in) before any email")

    # 10. A CodePipeline release whose GitHub commit was authored by one of the approvers.
    yield from commit_author_story(world, result)

    # 11. The sample events in events/ (the story created the approval they refer to).
    for function, name, check in (
        ("approval-mailer", "approval-mailer.step-functions.json", lambda a: isinstance(a, dict) and a.get("sentTo") == 2),
        ("approval-mailer", "approval-mailer.codepipeline-sns.json", lambda a: isinstance(a, dict) and a.get("sentTo") == 1),
        ("approval-api", "approval-api.get.json", lambda a: a.get("statusCode") == 200),
        ("approval-api", "approval-api.tampered.json", lambda a: a.get("statusCode") == 403),
        ("approval-api", "approval-api.post-reject-without-reason.json", lambda a: a.get("statusCode") == 400),
        ("approval-api", "approval-api.post-approve.json", lambda a: a.get("statusCode") == 410),
    ):
        event = sample(name)
        runtime = world.mailer if function == "approval-mailer" else world.api_function
        kind, answer = runtime.invoke(event)
        shown = {k: v for k, v in answer.items() if k != "body"} if isinstance(answer, dict) else answer
        expected = {"approval-mailer.step-functions.json": "emails to its 2 approvers",
                    "approval-mailer.codepipeline-sns.json": "an email to its approver",
                    "approval-api.get.json": "the page (200)", "approval-api.tampered.json": "403",
                    "approval-api.post-reject-without-reason.json": "400, nothing changed",
                    "approval-api.post-approve.json": "410: the sample task token belongs to no waiting workflow"}[name]
        ok = kind == "response" and isinstance(answer, dict) and check(answer)
        yield result(f"{function} with the sample event {name}", "sample event", f"{kind}: {json.dumps(shown)[:300]}",
                     ok, expected, checks=f"events/{name}")

    # 12. Logs.
    logs = world.logs()
    tokens = world.tokens_seen()
    leaked = [t for t in tokens if t in logs] + [k for k in (SAMPLE_KEY,) if k in logs]
    yield result("the functions' logs never contain a task token or the signing key", "log check",
                 f"{logs.count(chr(10))} log lines, {len(tokens)} task tokens and the key checked: " + ("LEAKED" if leaked else "none in the logs"),
                 bool(tokens) and not leaked and "approval emails sent" in logs,
                 "no task token in any log line", checks=f"the functions' log, {relative(world.log)}")


def commit_author_story(world: Approvals, result):
    """A GitHub-sourced pipeline (moto; its execution's source revision seeded in the front's
    history) waits for approval; the commit's author, per the GitHub stand-in over HTTP, is the
    release manager: the real approval-mailer leaves them out and emails only QA, naming them."""
    from ..github import Commit, GitHubStandIn

    manager, qa = "release.manager@example.com", "qa.lead@example.com"
    session = _session()
    box = world.box
    repository, sha, token = "octo-org/orders-api", "9fceb02d0ae598e95dc970b74767f19372d61af8", uuid.uuid4().hex
    pipeline, execution, approval_token = f"orders-api-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())
    iam = session.client("iam", endpoint_url=box.url)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    try:
        iam.create_role(RoleName="tollgate-approvals-story-codepipeline", AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    session.client("codepipeline", endpoint_url=box.url).create_pipeline(pipeline={
        "name": pipeline, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/tollgate-approvals-story-codepipeline",
        "artifactStore": {"type": "S3", "location": "tollgate-approvals-story-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                                            "configuration": {"ConnectionArn": f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0d6e7a5c",
                                                              "FullRepositoryId": repository, "BranchName": "main"},
                                            "outputArtifacts": [{"name": "SourceOutput"}]}]},
            {"name": "Approve", "actions": [{"name": "ReleaseManager", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]},
        ]})
    # The sandbox is shared with the stories told after this one (DORA's backfill counts every
    # pipeline it finds), so the release's pipeline is gone again once the mailer has answered.
    try:
        now = int(time.time())
        with box.fake.lock:
            box.fake.pipeline_history[pipeline] = [{
                "pipelineExecutionId": execution, "status": "InProgress", "startTime": now, "lastUpdateTime": now, "pipelineVersion": 1,
                "executionMode": "SUPERSEDED", "executionType": "STANDARD", "trigger": {"triggerType": "Webhook"}, "actions": [],
                "artifactRevisions": [{"name": "SourceOutput", "revisionId": sha, "revisionSummary": "Ship the new checkout",
                                       "revisionUrl": f"https://github.com/{repository}/commit/{sha}"}]}]
            state = waiting_pipeline_state(approval_token)
            for stage in state:
                stage["latestExecution"]["pipelineExecutionId"] = execution
            box.fake.pipeline_states[pipeline] = state
        secret = session.client("secretsmanager", endpoint_url=box.url).create_secret(
            Name=f"tollgate-github-token-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"token": token}))["ARN"]
        event = sample("approval-mailer.codepipeline-sns.json")
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        message["approval"].update({"pipelineName": pipeline, "token": approval_token,
                                    "customData": json.dumps({"approvers": [manager, qa], "summary": "Release orders-api 2.4."})})
        event["Records"][0]["Sns"]["Message"] = json.dumps(message)
        known = {a: len(sent_emails(a)) for a in (manager, qa)}
        with GitHubStandIn(token) as github:
            github.add_repository(repository, [Commit(sha, now, "Ship the new checkout", "release-manager", manager)])
            mailer = world.mailer_with_github(github.url, secret)
            try:
                kind, answer = mailer.invoke(event)
            finally:
                mailer.close()
            asked_github = [r for r in github.requests if r[0] == f"/repos/{repository}/commits/{sha}"]
    finally:
        session.client("codepipeline", endpoint_url=box.url).delete_pipeline(name=pipeline)
        with box.fake.lock:
            box.fake.pipeline_history.pop(pipeline, None)
            box.fake.pipeline_states.pop(pipeline, None)
    time.sleep(0.5)
    new = {a: sent_emails(a)[known[a]:] for a in (manager, qa)}
    html = new[qa][0]["html"] if new[qa] else ""
    yield result("a CodePipeline release whose GitHub commit the release manager wrote: they get no link; QA does, told who asked",
                 "request refused",
                 f"{kind}: {json.dumps(answer)[:200]}; GitHub asked {len(asked_github)}x; emails: manager {len(new[manager])}, QA {len(new[qa])}",
                 kind == "response" and isinstance(answer, dict) and answer.get("sentTo") == 1 and not new[manager]
                 and len(new[qa]) == 1 and manager in html and sha in html and asked_github and asked_github[0][2] == 200,
                 "one email, to QA, naming the release manager as requester and the source revision",
                 checks="GetPipelineState, GetPipelineExecution, GetPipeline, then GitHub's commit (the stand-in, over HTTP)")


def serve(box, json_line: bool) -> None:
    """`run.sh --only approvals --serve`: the world kept up, a release waiting, the link to open.
    json_line: one JSON line with the URLs (for scripts/browser_test.py). Returns when stopped."""
    with Approvals(box) as world:
        if json_line:
            print(json.dumps({"api": world.api.url, "aws": box.url, "log": str(world.log)}), flush=True)
        else:
            status, answer = world.admin("POST", "/_sandbox/releases", "", json.dumps({"approvers": [SAMPLE_APPROVER]}).encode())
            link = (answer.get("emails", {}).get(SAMPLE_APPROVER) or {}).get("link") if status == 200 else None
            print("\n".join([
                "Tollgate's email approvals are up; Ctrl-C stops everything.", "",
                f"  approval API   {world.api.url}  (approval-api behind a local HTTP API)",
                f"  AWS endpoint   {box.url}  (moto: Step Functions, SES, DynamoDB, Secrets Manager, SQS)",
                f"  function log   {relative(world.log)}", "",
                "A release is waiting for you. Open this link in a browser (it is the one the email carries):",
                f"  {link}", "",
                "Start another (the email's link is in the answer; a refused request answers 422 with its reason):",
                f"  curl -s {world.api.url}/_sandbox/releases -d '{{\"approvers\": [\"qa.lead@example.com\"]}}'",
                f"(approvers must be in ApproverGroups: {json.dumps(APPROVER_GROUPS)})",
                "See how its execution ended:",
                f"  curl -s '{world.api.url}/_sandbox/executions?arn=<executionArn>'",
            ]), flush=True)
        while True:
            time.sleep(3600)


def bench(box, profile: str = "release") -> list[tuple]:
    """For scripts/bench.py: (name, binary, environment, event factory, event file) of both
    approval functions, with seed()'s set-up on `box`. The mailer gets a fresh task token per run
    (a repeated token is a duplicate)."""
    seed(box)
    secret = box.resources["ApprovalSigningSecret"]

    def mailer_event() -> dict:
        event = sample("approval-mailer.step-functions.json")
        event["taskToken"] = f"bench-{uuid.uuid4().hex}" + event["taskToken"][40:]
        return event

    def api_event() -> dict:
        return sample("approval-api.get.json")

    binaries = target_dir() / profile
    return [
        ("approval-mailer", binaries / "approval-mailer", lambda_env(box, "approval-mailer", secret, "https://approvals.example.com"),
         mailer_event, "approval-mailer.step-functions.json"),
        ("approval-api", binaries / "approval-api", lambda_env(box, "approval-api", secret, ""), api_event, "approval-api.get.json"),
    ]
