"""Fixtures: Intercom emulators as real processes, and full runs of the tap against them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from emulators.testing import EmulatorProcess

from .tap_test_support import SEED, TapRun, run_tap, tap_config


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


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (installed with apt-get when missing)."""
    from scripts.postgres_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A fresh, empty database on the session's server: its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server_url.rsplit("/", 1)[0] + "/" + name
