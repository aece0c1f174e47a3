"""The tap's summary file: figures equal to what the emulator saw, a failed sync says so."""

from __future__ import annotations

import json
from pathlib import Path

from emulators.intercom.fixtures import rate_limit_burst
from emulators.testing import EmulatorProcess

from .tap_test_support import run_tap, tap_config

RUN_ID = "0b7d3c52-1111-4e5e-9a6b-2c3d4e5f6a7b"


def test_summary_counts_records_calls_and_429s(tmp_path: Path) -> None:
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        ic.admin(
            "POST", "seed", {"contacts": 40, "conversations": 15, "seed": 4, "big_conversations": 0}
        )
        ic.reset_stats()
        rate_limit_burst(ic, 3, reset_in=0)
        path = tmp_path / "out" / "summary.json"
        run = run_tap(
            tmp_path / "run", tap_config(ic, summary_file=str(path)), env={"MELTANO_RUN_ID": RUN_ID}
        )
        stats = ic.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(path.read_text())
    assert summary["status"] == "ok" and summary["error"] is None
    assert summary["pipeline"] == f"run:{RUN_ID}"
    assert summary["api_calls"] == stats["api_calls"]
    assert summary["throttled"] == stats["status_counts"]["429"] == 3
    assert summary["rate_limit"]["peak_share_used"] == 1.0  # a window was refused
    assert sum(s["api_calls"] for s in summary["streams"].values()) == stats["api_calls"]
    for stream, rows in run.records.items():
        assert summary["streams"][stream]["records"] == len(rows), stream
    assert summary["streams"]["contacts"]["records"] == 40


def test_a_failed_sync_writes_its_error_without_the_token(tmp_path: Path) -> None:
    secret = "revoked-secret-token-456"
    with EmulatorProcess("intercom", tmp_path / "ic") as ic:
        ic.admin(
            "POST", "seed", {"contacts": 5, "conversations": 1, "seed": 4, "big_conversations": 0}
        )
        path = tmp_path / "summary.json"
        path.write_text('{"status": "ok", "from": "an earlier run"}')
        run = run_tap(
            tmp_path / "run", {**tap_config(ic), "access_token": secret, "summary_file": str(path)}
        )
    assert run.returncode != 0
    text = path.read_text()
    summary = json.loads(text)
    assert summary["status"] == "failed"
    assert "401" in summary["error"] and "\n" not in summary["error"]
    assert secret not in text
