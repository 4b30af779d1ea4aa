"""Clean stops: SIGINT, SIGTERM and SIGHUP become a `Stopped` exception in the main thread (so
`with` blocks clean up and nothing prints a traceback), and child processes are stopped with
everything they started. Standard library only."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """A stop signal arrived; `signum` says which. Exit status by convention: 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


_deferred: list[int] = []  # a stop signal that arrived inside `uninterrupted()`
_depth = 0


def _raise_stopped(signum, _frame) -> None:
    # Ignore further stop signals while the first one unwinds and cleans up.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if _depth:
        _deferred.append(signum)
        return
    raise Stopped(signum)


@contextmanager
def uninterrupted():
    """Holds a stop signal back until the block is done: around starting a child and recording it,
    so that no child is started without its owner knowing it has to stop it."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _deferred:
            raise Stopped(_deferred.pop())


def stop_on_signals() -> None:
    """Turns SIGINT, SIGTERM and SIGHUP into `Stopped` (call from the main thread)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)


def watch_parent(pid: int) -> None:
    """Sends this process SIGTERM when process `pid` ends (a test binary that started us and died
    without stopping us). Uses a pidfd where Linux has one, else polls."""

    def wait_then_stop() -> None:
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(pid) and os.getppid() != 1:
                time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_then_stop, name="watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def session_members(sid: int) -> list[int]:
    """Processes in session `sid` (a child started with start_new_session=True and everything it
    started, even in other process groups)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces and parentheses.
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            members.append(int(stat.parent.name))
    return members


def stop_session(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stops a child started with start_new_session=True and every process in its session: SIGTERM,
    then SIGKILL for whatever is left after `grace` seconds."""
    sid = proc.pid
    for pid in [sid, *session_members(sid)]:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not session_members(sid):
            return
        time.sleep(0.05)
    for pid in [sid, *session_members(sid)]:
        _signal(pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def clean_environ() -> dict[str, str]:
    """This process's environment without AWS_* settings, so that nothing in the caller's shell
    (a profile, a region, an endpoint) sends a sandboxed process to real AWS."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
