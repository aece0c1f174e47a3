"""Fixtures: run the mapper CLI on Singer messages and read what it wrote."""

from __future__ import annotations

import itertools
import typing as t
from pathlib import Path

import pytest

from .map_helpers import Run, run_cli


@pytest.fixture
def run_mapper(tmp_path: Path) -> t.Callable[..., Run]:
    """Return a function running the mapper CLI on messages (in-process; process=True: its own)."""
    counter = itertools.count()

    def run(messages: t.Iterable[dict[str, t.Any]], config: dict | None = None, **kw: t.Any) -> Run:
        folder = tmp_path / f"run-{next(counter)}"
        folder.mkdir()
        return run_cli(messages, config, folder, **kw)

    return run
