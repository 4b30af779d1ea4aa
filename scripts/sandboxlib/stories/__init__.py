"""The registry of stories, in the order scripts/run.sh tells them, and what they give the sandbox.

Each feature's story is one module here (<feature>.py, helpers beside it as <feature>_*.py). It may
import the sandbox's infrastructure (paths, procs, template, runtime, github, samples) and
sandboxlib.story, never box or another feature's story, and it says:

    NAME, SUMMARY    how run.sh --list and its headings name it
    FUNCTIONS        the functions it needs under cargo lambda watch
    RUNS             (optional) binaries it runs itself, as Lambda would (built up front too)
    EXAMPLES         (optional) function -> a sample event in events/ that works against --serve
    PARAMETERS       (optional) template parameters the sandbox deploys with (sam deploy's overrides)
    RESOURCES        (optional) the template's resources as the sandbox names them (!Ref, !GetAtt)
    seed(box)        (optional) what its sample events refer to (run.sh --serve, invoke.sh, bench, release)
    play(play)       its situations: yields sandboxlib.story.Result
    serve(box, json) (optional) run.sh --only <story> --serve keeps its own world up
    bench(box, profile)  (optional) bench rows for functions that need more than a sample event

Adding a feature's story: write its module, add it to STORIES below. Importable with any Python
3.11 (run.sh checks arguments before installing anything): venv packages only inside functions.
"""

from __future__ import annotations

from . import approvals, branches, dora, drift, failsafe, health

STORIES = {story.NAME: story for story in (health, drift, approvals, branches, dora, failsafe)}


def functions_of(stories) -> list[str]:
    """The functions the stories run under cargo lambda watch."""
    return list(dict.fromkeys(f for s in stories for f in s.FUNCTIONS))


def binaries_of(stories) -> list[str]:
    """Every binary the stories need: under cargo lambda watch, and run by the stories themselves."""
    return list(dict.fromkeys(f for s in stories for f in (*s.FUNCTIONS, *getattr(s, "RUNS", ()))))


def deployment() -> tuple[dict[str, str], dict[str, str]]:
    """(template parameters, resources) of the sandbox's deployment, from every story."""
    parameters: dict[str, str] = {}
    resources: dict[str, str] = {}
    for story in STORIES.values():
        parameters.update(getattr(story, "PARAMETERS", {}))
        resources.update(getattr(story, "RESOURCES", {}))
    return parameters, resources


def seed(box) -> None:
    """Everything the sample events in events/ refer to, for every story."""
    for story in STORIES.values():
        if hasattr(story, "seed"):
            story.seed(box)


def examples() -> dict[str, str]:
    """function -> a sample event that works against run.sh --serve."""
    return {f: e for story in STORIES.values() for f, e in getattr(story, "EXAMPLES", {}).items()}
