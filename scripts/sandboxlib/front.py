"""The sandbox's front: one AWS endpoint on 127.0.0.1 for everything.

It answers, itself, what moto (5.2.5) lacks, in each service's own protocol:
  - AWS Health (awsJson1.1, X-Amz-Target AWSHealth_20160804.*): DescribeEvents, DescribeEventTypes
  - CodePipeline job results (awsJson1.1): PutJobSuccessResult, PutJobFailureResult, with AWS's
    length limits, InvalidJobStateException for a second result, and a switch for outages
  - CloudFormation drift detection (query protocol): DetectStackDrift,
    DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts
  - CodeCommit GetBranch, for the branches a scenario seeds (codecommit_branches)
  - CodePipeline execution history (ListPipelineExecutions, GetPipelineExecution,
    ListActionExecutions, GetPipelineState) and SSM GetOpsItem, for the pipelines and OpsItems a scenario seeds
    (sandboxlib.history; the DORA story's week is sandboxlib.stories.dora_week)
It translates CloudWatch's Smithy RPC v2 CBOR protocol (aws-sdk-cloudwatch >= 1.100) into calls
moto understands, and hands every other request to moto unchanged: moto runs in this process as a
WSGI application behind the front, so headers, body and status pass through as they are.

Scenarios change what the stand-in answers through `FakeAws` (in process) or, from another
process, through the front's own endpoints:
  GET  /_tollgate/ping            {"sandbox": "tollgate"}
  GET  /_tollgate/state           what the stand-in holds (job results, calls, settings)
  GET  /_tollgate/jobs/<job id>   one job's result, 404 while it has none
  POST /_tollgate/fake            JSON with any of FakeAws.SETTINGS, e.g. {"health_events": [...]};
                                  "merge": true adds to map settings instead of replacing them
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import boto3
import cbor2
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from . import motofixes
from .history import History
from .paths import ACCOUNT, REGION

# AWS Health service codes the stand-in knows (DescribeEventTypes); a realistic subset of AWS's.
HEALTH_SERVICES = (
    "ACM", "APIGATEWAY", "APPSYNC", "ATHENA", "AUTOSCALING", "BATCH", "CLOUDFORMATION", "CLOUDFRONT",
    "CLOUDTRAIL", "CLOUDWATCH", "CODEBUILD", "CODECOMMIT", "CODEDEPLOY", "CODEPIPELINE", "COGNITO",
    "DIRECTCONNECT", "DMS", "DYNAMODB", "EBS", "EC2", "ECR", "ECS", "EFS", "EKS", "ELASTICACHE",
    "ELASTICBEANSTALK", "ELASTICLOADBALANCING", "EMR", "ES", "EVENTS", "FSX", "GLUE", "IAM", "KINESIS",
    "KMS", "LAMBDA", "MQ", "NATGATEWAY", "RDS", "REDSHIFT", "ROUTE53", "S3", "SAGEMAKER",
    "SECRETSMANAGER", "SES", "SNS", "SQS", "SSM", "STATES", "VPC", "VPN", "WAF", "XRAY",
)
# Event types per service: code suffix -> category.
HEALTH_EVENT_TYPES = {"OPERATIONAL_ISSUE": "issue", "API_ISSUE": "issue",
                      "OPERATIONAL_NOTIFICATION": "accountNotification", "PLANNED_LIFECYCLE_EVENT": "scheduledChange"}

JOB_ID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
FAILURE_TYPES = ("JobFailed", "ConfigurationError", "PermissionError", "RevisionOutOfSync",
                 "RevisionUnavailable", "SystemUnavailable")
OUTPUT_VARIABLE_KEY = re.compile(r"[A-Za-z0-9@\-_]+")


def _epoch(value) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


class Validation:
    """AWS's request validation message: "1 validation error detected: Value at 'x' failed to
    satisfy constraint: Member must have length less than or equal to 5000". Lengths count
    characters (Unicode code points), as AWS documents its length constraints."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def required(self, path: str, value) -> bool:
        if value is None:
            self.errors.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
            return False
        return True

    def length(self, path: str, value, low: int, high: int) -> None:
        if value is None:
            return
        if len(value) < low:
            self.errors.append(f"Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {low}")
        if len(value) > high:
            self.errors.append(f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {high}")

    def pattern(self, path: str, value, pattern: str) -> None:
        if value is not None and not re.fullmatch(pattern, value):
            self.errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}")

    def enum(self, path: str, value, allowed) -> None:
        if value is not None and value not in allowed:
            self.errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")

    def range(self, path: str, value, low: int, high: int) -> None:
        if value is None:
            return
        if value < low:
            self.errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {low}")
        if value > high:
            self.errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {high}")

    def answer(self) -> tuple[int, dict] | None:
        if not self.errors:
            return None
        count = len(self.errors)
        return 400, {"__type": "ValidationException",
                     "message": f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(self.errors)}


# ----------------------------------------------------------------------------- the stand-in
@dataclass
class FakeAws:
    """What moto lacks, answered as AWS documents it.

    Scenario settings (also settable over HTTP, POST /_tollgate/fake):
      health_events     the events DescribeEvents knows (AWS Health's event shape)
      health_error      None, or (status, __type, message): every Health call fails so
      health_services   the service codes DescribeEventTypes knows
      stack_drifts      stack -> [(logical id, type, status, [property paths])]
      codepipeline_outage  False; True: every job result call fails with 500 InternalFailure until
                        set back to False; a number n: the next n calls fail
      pipeline_history  pipeline name -> its executions, oldest first (sandboxlib.history's shape):
                        ListPipelineExecutions, GetPipelineExecution, ListActionExecutions answer from it
      ops_items         OpsItem id -> GetOpsItem's OpsItem
      pipeline_states   pipeline name -> GetPipelineState's stageStates (AWS's shape): a waiting manual
                        approval is an actionState whose latestExecution is InProgress with its token
      codecommit_branches  repository -> its branches: GetBranch answers them, and
                        BranchDoesNotExistException for any other branch of that repository
                        (RepositoryDoesNotExistException for a repository not listed)
    What happened:
      results           job id -> ("success" | "failure", request): the one result each job got
      report_attempts   every job result call: (job id, operation, HTTP status)
      calls             every call the stand-in answered
      detections        drift detection id -> stack
    """

    SETTINGS = ("health_events", "health_error", "health_services", "stack_drifts", "codepipeline_outage",
                "pipeline_history", "ops_items", "codecommit_branches", "pipeline_states")

    moto_url: str = ""
    health_events: list = field(default_factory=list)
    health_error: tuple | None = None  # (status, __type, message)
    health_services: list = field(default_factory=lambda: list(HEALTH_SERVICES))
    results: dict = field(default_factory=dict)  # job id -> ("success"|"failure", request)
    report_attempts: list = field(default_factory=list)  # (job id, operation, status)
    codepipeline_outage: bool | int = False
    calls: list = field(default_factory=list)
    # CloudFormation drift detection: stack -> list of (logical id, type, status, [paths])
    stack_drifts: dict = field(default_factory=dict)
    detections: dict = field(default_factory=dict)  # detection id -> stack
    codecommit_branches: dict = field(default_factory=dict)  # repository -> [branch]
    history: History = field(default_factory=lambda: History(Validation), repr=False, compare=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # Seeded CodePipeline history and OpsItems live in `history`; these name them as settings.
    @property
    def pipeline_history(self) -> dict:
        return self.history.pipelines

    @pipeline_history.setter
    def pipeline_history(self, value: dict) -> None:
        self.history.pipelines = value

    @property
    def pipeline_states(self) -> dict:
        return self.history.states

    @pipeline_states.setter
    def pipeline_states(self, value: dict) -> None:
        self.history.states = value

    @property
    def ops_items(self) -> dict:
        return self.history.ops_items

    @ops_items.setter
    def ops_items(self, value: dict) -> None:
        self.history.ops_items = value

    # -------------------------------------------------------------- awsJson1.1 (Health, CodePipeline)
    def handle(self, target: str, body: dict) -> tuple[int, dict]:
        """One awsJson1.1 call by its X-Amz-Target; returns (HTTP status, JSON body)."""
        with self.lock:
            self.calls.append(target)
            service, _, operation = target.partition(".")
            if service == "AWSHealth_20160804":
                return self.health(operation, body)
            if service == "CodePipeline_20150709" and operation in ("PutJobSuccessResult", "PutJobFailureResult"):
                return self.job_result(operation, body)
            if service == "CodeCommit_20150413" and operation == "GetBranch":
                return self.get_branch(body)
            if self.history.serves(service, operation, body):
                return self.history.handle(service, operation, body, _moto_has_pipeline)
            return 400, {"__type": "UnknownOperationException", "message": f"{target} is not faked"}

    def get_branch(self, body: dict) -> tuple[int, dict]:
        repository, branch = body.get("repositoryName"), body.get("branchName")
        if not repository or not branch:
            return 400, {"__type": "RepositoryNameRequiredException" if not repository else "BranchNameRequiredException",
                         "message": "repositoryName and branchName are required"}
        if repository not in self.codecommit_branches:
            return 400, {"__type": "RepositoryDoesNotExistException", "message": f"{repository} does not exist"}
        if branch not in self.codecommit_branches[repository]:
            return 400, {"__type": "BranchDoesNotExistException",
                         "message": f"Branch '{branch}' does not exist in repository '{repository}'"}
        commit = hashlib.sha1(f"{repository}/{branch}".encode()).hexdigest()
        return 200, {"branch": {"branchName": branch, "commitId": commit}}

    def health(self, operation: str, body: dict) -> tuple[int, dict]:
        if operation not in ("DescribeEvents", "DescribeEventTypes"):
            return 400, {"__type": "UnknownOperationException", "message": f"AWS Health {operation} is not faked"}
        if self.health_error:
            status, kind, message = self.health_error
            return status, {"__type": kind, "message": message}
        check = Validation()
        check.range("maxResults", body.get("maxResults"), 10, 100)
        if problem := check.answer():
            return problem
        flt = body.get("filter") or {}
        if operation == "DescribeEvents":
            wanted = {"services": "service", "regions": "region", "eventTypeCategories": "eventTypeCategory",
                      "eventStatusCodes": "statusCode", "eventTypeCodes": "eventTypeCode", "eventArns": "arn"}
            items = [e for e in self.health_events
                     if all(not flt.get(key) or e.get(attr, "global" if attr == "region" else None) in flt[key]
                            for key, attr in wanted.items())]
            return self._page(operation, "events", items, body)
        types = [{"service": service, "code": f"AWS_{service}_{suffix}", "category": category}
                 for service in self.health_services for suffix, category in HEALTH_EVENT_TYPES.items()]
        wanted = {"services": "service", "eventTypeCodes": "code", "eventTypeCategories": "category"}
        types = [t for t in types if all(not flt.get(key) or t[attr] in flt[key] for key, attr in wanted.items())]
        return self._page(operation, "eventTypes", types, body)

    @staticmethod
    def _page(operation: str, key: str, items: list, body: dict) -> tuple[int, dict]:
        size = body.get("maxResults") or 100
        start = 0
        if body.get("nextToken"):
            try:
                token = json.loads(base64.b64decode(body["nextToken"]))
                start, token_op = int(token["offset"]), token["operation"]
                if token_op != operation or not 0 <= start <= len(items):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return 400, {"__type": "InvalidPaginationToken", "message": "Invalid pagination token"}
        page = {key: items[start:start + size]}
        if start + size < len(items):
            page["nextToken"] = base64.b64encode(json.dumps({"operation": operation, "offset": start + size}).encode()).decode()
        return 200, page

    def job_result(self, operation: str, body: dict) -> tuple[int, dict]:
        job_id = body.get("jobId")
        status, payload = self._job_result(operation, body)
        self.report_attempts.append((job_id, operation, status))
        return status, payload

    def _job_result(self, operation: str, body: dict) -> tuple[int, dict]:
        if self.codepipeline_outage:
            if not isinstance(self.codepipeline_outage, bool):
                self.codepipeline_outage -= 1
            return 500, {"__type": "InternalFailure", "message": "An internal error occurred (the sandbox's CodePipeline outage switch is on)"}
        check = Validation()
        job_id = body.get("jobId")
        if check.required("jobId", job_id):
            check.pattern("jobId", job_id, JOB_ID_PATTERN)
        if operation == "PutJobFailureResult":
            details = body.get("failureDetails")
            if check.required("failureDetails", details):
                check.required("failureDetails.type", details.get("type"))
                check.enum("failureDetails.type", details.get("type"), FAILURE_TYPES)
                if check.required("failureDetails.message", details.get("message")):
                    check.length("failureDetails.message", details.get("message"), 1, 5000)
                check.length("failureDetails.externalExecutionId", details.get("externalExecutionId"), 1, 1500)
        else:
            check.length("continuationToken", body.get("continuationToken"), 1, 2048)
            details = body.get("executionDetails") or {}
            check.length("executionDetails.summary", details.get("summary"), 1, 2048)
            check.length("executionDetails.externalExecutionId", details.get("externalExecutionId"), 1, 1500)
            check.range("executionDetails.percentComplete", details.get("percentComplete"), 0, 100)
            revision = body.get("currentRevision")
            if revision is not None:
                if check.required("currentRevision.revision", revision.get("revision")):
                    check.length("currentRevision.revision", revision.get("revision"), 1, 1500)
                if check.required("currentRevision.changeIdentifier", revision.get("changeIdentifier")):
                    check.length("currentRevision.changeIdentifier", revision.get("changeIdentifier"), 1, 100)
                check.length("currentRevision.revisionSummary", revision.get("revisionSummary"), 1, 2048)
            for name in (body.get("outputVariables") or {}):
                check.pattern(f"outputVariables.{name}", name, OUTPUT_VARIABLE_KEY.pattern)
        if problem := check.answer():
            return problem
        if job_id in self.results:
            return 400, {"__type": "InvalidJobStateException", "message": f"The job {job_id} is in an invalid state"}
        self.results[job_id] = ("success" if operation == "PutJobSuccessResult" else "failure", body)
        return 200, {}

    # -------------------------------------------------------------- query protocol (CloudFormation)
    def cloudformation(self, form: dict) -> tuple[int, str] | None:
        """CloudFormation's drift APIs (query protocol, XML), which moto lacks; None: ask moto."""
        action = form.get("Action", [""])[0]
        if action not in ("DetectStackDrift", "DescribeStackDriftDetectionStatus", "DescribeStackResourceDrifts"):
            return None
        with self.lock:
            self.calls.append(f"CloudFormation.{action}")
            return self._cloudformation(action, form)

    def _cloudformation(self, action: str, form: dict) -> tuple[int, str]:
        ns = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'
        meta = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack"
        if action == "DetectStackDrift":
            stack = form["StackName"][0]
            detection_id = str(uuid.uuid4())
            self.detections[detection_id] = stack
            self.calls.append(f"DetectStackDrift {stack}")
            result = f"<StackDriftDetectionId>{detection_id}</StackDriftDetectionId>"
        elif action == "DescribeStackDriftDetectionStatus":
            detection_id = form["StackDriftDetectionId"][0]
            stack = self.detections.get(detection_id, "unknown")
            drifted = [d for d in self.stack_drifts.get(stack, []) if d[2] != "NOT_CHECKED"]
            result = (
                f"<StackId>{arn}/{stack}/1</StackId>"
                f"<StackDriftDetectionId>{detection_id}</StackDriftDetectionId>"
                f"<StackDriftStatus>{'DRIFTED' if drifted else 'IN_SYNC'}</StackDriftStatus>"
                f"<DetectionStatus>DETECTION_COMPLETE</DetectionStatus>"
                f"<DriftedStackResourceCount>{len(drifted)}</DriftedStackResourceCount>"
                f"<Timestamp>2026-11-22T10:00:00Z</Timestamp>"
            )
        else:
            stack = form["StackName"][0]
            members = "".join(
                f"<member><StackId>{arn}/{stack}/1</StackId>"
                f"<LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>"
                f"<StackResourceDriftStatus>{status}</StackResourceDriftStatus><PropertyDifferences>"
                + "".join(f"<member><PropertyPath>{p}</PropertyPath><ExpectedValue>a</ExpectedValue><ActualValue>b</ActualValue>"
                          f"<DifferenceType>NOT_EQUAL</DifferenceType></member>" for p in paths)
                + "</PropertyDifferences><Timestamp>2026-11-22T10:00:00Z</Timestamp></member>"
                for logical, kind, status, paths in self.stack_drifts.get(stack, [])
            )
            result = f"<StackResourceDrifts>{members}</StackResourceDrifts>"
        return 200, f"<{action}Response {ns}><{action}Result>{result}</{action}Result>{meta}</{action}Response>"

    # -------------------------------------------------------------- settings over HTTP
    def snapshot(self) -> dict:
        with self.lock:
            return {
                "results": {job: {"result": kind, "request": body} for job, (kind, body) in self.results.items()},
                "report_attempts": [list(a) for a in self.report_attempts],
                "detections": dict(self.detections),
                "calls": list(self.calls),
                **{name: getattr(self, name) for name in self.SETTINGS},
            }

    def configure(self, settings: dict) -> None:
        """Replaces each setting given; with "merge": true, a setting that is a map (pipeline
        history, pipeline states, OpsItems...) gets the given keys added or replaced and keeps the
        others, so test processes sharing one sandbox do not undo each other's seeds."""
        settings = dict(settings)
        merge = settings.pop("merge", False) is True
        unknown = set(settings) - set(self.SETTINGS)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {', '.join(self.SETTINGS)}")
        with self.lock:
            for name, value in settings.items():
                if name == "health_error" and value is not None:
                    value = tuple(value)
                if name == "stack_drifts":
                    value = {stack: [tuple(d) for d in drifts] for stack, drifts in value.items()}
                current = getattr(self, name)
                if merge and isinstance(current, dict) and isinstance(value, dict):
                    current.update(value)
                else:
                    setattr(self, name, value)


_SERVICE_MODELS: dict = {}


def _service_model(service: str):
    if service not in _SERVICE_MODELS:
        import botocore.session

        _SERVICE_MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _SERVICE_MODELS[service]


def _epoch_timestamps(shape, value):
    """A JSON answer with its timestamp members as epoch seconds and without nulls, by shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _epoch_timestamps(shape.members.get(k), v) for k, v in value.items() if v is not None}
    if kind == "list" and isinstance(value, list):
        return [_epoch_timestamps(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _epoch_timestamps(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp" and isinstance(value, str):
        return round(_epoch(value), 3)
    return value


def _moto_has_pipeline(name: str, account: str = ACCOUNT, region: str = REGION) -> bool:
    """Whether moto (in this process) knows a pipeline (CreatePipeline)."""
    from moto.codepipeline.models import codepipeline_backends

    return name in codepipeline_backends[account][region].pipelines


# ----------------------------------------------------------------------------- CBOR -> moto
CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
# Smithy service name in the path -> (botocore service, Smithy namespace for error shape ids)
CBOR_SERVICES = {"GraniteServiceVersion20100801": ("cloudwatch", "com.amazonaws.cloudwatch"),
                 # AWS Health speaks CBOR from aws-sdk-health 1.11x on; the stand-in answers it itself.
                 "AWSHealth_20160804": ("health", "com.amazonaws.health")}


def _credential_scope(environ: dict) -> tuple[str, str]:
    """(region, access key id) from a SigV4 Authorization header; the sandbox's defaults otherwise."""
    match = re.search(r"Credential=([^/,\s]+)/\d+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(2), match.group(1)) if match else (REGION, "testing")


def _shaped(shape, value):
    """A botocore response value as Smithy RPC v2 CBOR wants it, by its shape: timestamps as tag 1
    (epoch seconds), doubles as floats even when JSON gave an integer, blobs as bytes."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {name: _shaped(shape.members[name], v) for name, v in value.items() if name in shape.members and v is not None}
    if kind == "list":
        return [_shaped(shape.member, v) for v in value]
    if kind == "map":
        return {k: _shaped(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, round(_epoch(value), 3))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "blob":
        return value if isinstance(value, bytes) else bytes(value.read() if hasattr(value, "read") else value)
    return value


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


class CborTranslator:
    """Smithy RPC v2 CBOR (POST /service/<Service>/operation/<Operation>, header smithy-protocol:
    rpc-v2-cbor) answered by moto: the CBOR body becomes the parameters of a boto3 call to the
    front (boto3 speaks CloudWatch's JSON protocol, which moto routes), and its parsed response,
    or error, goes back as CBOR."""

    def __init__(self, front_url: str, answer=None) -> None:
        self.front_url = front_url
        # (botocore service, operation, params) -> (status, dict) for services the stand-in
        # answers itself (AWS Health), or None to ask moto.
        self.answer = answer
        self.clients: dict = {}
        self.lock = threading.Lock()

    def client(self, service: str, region: str, access_key: str):
        key = (service, region, access_key)
        with self.lock:
            if key not in self.clients:
                self.clients[key] = boto3.session.Session().client(
                    service, region_name=region, endpoint_url=self.front_url,
                    aws_access_key_id=access_key, aws_secret_access_key="testing",
                    config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60),
                )
            return self.clients[key]

    def __call__(self, environ: dict, body: bytes) -> tuple[int, dict, bytes]:
        """(status, headers, CBOR body) for one request."""
        match = CBOR_PATH.match(environ.get("PATH_INFO", ""))
        if not match:
            return self.error(404, "UnknownOperationException", "Smithy RPC v2 CBOR requests are POST /service/<service>/operation/<operation>")
        service_name, operation = match.groups()
        if service_name not in CBOR_SERVICES:
            return self.error(404, "UnknownOperationException", f"the sandbox does not translate {service_name} (only {', '.join(CBOR_SERVICES)})")
        service, namespace = CBOR_SERVICES[service_name]
        region, access_key = _credential_scope(environ)
        client = self.client(service, region, access_key)
        model = client.meta.service_model
        if operation not in model.operation_names:
            return self.error(404, "UnknownOperationException", f"{service_name} has no operation {operation}")
        op_model = model.operation_model(operation)
        try:
            params = cbor2.loads(body) if body else {}
        except Exception as err:  # noqa: BLE001 (any decoding failure is the client's)
            return self.error(400, "SerializationException", f"the request body is not valid CBOR: {err}")
        if not isinstance(params, dict):
            return self.error(400, "SerializationException", "the request body must be a CBOR map of the operation's input")
        own = self.answer(service, operation, params) if self.answer else None
        if own is not None:
            status, payload = own
            if status >= 400:
                kind = str(payload.get("__type", "InternalFailure")).rpartition("#")[2]
                return self.error(status, f"{namespace}#{kind}", str(payload.get("message", "")))
            headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": str(uuid.uuid4())}
            return 200, headers, cbor2.dumps(_shaped(op_model.output_shape, payload))
        try:
            response = getattr(client, xform_name(operation))(**_without_nulls(params))
        except ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
            code = error.get("Code") or "InternalFailure"
            shape = next((s for s in op_model.error_shapes
                          if s.name == code or s.metadata.get("error", {}).get("code") == code), None)
            return self.error(status if status >= 400 else 500, f"{namespace}#{shape.name}" if shape else code,
                              error.get("Message", ""), query_code=code)
        except ParamValidationError as err:
            return self.error(400, "ValidationError", str(err).replace("\n", " "), query_code="ValidationError")
        except BotoCoreError as err:
            return self.error(500, "InternalFailure", f"the sandbox could not reach moto: {err}")
        request_id = response.get("ResponseMetadata", {}).get("RequestId") or str(uuid.uuid4())
        headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id}
        if op_model.output_shape is None:  # Unit output: no body, as the protocol says
            return 200, headers, b""
        output = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        return 200, headers, cbor2.dumps(_shaped(op_model.output_shape, output))

    @staticmethod
    def error(status: int, error_type: str, message: str, query_code: str | None = None) -> tuple[int, dict, bytes]:
        """An error as the protocol says: {"__type": shape id, "message"}; CloudWatch, being
        awsQueryCompatible, also names its query error code in x-amzn-query-error."""
        headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": str(uuid.uuid4())}
        if query_code:
            headers["x-amzn-query-error"] = f"{query_code};{'Sender' if status < 500 else 'Receiver'}"
        return status, headers, cbor2.dumps({"__type": error_type, "message": message})


# ----------------------------------------------------------------------------- the front
def _read_body(environ: dict) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return stream.read(length) if length > 0 else b""


def _decoded_body(environ: dict) -> bytes:
    """The body without its Content-Encoding: the AWS SDKs gzip large requests to operations with
    the requestCompression trait (CloudWatch PutMetricData above 10 KiB)."""
    body = _read_body(environ)
    encodings = [e.strip().lower() for e in environ.get("HTTP_CONTENT_ENCODING", "").split(",") if e.strip()]
    for encoding in reversed(encodings):
        if encoding == "gzip":
            body = gzip.decompress(body)
    return body


def _with_body(environ: dict, body: bytes) -> dict:
    """The environ with its body already read, for moto to read again."""
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return environ


class DynamoDbMeter:
    """What DynamoDB requests read, as DynamoDB bills reads: items evaluated by the key condition
    (Query and Scan's ScannedCount, GetItem's item, BatchGetItem's and TransactGetItems' items),
    per request, and the time moto took to answer them. take() returns the counts and resets them."""

    READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: dict[str, int] = {}
            self.items_read = 0
            self.seconds = 0.0

    def record(self, operation: str, answer: bytes, seconds: float) -> None:
        try:
            body = json.loads(answer or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        items = 0
        if operation == "GetItem":
            items = 1 if body.get("Item") else 0
        elif operation in ("Query", "Scan"):
            items = int(body.get("ScannedCount", body.get("Count", 0)))
        elif operation == "BatchGetItem":
            items = sum(len(found) for found in (body.get("Responses") or {}).values())
        elif operation == "TransactGetItems":
            items = sum(1 for found in body.get("Responses") or [] if found.get("Item"))
        with self.lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            self.items_read += items
            self.seconds += seconds

    def take(self) -> dict:
        """{"requests": {operation: n}, "read_requests": n, "items_read": n, "seconds": s} since the last take()."""
        with self.lock:
            taken = {"requests": dict(self.requests), "items_read": self.items_read, "seconds": self.seconds,
                     "read_requests": sum(n for op, n in self.requests.items() if op in self.READS)}
        self.reset()
        return taken


class _Handler(MotoRequestHandler):
    """moto's request handler (keeps S3's underscored header names), without a line per request."""

    def log_request(self, *args) -> None:
        pass


class Front:
    """The WSGI application on the sandbox's one port: the stand-in, the CBOR translation, moto."""

    def __init__(self, fake: FakeAws) -> None:
        self.fake = fake
        motofixes.apply()  # where moto answers differently from AWS (sandboxlib.motofixes)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.moto.debug = True  # as moto_server sets it
        # DynamoDB applies a conditional write or a transaction atomically; moto checks the
        # condition and then writes, so two requests at the same moment could both pass. One
        # DynamoDB request at a time makes moto's answers DynamoDB's (approvals' concurrent votes).
        self.dynamodb_lock = threading.Lock()
        # Set to a DynamoDbMeter to count what DynamoDB requests read (the bench's history row).
        self.dynamodb_meter: DynamoDbMeter | None = None
        self.server = None
        self.cbor: CborTranslator | None = None

    # -------------------------------------------------------------- serving
    def start(self, port: int = 0) -> str:
        """Serves on 127.0.0.1 (`port`, or a free one) in a background thread; returns the URL."""
        self.server = make_server("127.0.0.1", port, self, threaded=True, request_handler=_Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # moto calls itself back at localhost:$MOTO_PORT (Step Functions' service integrations, as
        # moto_server arranges it): that is this port.
        os.environ["MOTO_PORT"] = str(self.server.server_address[1])
        self.fake.moto_url = self.url
        self.cbor = CborTranslator(self.url, answer=self._cbor_answer)
        threading.Thread(target=self.server.serve_forever, name="sandbox-front", daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # -------------------------------------------------------------- routing
    def __call__(self, environ: dict, start_response):
        try:
            return self.route(environ, start_response)
        except Exception:  # noqa: BLE001 (a bug in the stand-in must not look like an AWS answer)
            traceback.print_exc(file=sys.stderr)
            return self.respond(start_response, 500, {"Content-Type": "application/json"},
                                json.dumps({"__type": "InternalFailure", "message": "the sandbox's front failed; see its log"}).encode())

    def route(self, environ: dict, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_tollgate/"):
            return self.admin(environ, start_response, method, path)
        if method != "POST":
            return self.moto(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:  # awsJson: the stand-in's services, or moto's
            service, _, operation = target.partition(".")
            if service == "AWSHealth_20160804" or (
                    service == "CodePipeline_20150709" and operation in ("PutJobSuccessResult", "PutJobFailureResult")) or (
                    service == "CodeCommit_20150413" and operation == "GetBranch"):
                return self.aws_json(environ, start_response, target)
            if service == "DynamoDB_20120810":
                with self.dynamodb_lock:
                    started = time.perf_counter()
                    answer = list(self.moto(environ, start_response))
                    if self.dynamodb_meter is not None:
                        self.dynamodb_meter.record(operation, b"".join(answer), time.perf_counter() - started)
                    return answer
            if service in ("CodePipeline_20150709", "AmazonSSM"):
                # The stand-in's history and OpsItems, or moto: it depends on the body (the pipeline).
                raw = _read_body(environ)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                if isinstance(body, dict) and self.fake.history.serves(service, operation, body):
                    return self.aws_json(_with_body(environ, raw), start_response, target)
                if service == "CodePipeline_20150709":
                    return self.moto_json(_with_body(environ, raw), start_response, "codepipeline", operation)
                return self.moto(_with_body(environ, raw), start_response)
            return self.moto(environ, start_response)
        if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor" or CBOR_PATH.match(path):
            try:
                request = _decoded_body(environ)
            except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
                status, headers, body = CborTranslator.error(400, "SerializationException", f"the request body is not valid gzip: {error}")
            else:
                status, headers, body = self.cbor(environ, request)
            return self.respond(start_response, status, headers, body)
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):  # query protocol
            body = _read_body(environ)
            answer = self.fake.cloudformation(urllib.parse.parse_qs(body.decode("utf-8", errors="replace")))
            if answer is not None:
                status, xml = answer
                return self.respond(start_response, status, {"Content-Type": "text/xml"}, xml.encode())
            return self.moto(_with_body(environ, body), start_response)
        return self.moto(environ, start_response)

    def _cbor_answer(self, service: str, operation: str, params: dict):
        """The stand-in's own answer to a CBOR request (AWS Health), or None for moto's."""
        if service == "health":
            return self.fake.handle(f"AWSHealth_20160804.{operation}", params)
        return None

    def moto_json(self, environ: dict, start_response, service: str, operation: str):
        """moto's awsJson answer with its timestamps as the protocol sends them (epoch seconds;
        moto 5.2.5's CodePipeline writes ISO 8601 strings, which the AWS SDK for Rust rejects) and
        without its nulls."""
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        answer = self.moto(environ, capture)
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        status = int(captured["status"].split()[0])
        headers = dict(captured["headers"])
        if status == 200:
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = None
            model = _service_model(service)
            if isinstance(data, dict) and operation in model.operation_names:
                shape = model.operation_model(operation).output_shape
                body = json.dumps(_epoch_timestamps(shape, data) if shape is not None else data).encode()
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
                headers["Content-Type"] = "application/x-amz-json-1.1"
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        return self.respond(start_response, status, headers, body)

    def aws_json(self, environ: dict, start_response, target: str):
        raw = _read_body(environ)
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            status, payload = 400, {"__type": "SerializationException", "message": "the request body is not a JSON object"}
        else:
            status, payload = self.fake.handle(target, body)
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
        if status >= 400:
            headers["x-amzn-ErrorType"] = payload["__type"]
        return self.respond(start_response, status, headers, json.dumps(payload).encode())

    def admin(self, environ: dict, start_response, method: str, path: str):
        def reply(status: int, payload) -> list:
            return self.respond(start_response, status, {"Content-Type": "application/json"}, json.dumps(payload, default=str).encode())

        if path == "/_tollgate/ping":
            return reply(200, {"sandbox": "tollgate"})
        if path == "/_tollgate/state" and method == "GET":
            return reply(200, self.fake.snapshot())
        if path.startswith("/_tollgate/jobs/") and method == "GET":
            job_id = path.rsplit("/", 1)[-1]
            with self.fake.lock:
                found = self.fake.results.get(job_id)
                attempts = [list(a) for a in self.fake.report_attempts if a[0] == job_id]
            if found is None:
                return reply(404, {"jobId": job_id, "result": None, "report_attempts": attempts})
            return reply(200, {"jobId": job_id, "result": found[0], "request": found[1], "report_attempts": attempts})
        if path == "/_tollgate/fake" and method == "POST":
            try:
                self.fake.configure(json.loads(_read_body(environ) or b"{}"))
            except (ValueError, TypeError, AttributeError) as err:
                return reply(400, {"error": str(err)})
            return reply(200, self.fake.snapshot())
        return reply(404, {"error": f"no such sandbox endpoint: {method} {path}"})

    @staticmethod
    def respond(start_response, status: int, headers: dict, body: bytes) -> list:
        from http import HTTPStatus

        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]
