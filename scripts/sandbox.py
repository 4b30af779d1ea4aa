"""Tollgate's local AWS sandbox: moto, a stand-in for the APIs moto lacks, and the real Lambda
binaries under `cargo lambda watch`, all on 127.0.0.1, all stopped on exit.

    sandbox.py run   tells the story of each sample event in events/ (the README's run command)
    sandbox.py e2e   the same scenarios as end-to-end tests: "N passed, N failed", exit 1 on failure

Run it with the sandbox venv's Python (scripts/tools.sh makes it; scripts/run.sh and
scripts/test.sh call it for you). Each function's environment is built from template.yaml,
the one place that says how a deployment is configured.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools" / "sandbox" / "bin"
REGION = "us-east-1"
# Lambda binary -> its logical id in template.yaml.
FUNCTIONS = {"health-gate": "HealthGateFunction", "drift-gate": "DriftGateFunction", "drift-callback": "DriftCallbackFunction"}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Secrets in the sample events that must never reach a log line.
SAMPLE_SECRETS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


# ----------------------------------------------------------------------------- the stand-in
@dataclass
class FakeAws:
    """AWS Health DescribeEvents and CodePipeline job results, which moto does not implement.

    Answers in AWS's JSON 1.1 protocol, like the real services: a second result for a job that
    already has one gets InvalidJobStateException, as CodePipeline does."""

    moto_url: str = ""
    health_events: list = field(default_factory=list)
    health_error: tuple | None = None  # (status, __type, message)
    results: dict = field(default_factory=dict)  # job id -> ("success"|"failure", request)
    calls: list = field(default_factory=list)
    # CloudFormation drift detection: stack -> list of (logical id, type, status, [paths])
    stack_drifts: dict = field(default_factory=dict)
    detections: dict = field(default_factory=dict)  # detection id -> stack

    def cloudformation(self, form: dict) -> tuple[int, str] | None:
        """CloudFormation's drift APIs (query protocol, XML), which moto lacks; None: ask moto."""
        action = form.get("Action", [""])[0]
        ns = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'
        meta = "<ResponseMetadata><RequestId>0a1b2c3d-tollgate-sandbox</RequestId></ResponseMetadata>"
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
                f"<StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1</StackId>"
                f"<StackDriftDetectionId>{detection_id}</StackDriftDetectionId>"
                f"<StackDriftStatus>{'DRIFTED' if drifted else 'IN_SYNC'}</StackDriftStatus>"
                f"<DetectionStatus>DETECTION_COMPLETE</DetectionStatus>"
                f"<DriftedStackResourceCount>{len(drifted)}</DriftedStackResourceCount>"
                f"<Timestamp>2026-11-22T10:00:00Z</Timestamp>"
            )
        elif action == "DescribeStackResourceDrifts":
            stack = form["StackName"][0]
            members = "".join(
                f"<member><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1</StackId>"
                f"<LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>"
                f"<StackResourceDriftStatus>{status}</StackResourceDriftStatus><PropertyDifferences>"
                + "".join(f"<member><PropertyPath>{p}</PropertyPath><ExpectedValue>a</ExpectedValue><ActualValue>b</ActualValue>"
                          f"<DifferenceType>NOT_EQUAL</DifferenceType></member>" for p in paths)
                + "</PropertyDifferences><Timestamp>2026-11-22T10:00:00Z</Timestamp></member>"
                for logical, kind, status, paths in self.stack_drifts.get(stack, [])
            )
            result = f"<StackResourceDrifts>{members}</StackResourceDrifts>"
        else:
            return None
        return 200, f"<{action}Response {ns}><{action}Result>{result}</{action}Result>{meta}</{action}Response>"

    def handle(self, target: str, body: dict) -> tuple[int, dict]:
        self.calls.append(target)
        operation = target.split(".")[-1]
        if operation == "DescribeEvents":
            if self.health_error:
                status, kind, message = self.health_error
                return status, {"__type": kind, "message": message}
            return 200, {"events": self.health_events}
        if operation in ("PutJobSuccessResult", "PutJobFailureResult"):
            job_id = body.get("jobId", "")
            if job_id in self.results:
                return 400, {"__type": "InvalidJobStateException", "message": f"The job {job_id} is in an invalid state"}
            self.results[job_id] = ("success" if operation == "PutJobSuccessResult" else "failure", body)
            return 200, {}
        return 400, {"__type": "UnknownOperationException", "message": f"{target} is not faked"}

    def serve(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not self.headers.get("X-Amz-Target"):
                    return self.query_protocol(raw)
                status, payload = fake.handle(self.headers.get("X-Amz-Target", ""), json.loads(raw or b"{}"))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                if status >= 400:
                    self.send_header("x-amzn-ErrorType", payload["__type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def query_protocol(self, raw: bytes) -> None:
                answer = fake.cloudformation(urllib.parse.parse_qs(raw.decode()))
                if answer is None:  # everything else CloudFormation does, moto does
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    request = urllib.request.Request(fake.moto_url + self.path, data=raw, method="POST", headers=headers)
                    try:
                        with urllib.request.urlopen(request, timeout=30) as response:
                            status, body, ctype = response.status, response.read(), response.headers.get("Content-Type", "text/xml")
                    except urllib.error.HTTPError as err:
                        status, body, ctype = err.code, err.read(), err.headers.get("Content-Type", "text/xml")
                else:
                    status, text = answer
                    body, ctype = text.encode(), "text/xml"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


# ----------------------------------------------------------------------------- template.yaml
class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def function_environment(function_logical_id: str, resources: dict[str, str]) -> dict[str, str]:
    """The environment template.yaml gives a function (Globals, then its own variables), with
    !Ref resolved to parameter defaults or to the sandbox's resources."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    params = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    globals_fn = template.get("Globals", {}).get("Function", {})
    fn = template["Resources"][function_logical_id]["Properties"]

    def resolve(value):
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in params:
                return params[ref]
            if ref in resources:
                return resources[ref]
            raise KeyError(f"template.yaml: !Ref {ref} has no sandbox value (add it to the sandbox's resources)")
        return str(value)

    env = {}
    for source in (globals_fn, fn):
        for name, value in (source.get("Environment", {}).get("Variables", {}) or {}).items():
            env[name] = resolve(value)
    logging = {**globals_fn.get("LoggingConfig", {}), **fn.get("LoggingConfig", {})}
    if logging.get("LogFormat") == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
    if "ApplicationLogLevel" in logging:
        env["AWS_LAMBDA_LOG_LEVEL"] = resolve(logging["ApplicationLogLevel"])
    return env


# ----------------------------------------------------------------------------- the sandbox
class Sandbox:
    def __init__(self, watch: bool = True) -> None:
        self.watch = watch
        self.procs: list[subprocess.Popen] = []
        self.fake = FakeAws()
        self.fake_server = None
        self.log_path = Path(tempfile.mkstemp(prefix="tollgate-watch-", suffix=".log")[1])

    def __enter__(self) -> "Sandbox":
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self.start_backends()
        if self.watch:
            env: dict[str, str] = {}
            for logical_id in FUNCTIONS.values():
                for key, value in self.function_env(logical_id).items():
                    if env.get(key, value) != value:
                        raise RuntimeError(f"template.yaml gives {key} different values per function; the sandbox runs them with one environment")
                    env[key] = value
            self.start_watch(env)

    def start_backends(self) -> None:
        """moto, the stand-in for what moto lacks, and the resources template.yaml would create."""
        moto_port = free_port()
        moto = subprocess.Popen(
            [str(TOOLS / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.procs.append(moto)
        wait_for_port(moto_port, "moto", moto, 60)
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self.fake.moto_url = self.moto_url
        self.fake_server = self.fake.serve()
        self.fake_url = f"http://127.0.0.1:{self.fake_server.server_address[1]}"

        session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        self.dynamodb = session.client("dynamodb", endpoint_url=self.moto_url)
        self.cloudwatch = session.client("cloudwatch", endpoint_url=self.moto_url)
        self.cloudformation = session.client("cloudformation", endpoint_url=self.moto_url)
        self.table = "tollgate-state"
        self.dynamodb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        )
        self.dynamodb.update_time_to_live(TableName=self.table, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})

    def function_env(self, logical_id: str) -> dict[str, str]:
        """A function's environment from template.yaml, pointed at the sandbox."""
        env = function_environment(logical_id, {"StateTable": self.table})
        env.update({
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_CODEPIPELINE": self.fake_url,
            "AWS_ENDPOINT_URL_HEALTH": self.fake_url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": self.fake_url,
        })
        return env

    def start_watch(self, env: dict[str, str]) -> None:
        """The functions under `cargo lambda watch`, on 127.0.0.1."""
        env_file = Path(tempfile.mkstemp(prefix="tollgate-env-")[1])
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.invoke_port = free_port()
        cargo_lambda = TOOLS / "cargo-lambda"
        watch = subprocess.Popen(
            [str(cargo_lambda), "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.invoke_port), "--env-file", str(env_file)],
            cwd=ROOT, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}", "CARGO_TERM_COLOR": "never"},
        )
        self.procs.append(watch)
        wait_for_port(self.invoke_port, "cargo lambda watch", watch, 120)

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.fake_server:
            self.fake_server.shutdown()

    def invoke(self, function: str, event: dict, timeout: float = 600) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.invoke_port}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(event).encode(), method="POST", headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return {"invokeError": err.code, "body": err.read().decode(errors="replace")}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def create_stack(self, name: str) -> None:
        self.cloudformation.create_stack(
            StackName=name, TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}))

    def set_alarm(self, name: str, state: str, reason: str) -> None:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="Tollgate/Demo", MetricName="5xxRate", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
        )
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def sample(name: str, job_id: str | None = None) -> dict:
    """A sample event from events/; a pipeline job gets a fresh job id (each run is a new job)."""
    event = json.loads((ROOT / "events" / name).read_text())
    if "CodePipeline.job" in event:
        event["CodePipeline.job"]["id"] = job_id or str(uuid.uuid4())
    return event


def health_issue(service: str, region: str) -> dict:
    return {
        "arn": f"arn:aws:health:{region}::event/{service}/AWS_{service}_OPERATIONAL_ISSUE/AWS_{service}_OPERATIONAL_ISSUE_DEMO",
        "service": service, "eventTypeCode": f"AWS_{service}_OPERATIONAL_ISSUE", "eventTypeCategory": "issue",
        "region": region, "startTime": 1795000000.0, "statusCode": "open",
    }


# ----------------------------------------------------------------------------- scenarios
@dataclass
class Outcome:
    kind: str  # success | failure | none
    detail: str
    body: dict


def job_outcome(box: Sandbox, job_id: str) -> Outcome:
    if job_id not in box.fake.results:
        return Outcome("none", "no job result was reported", {})
    kind, body = box.fake.results[job_id]
    if kind == "success":
        variables = ", ".join(f"{k}={v}" for k, v in sorted((body.get("outputVariables") or {}).items()))
        summary = (body.get("executionDetails") or {}).get("summary", "")
        return Outcome(kind, f"{summary} [{variables}]", body)
    details = body.get("failureDetails") or {}
    return Outcome(kind, f"{details.get('type')}: {details.get('message')}", body)


def scenarios(box: Sandbox):
    """Yields (title, event file, check) after running each scenario; check is (ok, why)."""
    fake = box.fake

    def run_gate(event_file: str, job_id: str | None = None) -> tuple[Outcome, dict]:
        event = sample(event_file, job_id)
        response = box.invoke("health-gate", event)
        return job_outcome(box, event["CodePipeline.job"]["id"]), response

    fake.health_events, fake.health_error = [], None
    out, _ = run_gate("health-gate.healthy.json")
    yield ("platform healthy: the gate lets the deployment through", "health-gate.healthy.json", out,
           out.kind == "success" and "HealthStatus=HEALTHY" in out.detail)

    fake.health_events = [health_issue("LAMBDA", "us-east-1"), health_issue("EC2", "ap-south-1")]
    out, _ = run_gate("health-gate.healthy.json")
    yield ("AWS Health reports a Lambda issue in us-east-1: the gate stops the deployment",
           "health-gate.healthy.json", out,
           out.kind == "failure" and "LAMBDA in us-east-1" in out.detail and "ap-south-1" not in out.detail)

    fake.health_events = [health_issue("EC2", "ap-south-1")]
    out, _ = run_gate("health-gate.regions-csv.json")
    yield ("an issue only in a region not deployed to (ap-south-1) does not block",
           "health-gate.regions-csv.json", out,
           out.kind == "success" and "RegionsChecked=us-east-1,eu-west-1" in out.detail)

    fake.health_events = []
    box.set_alarm("tollgate-demo-api-5xx", "ALARM", "5xx rate 12% > 5% for 1 datapoint")
    out, _ = run_gate("health-gate.alarms.json")
    yield ("the service's own 5xx alarm fires (CloudWatch in moto): the gate stops the deployment",
           "health-gate.alarms.json", out,
           out.kind == "failure" and "tollgate-demo-api-5xx is in ALARM: 5xx rate 12%" in out.detail)
    box.set_alarm("tollgate-demo-api-5xx", "OK", "recovered")

    fake.health_error = (400, "SubscriptionRequiredException", "The AWS Health API requires a Business, Enterprise On-Ramp or Enterprise Support plan.")
    out, _ = run_gate("health-gate.healthy.json")
    yield ("account without a support plan: the gate fails closed and says how to opt out",
           "health-gate.healthy.json", out,
           out.kind == "failure" and "whenHealthUnavailable" in out.detail)
    fake.health_error = None

    out, _ = run_gate("health-gate.bad-params.json")
    yield ("a typo in UserParameters: the job fails with a configuration error naming the field",
           "health-gate.bad-params.json", out,
           out.kind == "failure" and out.detail.startswith("ConfigurationError: UserParameters: unknown field `region`"))

    job_id = str(uuid.uuid4())
    run_gate("health-gate.healthy.json", job_id)
    before = dict(fake.results)
    out, response = run_gate("health-gate.healthy.json", job_id)
    yield ("the same job delivered twice: one result, the duplicate is recognised",
           "health-gate.healthy.json", out,
           response.get("duplicate") is True and fake.results == before)

    yield from drift_scenarios(box)

    logs = box.logs()
    leaked = [s for s in SAMPLE_SECRETS if s in logs]
    yield ("the function's JSON logs never contain the job's artifact credentials", "(logs)",
           Outcome("logs", f"{logs.count(chr(10))} log lines checked; leaked: {leaked or 'none'}", {}),
           not leaked and '"pipeline job received"' in logs)


def drift_event(sample_name: str, detection_id: str) -> dict:
    event = json.loads((ROOT / "events" / sample_name).read_text())
    event["detail"]["stack-drift-detection-id"] = detection_id
    return event


def drift_scenarios(box: Sandbox):
    fake = box.fake
    for stack in ("orders-api", "orders-network"):
        box.create_stack(stack)

    def detection_of(stack: str) -> str:
        return [d for d, s in fake.detections.items() if s == stack][-1]

    def start(event_file: str) -> tuple[str, dict]:
        event = sample(event_file)
        return event["CodePipeline.job"]["id"], box.invoke("drift-gate", event)

    job_id, response = start("drift-gate.one-stack.json")
    waiting = response.get("result") == "waiting" and job_id not in fake.results
    fake.stack_drifts["orders-api"] = [("OrdersBucket", "AWS::S3::Bucket", "MODIFIED", ["/Tags/0/Value"])]
    box.invoke("drift-callback", drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    out = job_outcome(box, job_id)
    yield ("drift only in ignored tags: the gate waits for CloudFormation, then lets the deployment through",
           "drift-gate.one-stack.json + drift-callback.in-sync.json", out,
           waiting and out.kind == "success" and "DriftStatus=IN_SYNC" in out.detail)

    fake.stack_drifts["orders-api"] = []  # someone put the bucket's tags back
    job_id, _ = start("drift-gate.two-stacks.json")
    fake.stack_drifts["orders-network"] = [("PrivateSubnet", "AWS::EC2::Subnet", "DELETED", [])]
    first = box.invoke("drift-callback", drift_event("drift-callback.drifted.json", detection_of("orders-network")))
    box.invoke("drift-callback", drift_event("drift-callback.in-sync.json", detection_of("orders-api")))
    out = job_outcome(box, job_id)
    yield ("someone deleted a subnet by hand: the gate stops the deployment once both stacks are checked",
           "drift-gate.two-stacks.json + drift-callback.drifted.json", out,
           first.get("progress") == "waiting for other stacks" and out.kind == "failure"
           and "orders-network: PrivateSubnet (AWS::EC2::Subnet) DELETED" in out.detail and "orders-api:" not in out.detail)

    before = dict(fake.results)
    again = box.invoke("drift-callback", drift_event("drift-callback.duplicate.json", detection_of("orders-network")))
    yield ("the drift event delivered twice: nothing changes", "drift-callback.duplicate.json",
           Outcome("ignored", json.dumps(again), again), again.get("progress") == "already decided" and fake.results == before)

    stranger = box.invoke("drift-callback", drift_event("drift-callback.drifted.json", "not-started-by-tollgate"))
    yield ("a drift detection someone else started: ignored", "drift-callback.drifted.json",
           Outcome("ignored", json.dumps(stranger), stranger), stranger.get("ignored") == "detection not started by Tollgate")

    job_id, _ = start("drift-gate.bad-params.json")
    out = job_outcome(box, job_id)
    yield ("a typo in the drift gate's UserParameters: a configuration error naming the field",
           "drift-gate.bad-params.json", out,
           out.kind == "failure" and out.detail.startswith("ConfigurationError: UserParameters: unknown field `stack`"))

    schedule = box.invoke("drift-callback", json.loads((ROOT / "events" / "drift-callback.schedule.json").read_text()))
    yield ("the reconciler's schedule finds every job closed", "drift-callback.schedule.json",
           Outcome("reconciled", json.dumps(schedule), schedule), schedule.get("reconciled") == [])


def main(mode: str) -> int:
    passed = failed = 0
    with Sandbox() as box:
        if mode == "run":
            print(f"Tollgate sandbox: moto at {box.moto_url}, functions under cargo lambda watch on 127.0.0.1:{box.invoke_port}\n")
        for title, event_file, outcome, ok in scenarios(box):
            if ok:
                passed += 1
            else:
                failed += 1
            if mode == "run":
                mark = "✔" if ok else "✘ unexpected"
                detail = outcome.detail.replace("\n", "\n      ")
                print(f"▶ {title}\n  event: events/{event_file}\n  {mark} job {outcome.kind}: {detail}\n")
            else:
                print(f"{'ok' if ok else 'FAIL'} - e2e: {title}" + ("" if ok else f"\n    got {outcome.kind}: {outcome.detail}"))
        if failed:
            tail = "\n".join(box.logs().splitlines()[-40:])
            print(f"\n--- last lines of cargo lambda watch ---\n{tail}", file=sys.stderr)
    print(f"\n{mode}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("run", "e2e"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
