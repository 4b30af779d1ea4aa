"""Sandbox: the front (moto and the stand-in, one endpoint), the resources template.yaml would
create, and optionally the functions under `cargo lambda watch`, all on 127.0.0.1, all stopped on
exit. Nothing is written outside target/tollgate/ (logs, and the state file of a sandbox kept up
for scripts/invoke.sh); the functions get their environment, fake credentials included, from the
process environment, never from a file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3

from .front import FakeAws, Front
from .paths import ACCOUNT, CREDENTIALS, REGION, ROOT, STACK_NAME, TOOLS, new_log, state_file
from .procs import clean_environ, stop_session, uninterrupted
from .template import function_environment, function_settings, functions as template_functions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    where = f"; see {log}" if log else ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}{where}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s{where}")


class Sandbox:
    """`with Sandbox() as box:` the front on a free port, the state table, and (watch=True) every
    function in `functions` (default None: all; an empty list: none, for stories that run their
    binaries themselves) under cargo lambda watch. watch=False: the AWS side only, for running
    function binaries yourself with `box.function_env(logical_id)`.

    `parameters` and `resources` are the deployment's (sandboxlib.stories.deployment() gives the
    sandbox's): template parameters as sam deploy's overrides, and the physical names of the
    template's resources. What the sample events refer to is seeded by the caller (the stories' seed)."""

    def __init__(self, watch: bool = True, functions=None, log_kind: str = "sandbox",
                 parameters: dict[str, str] | None = None, resources: dict[str, str] | None = None) -> None:
        self.watch = watch
        self.functions = list(template_functions() if functions is None else functions)
        self.procs: list[subprocess.Popen] = []
        self.fake = FakeAws()
        self.front: Front | None = None
        self.log_path = new_log(log_kind) if watch else None
        self.table = "tollgate-state"
        self.parameters: dict[str, str] = dict(parameters or {})
        self.resources: dict[str, str] = {
            "StateTable": self.table, "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.table}",
            **(resources or {})}
        self.invoke_port = None
        self.state_written = False
        self.closers: list = []  # more to stop on close (stand-ins a caller started for this sandbox)

    @classmethod
    def attached(cls, state: dict) -> "Sandbox":
        """A handle on a sandbox another process keeps up (its state file), for function_env and
        lambda_env; it starts and stops nothing."""
        box = cls(watch=False, parameters=state.get("parameters"), resources=state.get("resources"))
        box.url = box.moto_url = box.fake_url = state["url"]
        box.table = state.get("table", box.table)
        box.invoke_port = state.get("invoke_port")
        box.attached_to = state
        return box

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        try:
            self.start_backends()
            if self.watch and self.functions:
                env: dict[str, str] = {}
                for name in self.functions:
                    for key, value in self.function_env(template_functions()[name]).items():
                        if env.get(key, value) != value:
                            raise RuntimeError(f"template.yaml gives {key} different values per function; the sandbox runs them with one environment")
                        env[key] = value
                self.start_watch(env)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops everything this sandbox started; safe to call twice."""
        while self.closers:
            self.closers.pop()()
        for proc in reversed(self.procs):
            stop_session(proc)
        self.procs.clear()
        if self.front:
            self.front.stop()
            self.front = None
        if self.state_written:
            state_file().unlink(missing_ok=True)
            self.state_written = False

    def start_backends(self) -> None:
        """The front (moto and the stand-in) and the resources template.yaml would create."""
        self.front = Front(self.fake)
        self.url = self.front.start()
        # Older names for the same endpoint: moto and the stand-in now share it.
        self.moto_url = self.fake_url = self.url
        # Step Functions' service integrations (sqs:sendMessage.waitForTaskToken...) make moto call
        # itself at localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = self.url.rsplit(":", 1)[1]

        session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        self.dynamodb = session.client("dynamodb", endpoint_url=self.url)
        self.cloudwatch = session.client("cloudwatch", endpoint_url=self.url)
        self.cloudformation = session.client("cloudformation", endpoint_url=self.url)
        self.dynamodb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        )
        self.dynamodb.update_time_to_live(TableName=self.table, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})

    # ------------------------------------------------------------------ environments
    def function_env(self, logical_id: str) -> dict[str, str]:
        """A function's environment from template.yaml, pointed at the sandbox: every AWS call goes
        to the front (AWS_ENDPOINT_URL), with fake credentials."""
        env = function_environment(logical_id, self.resources, self.parameters)
        env.update({**CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.url})
        return env

    def lambda_env(self, function: str) -> dict[str, str]:
        """function_env plus what Lambda itself sets for a function (name, memory, log group...),
        as it would for the deployed function (stack `tollgate`)."""
        settings = function_settings(template_functions()[function], self.resources, self.parameters)
        return {
            **self.function_env(template_functions()[function]),
            "AWS_LAMBDA_FUNCTION_NAME": settings["name"],
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": settings["memory"],
            "AWS_LAMBDA_LOG_GROUP_NAME": settings["log_group"],
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "_HANDLER": "bootstrap",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
        }

    def function_timeout(self, function: str) -> float:
        return float(function_settings(template_functions()[function], self.resources, self.parameters)["timeout"])

    def function_arn(self, function: str) -> str:
        name = function_settings(template_functions()[function], self.resources, self.parameters)["name"]
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    # ------------------------------------------------------------------ functions
    def start_watch(self, env: dict[str, str]) -> None:
        """The functions under `cargo lambda watch`, on 127.0.0.1. Their environment is this child's
        environment: no env file, no credentials on disk."""
        self.invoke_port = free_port()
        with self.log_path.open("w") as log, uninterrupted():
            watch = subprocess.Popen(
                [str(TOOLS / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(self.invoke_port)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**clean_environ(), **env, "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}", "CARGO_TERM_COLOR": "never"},
            )
            self.procs.append(watch)
        wait_for_port(self.invoke_port, "cargo lambda watch", watch, 120, self.log_path)

    def invoke(self, function: str, event: dict, timeout: float = 600) -> dict:
        """Invokes a function under cargo lambda watch; its response, or {"invokeError": status, "body"}."""
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
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    # ------------------------------------------------------------------ resources for scenarios
    def create_stack(self, name: str) -> None:
        self.cloudformation.create_stack(
            StackName=name, TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}))

    def set_alarm(self, name: str, state: str, reason: str) -> None:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="Tollgate/Demo", MetricName="5xxRate", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
        )
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    # ------------------------------------------------------------------ a sandbox kept up
    def write_state(self) -> Path:
        """Tells scripts/invoke.sh where this sandbox is (removed again by close())."""
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"pid": os.getpid(), "url": self.url, "region": REGION, "stack": STACK_NAME, "table": self.table,
                 "invoke_port": self.invoke_port, "functions": self.functions if self.watch else [],
                 "parameters": self.parameters, "resources": self.resources,
                 "log": str(self.log_path) if self.log_path else None}
        tmp = path.with_suffix(".json.part")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)
        self.state_written = True
        return path

