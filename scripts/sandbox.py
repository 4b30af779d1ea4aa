"""Tollgate's local AWS sandbox: one endpoint on 127.0.0.1 (moto, plus a stand-in for what moto
lacks), the real Lambda binaries, and stories told with the sample events in events/. Everything
it starts is stopped when it ends, on Ctrl-C, SIGTERM or SIGHUP too.

    sandbox.py run [--only STORY]... [--list] [--serve]   the README's run command (scripts/run.sh)
    sandbox.py examples                  every function with a sample event that works (invoke.sh --help)
    sandbox.py e2e [--only STORY]...     the stories as end-to-end tests: "e2e: N passed, N failed"
    sandbox.py invoke FUNCTION EVENT     one function, one event (scripts/invoke.sh)
    sandbox.py serve [--parent-pid PID]  just the AWS endpoint; prints its URL as the first line
                                         (the Rust tests start one; it stops when PID ends)

Run it with the sandbox venv's Python (.tools/sandbox/bin/python; scripts/tools.sh makes it).
`--help` and `run --list` work with any Python 3.11. Logs go to target/tollgate/logs/; a sandbox
kept up by `run --serve` describes itself in target/tollgate/sandbox.json while it runs.

Other scripts import from here: Sandbox, sample, function_env, FakeAws, ROOT, build.

Layers, each importing only those below it: this command line and the other scripts; the stories
(sandboxlib/stories/: one module per feature, and their registry); sandboxlib.story (what a story
is made of); the infrastructure, which knows no feature (box, front, history, github, runtime,
template, samples, procs, paths).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandboxlib.paths import (  # noqa: E402, F401 (ROOT, TOOLS: imported from here by other scripts)
    CREDENTIALS, REGION, ROOT, TOOLS, new_log, relative, running_sandbox, target_dir,
)
from sandboxlib.procs import Stopped, stop_on_signals, uninterrupted, watch_parent  # noqa: E402
from sandboxlib.samples import pipeline_job  # noqa: E402
from sandboxlib.stories import STORIES, binaries_of, deployment, examples, functions_of  # noqa: E402
from sandboxlib.story import LEGEND, Play, Result, job_outcome, log_check  # noqa: E402

# Names other scripts import from here, loaded on first use (they need the sandbox venv).
_LAZY = {
    "Sandbox": "box", "free_port": "box", "wait_for_port": "box",
    "sample": "samples", "SAMPLE_SECRETS": "samples",
    "FakeAws": "front", "Front": "front",
    "function_environment": "template",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"sandboxlib.{_LAZY[name]}"), name)
    raise AttributeError(name)


def function_env(logical_id: str, endpoint: str, table: str = "tollgate-state") -> dict[str, str]:
    """A function's environment from template.yaml, pointed at a sandbox endpoint (same as
    Sandbox.function_env, for a sandbox started elsewhere)."""
    from sandboxlib.template import function_environment

    parameters, resources = deployment()
    resources = {**resources, "StateTable": table, "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:123456789012:table/{table}"}
    env = function_environment(logical_id, resources, parameters)
    env.update({**CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint})
    return env


def say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def err(*lines: str) -> None:
    print("\n".join(lines), file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- building
# Binaries outside the workspace's default-members, built from their own package.
OUTSIDE_DEFAULT_MEMBERS = {"tollgate": "tollgate-cli"}


def build_commands(binaries: list[str], locked: bool = False) -> list[list[str]]:
    """The cargo builds that make `binaries`. No --workspace: cargo lambda watch runs `cargo run
    --bin <function>`, which selects what a build of the functions alone selects, so the watched
    functions start at once. After a --workspace build (the tests crate's test-only features
    unified into the SDK crates) watch compiled each function's crates again on its first
    invocation, out of sight in its log: 71 s for health-gate on a fresh clone."""
    lock = ["--locked"] if locked else []
    functions = [b for b in binaries if b not in OUTSIDE_DEFAULT_MEMBERS]
    commands = [["cargo", "build", *lock, *(arg for name in functions for arg in ("--bin", name))]] if functions else []
    commands += [["cargo", "build", *lock, "-p", OUTSIDE_DEFAULT_MEMBERS[b], "--bin", b] for b in binaries if b in OUTSIDE_DEFAULT_MEMBERS]
    return commands


def build(binaries: list[str], why: str = "", locked: bool = False) -> None:
    """Every binary a run needs, built up front with cargo's own progress and a heartbeat when
    cargo is quiet. Raises on failure."""
    missing = [b for b in binaries if not (target_dir() / "debug" / b).exists()]
    err(f"building {', '.join(binaries)}{why} (cargo's progress below)")
    if missing:
        err(f"  not built yet: {', '.join(missing)}. A first build compiles the AWS SDK crates: about 8 minutes on 2 cores"
            " (cargo prints a line per crate as it goes); later builds take seconds.")
    for command in build_commands(binaries, locked):
        run_cargo(command)


def run_cargo(command: list[str]) -> None:
    proc = None
    started = last = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        # One crate (an AWS SDK client, the fat link) can take a minute: say what rustc is on.
        nonlocal last
        while not done.wait(1):
            if time.monotonic() - last >= HEARTBEAT_S:
                busy = (rustc_busy(proc.pid) if proc else "") or "a build script or the linker"
                err(f"  … still compiling ({time.monotonic() - started:.0f} s so far): busy with {busy}")
                last = time.monotonic()

    try:
        with uninterrupted():
            proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    errors="replace", bufsize=1)
        threading.Thread(target=heartbeat, daemon=True).start()
        for line in proc.stderr:  # cargo's progress, passed on as it comes
            sys.stderr.write(line)
            sys.stderr.flush()
            last = time.monotonic()
        status = proc.wait()
    finally:
        done.set()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait()
    if status != 0:
        raise SystemExit(f"the build failed ({' '.join(command)} exited with {status}); the errors are above")


HEARTBEAT_S = 20  # the longest a build stays silent


def rustc_busy(cargo_pid: int) -> str:
    """The crates this cargo's rustc processes are compiling right now, for the heartbeat."""
    crates = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            parent = int((cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent != cargo_pid:
            continue
        if args and args[0].endswith(b"rustc") and b"--crate-name" in args[:-1]:
            crates.add(args[args.index(b"--crate-name") + 1].decode(errors="replace"))
    return ", ".join(sorted(crates))


def selected_stories(only: list[str] | None) -> list:
    names = [n for item in (only or []) for n in item.split(",") if n] or list(STORIES)
    unknown = [n for n in names if n not in STORIES]
    if unknown:
        raise SystemExit(f"unknown story {', '.join(unknown)}; stories: {', '.join(STORIES)}")
    return [STORIES[n] for n in dict.fromkeys(names)]


# ----------------------------------------------------------------------------- run / e2e
def print_result(result: Result, mode: str, log: str, tail: str) -> None:
    if mode == "e2e":
        say(f"{'ok' if result.ok else 'FAIL'} - e2e: {result.title}")
        if not result.ok:
            say(f"    got {result.outcome}: {result.detail}", f"    expected: {result.expected}",
                f"    function log: {log}; last lines:", *(f"      {line}" for line in tail.splitlines()))
        return
    if result.events:
        label = "event" if len(result.events) == 1 else "events"
        # "(command: ...)" and the like are not files in events/
        sent = f"  {label}: " + ", ".join(name if name.startswith("(") else f"events/{name}" for name in result.events)
    else:
        sent = f"  checks: {result.checks}"
    detail = result.detail.replace("\n", "\n      ")
    lines = [f"▶ {result.title}", sent, f"  {'✔' if result.ok else '✘'} {result.outcome}: {detail}",
             f"    expected: {result.expected}"]
    if not result.ok:
        lines += [f"    function log: {log}; its last lines:", *(f"      {line}" for line in tail.splitlines())]
    say(*lines, "")


def cmd_run(args, mode: str) -> int:
    stories = selected_stories(args.only)
    if getattr(args, "list", False):
        for s in STORIES.values():
            watched, runs = ", ".join(s.FUNCTIONS), ", ".join(getattr(s, "RUNS", ()))
            how = "; ".join(filter(None, (watched and f"functions: {watched}", runs and f"runs itself: {runs}")))
            say(f"{s.NAME:16} {s.SUMMARY}", f"{'':16} ({how})")
        return 0
    functions = functions_of(stories)
    serve = getattr(args, "serve", False)
    own_world = serve and len(stories) == 1 and hasattr(stories[0], "serve")
    if serve:
        refuse_second_sandbox()
    if not getattr(args, "no_build", True):
        # --serve: every function, so that scripts/invoke.sh can run any of them against this sandbox.
        needed = binaries_of(stories) if not serve or own_world else binaries_of(STORIES.values())
        build(needed, "" if serve else f", for {'the story' if len(stories) == 1 else f'{len(stories)} stories'}")
    if getattr(args, "build", False):
        build(binaries_of(stories), ", for the e2e stories", locked=True)
    if own_world:
        return serve_world(stories[0], args)
    if serve:
        return serve_functions(functions)

    from sandboxlib.box import Sandbox

    passed = failed = 0
    parameters, resources = deployment()
    with Sandbox(functions=functions, log_kind=mode, parameters=parameters, resources=resources) as box:
        log = relative(box.log_path)
        if mode == "run":
            watched = (f"functions under cargo lambda watch on 127.0.0.1:{box.invoke_port}" if box.invoke_port
                       else "each function run as its own process (no cargo lambda watch)")
            say(f"Tollgate sandbox: AWS at {box.url} (moto and the stand-in), {watched}",
                f"function log: {log}", "", LEGEND, "")
        play = Play(box)
        for story in stories:
            if mode == "run":
                say(f"── story {story.NAME}: {story.SUMMARY}", "")
            for result in played(story, play):
                passed, failed = passed + result.ok, failed + (not result.ok)
                print_result(result, mode, log, "" if result.ok else box.log_tail(20))
        result = log_check(play, log)
        passed, failed = passed + result.ok, failed + (not result.ok)
        if mode == "run":
            say("── after every story", "")
        print_result(result, mode, log, "" if result.ok else box.log_tail(20))
    say(f"{mode}: {passed} passed, {failed} failed" + (f" (function log: {log})" if failed else ""))
    return 1 if failed else 0


def played(story, play: Play):
    """A story's results as they come; a story that breaks off is one failed result, and the next
    story still runs."""
    try:
        yield from story.play(play)
    except Stopped:
        raise
    except Exception as error:  # noqa: BLE001 (reported as a failed scenario)
        yield play.result(f"story {story.NAME} broke off", "error", f"{type(error).__name__}: {error}", False,
                          "the story plays to its end")


# ----------------------------------------------------------------------------- serve
def wait_for_stop() -> None:
    while True:
        signal.pause()


def refuse_second_sandbox() -> None:
    other = running_sandbox()
    if other and other.get("pid") != os.getpid():
        raise SystemExit(f"a sandbox is already up (pid {other['pid']}, {other['url']}); scripts/invoke.sh uses it. "
                         f"Stop it first (kill {other['pid']}) to start another.")


def serve_world(story, args) -> int:
    """run --only <story> --serve for a story with a world of its own (approvals: the HTTP API)."""
    from sandboxlib.box import Sandbox

    if getattr(args, "parent_pid", None):
        watch_parent(args.parent_pid)
    parameters, resources = deployment()
    with Sandbox(watch=False, parameters=parameters, resources=resources) as box:
        story.serve(box, getattr(args, "json", False))
    return 0


def serve_functions(functions: list[str]) -> int:
    """run --serve: the sandbox, what every function needs (the stories' seeds, with the sample
    deploy-time values) and the stories' functions, until Ctrl-C/SIGTERM/SIGHUP."""
    from sandboxlib.box import Sandbox
    from sandboxlib.stories import seed

    refuse_second_sandbox()
    parameters, resources = deployment()
    with Sandbox(functions=functions, log_kind="serve", parameters=parameters, resources=resources) as box:
        seed(box)
        state = box.write_state()
        url, port = box.url, box.invoke_port
        function, event = next(iter(examples().items()))
        watched = functions[0] if functions else None
        say("Tollgate sandbox is up; Ctrl-C stops it and everything it started.",
            "",
            f"  AWS endpoint   {url}   (moto, plus the stand-in for AWS Health, CodePipeline job results and history,",
            "                 CloudFormation drift detection, SSM OpsItems, and CloudWatch's CBOR protocol)",
            f"                 AWS_ENDPOINT_URL={url} AWS_REGION={REGION} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
            f"  functions      {', '.join(functions) or 'none'} under cargo lambda watch"
            + (f": POST http://127.0.0.1:{port}/2015-03-31/functions/<function>/invocations" if functions else ""),
            "                 and every function, these too, with scripts/invoke.sh (as Lambda runs it)",
            f"  function log   {relative(box.log_path)}",
            f"  state file     {relative(state)} (scripts/invoke.sh finds this sandbox through it)",
            "",
            "Provisioned for every function, with the sample deploy-time values (what events/ refers to):",
            *(f"  {line}" for line in provisioned(box)),
            "",
            "Invoke a function with an event of your own, against this sandbox (scripts/invoke.sh --help lists one per function):",
            f"  scripts/invoke.sh {function} events/{event}",
            *([f"  curl -s http://127.0.0.1:{port}/2015-03-31/functions/{watched}/invocations -d @events/{examples()[watched]}"]
              if watched in examples() else []),
            "What the pipeline would see (job results), and changing what the stand-in answers:",
            f"  curl -s {url}/_tollgate/state",
            f"  curl -s {url}/_tollgate/fake -d '{{\"health_error\": [400, \"SubscriptionRequiredException\", \"no support plan\"]}}'",
            f"  curl -s {url}/_tollgate/fake -d '{{\"health_error\": null, \"codepipeline_outage\": false}}'",
            "")
        wait_for_stop()
    return 0


def provisioned(box) -> list[str]:
    """What the sandbox's deployment holds, as the banner lists it."""
    lines = [f"table          {box.table} (the state table)"]
    lines += [f"parameter      {name}={value}" for name, value in sorted(box.parameters.items())]
    lines += [f"resource       {name}: {value}" for name, value in sorted(box.resources.items()) if not name.startswith("StateTable")]
    stacks = sorted(s["StackName"] for s in box.cloudformation.describe_stacks().get("Stacks", []))
    lines.append(f"stacks         {', '.join(stacks) or 'none'}")
    alarms = box.cloudwatch.describe_alarms().get("MetricAlarms", [])
    lines.append("alarms         " + (", ".join(f"{a['AlarmName']} ({a['StateValue']})" for a in alarms) or "none"))
    lines.append(f"pipelines      {', '.join(sorted(box.fake.pipeline_history)) or 'none'} (with execution history)")
    lines.append(f"OpsItems       {', '.join(sorted(box.fake.ops_items)) or 'none'}")
    return lines


def cmd_serve(args) -> int:
    """serve: the AWS endpoint only. Its URL is the first line on stdout; nothing else goes there."""
    from sandboxlib.box import Sandbox

    if args.parent_pid:
        watch_parent(args.parent_pid)
    with Sandbox(watch=False) as box:
        print(box.url, flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the reader may go away; never write to its pipe again
        os.close(devnull)
        wait_for_stop()
    return 0


# ----------------------------------------------------------------------------- invoke
def read_event(source: str) -> tuple[bytes, str]:
    if source == "-":
        raw, label = sys.stdin.buffer.read(), "an event from stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise SystemExit(f"no event file {source}")
        raw, label = path.read_bytes(), relative(path)
    try:
        json.loads(raw)
    except ValueError as error:
        raise SystemExit(f"{label} is not JSON: {error}")
    return raw, label


def known_functions() -> list[str]:
    """Every function template.yaml declares; the stories' list when PyYAML is not at hand."""
    try:
        from sandboxlib.template import functions
    except ImportError:
        return list(examples())
    return list(functions())


def cmd_invoke(args) -> int:
    if args.function not in known_functions():
        raise SystemExit(f"unknown function {args.function}; functions: {', '.join(known_functions())}")
    event, label = read_event(args.event)
    if not args.no_build:
        build([args.function])
    binary = target_dir() / "debug" / args.function
    if not binary.exists():
        raise SystemExit(f"{relative(binary)} is not built: run cargo build --bin {args.function}")

    from sandboxlib.box import Sandbox
    from sandboxlib.runtime import invoke_binary

    state = running_sandbox()
    if state and ping(state["url"]):
        box = Sandbox.attached(state)
        where = f"the sandbox scripts/run.sh --serve keeps up (pid {state['pid']})"
        return invoke_once(box, args.function, event, label, where, invoke_binary)
    from sandboxlib.stories import seed

    parameters, resources = deployment()
    with Sandbox(watch=False, parameters=parameters, resources=resources) as box:
        seed(box)
        where = "a sandbox started for this call (with what the sample events refer to), stopped after it"
        return invoke_once(box, args.function, event, label, where, invoke_binary)


def ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_tollgate/ping", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def invoke_once(box, function: str, event: bytes, label: str, where: str, invoke_binary) -> int:
    env = box.lambda_env(function)
    log = new_log(f"invoke-{function}", keep=10)
    err(f"invoking {function} ({env['AWS_LAMBDA_FUNCTION_NAME']}) with {label}",
        f"AWS: {box.url}, {where}")
    job = pipeline_job(json.loads(event))
    job_id = job.get("id") if job else None
    if job_id and job_result(box.url, job_id):
        err(f"note: job {job_id} already has a result in this sandbox, so this is a second delivery of the same job"
            " (give the event another job id for a new job)")
    result = invoke_binary(target_dir() / "debug" / function, env, event, box.function_arn(function),
                           box.function_timeout(function), log)
    err(f"--- function log ({relative(log)}) ---", log.read_text(errors="replace").rstrip())
    err("--- outcome ---")
    took = f"{result.duration_ms:.0f} ms"
    if result.kind == "response":
        err(f"the function returned a result in {took}")
    elif result.kind in ("error", "init-error"):
        err(f"the function reported {'a start-up' if result.kind == 'init-error' else 'an'} error after {took} (Lambda would count an Errors metric)")
    else:
        err(f"{result.payload}")
    if job_id:
        # "job waiting" is a pipeline action's answer; for a record of a job (job-dead-letter) say what it did.
        outcome, detail = job_outcome(job_result(box.url, job_id))
        if outcome == "job waiting" and "CodePipeline.job" not in json.loads(event):
            outcome, detail = "job left alone", "no result reported for the job"
        err(f"pipeline job {job_id}: {outcome}: {detail}")
    err("--- result ---")
    print(json.dumps(result.payload, indent=2) if not isinstance(result.payload, str) else result.payload, flush=True)
    return 0 if result.kind == "response" else 1


def job_result(url: str, job_id: str):
    try:
        with urllib.request.urlopen(f"{url}/_tollgate/jobs/{job_id}", timeout=5) as response:
            found = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return (found["result"], found["request"]) if found.get("result") else None


# ----------------------------------------------------------------------------- command line
def parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top parser and one per command. run and invoke name scripts/run.sh and scripts/invoke.sh,
    whose arguments they are."""
    stories = ", ".join(STORIES)
    top = argparse.ArgumentParser(prog="sandbox.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="tell the stories (scripts/run.sh)", prog="scripts/run.sh",
                              usage="scripts/run.sh [--only STORY]... [--serve] [--no-build] [--list] [--help]",
                              description="Runs Tollgate locally against the sandbox and tells what each function does with the sample events.")
    run.add_argument("--only", action="append", metavar="STORY", help=f"tell only this story (repeatable, or comma-separated): {stories}")
    run.add_argument("--list", action="store_true", help="list the stories and exit")
    run.add_argument("--serve", action="store_true",
                     help="tell no story: keep the sandbox and the functions up, with what every function needs, until Ctrl-C")
    run.add_argument("--no-build", action="store_true", help="use the binaries already built")
    # --only approvals --serve for scripts/browser_test.py: one JSON line with the URLs; stop when PID ends
    run.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)

    e2e = commands.add_parser("e2e", help="the stories as tests (scripts/test.sh)")
    e2e.add_argument("--only", action="append", metavar="STORY", help=f"only this story: {stories}")
    e2e.add_argument("--build", action="store_true",
                     help="build what the stories need first (cargo build --locked, as run.sh builds), for scripts/test.sh")

    invoke = commands.add_parser("invoke", help="run one function with one event (scripts/invoke.sh)", prog="scripts/invoke.sh",
                                 usage="scripts/invoke.sh [--no-build] <function> <event.json | ->")
    invoke.add_argument("function", help="a function template.yaml declares: " + ", ".join(examples()))
    invoke.add_argument("event", help="a JSON event file, or - for stdin")
    invoke.add_argument("--no-build", action="store_true", help="use the binary already built")

    commands.add_parser("examples", help="every function, with a sample event that works against run.sh --serve")

    serve = commands.add_parser("serve", help="only the AWS endpoint; prints its URL")
    serve.add_argument("--parent-pid", type=int, help="stop when this process ends")
    for command in (run, e2e, invoke):
        # scripts/run.sh and scripts/invoke.sh check their arguments with this before installing anything
        command.add_argument("--check-args", action="store_true", help=argparse.SUPPRESS)
    return top, {"run": run, "e2e": e2e, "invoke": invoke, "serve": serve}


def cmd_examples() -> int:
    """invoke.sh --help's list: one working example per function (any Python 3.11)."""
    for function, event in examples().items():
        say(f"  scripts/invoke.sh {function} events/{event}")
    return 0


def check_args(args) -> int:
    """Validates arguments with nothing installed yet (any Python 3.11); `run --list` answers too."""
    if args.command in ("run", "e2e"):
        selected_stories(args.only)
        if getattr(args, "list", False):
            return cmd_run(args, args.command)
    elif args.command == "invoke":
        if args.function not in known_functions():
            raise SystemExit(f"unknown function {args.function}; functions: {', '.join(known_functions())}")
        if args.event != "-":
            read_event(args.event)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top, commands = parsers()
    if argv and argv[0] in commands:
        # the command's own parser, so that a wrong argument shows that command's usage
        args = commands[argv[0]].parse_args(argv[1:])
        args.command = argv[0]
    else:
        args = top.parse_args(argv)
    if args.command == "examples":
        return cmd_examples()
    if getattr(args, "check_args", False):
        return check_args(args)
    quiet = args.command == "serve"
    stop_on_signals()
    try:
        if args.command in ("run", "e2e"):
            return cmd_run(args, args.command)
        if args.command == "invoke":
            return cmd_invoke(args)
        return cmd_serve(args)
    except Stopped as stop:
        if not quiet:
            err(f"\nstopped by {stop}: the sandbox and everything it started are shut down")
        return stop.exit_status
    except BrokenPipeError:
        return 1
    except Exception as error:  # noqa: BLE001 (one readable line; TOLLGATE_DEBUG=1 for the traceback)
        if os.environ.get("TOLLGATE_DEBUG"):
            raise
        err(f"sandbox.py {args.command}: {type(error).__name__}: {error}",
            "(everything it started is stopped; TOLLGATE_DEBUG=1 shows the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
