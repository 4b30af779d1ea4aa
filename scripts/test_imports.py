"""Checks that no Python module under scripts/ imports a module that imports it back, directly or
through others (function-level imports included), and that every module opens with a docstring.
Standard library only; scripts/test.sh runs it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SCRIPTS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in it (a package's submodule, when named)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join(filter(None, [*anchor, base]))
            targets = [base] + [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def main() -> int:
    paths = {module_name(p): p for p in SCRIPTS.rglob("*.py") if "__pycache__" not in p.parts}
    graph = {name: imports_of(path, name, set(paths)) for name, path in paths.items()}
    problems = []
    if found := cycle(graph):
        problems.append("import circle: " + " -> ".join(found))
    for name, path in sorted(paths.items()):
        if ast.get_docstring(ast.parse(path.read_text())) is None:
            problems.append(f"{path.relative_to(SCRIPTS)} does not open with a docstring saying what it is for")
    edges = sum(len(v) for v in graph.values())
    for problem in problems:
        print(f"FAIL - {problem}")
    print(f"imports: {len(paths)} modules, {edges} project imports, " + ("no circle" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
