"""Fixtures: run the real mapper CLI on Singer messages and read what it wrote."""

from __future__ import annotations

import itertools
import sys
import typing as t
from pathlib import Path

import pytest

# The tests import their helpers by a name unique across the repository's test folders.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from map_helpers import Run, run_cli, run_inline  # noqa: E402


@pytest.fixture
def run_mapper(tmp_path: Path) -> t.Callable[..., Run]:
    """Return a function running the mapper on messages: the CLI, or in-process with inline=True."""
    counter = itertools.count()

    def run(
        messages: t.Iterable[dict[str, t.Any]],
        config: dict | None = None,
        *,
        inline: bool = False,
        **kw: t.Any,
    ) -> Run:
        folder = tmp_path / f"run-{next(counter)}"
        folder.mkdir()
        if inline:
            return run_inline(messages, config, folder)
        return run_cli(messages, config, folder, **kw)

    return run
