"""Fixtures: run the mapper CLI on Singer messages and read what it wrote."""

from __future__ import annotations

import itertools
import sys
import typing as t
from pathlib import Path

import pytest

# The tests import their helpers by a name unique across the repository's test folders.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from map_helpers import Run, run_cli  # noqa: E402


@pytest.fixture
def run_mapper(tmp_path: Path) -> t.Callable[..., Run]:
    """Return a function running the mapper CLI on messages (in-process; process=True: its own)."""
    counter = itertools.count()

    def run(messages: t.Iterable[dict[str, t.Any]], config: dict | None = None, **kw: t.Any) -> Run:
        folder = tmp_path / f"run-{next(counter)}"
        folder.mkdir()
        return run_cli(messages, config, folder, **kw)

    return run
