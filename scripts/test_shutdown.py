"""Proves that the sandbox shuts down cleanly (scripts/test.sh runs it after the end-to-end tests,
with the function binaries built):

  - `scripts/run.sh --serve`, with a function binary running under cargo lambda watch, stopped by
    SIGTERM, SIGINT and SIGHUP in turn: exits 128+signal, prints no traceback, leaves no process
    (the sandbox, cargo lambda watch, cargo, the function binary), removes its state file, and
    leaves no file but its logs in its directory and none in /tmp;
  - `scripts/sandbox.py serve` (what the Rust tests start) stopped by SIGTERM, and stopping by
    itself when the process named by --parent-pid ends.

    .tools/sandbox/bin/python scripts/test_shutdown.py      ends with "shutdown: N passed, N failed"
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandboxlib.paths import ROOT, target_dir  # noqa: E402

PYTHON = ROOT / ".tools" / "sandbox" / "bin" / "python"
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, why: str = "") -> None:
    results.append((name, ok, why))
    print(f"{'ok' if ok else 'FAIL'} - shutdown: {name}" + ("" if ok else f"\n    {why}"), flush=True)


def stat_of(pid: int) -> tuple[int, int, int] | None:
    """(ppid, session, start time) of a live process, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[3]), int(fields[19])


def processes() -> dict[int, tuple[int, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (s := stat_of(int(entry.name))):
            found[int(entry.name)] = s
    return found


def tree(root_pid: int) -> dict[int, tuple[int, int, int]]:
    """root_pid and its descendants, with their sessions' members too."""
    every = processes()
    family = {root_pid} if root_pid in every else set()
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in every.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    sessions = {every[p][1] for p in family}
    family |= {p for p, s in every.items() if s[1] in sessions and s[1] != os.getsid(0)}
    return {p: every[p] for p in family}


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def survivors(recorded: dict[int, tuple[int, int, int]]) -> list[str]:
    """Recorded processes still alive (same pid and start time), and any process in their sessions."""
    now = processes()
    sessions = {s[1] for s in recorded.values()} - {os.getsid(0)}
    left = [p for p, s in recorded.items() if p in now and now[p][2] == s[2]]
    left += [p for p, s in now.items() if s[1] in sessions and p not in left]
    return [f"{p} {command_of(p)}" for p in left]


def tmp_entries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("tollgate")}


def wait_exit(proc: subprocess.Popen, timeout: float) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def run_serve(sig: signal.Signals, scratch: Path) -> None:
    """run.sh --serve with a function binary running, stopped by `sig`."""
    name = f"run.sh --serve, stopped by {sig.name}"
    if scratch.exists():
        shutil.rmtree(scratch)
    env = {**os.environ, "TOLLGATE_SANDBOX_DIR": str(scratch)}
    before_tmp = tmp_entries()
    proc = subprocess.Popen(["bash", "scripts/run.sh", "--serve", "--no-build", "--only", "health-gate"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    state_path = scratch / "sandbox.json"
    try:
        deadline = time.monotonic() + 120
        while not state_path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not state_path.exists():
            proc.kill()
            out, errs = proc.communicate()
            return check(name, False, f"the sandbox did not come up (exit {proc.returncode}): {errs.decode()[-1500:]}")
        state = json.loads(state_path.read_text())
        # A function binary running under cargo lambda watch, as after any invocation.
        event = (ROOT / "events" / "health-gate.healthy.json").read_bytes()
        request = urllib.request.Request(f"http://127.0.0.1:{state['invoke_port']}/2015-03-31/functions/health-gate/invocations",
                                         data=event, method="POST")
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
        recorded = tree(proc.pid)
        commands = [command_of(p) for p in recorded]
        has_binary = any("debug/health-gate" in c for c in commands)
        has_watch = any("lambda watch" in c for c in commands)
        os.kill(proc.pid, sig)
        status = wait_exit(proc, 40)
        out, errs = proc.communicate() if status is not None else (b"", b"")
        left = survivors(recorded)
        files = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*") if p.is_file())
        stray = [f for f in files if not (f.startswith("logs/") and f.endswith(".log"))]
        new_tmp = sorted(tmp_entries() - before_tmp)
        problems = []
        if not (has_binary and has_watch):
            problems.append(f"expected cargo lambda watch and the health-gate binary to be running; found {commands}")
        if status is None:
            problems.append("still running 40 s after the signal")
        elif status != 128 + sig:
            problems.append(f"exit status {status}, expected {128 + sig}")
        if b"Traceback" in errs or b"Traceback" in out:
            problems.append(f"printed a traceback: {errs.decode()[-1500:]}")
        if left:
            problems.append(f"processes left: {left}")
        if stray:
            problems.append(f"files left besides logs: {stray}")
        if new_tmp:
            problems.append(f"files left in {tempfile.gettempdir()}: {new_tmp}")
        check(name, not problems, "; ".join(problems))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_serve(*extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(PYTHON), "scripts/sandbox.py", "serve", *extra], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = proc.stdout.readline().decode().strip()
    return proc, url


def ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_tollgate/ping", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def serve_sigterm() -> None:
    name = "sandbox.py serve, stopped by SIGTERM"
    proc, url = start_serve()
    try:
        up = ping(url)
        proc.send_signal(signal.SIGTERM)
        status = wait_exit(proc, 20)
        errs = proc.stderr.read().decode() if status is not None else ""
        problems = []
        if not up:
            problems.append(f"not answering at {url!r}")
        if status != 128 + signal.SIGTERM:
            problems.append(f"exit status {status}, expected {128 + signal.SIGTERM}")
        if "Traceback" in errs:
            problems.append(f"printed a traceback: {errs[-1500:]}")
        if up and ping(url):
            problems.append("still answering after it exited")
        check(name, not problems, "; ".join(problems))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serve_parent_gone() -> None:
    name = "sandbox.py serve --parent-pid: stops when that process ends"
    parent = subprocess.Popen(["sleep", "600"])
    proc, url = start_serve("--parent-pid", str(parent.pid))
    try:
        up = ping(url)
        parent.kill()
        parent.wait()
        status = wait_exit(proc, 20)
        errs = proc.stderr.read().decode() if status is not None else ""
        problems = []
        if not up:
            problems.append(f"not answering at {url!r}")
        if status is None:
            problems.append("still running 20 s after its parent ended")
        if "Traceback" in errs:
            problems.append(f"printed a traceback: {errs[-1500:]}")
        check(name, not problems, "; ".join(problems))
    finally:
        for p in (parent, proc):
            if p.poll() is None:
                p.kill()
                p.wait()


def main() -> int:
    if not (target_dir() / "debug" / "health-gate").exists():
        print("build the functions first: cargo build --bins", file=sys.stderr)
        return 2
    serve_sigterm()
    serve_parent_gone()
    scratch = target_dir() / "tollgate" / f"shutdown-test-{os.getpid()}"
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            run_serve(sig, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    passed = sum(ok for _, ok, _ in results)
    failed = len(results) - passed
    print(f"\nshutdown: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
