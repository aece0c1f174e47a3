"""Fixtures: a Salesforce emulator per test and a harness running the target CLI against it."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

# The helpers live in a module with a repo-unique name, importable by the test modules.
sys.path.insert(0, str(Path(__file__).parent))

from target_sf_testlib import Harness  # noqa: E402


@pytest.fixture
def sf(tmp_path: Path) -> t.Iterator[EmulatorProcess]:
    with EmulatorProcess("salesforce", tmp_path / "sf") as proc:
        yield proc


@pytest.fixture
def harness(sf: EmulatorProcess, tmp_path: Path) -> Harness:
    return Harness(sf, tmp_path)
