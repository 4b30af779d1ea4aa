"""Benchmark (not a test): per function, the stripped release binary's size (and zipped, as
Lambda receives it), cold start (process start until the first event is handled) and peak RSS.

Each run starts the release binary with a local Lambda Runtime API on 127.0.0.1 that hands it one
sample event from events/; the function talks to the sandbox (moto, and the stand-in for Health
and CodePipeline job results). Figures are written into README.md between the bench markers.

    .tools/sandbox/bin/python scripts/bench.py [--runs N]   (scripts/bench.sh builds first)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sandbox import ROOT, Sandbox, sample

# function binary -> (template logical id, sample event)
FUNCTIONS = {
    "health-gate": ("HealthGateFunction", "health-gate.healthy.json"),
    "drift-gate": ("DriftGateFunction", "drift-gate.one-stack.json"),
    "drift-callback": ("DriftCallbackFunction", "drift-callback.in-sync.json"),
    "job-dead-letter": ("JobDeadLetterFunction", "job-dead-letter.retries-exhausted.json"),
}
BUDGET = {"size_mb": 10.0, "zip_mb": 4.0, "cold_ms": 30.0, "rss_mb": 24.0}


class RuntimeApi:
    """The Lambda Runtime API for one invocation: /next hands out the event once, then blocks."""

    def __init__(self, event: dict) -> None:
        self.event = json.dumps(event).encode()
        self.request_id = str(uuid.uuid4())
        self.handed_out = False
        self.first_poll_at = 0.0
        self.done = threading.Event()
        self.result: tuple[str, bytes] | None = None
        self.done_at = 0.0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if api.handed_out:
                    api.done.wait(30)
                    self.send_error(410)
                    return
                api.handed_out = True
                api.first_poll_at = time.perf_counter()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", api.request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111111111111:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(api.event)))
                self.end_headers()
                self.wfile.write(api.event)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.done_at = time.perf_counter()
                api.result = (self.path.rsplit("/", 1)[-1], body)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.done.set()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def one_cold_start(binary: Path, env: dict, event: dict) -> tuple[float, float, float]:
    api = RuntimeApi(event)
    env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": binary.name,
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_LOG_LEVEL": "WARN", "PATH": os.environ.get("PATH", "")}
    started = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.done.wait(30):
            raise RuntimeError(f"{binary.name} handled no event within 30s")
        rss = peak_rss_kb(proc.pid)
        kind, body = api.result
        if kind != "response":
            raise RuntimeError(f"{binary.name} reported an invocation error: {body[:300]!r}")
        return (api.first_poll_at - started) * 1000, (api.done_at - started) * 1000, rss / 1024
    finally:
        proc.kill()
        proc.wait()
        api.server.shutdown()


def zipped_mb(binary: Path) -> float:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    return len(buffer.getvalue()) / 1e6


def write_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    rows = []
    with Sandbox(watch=False) as box:
        box.create_stack("orders-api")
        runs = [(name, ROOT / "target" / "release" / name, box.function_env(logical_id), lambda f=event_file: sample(f), event_file)
                for name, (logical_id, event_file) in FUNCTIONS.items()]
        # Email approvals: their secret, sender and sample approval on this sandbox (scripts/approvals_story.py).
        from approvals_story import bench_functions

        runs += bench_functions(box)
        # Branch pipelines: the branch template, webhook secret and repository on this sandbox.
        from sandboxlib.branches import bench_functions as branch_functions

        runs += branch_functions(box)
        # DORA: the sample week, a GitHub stand-in and a new execution or OpsItem per run (sandboxlib.dora).
        from sandboxlib.dora import bench_functions as dora_functions

        runs += dora_functions(box)
        for name, binary, env, event, event_file in runs:
            one_cold_start(binary, env, event())  # warm the page cache and the sandbox
            inits, colds, rsss = [], [], []
            for _ in range(args.runs):
                init, cold, rss = one_cold_start(binary, env, event())
                inits.append(init)
                colds.append(cold)
                rsss.append(rss)
            size = binary.stat().st_size / 1e6
            rows.append((name, size, zipped_mb(binary), statistics.median(inits), statistics.median(colds), max(colds),
                         statistics.median(rsss), max(rsss), event_file))

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    lines = [
        f"Measured by `scripts/bench.sh` ({args.runs} cold starts per function, release build, {machine}; "
        f"budgets: binary < {BUDGET['size_mb']:.0f} MB, zip < {BUDGET['zip_mb']:.0f} MB, cold start < {BUDGET['cold_ms']:.0f} ms, peak RSS < {BUDGET['rss_mb']:.0f} MB).",
        "",
        "| function | stripped binary | zipped | init (start → first poll), median | cold start (start → event handled), median (max) | peak RSS median (max) | event |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, size, zipped, init_med, cold_med, cold_max, rss_med, rss_max, event_file in rows:
        lines.append(f"| {name} | {size:.2f} MB | {zipped:.2f} MB | {init_med:.1f} ms | {cold_med:.1f} ms ({cold_max:.1f}) | {rss_med:.1f} MB ({rss_max:.1f}) | `{event_file}` |")
    table = "\n".join(lines)
    print(table)
    over = [r[0] for r in rows if r[1] > BUDGET["size_mb"] or r[2] > BUDGET["zip_mb"] or r[4] > BUDGET["cold_ms"] or r[6] > BUDGET["rss_mb"]]
    if over:
        print(f"\nover budget: {', '.join(over)}")
    if not args.no_readme:
        write_readme(table)


if __name__ == "__main__":
    main()
