"""The run history in a real PostgreSQL server (scripts/postgres_server.py installs and starts
one): the same rows as in SQLite, the target adding its runs, and the page read from it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from target_salesforce_leads.history import RunHistory
from target_salesforce_leads.history_page import render

from scripts.history_dom import as_number, read_history_dom

from .target_sf_testlib import (
    TARGET_CLI,
    Harness,
    as_run_report,
    history_report,
    lead,
    lead_messages,
    write_problem_rows,
)


@pytest.fixture(scope="module")
def postgres_server_url() -> Iterator[str]:
    from scripts.postgres_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A fresh database on the server, as Meltano spells its URL (with a driver name)."""
    import psycopg

    name = f"history_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    scheme, rest = postgres_server_url.rsplit("/", 1)[0].split("://", 1)
    return f"{scheme}+psycopg://{rest}/{name}"


def _fill(history: RunHistory, problems: Path) -> None:
    for i in range(3):
        summary = history_report(
            f"run-{i}",
            {"created": 4 * i, "rejected": i},
            {"updated": i, "waiting": 2 - i},
            problems,
            3 + i,
        )
        finished = f"2026-02-0{i + 1}T06:00:00+00:00"
        history.record(
            as_run_report(summary, 30 + i, [("NO_EMAIL", i)], finished_at=finished),
            finished_at=finished,
        )


def test_same_rows_as_sqlite(postgres_url: str, tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    write_problem_rows(
        problems,
        [("waiting", "PARENT_WAITING", "ic_7"), ("rejected", "INVALID_EMAIL_ADDRESS", "ic_8")],
    )
    with RunHistory(postgres_url) as pg, RunHistory(str(tmp_path / "h.db")) as lite:
        _fill(pg, problems)
        _fill(pg, problems)  # recording the same runs again replaces them
        _fill(lite, problems)
        assert pg.count() == 3
        assert pg.runs() == lite.runs()
        for run in ("run-0", "run-2"):
            assert pg.objects(run) == lite.objects(run)
            assert pg.reasons(run) == lite.reasons(run)
            assert pg.problems(run) == lite.problems(run)
            assert pg.report(run) == lite.report(run)
        page = read_history_dom(render(pg))
    assert {r["run-id"]: as_number(r["intercom_api_calls"]) for r in page.tables["runs"]} == {
        "run-0": 30,
        "run-1": 31,
        "run-2": 32,
    }
    # Opening it again creates nothing twice (CREATE TABLE IF NOT EXISTS).
    with RunHistory(postgres_url) as again:
        assert again.count() == 3


def test_target_records_into_meltanos_postgres_database(
    harness: Harness, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """history_database_url unset: the history goes where Meltano's database_uri points."""
    monkeypatch.setenv("MELTANO_DATABASE_URI", postgres_url)
    result = harness.run(lead_messages([lead(i) for i in range(5)]), history_database_url=None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "added to the run history (postgresql://" in result.stderr
    with RunHistory(postgres_url) as pg:
        (row,) = pg.runs()
        assert row["run_id"] == result.summary["run_id"]
        assert row["created"] == len(harness.query("SELECT Id FROM Lead")) == 5
        assert row["salesforce_api_calls"] == harness.api_calls()
    page = tmp_path / "page.html"
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"history_database_url": postgres_url}))
    proc = subprocess.run(
        [*TARGET_CLI, "--config", str(cfg), "--history-page", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    dom = read_history_dom(page.read_text())
    assert [(r["run-id"], as_number(r["created"])) for r in dom.tables["runs"]] == [
        (row["run_id"], 5)
    ]


def test_unreachable_postgres_does_not_fail_the_run(
    harness: Harness, postgres_server_url: str
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://postgres:pw-never-logged@127.0.0.1:{port}/postgres"
    result = harness.run(lead_messages([lead(1)]), history_database_url=url)
    assert result.returncode == 0
    assert "missing from the run history" in result.stderr
    assert "pw-never-logged" not in result.stderr
