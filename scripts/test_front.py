"""Checks the sandbox's front (scripts/sandboxlib/front.py) through real clients: what it answers
itself (AWS Health, CodePipeline job results, CloudFormation drift), CloudWatch's Smithy RPC v2
CBOR translated for moto, and everything else passed to moto unchanged. scripts/test.sh runs it.

    .tools/sandbox/bin/python scripts/test_front.py      ends with "front: N passed, N failed"
"""

from __future__ import annotations

import json
import sys
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
