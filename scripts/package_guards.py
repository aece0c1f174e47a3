"""Checks on the shape of each package: its import graph and its module sizes.

Used by ``tests/test_package_guards.py``; also a command that prints what it finds:

    .venv/bin/python -m scripts.package_guards            # every package
    .venv/bin/python -m scripts.package_guards transform  # one package directory

Imports: every ``import``/``from ... import`` of a module of the same package counts, at module
level, inside functions and under ``if TYPE_CHECKING:`` alike (a circle held together by a late
import is still a circle).

Sizes: a module over ``MAX_LINES`` lines states why in its module docstring, in a sentence
holding ``(over 400 lines):`` followed by the reason, e.g. ``One module on purpose (over 400
lines): the grammar and the transformer share one tree.``
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Each package directory and the import package inside it.
PACKAGES = {
    "emulators": "emulators",
    "salesforce-client": "salesforce_client",
    "intercom-client": "intercom_client",
    "singer-kit": "singer_kit",
    "tap-intercom-events": "tap_intercom_events",
    "target-salesforce-leads": "target_salesforce_leads",
    "transform": "mapper_intercom_salesforce",
}
MAX_LINES = 400
#: The stated reason of a long module (see the module docstring).
REASON = re.compile(r"\(over 400 lines\):\s*\S")


def package_root(directory: str) -> Path:
    """The import package's folder inside a package directory."""
    return ROOT / directory / PACKAGES[directory]


def module_name(path: Path, root: Path) -> str:
    """The dotted name of the module at ``path`` in the package whose folder is ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str], root: Path) -> set[str]:
    """The modules of the package that the module at ``path`` imports anywhere in its body."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in out:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at ``root`` and the package's modules it imports."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    return {module_name(p, root): imported(p, modules, root) for p in files}


def find_circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                circle = visit(nxt)
                if circle:
                    return circle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            circle = visit(node)
            if circle:
                return circle
    return None


def long_modules(root: Path) -> list[str]:
    """The modules of the package at ``root`` over MAX_LINES lines that state no reason."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text, str(path))) or ""
        if not REASON.search(" ".join(doc.split())):
            found.append(f"{path.relative_to(root.parent)} ({lines} lines)")
    return found


def main(argv: list[str]) -> int:
    """Print each package's import circle and unexplained long modules; 1 if any."""
    status = 0
    for directory in argv or list(PACKAGES):
        root = package_root(directory)
        circle = find_circle(graph(root))
        long = long_modules(root)
        if circle:
            print(f"{directory}: import circle {' -> '.join(circle)}")
        for module in long:
            print(f"{directory}: {module} over {MAX_LINES} lines, no '(over 400 lines): why'")
        status = status or int(bool(circle or long))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
