"""Fixtures: Intercom emulators as real processes, and full runs of the tap against them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

sys.path.insert(0, str(Path(__file__).parent))

from tap_test_support import SEED, TapRun, run_tap, tap_config  # noqa: E402


@pytest.fixture(scope="session")
def seeded_ic(tmp_path_factory: pytest.TempPathFactory):
    """One seeded emulator for the read-only tests of the session."""
    data_dir = tmp_path_factory.mktemp("ic-seeded")
    with EmulatorProcess("intercom", data_dir, args=["--rate-limit-per-minute", "10000"]) as ic:
        ic.seeded = ic.admin("POST", "seed", SEED)  # type: ignore[attr-defined]
        yield ic


@pytest.fixture(scope="session")
def full_run(seeded_ic: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> TapRun:
    """A full sync of the seeded workspace, with every stream including event summaries."""
    seeded_ic.reset_stats()
    run = run_tap(
        tmp_path_factory.mktemp("full-run"),
        tap_config(seeded_ic, fetch_event_summaries=True, max_concurrency=8),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    run.stats = seeded_ic.stats()  # type: ignore[attr-defined]
    return run
