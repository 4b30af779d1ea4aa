"""The branch-pipelines story: branch stacks really created and deleted by moto's CloudFormation
from a template in moto's S3, played with the real binary under cargo lambda watch.

The sandbox deploys branch pipelines as `sam deploy --parameter-overrides BranchTemplateUrl=...`
would (PARAMETERS below): the URL names a template in moto's S3, which seed() uploads.
That template is not templates/branch-pipeline.yaml: moto's CloudFormation cannot create
its CodeBuild project (and so its pipeline), so the sandbox's has the same parameters and what
matters to deletion, a bucket the stack owns.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
import uuid
from typing import Iterator

from ..github import GitHubStandIn
from ..paths import ACCOUNT, REGION, target_dir
from ..samples import sample
from ..story import Play, Result

NAME = "branch-pipelines"
SUMMARY = ("a stack per feature branch: created from CodeCommit and a signed GitHub webhook, duplicates, "
           "excluded branches, deleted with its bucket emptied first, a pull request's preview with its comment on GitHub, "
           "stacks that are not Tollgate's left alone")
FUNCTIONS = ("branch-pipelines",)  # under cargo lambda watch
EXAMPLES = {"branch-pipelines": "branch-pipelines.codecommit-created.json"}
# The sandbox's deploy-time values, as `sam deploy --parameter-overrides` would give them:
#   BranchTemplateUrl  a tiny template in moto's S3 (moto's CloudFormation cannot create
#                      templates/branch-pipeline.yaml's CodeBuild project)
#   BranchExclude      so that the story shows an excluded branch (feature/wip-*) being left alone
#   GitHubRepositories the sample webhooks' owner (other repositories' deliveries are ignored)
#   GitHubApiUrl       the GitHub stand-in (sandboxlib.github), where the function confirms that a
#                      branch exists before creating and is gone before deleting, and writes a pull
#                      request's status comment; its port is chosen here because the functions'
#                      environment is fixed when they start
#   GitHubTokenSecretArn  a secret seed() puts the stand-in's token in (writing a comment needs it)
#   BranchMode         both: GitHub branches get stacks, and pull requests previews
TEMPLATE_BUCKET = "tollgate-sandbox-templates"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


GITHUB_PORT = _free_port()
PARAMETERS = {
    "BranchTemplateUrl": f"https://s3.amazonaws.com/{TEMPLATE_BUCKET}/branch-pipeline.yaml",
    "BranchExclude": "feature/wip-*",
    "GitHubRepositories": "octo-org/*",
    "GitHubApiUrl": f"http://127.0.0.1:{GITHUB_PORT}",
    "GitHubTokenSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tollgate-sandbox-github-token",
    "BranchMode": "both",
}
GITHUB_TOKEN_SECRET_NAME = "tollgate-sandbox-github-token"
GITHUB_TOKEN = "ghp_tollgateSandboxStandInToken000000000"  # the stand-in's; never a real token
# The template's resources as the sandbox names them (for !Ref / !GetAtt).
WEBHOOK_SECRET_NAME = "tollgate-github-webhook"
RESOURCES = {
    "GitHubWebhookSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{WEBHOOK_SECRET_NAME}",
    "BranchWebhookApi": "local-branch-webhooks",
    # created empty, as the template creates it (GitHubTokenSecretArn, set above, is used instead)
    "BranchGitHubTokenSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tollgate-branch-github-token",
}
FUNCTION = "branch-pipelines"
LOGICAL_ID = "BranchPipelinesFunction"
# The secret the sample GitHub events are signed with (docs/branch-pipelines.md: never deploy it).
SAMPLE_WEBHOOK_SECRET = "tollgate-sample-webhook-secret"
TEMPLATE_KEY = "branch-pipeline.yaml"
# The sandbox's branch template: templates/branch-pipeline.yaml's parameters, and its bucket.
BRANCH_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: >-
  Tollgate sandbox branch stack: templates/branch-pipeline.yaml's parameters and its artifact
  bucket, without the CodeBuild project and pipeline moto's CloudFormation cannot create.
Parameters:
  BranchName: {Type: String}
  RepositoryName: {Type: String}
  PullRequestNumber: {Type: String, Default: ""}
  HeadSha: {Type: String, Default: ""}
Resources:
  ArtifactBucket:
    Type: AWS::S3::Bucket
Outputs:
  Branch: {Value: !Ref BranchName}
  Repository: {Value: !Ref RepositoryName}
  Url: {Value: !Sub "https://${AWS::StackName}.preview.example.com/"}
"""
REPOSITORY = "orders-api"  # the sample events' CodeCommit repository
GITHUB_REPOSITORY = "octo-org/orders-api"  # the sample webhooks' repository
BRANCH = "feature/login-page"  # the sample events' branch
PULL_REQUEST = 7  # events/branch-pipelines.stack-status.json's stack is this pull request's preview
PULL_REQUEST_BRANCH = "feature/checkout"
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


def stack_name(prefix: str, repository: str, branch: str) -> str:
    """The name branch-pipelines gives a branch's stack (functions/branch-pipelines/src/naming.rs),
    for stacks the story makes by hand under a branch's name."""
    digest = hashlib.sha256(repository.encode() + b"\0" + branch.encode()).hexdigest()[:10]
    room = max(0, 100 - (len(prefix) + len(digest) + 2))
    middle = ""
    for c in branch:
        c = c if c.isascii() and c.isalnum() else "-"
        if c == "-" and (not middle or middle.endswith("-")):
            continue
        middle += c
    middle = middle[:room].rstrip("-")
    return f"{prefix}-{middle}-{digest}" if middle else f"{prefix}-{digest}"


_GITHUB: dict = {}  # the one GitHub stand-in of this process, on GITHUB_PORT


def github(box) -> GitHubStandIn:
    """The GitHub stand-in at GitHubApiUrl (started once, stopped with the sandbox)."""
    if "stand_in" not in _GITHUB:
        stand_in = GitHubStandIn(GITHUB_TOKEN)
        stand_in.start(GITHUB_PORT)
        _GITHUB["stand_in"] = stand_in

        def stop() -> None:
            stand_in.stop()
            _GITHUB.clear()

        box.closers.append(stop)
    return _GITHUB["stand_in"]


def seed(box) -> None:
    """What a deployment with branch pipelines has: the branch template in S3 at the URL the
    function is configured with, the webhook secret (the samples' value), the CodeCommit
    repository of the sample events and its branches (GetBranch, answered by the front), and the
    sample webhooks' GitHub repository with its branch (the GitHub stand-in). Idempotent."""
    box.fake.codecommit_branches[REPOSITORY] = {"main", BRANCH, "feature/wip-spike", "release/2.0"}
    github(box).add_branch(GITHUB_REPOSITORY, BRANCH, public=True)
    github(box).add_branch(GITHUB_REPOSITORY, PULL_REQUEST_BRANCH, public=True)
    github(box).add_pull(GITHUB_REPOSITORY, PULL_REQUEST, PULL_REQUEST_BRANCH, HEAD_SHA, public=True)
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    s3 = session.client("s3", endpoint_url=box.url)
    if TEMPLATE_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=TEMPLATE_BUCKET)
    s3.put_object(Bucket=TEMPLATE_BUCKET, Key=TEMPLATE_KEY, Body=BRANCH_TEMPLATE.encode())
    secrets = session.client("secretsmanager", endpoint_url=box.url)
    for name, value in ((WEBHOOK_SECRET_NAME, SAMPLE_WEBHOOK_SECRET), (GITHUB_TOKEN_SECRET_NAME, GITHUB_TOKEN),
                        ("tollgate-branch-github-token", None)):
        try:
            secrets.create_secret(Name=name, **({"SecretString": value} if value else {}))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceExistsException":
                raise
    codecommit = session.client("codecommit", endpoint_url=box.url)
    try:
        codecommit.create_repository(repositoryName=REPOSITORY, repositoryDescription="the sample events' repository")
    except ClientError as error:
        if error.response["Error"]["Code"] != "RepositoryNameExistsException":
            raise


def signed_webhook(base_file: str, event: str, body: dict, delivery: str, secret: str = SAMPLE_WEBHOOK_SECRET) -> dict:
    """An API Gateway (payload 2.0) request like events/<base_file>, carrying another GitHub
    event, signed as GitHub signs it (X-Hub-Signature-256: HMAC-SHA256 of the raw body)."""
    request = copy.deepcopy(sample(base_file))
    raw = json.dumps(body, separators=(",", ":"))
    request["body"] = raw
    request["headers"]["x-github-event"] = event
    request["headers"]["x-github-delivery"] = delivery
    request["headers"]["x-hub-signature-256"] = "sha256=" + hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
    return request


def codecommit_event(base_file: str, branch: str) -> dict:
    """events/<base_file> for another branch, as a new EventBridge event (its own id)."""
    event = copy.deepcopy(sample(base_file))
    event["id"] = str(uuid.uuid4())
    event["detail"]["referenceName"] = branch
    event["detail"]["referenceFullName"] = f"refs/heads/{branch}"
    return event


def webhook_answer(response: dict) -> tuple[int | None, dict]:
    """(HTTP status, parsed body) of the function's API Gateway answer."""
    try:
        body = json.loads(response.get("body") or "{}")
    except (ValueError, TypeError):
        body = {"body": response.get("body")}
    return response.get("statusCode"), body if isinstance(body, dict) else {"body": body}


class Stacks:
    """What moto's CloudFormation and S3 hold, as the checks read them."""

    def __init__(self, box, prefix: str) -> None:
        import boto3

        session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        self.cfn = session.client("cloudformation", endpoint_url=box.url)
        self.s3 = session.client("s3", endpoint_url=box.url)
        self.prefix = prefix

    def live(self) -> dict[str, dict]:
        """Stacks not deleted under the prefix: name -> stack."""
        stacks = [s for page in self.cfn.get_paginator("describe_stacks").paginate() for s in page.get("Stacks", [])]
        return {s["StackName"]: s for s in stacks
                if s["StackName"].startswith(f"{self.prefix}-") and s["StackStatus"] != "DELETE_COMPLETE"}

    def get(self, name: str) -> dict | None:
        return self.live().get(name)

    @staticmethod
    def describe(stack: dict | None) -> str:
        if stack is None:
            return "no such stack"
        params = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        return (f"{stack['StackName']} {stack['StackStatus']}, parameters "
                + ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
                + "; tags " + (", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "none"))

    def bucket_of(self, name: str) -> str | None:
        resources = self.cfn.describe_stack_resources(StackName=name).get("StackResources", [])
        return next((r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::S3::Bucket"), None)

    def bucket_state(self, bucket: str) -> str:
        """"gone", or how many object versions and delete markers it holds."""
        from botocore.exceptions import ClientError

        try:
            listing = self.s3.list_object_versions(Bucket=bucket)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchBucket", "404"):
                return "gone"
            raise
        return f"{len(listing.get('Versions', []))} versions, {len(listing.get('DeleteMarkers', []))} delete markers"

    def fill(self, bucket: str) -> str:
        """A versioned bucket with what a pipeline leaves in it: versions and a delete marker."""
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_object(Bucket=bucket, Key="source/artifact.zip", Body=b"v1")
        self.s3.put_object(Bucket=bucket, Key="source/artifact.zip", Body=b"v2")
        self.s3.put_object(Bucket=bucket, Key="build/output.zip", Body=b"out")
        self.s3.delete_object(Bucket=bucket, Key="build/output.zip")
        return self.bucket_state(bucket)

    def hand_made(self, name: str, tags: dict[str, str]) -> None:
        """A stack made without branch-pipelines (by a person, or for another branch)."""
        self.cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}),
                              Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def play(play: Play) -> Iterator[Result]:
    box = play.box
    seed(box)
    env = box.function_env(LOGICAL_ID)
    prefix = env["STACK_PREFIX"]
    stacks = Stacks(box, prefix)
    for name, stack in stacks.live().items():  # a story told twice in one sandbox starts afresh
        if stack["StackStatus"].endswith("COMPLETE"):
            stacks.cfn.delete_stack(StackName=name)
    template_url = PARAMETERS["BranchTemplateUrl"]

    # -------------------------------------------------- create (CodeCommit)
    created_event = play.event("branch-pipelines.codecommit-created.json")
    answer = play.invoke(FUNCTION, created_event)
    name = answer.get("stack", "")
    stack = stacks.get(name)
    params = {p["ParameterKey"]: p["ParameterValue"] for p in (stack or {}).get("Parameters", [])}
    tags = {t["Key"]: t["Value"] for t in (stack or {}).get("Tags", [])}
    yield play.result(
        f"a branch is created in CodeCommit ({BRANCH}): its stack appears in moto's CloudFormation, from the branch "
        f"template in moto's S3 (a tiny one with a bucket: moto cannot create templates/branch-pipeline.yaml's CodeBuild project)",
        "stack created", f"branch-pipelines answered {json.dumps(answer)}; moto: {stacks.describe(stack)}",
        answer.get("outcome") == "created" and stack is not None and stack["StackStatus"] == "CREATE_COMPLETE"
        and name == stack_name(prefix, REPOSITORY, BRANCH)
        and {k: params.get(k) for k in ("BranchName", "RepositoryName")} == {"BranchName": BRANCH, "RepositoryName": REPOSITORY}
        and tags == {"tollgate:managed": "true", "tollgate:repository": REPOSITORY, "tollgate:branch": BRANCH,
                     "tollgate:source": "codecommit"},
        f"a CREATE_COMPLETE stack {stack_name(prefix, REPOSITORY, BRANCH)} from {template_url}, with parameters "
        f"BranchName={BRANCH}, RepositoryName={REPOSITORY} and Tollgate's four tags",
        checks=f"moto's CloudFormation, stacks {prefix}-*")

    # -------------------------------------------------- the same event again
    before = set(stacks.live())
    again = play.invoke(FUNCTION, play.event("branch-pipelines.codecommit-created.json"))
    redelivered = play.invoke(FUNCTION, codecommit_event("branch-pipelines.codecommit-created.json", BRANCH))
    play.sent.append("branch-pipelines.codecommit-created.json (again, under a new event id)")
    after = set(stacks.live())
    yield play.result(
        "the same event delivered twice, then the same branch under a new event id: still one stack",
        "duplicate delivery",
        f"second delivery answered {json.dumps(again)}, the new id {json.dumps(redelivered)}; "
        f"stacks {prefix}-* before {len(before)}, after {len(after)}",
        again.get("outcome") == "duplicate" and redelivered.get("outcome") == "already-exists" and before == after == {name},
        "the duplicate answers duplicate, the new id already-exists, and moto still has the one stack")

    # -------------------------------------------------- create (GitHub, signed)
    response = play.invoke(FUNCTION, play.event("branch-pipelines.github-create.json"))
    status, body = webhook_answer(response)
    github_stack_name = body.get("stack", "")
    github_stack = stacks.get(github_stack_name)
    github_tags = {t["Key"]: t["Value"] for t in (github_stack or {}).get("Tags", [])}
    yield play.result(
        f"the branch is created on GitHub ({GITHUB_REPOSITORY}, signed webhook): its own stack appears",
        "stack created", f"the webhook answered {status} {json.dumps(body)}; moto: {stacks.describe(github_stack)}",
        status == 200 and body.get("outcome") == "created" and github_stack is not None
        and github_stack["StackStatus"] == "CREATE_COMPLETE" and github_stack_name != name
        and github_stack_name == stack_name(prefix, GITHUB_REPOSITORY, BRANCH)
        and github_tags.get("tollgate:source") == "github" and github_tags.get("tollgate:repository") == GITHUB_REPOSITORY,
        f"200 created, and a stack {stack_name(prefix, GITHUB_REPOSITORY, BRANCH)} tagged tollgate:source=github "
        f"(another name than the CodeCommit branch's: the hash covers the repository)")

    # -------------------------------------------------- a forged webhook
    forged = copy.deepcopy(sample("branch-pipelines.github-create.json"))
    forged["body"] = forged["body"].replace(BRANCH, "feature/forged")
    forged["headers"]["x-github-delivery"] = str(uuid.uuid4())
    play.sent.append("branch-pipelines.github-create.json (branch changed to feature/forged, signature kept)")
    before = set(stacks.live())
    status, body = webhook_answer(play.invoke(FUNCTION, forged))
    yield play.result(
        "a webhook whose body was changed after signing: refused, nothing created", "nothing created",
        f"the webhook answered {status} {json.dumps(body)}; stacks {prefix}-* before {len(before)}, after {len(stacks.live())}",
        status == 401 and set(stacks.live()) == before,
        "401 and no new stack")

    # -------------------------------------------------- excluded and default branches
    before = set(stacks.live())
    answers = {}
    for branch in ("feature/wip-spike", "release/2.0", "main"):
        answers[branch] = play.invoke(FUNCTION, codecommit_event("branch-pipelines.codecommit-created.json", branch))
        play.sent.append(f"branch-pipelines.codecommit-created.json (branch {branch})")
    skipped = all(a.get("outcome") == "skipped" for a in answers.values())
    yield play.result(
        f"an excluded branch (BRANCH_EXCLUDE={env.get('BRANCH_EXCLUDE')}), one outside BRANCH_INCLUDE "
        f"({env.get('BRANCH_INCLUDE')}) and the default branch: nothing created",
        "nothing created",
        "; ".join(f"{b}: {a.get('outcome')} ({a.get('reason')})" for b, a in answers.items())
        + f"; stacks {prefix}-* before {len(before)}, after {len(stacks.live())}",
        skipped and set(stacks.live()) == before,
        "each answered skipped with its reason, and no new stack")

    # -------------------------------------------------- a delete event while the branch exists
    answer = play.invoke(FUNCTION, codecommit_event("branch-pipelines.codecommit-deleted.json", BRANCH))
    play.sent.append("branch-pipelines.codecommit-deleted.json (a new event id; the branch still exists)")
    yield play.result(
        "a branch-deleted event while the branch still exists in CodeCommit (replayed or stale): the stack is kept",
        "stack kept", f"branch-pipelines answered {json.dumps(answer)}; moto: stack {name} "
        f"{(stacks.get(name) or {}).get('StackStatus', 'gone')}",
        answer.get("outcome") == "kept" and stacks.get(name) is not None,
        "kept (GetBranch still finds the branch), and the stack still there")

    # -------------------------------------------------- delete (CodeCommit), bucket emptied first
    box.fake.codecommit_branches[REPOSITORY].discard(BRANCH)  # the branch is deleted in CodeCommit
    bucket = stacks.bucket_of(name) if stacks.get(name) else None
    filled = stacks.fill(bucket) if bucket else "no bucket"
    answer = play.invoke(FUNCTION, play.event("branch-pipelines.codecommit-deleted.json"))
    gone = stacks.get(name) is None
    bucket_after = stacks.bucket_state(bucket) if bucket else "no bucket"
    yield play.result(
        f"the branch is deleted in CodeCommit: its bucket is emptied, then its stack is gone",
        "stack deleted",
        f"bucket {bucket} held {filled}; branch-pipelines answered {json.dumps(answer)}; "
        f"moto: stack {name} {'gone' if gone else 'still there'}, bucket {bucket_after}",
        bucket is not None and answer.get("outcome") == "deleting" and answer.get("emptiedBuckets") == [bucket]
        and gone and bucket_after in ("gone", "0 versions, 0 delete markers") and github_stack_name in stacks.live(),
        f"outcome deleting with emptiedBuckets [{bucket}], the stack and its bucket gone, the GitHub branch's stack kept")

    # -------------------------------------------------- delete (GitHub, signed)
    github(box).delete_branch(GITHUB_REPOSITORY, BRANCH)  # the branch is deleted on GitHub
    response = play.invoke(FUNCTION, play.event("branch-pipelines.github-delete.json"))
    status, body = webhook_answer(response)
    yield play.result(
        "the branch is deleted on GitHub (signed webhook): its stack is gone", "stack deleted",
        f"the webhook answered {status} {json.dumps(body)}; moto: stack {github_stack_name} "
        f"{'gone' if stacks.get(github_stack_name) is None else 'still there'}",
        status == 200 and body.get("outcome") == "deleting" and github_stack_name and stacks.get(github_stack_name) is None,
        "200 deleting, and the stack gone")

    # -------------------------------------------------- a pull request's preview and its comment
    yield from pull_request_preview(play, stacks, prefix)

    # -------------------------------------------------- stacks Tollgate did not make for this branch
    untagged = stack_name(prefix, REPOSITORY, "feature/hand-made")
    other = stack_name(prefix, REPOSITORY, "feature/borrowed")
    stacks.hand_made(untagged, {"team": "payments"})
    stacks.hand_made(other, {"tollgate:managed": "true", "tollgate:repository": REPOSITORY,
                             "tollgate:branch": "feature/someone-else", "tollgate:source": "codecommit"})
    answers = {}
    for branch in ("feature/hand-made", "feature/borrowed"):
        answers[branch] = play.invoke(FUNCTION, codecommit_event("branch-pipelines.codecommit-deleted.json", branch))
        play.sent.append(f"branch-pipelines.codecommit-deleted.json (branch {branch})")
    kept = {n: (stacks.get(n) or {}).get("StackStatus", "gone") for n in (untagged, other)}
    yield play.result(
        "a stack under a branch's name without Tollgate's tags, and one tagged for another branch: deleting "
        "those branches leaves both alone", "stack untouched",
        "; ".join(f"{b}: {a.get('outcome')} ({a.get('reason')})" for b, a in answers.items())
        + "; moto: " + ", ".join(f"{n} {s}" for n, s in kept.items()),
        all(a.get("outcome") == "not-ours" for a in answers.values()) and set(kept.values()) == {"CREATE_COMPLETE"},
        "both answered not-ours, and both stacks are still CREATE_COMPLETE")
    for n in (untagged, other):
        stacks.cfn.delete_stack(StackName=n)

    # -------------------------------------------------- the webhook secret stays out of the log
    logs = box.logs()
    leaked = [name for name, value in (("the webhook secret", SAMPLE_WEBHOOK_SECRET), ("the GitHub token", GITHUB_TOKEN))
              if value in logs]
    yield play.result(
        "the function log never contains the webhook secret or the GitHub token", "log check",
        f"{logs.count(chr(10))} log lines; " + (f"LEAKED {', '.join(leaked)}" if leaked else "neither the webhook secret nor the token in them"),
        not leaked and "branch handled" in logs,
        "no webhook secret, no token, and the branches handled logged",
        checks=f"the functions' log, secrets {WEBHOOK_SECRET_NAME} and {GITHUB_TOKEN_SECRET_NAME}")



def pull_request_body(action: str) -> dict:
    """A GitHub `pull_request` delivery's body for the sample repository's pull request."""
    return {"action": action, "number": PULL_REQUEST,
            "pull_request": {"number": PULL_REQUEST, "state": "closed" if action == "closed" else "open", "draft": False,
                             "merged": action == "closed", "labels": [],
                             "head": {"ref": PULL_REQUEST_BRANCH, "sha": HEAD_SHA}, "base": {"ref": "main"}},
            "repository": {"full_name": GITHUB_REPOSITORY, "name": "orders-api", "private": False, "default_branch": "main",
                           "owner": {"login": "octo-org"}},
            "sender": {"login": "octocat"}}


def comment_lines(body: str) -> str:
    """The comment's table rows, one line: what a reviewer reads on the pull request."""
    rows = [line.strip("| ").replace(" | ", ": ") for line in body.splitlines()
            if line.startswith("| ") and not line.startswith("| |") and "---" not in line and "| Output | Value |" not in line]
    return "; ".join(rows)


def pull_request_preview(play: Play, stacks: "Stacks", prefix: str) -> Iterator[Result]:
    """BranchMode both: a pull request opened gets a preview stack and one comment on it, which
    CloudFormation's status change rewrites with the real outcome; closed deletes the stack and
    the comment says so. The comment is read back from the GitHub stand-in."""
    stand_in = github(play.box)
    stand_in.add_pull(GITHUB_REPOSITORY, PULL_REQUEST, PULL_REQUEST_BRANCH, HEAD_SHA, public=True)  # afresh
    expected_name = stack_name(prefix, GITHUB_REPOSITORY, f"pull-request:{PULL_REQUEST}")
    opened = signed_webhook("branch-pipelines.github-create.json", "pull_request", pull_request_body("opened"),
                            str(uuid.uuid4()))
    play.sent.append(f"branch-pipelines.github-create.json (as a signed pull_request opened, #{PULL_REQUEST})")
    status, body = webhook_answer(play.invoke(FUNCTION, opened))
    preview = stacks.get(expected_name)
    params = {p["ParameterKey"]: p["ParameterValue"] for p in (preview or {}).get("Parameters", [])}
    first = stand_in.comments(GITHUB_REPOSITORY, PULL_REQUEST)
    # CloudFormation's "Stack Status Change" for it (moto sends none: the sample, for this stack)
    changed = play.event("branch-pipelines.stack-status.json")
    if preview is not None:
        changed["resources"] = [preview["StackId"]]
        changed["detail"]["stack-id"] = preview["StackId"]
        changed["detail"]["status-details"]["status"] = preview["StackStatus"]
    answer = play.invoke(FUNCTION, changed)
    comments = stand_in.comments(GITHUB_REPOSITORY, PULL_REQUEST)
    comment = comments[0] if comments else ""
    url = f"https://{expected_name}.preview.example.com/"
    yield play.result(
        f"pull request #{PULL_REQUEST} is opened on GitHub (signed pull_request webhook): its preview stack appears, "
        "and CloudFormation's status change puts the real outcome on its one comment, read back from the GitHub stand-in",
        "stack created",
        f"the webhook answered {status} {json.dumps(body)}; moto: {stacks.describe(preview)}; "
        f"{len(first)} comment after opening; the status change answered {json.dumps(answer)}; "
        f"{len(comments)} comment now: {comment_lines(comment)}",
        status == 200 and body.get("outcome") == "created" and preview is not None
        and params.get("PullRequestNumber") == str(PULL_REQUEST) and params.get("HeadSha") == HEAD_SHA
        and params.get("BranchName") == PULL_REQUEST_BRANCH
        and len(first) == 1 and "CREATE\\_IN\\_PROGRESS" in first[0]
        and answer.get("outcome") == "status" and answer.get("commented") is True
        and len(comments) == 1 and comment.startswith("<!-- tollgate:preview -->")
        and f"`{expected_name}`" in comment and "**CREATE\\_COMPLETE**" in comment and "preview ready" in comment
        and f"| Url | [{url.replace('_', chr(92) + '_')}]({url}) |" in comment
        and f"| Commit | `{HEAD_SHA}` |" in comment and "| Deleted if idle after | " in comment,
        f"200 created, a stack {expected_name} with PullRequestNumber={PULL_REQUEST}, HeadSha and BranchName="
        f"{PULL_REQUEST_BRANCH}; one comment (marker <!-- tollgate:preview -->), first CREATE_IN_PROGRESS, then, edited "
        f"in place, CREATE_COMPLETE with the Url output as a link, the commit and when it is deleted if idle",
        checks=f"the GitHub stand-in's comments on {GITHUB_REPOSITORY}#{PULL_REQUEST}")

    stand_in.close_pull(GITHUB_REPOSITORY, PULL_REQUEST, merged=True)
    closed = signed_webhook("branch-pipelines.github-create.json", "pull_request", pull_request_body("closed"),
                            str(uuid.uuid4()))
    play.sent.append(f"branch-pipelines.github-create.json (as a signed pull_request closed, #{PULL_REQUEST}, merged)")
    status, body = webhook_answer(play.invoke(FUNCTION, closed))
    comments = stand_in.comments(GITHUB_REPOSITORY, PULL_REQUEST)
    comment = comments[0] if comments else ""
    yield play.result(
        f"pull request #{PULL_REQUEST} is merged (signed pull_request closed): its preview is deleted and its comment, "
        "edited in place, says so", "stack deleted",
        f"the webhook answered {status} {json.dumps(body)}; moto: stack {expected_name} "
        f"{'gone' if stacks.get(expected_name) is None else 'still there'}; {len(comments)} comment: {comment_lines(comment)}",
        status == 200 and body.get("outcome") == "deleting" and stacks.get(expected_name) is None
        and len(comments) == 1 and "pull request closed: preview deleted" in comment
        and "Deleted if idle after" not in comment,
        "200 deleting, the stack gone, and still one comment, now saying the preview was deleted",
        checks=f"the GitHub stand-in's comments on {GITHUB_REPOSITORY}#{PULL_REQUEST}")


def bench(box, profile: str = "release") -> list[tuple]:
    """For scripts/bench.py: (name, binary, environment, event factory, event label) rows for
    branch-pipelines: a branch created (real work: dedupe, GetRepository, two DescribeStacks,
    CreateStack in moto, the state record; a new branch each run, so MAX_BRANCH_STACKS is lifted),
    and GitHub's webhook ping (the secret read and the signature checked: the cheapest delivery)."""
    seed(box)
    env = {**box.function_env(LOGICAL_ID), "MAX_BRANCH_STACKS": "100000"}

    def create() -> dict:
        return codecommit_event("branch-pipelines.codecommit-created.json", f"feature/bench-{uuid.uuid4().hex[:12]}")

    def ping() -> dict:
        return sample("branch-pipelines.github-ping.json")

    binary = target_dir() / profile / FUNCTION
    return [
        (FUNCTION, binary, env, create, "branch-pipelines.codecommit-created.json, a new branch each run"),
        (f"{FUNCTION} (webhook ping)", binary, env, ping, "branch-pipelines.github-ping.json"),
    ]
