"""Benchmark (not a test): per function, the stripped release binary's size (and zipped, as
Lambda receives it), cold start (process start until the first event is handled) and peak RSS.

Each run starts the release binary with a local Lambda Runtime API on 127.0.0.1 that hands it one
sample event from events/; the function talks to the sandbox (moto, and the stand-in for Health
and CodePipeline job results). Figures are written into README.md between the bench markers.

The history row: the cost of one event must not grow with stored history. One warm process of a
calculator (the stories' bench_history(), today dora-lead-time) handles events of pipelines whose
ledgers already hold 10, 1,000 and 10,000 deployments; per event, its time (and how much of it was
moto's DynamoDB), the calculator's CPU time, and what DynamoDB read (items and read requests,
counted by the sandbox's front). The CPU time and the items read after 1,000 and 10,000 should stay
within 1.5x of after 10. Written into README.md between the bench-history markers.

    .tools/sandbox/bin/python scripts/bench.py [--runs N] [--only cold|history] [--profile release|debug]
    (scripts/bench.sh builds the release binaries first and passes its arguments on)
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
# The history row: an event after 1,000 or 10,000 prior records costs at most this times one after 10.
HISTORY_GROWTH = 1.5


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


def write_readme(table: str, marker: str = "bench") -> None:
    """Puts `table` between README.md's <!-- {marker}:start --> and <!-- {marker}:end --> lines."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def history_table(rows: list[dict], events: int, profile: str, machine: str) -> tuple[str, list[str]]:
    """The history row's table, and the history sizes whose figures grew past HISTORY_GROWTH."""
    lines = [
        f"Measured by `scripts/bench.sh` ({events} events per history size, one warm process, {profile} build, {machine}; "
        f"budget: after 1,000 and 10,000 prior deployments, the calculator's CPU time and the items read per event within "
        f"{HISTORY_GROWTH}× of after 10).",
        "",
        "| function | prior deployments of its pipeline | time per event, median (max) | of which the sandbox's DynamoDB (moto) "
        "| the rest, median | calculator CPU per event, median | × after 10 (the rest; CPU) | items read per event (max) "
        "| DynamoDB read requests per event |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    over = []
    first: dict[str, dict] = {}

    def times(row: dict, base: dict, key: str) -> float:
        return row[key] / base[key] if base[key] > 0 else 1.0

    for row in rows:
        base = first.setdefault(row["function"], row)
        if times(row, base, "cpu_ms") > HISTORY_GROWTH or times(row, base, "items_read") > HISTORY_GROWTH:
            over.append(f"{row['function']} after {row['prior']:,}")
        lines.append(f"| {row['function']} | {row['prior']:,} | {row['median_ms']:.1f} ms ({row['max_ms']:.1f}) | {row['dynamodb_ms']:.1f} ms "
                     f"| {row['outside_ms']:.1f} ms | {row['cpu_ms']:.1f} ms | {times(row, base, 'outside_ms'):.2f}×; {times(row, base, 'cpu_ms'):.2f}× "
                     f"| {row['items_read']:.1f} ({row['items_read_max']}) | {row['read_requests']:.1f} |")
    return "\n".join(lines), over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="cold starts per function (default 20)")
    parser.add_argument("--history-events", type=int, default=10, help="events per history size in the history row (default 10)")
    parser.add_argument("--only", choices=("cold", "history"), help="run only the cold-start table or only the history row")
    parser.add_argument("--profile", choices=("release", "debug"), default="release",
                        help="which build's binaries (default release, as bench.sh builds; debug for a quick look)")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    rows = []
    history_rows: list[dict] = []
    parameters, resources = deployment()
    log_dir().mkdir(parents=True, exist_ok=True)
    with Sandbox(watch=False, parameters=parameters, resources=resources) as box:
        if args.only != "history":
            box.create_stack("orders-api")
            runs = [(name, ROOT / "target" / args.profile / name, box.function_env(logical_id), lambda f=event_file: sample(f), event_file)
                    for name, (logical_id, event_file) in FUNCTIONS.items()]
            # Approvals, branch pipelines, DORA: their own set-up on this sandbox (each story's bench()).
            for story in STORIES.values():
                if hasattr(story, "bench"):
                    runs += story.bench(box, args.profile)
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
        if args.only != "cold":
            # Cost with stored history (each story's bench_history()), after the cold starts: its
            # seeded ledgers do not weigh on them.
            for story in STORIES.values():
                if hasattr(story, "bench_history"):
                    history_rows += story.bench_history(box, args.profile, args.history_events)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    if rows:
        lines = [
            f"Measured by `scripts/bench.sh` ({args.runs} cold starts per function, {args.profile} build, {machine}; "
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
        if not args.no_readme and args.profile == "release":
            write_readme(table)
    if history_rows:
        table, grew = history_table(history_rows, args.history_events, args.profile, machine)
        print(f"\n{table}" if rows else table)
        if grew:
            print(f"\ngrew past {HISTORY_GROWTH}× of the figure after 10: {', '.join(grew)}")
        if not args.no_readme:
            write_readme(table, "bench-history")


if __name__ == "__main__":
    main()
