"""The Lambda Runtime API on 127.0.0.1, the one way the sandbox runs a function binary as Lambda does.

    invoke_binary(binary, env, event, ...)   start the binary, hand it one event, take its answer
                                             (scripts/invoke.sh, stories, bench, release smoke runs)
    Function(binary, env, instances, ...)    warm processes of one binary, invoke() many times
    HttpApi(function)                        API Gateway's HTTP API (payload format 2.0) in front of
                                             a Function: approval-api's page, branch-pipelines' webhook

Like Lambda, the API holds a function's next /next request open until there is an event for it; it
never answers /next without one (the Rust runtime would panic on an answer without a request id).
The caller stops the process when it has its answer. Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .paths import ACCOUNT
from .procs import stop_session, uninterrupted


class JsonReplyHandler(BaseHTTPRequestHandler):
    """A quiet request handler that answers JSON."""

    protocol_version = "HTTP/1.1"

    def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a function stopped while it waits for its next event: its connection breaks


@dataclass
class Invocation:
    kind: str  # "response" | "error" (the function reported one) | "init-error" | "timeout" | "crash"
    payload: object  # the parsed JSON the function returned or reported, or a message
    duration_ms: float  # event handed out -> answer (or -> giving up)
    exit_status: int | None = None  # set when the process ended by itself
    init_ms: float | None = None  # process start -> first /next (invoke_binary only)
    total_ms: float | None = None  # process start -> answer (invoke_binary only)
    rss_kb: int = 0  # peak RSS when it answered (invoke_binary only)
    handed_out: bool = False  # the function took the event


_CLOSING = object()


class RuntimeApi:
    """The Lambda Runtime API (2018-06-01) for one function: submit() queues an event for whichever
    process asks next; /next waits (as long as it takes) until there is one."""

    def __init__(self, function_arn: str, timeout_s: float) -> None:
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.events: queue.Queue = queue.Queue()
        self.pending: dict[str, dict] = {}
        self.init_errors: list[bytes] = []
        self.first_poll_at = 0.0
        self.any_report = threading.Event()
        self.closed = False
        api = self

        class Handler(JsonReplyHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b'{"errorType":"NotFound"}')
                api.first_poll_at = api.first_poll_at or time.perf_counter()
                item = api.events.get()
                if item is _CLOSING:  # the process is being stopped: hold the request, answer nothing
                    api.events.put(_CLOSING)
                    threading.Event().wait()
                request_id, body = item
                api.pending[request_id]["handed_out_at"] = time.perf_counter()
                api.pending[request_id]["handed"].set()
                self.reply(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + api.timeout_s) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.strip("/").split("/")
                if self.path.endswith("/init/error"):
                    api.init_errors.append(body)
                elif len(parts) >= 5 and parts[-1] in ("response", "error") and parts[-2] in api.pending:
                    waiter = api.pending[parts[-2]]
                    if waiter["answer"] is None:
                        waiter["answer"] = (parts[-1], body, time.perf_counter())
                    waiter["done"].set()
                else:
                    return self.reply(404, b'{"errorType":"NotFound"}')
                api.any_report.set()
                self.reply(202, b'{"status":"OK"}')

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def submit(self, event: bytes) -> dict:
        """Queues an event; the returned waiter's "done" is set when the function answers."""
        request_id = str(uuid.uuid4())
        waiter = {"id": request_id, "handed": threading.Event(), "done": threading.Event(), "answer": None,
                  "handed_out_at": 0.0}
        self.pending[request_id] = waiter
        self.events.put((request_id, event))
        return waiter

    def close(self) -> None:
        """After the processes are stopped: waiting /next requests stay unanswered."""
        if not self.closed:
            self.closed = True
            self.events.put(_CLOSING)
            self.server.shutdown()
            self.server.server_close()


def _parsed(body: bytes):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode(errors="replace")


def _start(binary: Path, env: dict, api: RuntimeApi, out, prefix: list[str], cwd: Path | None) -> subprocess.Popen:
    env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address, "PATH": env.get("PATH") or os.environ.get("PATH", "/usr/bin:/bin")}
    with uninterrupted():
        return subprocess.Popen([*prefix, str(binary)], env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def invoke_binary(binary: Path, env: dict[str, str], event: bytes, function_arn: str, timeout_s: float, log: Path,
                  prefix: list[str] | None = None, cwd: Path | None = None, init_timeout_s: float = 10) -> Invocation:
    """Runs `binary` (under `prefix`, e.g. QEMU) for one event; its stdout and stderr (the function's
    log) go to `log`. Timings for the bench and the release smoke runs are in the Invocation."""
    api = RuntimeApi(function_arn, timeout_s)
    waiter = api.submit(event)
    proc = None
    try:
        with log.open("wb") as out:
            started = time.perf_counter()
            proc = _start(binary, env, api, out, prefix or [], cwd)
        while not waiter["done"].wait(0.02):
            if proc.poll() is not None:
                waiter["done"].wait(0.2)  # a report that raced the exit
                break
            if api.init_errors:
                break
            now = time.perf_counter()
            if waiter["handed"].is_set() and now - waiter["handed_out_at"] > timeout_s:
                break
            if not waiter["handed"].is_set() and now - started > init_timeout_s + timeout_s:
                break
        rss = peak_rss_kb(proc.pid) if proc.poll() is None else 0
        exit_status = proc.poll()
        handed = waiter["handed"].is_set()
        init_ms = (api.first_poll_at - started) * 1000 if api.first_poll_at else None
        begun = waiter["handed_out_at"] or started
        if waiter["answer"] is not None:
            kind, body, at = waiter["answer"]
            return Invocation(kind, _parsed(body), (at - begun) * 1000, exit_status, init_ms, (at - started) * 1000, rss, handed)
        elapsed = (time.perf_counter() - begun) * 1000
        if api.init_errors:
            return Invocation("init-error", _parsed(api.init_errors[0]), elapsed, exit_status, init_ms, None, rss, handed)
        if exit_status is not None:
            took = "after it took the event" if handed else "before it asked for an event"
            return Invocation("crash", f"the function exited with status {exit_status} {took}, without reporting a result",
                              elapsed, exit_status, init_ms, None, rss, handed)
        took = "" if handed else " (it never asked for an event)"
        return Invocation("timeout", f"Task timed out after {timeout_s:.2f} seconds{took}", elapsed, None, init_ms, None, rss, handed)
    finally:
        if proc is not None:
            stop_session(proc, grace=2)
        api.close()


class Function:
    """`instances` warm processes of one binary behind one Runtime API: invoke() hands an event to
    whichever instance asks next and waits for its answer (two instances let two clicks race)."""

    def __init__(self, binary: Path, env: dict[str, str], instances: int, log: Path, arn: str, timeout_s: float) -> None:
        self.api = RuntimeApi(arn, timeout_s)
        self.timeout_s = timeout_s
        self.procs: list[subprocess.Popen] = []
        with log.open("ab") as out:
            for _ in range(instances):
                self.procs.append(_start(binary, env, self.api, out, [], None))

    @property
    def init_errors(self) -> list[bytes]:
        return self.api.init_errors

    def invoke(self, event) -> tuple[str, object]:
        """("response" | "error" | "init-error" | "timeout", parsed payload)."""
        waiter = self.api.submit(event if isinstance(event, bytes) else json.dumps(event).encode())
        deadline = time.monotonic() + self.timeout_s
        while not waiter["done"].wait(0.05):
            if self.api.init_errors and all(p.poll() is not None for p in self.procs):
                return "init-error", _parsed(self.api.init_errors[0])
            if time.monotonic() > deadline:
                return "timeout", f"no answer within {self.timeout_s:.0f}s"
        kind, body, _ = waiter["answer"]
        return kind, _parsed(body)

    def close(self) -> None:
        for proc in self.procs:
            stop_session(proc, grace=2)
        self.api.close()


# ----------------------------------------------------------------------------- API Gateway's HTTP API
def http_api_event(method: str, path: str, query: str, headers: dict, body: bytes, route: str, source_ip: str,
                   path_parameters: dict | None = None) -> dict:
    """The event API Gateway's HTTP API gives a function (payload format 2.0)."""
    now = time.time()
    headers = {k.lower(): v for k, v in headers.items()}
    event = {
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": query, "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "local", "domainName": headers.get("host", ""), "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": route, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if query:
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query))
    if body:
        event["body"] = body.decode("utf-8", errors="strict")
    return event


def http_api_response(answer) -> tuple[int, dict, bytes]:
    """(status, headers, body) API Gateway makes of a function's payload 2.0 answer."""
    headers = dict(answer.get("headers") or {})
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, ", ".join(values))
    payload = answer.get("body") or ""
    data = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode()
    return int(answer.get("statusCode", 200)), headers, data


class HttpApi:
    """API Gateway's HTTP API on 127.0.0.1 in front of one Function, with `routes` such as
    "GET /approvals/{id}" (one path parameter at most). `/_sandbox/...` goes to `admin`, if given:
    admin(method, path, query, body) -> (status, JSON-able payload)."""

    def __init__(self, function: Function, routes: tuple[str, ...], admin=None) -> None:
        self.function = function
        self.routes = routes
        self.admin = admin
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                api.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                api.handle(self, "POST")

            def do_HEAD(self) -> None:  # noqa: N802
                api.handle(self, "HEAD")

            def log_message(self, *args) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="http-api", daemon=True).start()

    def match(self, method: str, path: str) -> tuple[str, dict] | None:
        segments = path.strip("/").split("/")
        for route in self.routes:
            verb, pattern = route.split(" ", 1)
            parts = pattern.strip("/").split("/")
            if verb != method or len(parts) != len(segments):
                continue
            params = {}
            for want, got in zip(parts, segments):
                if want.startswith("{") and want.endswith("}") and got:
                    params[want[1:-1]] = urllib.parse.unquote(got)
                elif want != got:
                    break
            else:
                return route, params
        return None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path, _, query = request.path.partition("?")
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if path.startswith("/_sandbox/") and self.admin:
            status, payload = self.admin(method, path, query, body)
            return self.send(request, status, {"Content-Type": "application/json"}, json.dumps(payload).encode(), method)
        found = self.match(method, path)
        if not found:
            return self.send(request, 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}', method)
        route, params = found
        headers = dict(request.headers.items())
        headers.update({"x-forwarded-proto": "http", "x-forwarded-for": request.client_address[0],
                        "x-forwarded-port": str(self.server.server_address[1])})
        event = http_api_event(method, path, query, headers, body, route, request.client_address[0], params or None)
        kind, answer = self.function.invoke(event)
        if kind != "response" or not isinstance(answer, dict):
            return self.send(request, 500 if kind == "error" else 503, {"Content-Type": "application/json"},
                             b'{"message":"Internal Server Error"}', method)
        self.send(request, *http_api_response(answer), method)

    @staticmethod
    def send(request: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes, method: str) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
