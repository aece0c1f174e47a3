"""The summary file: its pipeline key and its owner-only, atomic writing."""

from __future__ import annotations

import datetime
import json
import os
import stat
from pathlib import Path

import pytest
from singer_kit.summary import pipeline_key, write_summary


def test_the_key_is_meltanos_run_id_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MELTANO_RUN_ID", "abc-123")
    assert pipeline_key() == "run:abc-123"


def test_without_a_run_id_the_key_is_the_parent_and_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MELTANO_RUN_ID", raising=False)
    key = pipeline_key()
    kind, ppid, started = key.split(":")
    assert (kind, int(ppid)) == ("ppid", os.getppid())
    if Path("/proc").is_dir():
        assert started.isdigit()
    assert pipeline_key() == key  # the same for every plugin the parent started


def test_the_file_is_replaced_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.json"
    old = os.umask(0o022)
    try:
        write_summary(path, {"a": 1})
        write_summary(str(path), {"a": 2, "at": datetime.date(2026, 1, 2)})
    finally:
        os.umask(old)
    assert json.loads(path.read_text()) == {"a": 2, "at": "2026-01-02"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no temporary left


def test_a_left_over_temporary_file_does_not_lend_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    tmp = tmp_path / "summary.json.tmp"
    tmp.write_text("half")
    tmp.chmod(0o644)
    write_summary(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_path_writes_nothing(tmp_path: Path) -> None:
    write_summary(None, {"a": 1})
    write_summary("", {"a": 1})
    assert list(tmp_path.iterdir()) == []
