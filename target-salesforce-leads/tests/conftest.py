"""Fixtures: a Salesforce emulator per test module, reset between tests, and a harness running
the target CLI against it."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

from .target_sf_testlib import Harness


@pytest.fixture(scope="module")
def sf_module(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[EmulatorProcess]:
    """One emulator process for a test module (starting one costs about a second)."""
    with EmulatorProcess("salesforce", tmp_path_factory.mktemp("sf")) as proc:
        yield proc


@pytest.fixture
def sf(sf_module: EmulatorProcess) -> EmulatorProcess:
    """The module's emulator, back to its seeded org: no records, faults, counters or log."""
    sf_module.reset()
    return sf_module


@pytest.fixture
def harness(sf: EmulatorProcess, tmp_path: Path) -> Harness:
    return Harness(sf, tmp_path)
