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
import time
import zipfile
from pathlib import Path

from sandbox import ROOT, Sandbox, sample
from sandboxlib.paths import ACCOUNT, REGION, log_dir
from sandboxlib.runtime import invoke_binary
from sandboxlib.stories import STORIES, deployment

# function binary -> (template logical id, sample event); the stories' bench() hooks add the
# functions that need more set-up than a stack (approvals, branch pipelines, DORA).
FUNCTIONS = {
    "health-gate": ("HealthGateFunction", "health-gate.healthy.json"),
    "drift-gate": ("DriftGateFunction", "drift-gate.one-stack.json"),
    "drift-callback": ("DriftCallbackFunction", "drift-callback.in-sync.json"),
    "job-dead-letter": ("JobDeadLetterFunction", "job-dead-letter.retries-exhausted.json"),
}
BUDGET = {"size_mb": 10.0, "zip_mb": 4.0, "cold_ms": 30.0, "rss_mb": 24.0}


def one_cold_start(binary: Path, env: dict, event: dict) -> tuple[float, float, float]:
    """(start -> first poll ms, start -> event handled ms, peak RSS MB) of one cold start, through
    the sandbox's Lambda Runtime API (sandboxlib.runtime)."""
    env = {**env, "AWS_LAMBDA_FUNCTION_NAME": binary.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_LEVEL": "WARN", "PATH": os.environ.get("PATH", "")}
    run = invoke_binary(binary, env, json.dumps(event).encode(), f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{binary.name}",
                        30.0, log_dir() / f"bench-{binary.name}.log")
    if run.kind != "response":
        raise RuntimeError(f"{binary.name} did not answer ({run.kind}): {str(run.payload)[:300]}")
    return run.init_ms, run.total_ms, run.rss_kb / 1024


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
    parameters, resources = deployment()
    log_dir().mkdir(parents=True, exist_ok=True)
    with Sandbox(watch=False, parameters=parameters, resources=resources) as box:
        box.create_stack("orders-api")
        runs = [(name, ROOT / "target" / "release" / name, box.function_env(logical_id), lambda f=event_file: sample(f), event_file)
                for name, (logical_id, event_file) in FUNCTIONS.items()]
        # Approvals, branch pipelines, DORA: their own set-up on this sandbox (each story's bench()).
        for story in STORIES.values():
            if hasattr(story, "bench"):
                runs += story.bench(box, "release")
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
