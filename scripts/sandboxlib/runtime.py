"""One invocation of a function binary, the way Lambda runs it: the binary is started with the
function's environment and polls a Lambda Runtime API on 127.0.0.1, which hands it the event once
and takes its response or error. No Docker, no cargo lambda; used by scripts/invoke.sh."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .procs import stop_session, uninterrupted


class JsonReplyHandler(BaseHTTPRequestHandler):
    """A quiet request handler that answers JSON: what every local Lambda Runtime API here is built on."""

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # the function is stopped while it waits for its next event: its connection breaks


@dataclass
class Invocation:
    kind: str  # "response" | "error" (the function reported an error) | "init-error" | "timeout" | "crash"
    payload: object  # the parsed JSON the function returned or reported, or a message
    duration_ms: float
    exit_status: int | None  # set when the process ended by itself


class RuntimeApi:
    """The Lambda Runtime API (2018-06-01) for one invocation: the first /next gets the event,
    later ones wait until the invocation is over."""

    def __init__(self, event: bytes, function_arn: str, deadline_s: float) -> None:
        self.event = event
        self.function_arn = function_arn
        self.deadline_s = deadline_s
        self.request_id = str(uuid.uuid4())
        self.handed_out = threading.Event()
        self.done = threading.Event()
        self.started_at = 0.0
        self.result: tuple[str, bytes] | None = None
        api = self

        class Handler(JsonReplyHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b'{"errorType":"NotFound"}')
                if api.handed_out.is_set():
                    api.done.wait()
                    return self.reply(410, b"")
                api.handed_out.set()
                api.started_at = time.monotonic()
                deadline_ms = int((time.time() + api.deadline_s) * 1000)
                self.reply(200, api.event, {
                    "Lambda-Runtime-Aws-Request-Id": api.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/response"):
                    api.finish("response", body)
                elif self.path.endswith("/init/error"):
                    api.finish("init-error", body)
                elif self.path.endswith("/error"):
                    api.finish("error", body)
                else:
                    return self.reply(404, b'{"errorType":"NotFound"}')
                self.reply(202, b'{"status":"OK"}')


        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True).start()

    def finish(self, kind: str, body: bytes) -> None:
        if self.result is None:
            self.result = (kind, body)
        self.done.set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


def invoke_binary(binary: Path, env: dict[str, str], event: bytes, function_arn: str, timeout_s: float, log: Path) -> Invocation:
    """Runs `binary` for one event; its stdout and stderr (the function's log) go to `log`."""
    api = RuntimeApi(event, function_arn, timeout_s)
    env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = time.monotonic()
    proc = None
    try:
        with log.open("w") as out, uninterrupted():
            proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        while not api.done.wait(0.05):
            if proc.poll() is not None:
                api.done.wait(0.2)  # a report that raced the exit
                break
            if api.handed_out.is_set() and time.monotonic() - api.started_at > timeout_s:
                break
            if not api.handed_out.is_set() and time.monotonic() - started > 10 + timeout_s:
                break
        elapsed = (time.monotonic() - (api.started_at or started)) * 1000
        exit_status = proc.poll()
        if api.result is not None:
            kind, body = api.result
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                payload = body.decode(errors="replace")
            return Invocation(kind, payload, elapsed, exit_status)
        if exit_status is not None:
            return Invocation("crash", f"the function exited with status {exit_status} without reporting a result", elapsed, exit_status)
        return Invocation("timeout", f"Task timed out after {timeout_s:.2f} seconds", elapsed, None)
    finally:
        if proc is not None:
            stop_session(proc, grace=2)
        api.close()
