"""Guards on the shape of every package (scripts/package_guards.py holds the checks).

- No import circle among a package's modules: every import of a module of the same package
  counts, at module level, inside functions and under ``if TYPE_CHECKING:`` alike.
- No module over 400 lines without a reason: a longer module states why in its module
  docstring, in a sentence holding ``(over 400 lines):`` and the reason, e.g. "One module on
  purpose (over 400 lines): the grammar and the transformer share one tree."

Each package of ``scripts.package_guards.PACKAGES`` is one parametrized case of each guard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.package_guards import PACKAGES, find_circle, graph, long_modules, package_root

#: Every package is guarded (scripts/package_guards.py lists them).
GUARDED = list(PACKAGES)


@pytest.mark.parametrize("directory", GUARDED)
def test_no_import_circle_in_the_package(directory: str) -> None:
    circle = find_circle(graph(package_root(directory)))
    assert circle is None, f"{directory}: import circle " + " -> ".join(circle or [])


@pytest.mark.parametrize("directory", GUARDED)
def test_no_module_over_400_lines_without_a_reason(directory: str) -> None:
    long = long_modules(package_root(directory))
    assert not long, (
        f"{directory}: modules over 400 lines whose docstring states no reason "
        f"('(over 400 lines): why'): {long}; split them along their ideas or say why not"
    )


def test_every_guarded_package_is_a_package_directory() -> None:
    for directory in PACKAGES:
        assert package_root(directory).is_dir(), directory


def test_a_circle_closed_by_a_function_level_import_is_found(tmp_path: Path) -> None:
    # The guard itself can fail: app -> handlers at module level, handlers -> app in a function
    # (the shape the Salesforce emulator had), and a relative import, are all edges.
    root = tmp_path / "pkg"
    (root / "sf").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sf" / "__init__.py").write_text("")
    (root / "sf" / "app.py").write_text("from pkg.sf import handlers\n")
    (root / "sf" / "handlers.py").write_text("def f():\n    from . import app\n")
    (root / "sf" / "store.py").write_text("import pkg.sf.handlers\n")
    edges = graph(root)
    assert edges["pkg.sf.store"] == {"pkg.sf.handlers"}
    assert find_circle(edges) == ["pkg.sf.app", "pkg.sf.handlers", "pkg.sf.app"]
    (root / "sf" / "handlers.py").write_text("def f():\n    return 1\n")
    assert find_circle(graph(root)) is None


def test_a_type_checking_import_closes_a_circle(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.b import B\n")
    (root / "b.py").write_text(
        "import typing as t\nif t.TYPE_CHECKING:\n    from pkg.a import A\nclass B: ...\n"
    )
    assert find_circle(graph(root)) == ["pkg.a", "pkg.b", "pkg.a"]


def test_a_long_module_passes_only_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    body = "x = 1\n" * 401
    (root / "short.py").write_text('"""Short."""\n' + "x = 1\n" * 398)
    (root / "long.py").write_text('"""Long, and silent about it."""\n' + body)
    (root / "why.py").write_text(
        '"""Long.\n\nOne module on purpose (over 400\nlines): one table of values.\n"""\n' + body
    )
    (root / "empty.py").write_text('"""Long (over 400 lines):"""\n' + body)
    assert long_modules(root) == ["pkg/empty.py (402 lines)", "pkg/long.py (402 lines)"]
