"""Where the sandbox's things live: the workspace, the tools venv, logs and the state file of a
sandbox that `scripts/run.sh --serve` keeps up (scripts/invoke.sh reuses it). Standard library only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = ROOT / ".tools" / "sandbox" / "bin"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account for the sandbox's credentials
STACK_NAME = "tollgate"  # samconfig.toml's stack; names like ${AWS::StackName}-health-gate use it
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    return Path(configured) if configured else ROOT / "target"


def sandbox_dir() -> Path:
    """target/tollgate (or TOLLGATE_SANDBOX_DIR): the sandbox's logs and the state file of a
    sandbox kept up. Nothing goes to /tmp."""
    configured = os.environ.get("TOLLGATE_SANDBOX_DIR")
    return Path(configured) if configured else target_dir() / "tollgate"


def log_dir() -> Path:
    return sandbox_dir() / "logs"


def state_file() -> Path:
    """Written by a long-running sandbox (run.sh --serve) while it is up, removed when it stops."""
    return sandbox_dir() / "sandbox.json"


def new_log(kind: str, keep: int = 20) -> Path:
    """A fresh log file target/tollgate/logs/<kind>-<time>-<pid>.log; keeps the newest `keep` per kind."""
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    old = sorted(directory.glob(f"{kind}-*.log"), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - keep + 1)]:
        stale.unlink(missing_ok=True)
    path = directory / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.touch()
    return path


def relative(path: Path) -> str:
    """A path as people type it from the workspace root."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_sandbox() -> dict | None:
    """The state of a sandbox another process keeps up, if its process is still alive."""
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    pid = int(state.get("pid", 0) or 0) if isinstance(state, dict) else 0
    if pid <= 0 or not pid_alive(pid):
        return None
    return state
