"""The emulators package imports in one direction: no module reaches back to one importing it.

Every ``import``/``from ... import`` of an ``emulators`` module counts, at module level, inside
functions and under ``if TYPE_CHECKING:`` alike (a circle held together by a late import is
still a circle). The emulators never import the plugins or the shared client packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emulators"
FORBIDDEN = (
    "tap_intercom_events",
    "target_salesforce_leads",
    "mapper",
    "transform",
    "salesforce_client",
    "intercom_client",
    "singer_kit",
)


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ["emulators", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str], root: Path = PACKAGE) -> set[str]:
    """The emulators modules ``path`` imports anywhere in its body."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
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


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
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
                return path[path.index(nxt) :] + [nxt]
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


def test_no_import_circle_in_the_emulators() -> None:
    circle = find_circle(graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_a_circle_closed_by_a_function_level_import_is_found(tmp_path: Path) -> None:
    # The guard itself can fail: app -> handlers at module level, handlers -> app in a function
    # (the shape the Salesforce emulator had), and a relative import, are all edges.
    (tmp_path / "sf").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "sf" / "__init__.py").write_text("")
    (tmp_path / "sf" / "app.py").write_text("from emulators.sf import handlers\n")
    (tmp_path / "sf" / "handlers.py").write_text("def f():\n    from . import app\n")
    (tmp_path / "sf" / "store.py").write_text("import emulators.sf.handlers\n")
    edges = graph(tmp_path)
    assert edges["emulators.sf.store"] == {"emulators.sf.handlers"}
    assert find_circle(edges) == ["emulators.sf.app", "emulators.sf.handlers", "emulators.sf.app"]
    (tmp_path / "sf" / "handlers.py").write_text("def f():\n    return 1\n")
    assert find_circle(graph(tmp_path)) is None


def test_the_emulators_import_no_plugin_and_no_client_package() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders
