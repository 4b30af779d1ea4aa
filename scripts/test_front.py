"""Checks the sandbox's front (scripts/sandboxlib/front.py) through real clients: what it answers
itself (AWS Health, CodePipeline job results and execution history, CloudFormation drift, SSM
GetOpsItem), CloudWatch's Smithy RPC v2 CBOR translated for moto (gzipped too), moto's CodePipeline
timestamps as the protocol sends them, everything else passed to moto unchanged; and the GitHub
stand-in (sandboxlib/github.py) the DORA story uses. scripts/test.sh runs it.

    .tools/sandbox/bin/python scripts/test_front.py      ends with "front: N passed, N failed"
"""

from __future__ import annotations

import datetime
import gzip
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
import cbor2  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from sandboxlib.front import FakeAws, Front  # noqa: E402
from sandboxlib.github import Commit, GitHubStandIn  # noqa: E402
from sandboxlib.stories.dora_week import (  # noqa: E402
    OI_1, OI_3, ops_item, pipeline_declaration, pipeline_history, sample_week,
)

results: list[bool] = []
AUTH = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0"


def check(name: str, ok: bool, got=None) -> None:
    results.append(bool(ok))
    print(f"{'ok' if ok else 'FAIL'} - front: {name}" + ("" if ok else f"\n    got: {got!r}"), flush=True)


def cbor_call(url: str, operation: str, body: bytes | None, service: str = "GraniteServiceVersion20100801"):
    request = urllib.request.Request(f"{url}/service/{service}/operation/{operation}", data=body or b"", method="POST",
                                     headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                                              "Accept": "application/cbor", "Authorization": AUTH})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def client_error(call) -> tuple[str, str, int]:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["Error"].get("Message", ""), error.response["ResponseMetadata"]["HTTPStatusCode"]
    return "", "", 200


def conforms(shape, value, path: str = "") -> list[str]:
    """Where a JSON answer strays from AWS's documented output shape (botocore's model): unknown
    members, values outside an enum, wrong types, timestamps not sent as epoch seconds."""
    if value is None:
        return [f"{path}: null"]
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        problems = [f"{path}.{k}: not in {shape.name}" for k in value if k not in shape.members]
        for k, v in value.items():
            if k in shape.members:
                problems += conforms(shape.members[k], v, f"{path}.{k}")
        return problems
    if kind == "list":
        return [p for i, v in enumerate(value) for p in conforms(shape.member, v, f"{path}[{i}]")] if isinstance(value, list) else [f"{path}: not a list"]
    if kind == "map":
        return [p for k, v in value.items() for p in conforms(shape.value, v, f"{path}.{k}")] if isinstance(value, dict) else [f"{path}: not a map"]
    if kind == "timestamp":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: timestamp {value!r} is not epoch seconds"]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        return [f"{path}: {value!r} not in {shape.enum}"] if shape.enum and value not in shape.enum else []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: not an integer"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: not a boolean"]
    return []


def aws_json(url: str, target: str, body: dict, service: str = "codepipeline") -> tuple[int, dict, dict]:
    """One raw awsJson1.1 call: (status, headers, parsed body)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
        "Authorization": AUTH.replace("/monitoring/", f"/{service}/")})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def github_get(url: str, token: str | None) -> tuple[int, dict, object]:
    headers = {"Accept": "application/vnd.github+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def main() -> int:
    fake = FakeAws()
    front = Front(fake)
    url = front.start()
    try:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        cloudwatch = session.client("cloudwatch", endpoint_url=url)
        cloudwatch.put_metric_alarm(AlarmName="front-a", Namespace="N", MetricName="M", Statistic="Average", Period=60,
                                    EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName="front-a", StateValue="ALARM", StateReason="12 > 5")

        # CloudWatch, Smithy RPC v2 CBOR
        status, headers, body = cbor_call(url, "DescribeAlarms", cbor2.dumps({"AlarmNames": ["front-a", "missing"]}))
        alarms = cbor2.loads(body).get("MetricAlarms", []) if status == 200 else []
        alarm = alarms[0] if alarms else {}
        check("CBOR DescribeAlarms answers in CBOR with the protocol headers",
              status == 200 and headers.get("Content-Type") == "application/cbor" and headers.get("smithy-protocol") == "rpc-v2-cbor",
              (status, headers))
        check("CBOR: moto's alarm, doubles as floats, timestamps as tag-1 datetimes, no ResponseMetadata",
              len(alarms) == 1 and alarm.get("StateValue") == "ALARM" and isinstance(alarm.get("Threshold"), float)
              and hasattr(alarm.get("StateUpdatedTimestamp"), "tzinfo") and "ResponseMetadata" not in cbor2.loads(body), alarm)
        status, _, body = cbor_call(url, "DescribeAlarms", None)
        check("CBOR: an empty body is an empty input", status == 200 and "MetricAlarms" in cbor2.loads(body), (status, body[:100]))
        status, _, body = cbor_call(url, "PutMetricAlarm", cbor2.dumps({
            "AlarmName": "front-b", "Namespace": "N", "MetricName": "M", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 3.0, "ComparisonOperator": "GreaterThanThreshold"}))
        check("CBOR: an operation without output answers 200 with no body", status == 200 and body == b"", (status, body))
        status, headers, body = cbor_call(url, "SetAlarmState", cbor2.dumps({"AlarmName": "missing", "StateValue": "OK", "StateReason": "x"}))
        error = cbor2.loads(body) if body else {}
        check("CBOR: moto's error keeps its status, as {__type: shape id, message} and x-amzn-query-error",
              status == 404 and error.get("__type") == "com.amazonaws.cloudwatch#ResourceNotFound"
              and headers.get("x-amzn-query-error") == "ResourceNotFound;Sender", (status, headers, error))
        status, _, body = cbor_call(url, "NoSuchOperation", cbor2.dumps({}))
        check("CBOR: an unknown operation is a 404 UnknownOperationException",
              status == 404 and cbor2.loads(body).get("__type") == "UnknownOperationException", (status, body))
        status, _, body = cbor_call(url, "DescribeAlarms", b"\xff\x00")
        check("CBOR: a body that is not CBOR is a 400 SerializationException",
              status == 400 and cbor2.loads(body).get("__type") == "SerializationException", (status, body))

        # AWS Health
        health = session.client("health", endpoint_url=url)
        lambda_types = health.describe_event_types(filter={"services": ["LAMBDA"]})["eventTypes"]
        check("Health DescribeEventTypes honours filter.services",
              lambda_types and all(t["service"] == "LAMBDA" for t in lambda_types)
              and {"service": "LAMBDA", "code": "AWS_LAMBDA_OPERATIONAL_ISSUE", "category": "issue"} in lambda_types, lambda_types)
        pages = list(health.get_paginator("describe_event_types").paginate(PaginationConfig={"PageSize": 10}))
        check("Health DescribeEventTypes pages with maxResults and nextToken",
              len(pages) > 1 and sum(len(p["eventTypes"]) for p in pages) == 4 * len(fake.health_services), len(pages))
        fake.health_error = (400, "SubscriptionRequiredException", "no support plan")
        code, _, status = client_error(lambda: health.describe_event_types())
        code2, _, _ = client_error(lambda: health.describe_events())
        fake.health_error = None
        check("Health: the configured error fails DescribeEventTypes and DescribeEvents alike",
              code == code2 == "SubscriptionRequiredException" and status == 400, (code, code2, status))
        # AWS Health in Smithy RPC v2 CBOR (what aws-sdk-health sends)
        fake.health_events = [{"arn": "arn:aws:health:us-east-1::event/LAMBDA/AWS_LAMBDA_OPERATIONAL_ISSUE/x",
                               "service": "LAMBDA", "eventTypeCode": "AWS_LAMBDA_OPERATIONAL_ISSUE",
                               "eventTypeCategory": "issue", "region": "us-east-1", "startTime": 1795000000.0,
                               "statusCode": "open"}]
        status, headers, body = cbor_call(url, "DescribeEvents", cbor2.dumps({"filter": {"services": ["LAMBDA"]}}),
                                          service="AWSHealth_20160804")
        events = cbor2.loads(body).get("events", []) if status == 200 else []
        check("Health over CBOR: DescribeEvents answers events, timestamps as CBOR tag 1",
              status == 200 and headers.get("smithy-protocol") == "rpc-v2-cbor" and len(events) == 1
              and events[0].get("service") == "LAMBDA" and isinstance(events[0].get("startTime"), datetime.datetime),
              (status, events))
        fake.health_events = []
        fake.health_error = (400, "SubscriptionRequiredException", "no support plan")
        status, _, body = cbor_call(url, "DescribeEventTypes", cbor2.dumps({}), service="AWSHealth_20160804")
        fake.health_error = None
        check("Health over CBOR: the configured error is a CBOR error with the shape id",
              status == 400 and cbor2.loads(body).get("__type") == "com.amazonaws.health#SubscriptionRequiredException",
              (status, body))

        # CodePipeline job results
        codepipeline = session.client("codepipeline", endpoint_url=url)
        job = str(uuid.uuid4())
        code, message, status = client_error(lambda: codepipeline.put_job_failure_result(
            jobId=job, failureDetails={"type": "JobFailed", "message": "é" * 5001}))
        check("CodePipeline: a 5001-character message is AWS's ValidationException",
              status == 400 and code == "ValidationException" and message == "1 validation error detected: Value at "
              "'failureDetails.message' failed to satisfy constraint: Member must have length less than or equal to 5000", message)
        code, _, _ = client_error(lambda: codepipeline.put_job_failure_result(
            jobId=job, failureDetails={"type": "JobFailed", "message": "é" * 5000}))
        check("CodePipeline: 5000 characters (10000 bytes) are accepted: the limit counts characters", code == "" and job in fake.results, code)
        code, _, _ = client_error(lambda: codepipeline.put_job_success_result(jobId=job))
        check("CodePipeline: a second result is InvalidJobStateException", code == "InvalidJobStateException", code)
        fake.codepipeline_outage = True
        other = str(uuid.uuid4())
        code, _, status = client_error(lambda: codepipeline.put_job_success_result(jobId=other))
        fake.codepipeline_outage = False
        code2, _, _ = client_error(lambda: codepipeline.put_job_success_result(jobId=other))
        check("CodePipeline: the outage switch fails results with 500 InternalFailure, then accepts again",
              (code, status, code2) == ("InternalFailure", 500, "") and fake.results[other][0] == "success", (code, status, code2))

        # CloudWatch, CBOR gzipped as the SDKs send large PutMetricData requests
        datum = {"MetricName": "Gz", "Value": 1.0, "Unit": "Count", "Timestamp": cbor2.CBORTag(1, int(time.time()))}
        request = urllib.request.Request(f"{url}/service/GraniteServiceVersion20100801/operation/PutMetricData",
                                         data=gzip.compress(cbor2.dumps({"Namespace": "FrontGzip", "MetricData": [datum] * 300})),
                                         method="POST", headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                                                                 "Content-Encoding": "gzip", "Authorization": AUTH})
        with urllib.request.urlopen(request, timeout=30) as response:
            gz_status = response.status
        stats = cloudwatch.get_metric_statistics(Namespace="FrontGzip", MetricName="Gz", Statistics=["SampleCount"], Period=3600,
                                                 StartTime=time.time() - 3600, EndTime=time.time() + 60)["Datapoints"]
        check("CBOR: a gzipped body (Content-Encoding: gzip) is decompressed and reaches moto",
              gz_status == 200 and sum(d["SampleCount"] for d in stats) == 300, (gz_status, stats))
        request = urllib.request.Request(f"{url}/service/GraniteServiceVersion20100801/operation/PutMetricData", data=b"not gzip",
                                         method="POST", headers={"smithy-protocol": "rpc-v2-cbor", "Content-Encoding": "gzip", "Authorization": AUTH})
        try:
            urllib.request.urlopen(request, timeout=30)
            bad_gzip = (200, b"")
        except urllib.error.HTTPError as error:
            bad_gzip = (error.code, error.read())
        check("CBOR: a body that is not the gzip it says is a 400 SerializationException",
              bad_gzip[0] == 400 and cbor2.loads(bad_gzip[1]).get("__type") == "SerializationException", bad_gzip)

        # CodePipeline: moto's pipelines, with timestamps as awsJson sends them
        iam = session.client("iam", endpoint_url=url)
        iam.create_role(RoleName="tollgate-sandbox-codepipeline", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))
        codepipeline.create_pipeline(pipeline=pipeline_declaration("payments-release"))
        codepipeline.create_pipeline(pipeline=pipeline_declaration("web-frontend"))
        model = codepipeline.meta.service_model
        status, headers, listed_raw = aws_json(url, "CodePipeline_20150709.ListPipelines", {})
        status2, _, got_raw = aws_json(url, "CodePipeline_20150709.GetPipeline", {"name": "payments-release"})
        problems = conforms(model.operation_model("ListPipelines").output_shape, listed_raw) \
            + conforms(model.operation_model("GetPipeline").output_shape, got_raw)
        check("CodePipeline ListPipelines/GetPipeline: moto's answers, timestamps as epoch seconds, no nulls",
              status == status2 == 200 and not problems and {p["name"] for p in listed_raw.get("pipelines", [])} >= {"payments-release", "web-frontend"}
              and isinstance(got_raw.get("metadata", {}).get("created"), float), (status, status2, problems[:5]))

        # CodePipeline execution history (the stand-in), as the DORA story seeds it
        week = sample_week(int(time.time()) - 7 * 86_400 + 3_600)
        fake.pipeline_history.update(pipeline_history(week))
        orders = week.runs["orders-api-prod"]
        pages = list(codepipeline.get_paginator("list_pipeline_executions").paginate(
            pipelineName="orders-api-prod", PaginationConfig={"PageSize": 3}))
        ids = [e["pipelineExecutionId"] for p in pages for e in p["pipelineExecutionSummaries"]]
        check("ListPipelineExecutions: seeded history, newest first, in pages of maxResults with nextToken",
              len(pages) == 3 and ids == [r.id for r in reversed(orders)] and "nextToken" not in pages[-1], (len(pages), ids[:2]))
        status, _, first = aws_json(url, "CodePipeline_20150709.ListPipelineExecutions", {"pipelineName": "orders-api-prod", "maxResults": 2})
        summary_problems = conforms(model.operation_model("ListPipelineExecutions").output_shape, first)
        first_summary = (first.get("pipelineExecutionSummaries") or [{}])[0]
        check("ListPipelineExecutions: each summary is AWS's shape (sourceRevisions, trigger, executionType, epoch times)",
              status == 200 and not summary_problems and first_summary.get("executionType") == "ROLLBACK"
              and first_summary.get("trigger", {}).get("triggerType") == "AutomatedRollback", (summary_problems[:5], first_summary))
        prod = codepipeline.list_pipeline_executions(pipelineName="payments-release", filter={"succeededInStage": {"stageName": "DeployPROD"}})
        payments = week.runs["payments-release"]
        check("ListPipelineExecutions: filter.succeededInStage leaves out the execution that failed in DeployDEV",
              [e["pipelineExecutionId"] for e in prod["pipelineExecutionSummaries"]] == [r.id for r in reversed(payments) if r.status == "Succeeded"],
              prod["pipelineExecutionSummaries"][:1])
        code, message, status = client_error(lambda: codepipeline.list_pipeline_executions(pipelineName="orders-api-prod", nextToken="not-a-token"))
        code2, message2, _ = client_error(lambda: codepipeline.list_pipeline_executions(pipelineName="orders-api-prod", maxResults=101))
        check("ListPipelineExecutions: a forged nextToken is InvalidNextTokenException, maxResults 101 a ValidationException",
              (code, status, code2) == ("InvalidNextTokenException", 400, "ValidationException") and "less than or equal to 100" in message2,
              (code, code2, message2))
        code, _, _ = client_error(lambda: codepipeline.list_pipeline_executions(pipelineName="no-such-pipeline"))
        check("ListPipelineExecutions: a pipeline nobody knows is moto's PipelineNotFoundException",
              code == "PipelineNotFoundException", code)

        a5, a7 = orders[5], orders[7]
        got = codepipeline.get_pipeline_execution(pipelineName="orders-api-prod", pipelineExecutionId=a5.id)["pipelineExecution"]
        revision = got["artifactRevisions"][0]
        status, _, raw = aws_json(url, "CodePipeline_20150709.GetPipelineExecution", {"pipelineName": "orders-api-prod", "pipelineExecutionId": a7.id})
        problems = conforms(model.operation_model("GetPipelineExecution").output_shape, raw)
        rollback = raw.get("pipelineExecution", {})
        check("GetPipelineExecution: artifactRevisions with revisionId, revisionSummary, revisionUrl; a rollback's type and target",
              revision["revisionId"] == a5.head.sha and json.loads(revision["revisionSummary"])["CommitMessage"] == a5.head.message
              and "FullRepositoryId=octo-org/orders-api" in revision["revisionUrl"] and not problems
              and rollback.get("executionType") == "ROLLBACK"
              and rollback.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId") == a5.id, (revision, problems[:5]))
        code, message, _ = client_error(lambda: codepipeline.get_pipeline_execution(
            pipelineName="orders-api-prod", pipelineExecutionId="00000000-0000-4000-8000-000000000000"))
        check("GetPipelineExecution: an unknown execution is PipelineExecutionNotFoundException",
              code == "PipelineExecutionNotFoundException" and "00000000-0000-4000-8000-000000000000" in message, (code, message))

        details = codepipeline.list_action_executions(pipelineName="orders-api-prod", filter={"pipelineExecutionId": a5.id})["actionExecutionDetails"]
        source = next((d for d in details if d["stageName"] == "Source"), {})
        variables = source.get("output", {}).get("outputVariables", {})
        status, _, raw = aws_json(url, "CodePipeline_20150709.ListActionExecutions", {"pipelineName": "payments-release"})
        problems = conforms(model.operation_model("ListActionExecutions").output_shape, raw)
        check("ListActionExecutions: the source action's outputVariables name branch, commit, message and repository",
              variables == {"BranchName": "main", "CommitId": a5.head.sha, "CommitMessage": a5.head.message,
                            "FullRepositoryName": "octo-org/orders-api", "AuthorDate": variables.get("AuthorDate"),
                            "ConnectionArn": variables.get("ConnectionArn")}
              and {d["pipelineExecutionId"] for d in details} == {a5.id} and not problems, (variables, problems[:5]))
        pages = list(codepipeline.get_paginator("list_action_executions").paginate(
            pipelineName="payments-release", PaginationConfig={"PageSize": 5}))
        check("ListActionExecutions: paginated with maxResults and nextToken, every action once",
              len(pages) > 1 and sum(len(p["actionExecutionDetails"]) for p in pages) == len(raw.get("actionExecutionDetails", [])),
              len(pages))
        fake.pipeline_history.pop("web-frontend", None)  # moto's pipeline, no seeded history
        empty = codepipeline.list_action_executions(pipelineName="web-frontend")["actionExecutionDetails"]
        code, _, _ = client_error(lambda: codepipeline.list_action_executions(pipelineName="no-such-pipeline"))
        check("ListActionExecutions: a moto pipeline without seeded history has none; an unknown one is PipelineNotFoundException",
              empty == [] and code == "PipelineNotFoundException", (empty, code))

        # GetPipelineState (approvals confirm a waiting action's token with it)
        fake.configure({"merge": True, "pipeline_states": {"orders-api-prod": [
            {"stageName": "Approve", "inboundTransitionState": {"enabled": True},
             "latestExecution": {"pipelineExecutionId": a5.id, "status": "InProgress"},
             "actionStates": [{"actionName": "ReleaseManager", "latestExecution": {
                 "status": "InProgress", "token": "0d6e7a5c-approval-token", "lastStatusChange": 1_790_000_000}}]}]}})
        fake.configure({"merge": True, "pipeline_states": {"other": []}})
        state = codepipeline.get_pipeline_state(name="orders-api-prod")
        status, _, raw = aws_json(url, "CodePipeline_20150709.GetPipelineState", {"name": "orders-api-prod"})
        problems = conforms(model.operation_model("GetPipelineState").output_shape, raw)
        action = state["stageStates"][0]["actionStates"][0]["latestExecution"]
        check("GetPipelineState: a seeded waiting approval (InProgress, its token, the stage's execution) in AWS's shape; merged seeds kept",
              status == 200 and not problems and action["token"] == "0d6e7a5c-approval-token"
              and state["stageStates"][0]["latestExecution"]["pipelineExecutionId"] == a5.id
              and hasattr(state["created"], "tzinfo") and "other" in fake.pipeline_states, (problems[:5], action))
        declared = codepipeline.get_pipeline_state(name="web-frontend")["stageStates"]
        code, message, status = client_error(lambda: codepipeline.get_pipeline_state(name="no-such-pipeline"))
        check("GetPipelineState: a moto pipeline without a seeded state lists its stages and actions, none run; "
              "an unknown one is PipelineNotFoundException",
              declared and all("latestExecution" not in a for st in declared for a in st["actionStates"])
              and (code, status) == ("PipelineNotFoundException", 400) and "no-such-pipeline" in message, (declared[:1], code))

        # SSM OpsCenter
        ssm = session.client("ssm", endpoint_url=url)
        plans = {p.id: p for p in week.ops_items}
        fake.ops_items.update({OI_1: ops_item(plans[OI_1], resolved=True), OI_3: ops_item(plans[OI_3], resolved=False)})
        item = ssm.get_ops_item(OpsItemId=OI_1)["OpsItem"]
        status, _, raw = aws_json(url, "AmazonSSM.GetOpsItem", {"OpsItemId": OI_3}, service="ssm")
        problems = conforms(ssm.meta.service_model.operation_model("GetOpsItem").output_shape, raw)
        resources = json.loads(item["OperationalData"]["/aws/resources"]["Value"])
        check("SSM GetOpsItem: OperationalData (/aws/resources, tollgate:pipeline), status and times as AWS answers them",
              item["Status"] == "Resolved" and resources == [{"arn": "arn:aws:codepipeline:us-east-1:123456789012:orders-api-prod"}]
              and item["LastModifiedTime"].timestamp() == plans[OI_1].resolved and not problems
              and raw["OpsItem"]["OperationalData"]["tollgate:pipeline"]["Value"] == "payments-release", (item.get("Status"), problems[:5]))
        code, _, status = client_error(lambda: ssm.get_ops_item(OpsItemId="oi-ffffffffffff"))
        code2, message2, _ = client_error(lambda: ssm.get_ops_item(OpsItemId="oi-123"))
        check("SSM GetOpsItem: an unknown OpsItem is OpsItemNotFoundException, a malformed id a ValidationException",
              (code, status, code2) == ("OpsItemNotFoundException", 400, "ValidationException") and "^(oi)-[0-9a-f]{12}$" in message2,
              (code, code2, message2))

        # The GitHub stand-in
        with GitHubStandIn("ghp_test") as github:
            commits = [Commit(f"{i:040x}", 1_700_000_000 + 60 * i, f"change {i}") for i in range(1, 261)]
            github.add_repository("octo-org/shop", commits)
            base, head = commits[0].sha, commits[-1].sha
            status, headers, page1 = github_get(f"{github.url}/repos/octo-org/shop/compare/{base}...{head}?per_page=100&page=1", "ghp_test")
            link = headers.get("Link", "")
            status3, headers3, page3 = github_get(f"{github.url}/repos/octo-org/shop/compare/{base}...{head}?per_page=100&page=3", "ghp_test")
            check("GitHub compare: per_page/page pages, oldest first, with a Link header (next, last; first, prev)",
                  status == 200 and page1["total_commits"] == 259 and len(page1["commits"]) == 100
                  and page1["commits"][0]["sha"] == commits[1].sha and 'page=2>; rel="next"' in link and 'page=3>; rel="last"' in link
                  and len(page3["commits"]) == 59 and page3["commits"][-1]["sha"] == head and 'rel="next"' not in headers3.get("Link", "")
                  and 'page=1>; rel="first"' in headers3.get("Link", ""), (status, link, len(page3.get("commits", []))))
            status, headers, whole = github_get(f"{github.url}/repos/octo-org/shop/compare/{base}...{head}", "ghp_test")
            check("GitHub compare: without pagination at most 250 commits and no Link, as GitHub answers",
                  status == 200 and len(whole["commits"]) == 250 and whole["ahead_by"] == 259 and "Link" not in headers, len(whole.get("commits", [])))
            status, _, one = github_get(f"{github.url}/repos/octo-org/shop/commits/{commits[5].sha}", "ghp_test")
            status2, _, missing = github_get(f"{github.url}/repos/octo-org/shop/commits/{'f' * 40}", "ghp_test")
            check("GitHub commit: the committer date; an unknown SHA is 422 \"No commit found for SHA\"",
                  status == 200 and one["commit"]["committer"]["date"] == "2023-11-14T22:19:20Z"
                  and status2 == 422 and missing["message"].startswith("No commit found for SHA"), (status, one.get("commit"), status2))
            status, _, _ = github_get(f"{github.url}/repos/octo-org/shop/commits/{commits[5].sha}", None)
            status2, _, bad = github_get(f"{github.url}/repos/octo-org/shop/commits/{commits[5].sha}", "ghp_wrong")
            github.rate_limited = 1
            status3, headers3, limited = github_get(f"{github.url}/repos/octo-org/shop/commits/{commits[5].sha}", "ghp_test")
            check("GitHub: a private repository is 404 without a token, 401 with a wrong one; the rate limit is 403 with remaining 0",
                  (status, status2, status3) == (404, 401, 403) and bad["message"] == "Bad credentials"
                  and headers3.get("X-RateLimit-Remaining") == "0" and "rate limit" in limited["message"], (status, status2, status3))

        # passed to moto, and the sandbox endpoints
        dynamodb = session.client("dynamodb", endpoint_url=url)
        dynamodb.create_table(TableName="front-t", BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        check("DynamoDB (awsJson) reaches moto", "front-t" in dynamodb.list_tables()["TableNames"])
        s3 = session.client("s3", endpoint_url=url)
        s3.create_bucket(Bucket="front-bucket")
        s3.put_object(Bucket="front-bucket", Key="k", Body=b"hello", Metadata={"my_key": "v"})
        obj = s3.get_object(Bucket="front-bucket", Key="k")
        check("S3 (REST, PUT/GET, underscored metadata) reaches moto", obj["Body"].read() == b"hello" and obj["Metadata"] == {"my_key": "v"})
        cloudformation = session.client("cloudformation", endpoint_url=url)
        cloudformation.create_stack(StackName="front-stack", TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}))
        detection = cloudformation.detect_stack_drift(StackName="front-stack")["StackDriftDetectionId"]
        check("CloudFormation: drift from the stand-in, stacks from moto (query protocol)",
              cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId=detection)["StackDriftStatus"] == "IN_SYNC"
              and cloudformation.describe_stacks(StackName="front-stack")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE")
        with urllib.request.urlopen(urllib.request.Request(f"{url}/_tollgate/fake", data=json.dumps({"health_events": []}).encode(), method="POST")) as r:
            configured = r.status == 200
        with urllib.request.urlopen(f"{url}/_tollgate/jobs/{job}") as r:
            found = json.loads(r.read())
        check("sandbox endpoints: settings and job results over HTTP", configured and found.get("result") == "failure", found)
    finally:
        front.stop()
    passed = sum(results)
    print(f"\nfront: {passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
