"""Against a low rate limit the governor paces the tap instead of hitting 429s; 429s that come
anyway are waited out for as long as max_retry_seconds allows.

The logic (300 answers 429 in a row, the max_retry_seconds message, backoff bounds) is tested on
a fake clock in intercom-client/tests/test_retry.py; these are the real-socket runs of the tap.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

from .tap_test_support import run_tap, tap_command, tap_config


def test_low_rate_limit_gives_no_429(tmp_path: Path) -> None:
    # 600 a minute: 100 calls per 10-second window.
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "600"]
    ) as ic:
        ic.admin(
            "POST", "seed", {"contacts": 90, "conversations": 70, "seed": 2, "big_conversations": 0}
        )
        ic.reset_stats()
        started = time.monotonic()
        run = run_tap(
            tmp_path / "run", tap_config(ic, fetch_event_summaries=True, max_concurrency=10)
        )
        elapsed = time.monotonic() - started
        stats = ic.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids("conversations")) == 70
    assert len(run.ids("contacts")) == 90
    calls = stats["api_calls"]
    assert calls > 150  # more than one window's budget, so pacing had to happen
    assert stats["status_counts"].get("429", 0) == 0, stats
    # Used the budget rather than crawling: well under twice the ideal time.
    assert elapsed < 2 * (calls / 10.0) + 10


def _only_conversations(tmp_path: Path, config: dict) -> Path:
    """A catalog with only conversations and their parts selected (the parts phase alone)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "discover-config.json"
    config_path.write_text(json.dumps(config))
    found = subprocess.run(
        [*tap_command(), "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    catalog = json.loads(found)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["stream"] in {
                    "conversations",
                    "conversation_parts",
                }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def test_parts_at_a_low_rate_limit_with_latency_give_no_429(tmp_path: Path) -> None:
    # 2,000 a minute: 334 calls per 10-second window, X-RateLimit-Limit 334. With 100 ms of
    # latency and 20 workers booking their turns ahead, a window's first answers do not count
    # the calls in flight or booked; a governor that took their Remaining for what is left ran
    # out of budget before the window's end and got 429s there (13 here before the fix).
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "2000"]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 400, "conversations": 800, "seed": 3, "big_conversations": 0},
        )
        ic.admin("POST", "faults", {"kind": "latency", "ms": 100})
        config = tap_config(ic)  # the default max_concurrency (20)
        catalog = _only_conversations(tmp_path, config)
        ic.reset_stats()
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        proc = subprocess.run(
            [*tap_command(), "--config", str(config_path), "--catalog", str(catalog)],
            capture_output=True,
            text=True,
            timeout=240,
        )
        stats = ic.stats()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stats["status_counts"].get("429", 0) == 0, stats
    assert stats["by_endpoint"].get("GET /conversations/{conversation_id}", 0) == 800
    assert stats["api_calls"] > 2 * 334  # more than two windows' budget


def test_rate_limit_share_leaves_the_rest_of_each_window(tmp_path: Path) -> None:
    # 600 a minute: 100 calls per 10-second window, of which the tap may use half.
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "600"]
    ) as ic:
        ic.admin(
            "POST", "seed", {"contacts": 30, "conversations": 75, "seed": 4, "big_conversations": 0}
        )
        ic.reset_stats()
        run = run_tap(tmp_path / "run", tap_config(ic, rate_limit_share=0.5, max_concurrency=10))
        log = ic.admin("GET", "requests?limit=1000")
        stats = ic.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    assert stats["status_counts"].get("429", 0) == 0
    assert stats["api_calls"] > 60
    # Emulator windows are aligned on multiples of 10 s: count the calls in each.
    per_window: dict[int, int] = {}
    for entry in log:
        window = int(entry["time"] // 10)
        per_window[window] = per_window.get(window, 0) + 1
    assert max(per_window.values()) <= 52, per_window


# Rate limiting that lasts: another client spends the app's budget.


@pytest.fixture(scope="module")
def _busy_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-busy"), args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 180, "conversations": 15, "seed": 8, "big_conversations": 0},
        )
        yield ic


@pytest.fixture()
def busy_ic(_busy_emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The module's emulator, without faults before and after the test."""
    _busy_emulator.admin("DELETE", "faults")
    yield _busy_emulator
    _busy_emulator.admin("DELETE", "faults")


def test_a_429_waits_for_the_reset_and_for_retry_after(
    busy_ic: EmulatorProcess, tmp_path: Path
) -> None:
    busy_ic.admin(
        "POST", "faults", {"kind": "rate_limit", "count": 1, "path": "/teams", "reset_in": 2}
    )
    busy_ic.admin(
        "POST",
        "faults",
        {"kind": "rate_limit", "count": 1, "path": "/tags", "reset_in": 0, "retry_after": 2},
    )
    busy_ic.reset_stats()
    run = run_tap(tmp_path, tap_config(busy_ic))
    assert run.returncode == 0, run.stderr[-3000:]
    log = busy_ic.admin("GET", "requests?limit=5000")
    for path, at_least in (("/teams", 1.0), ("/tags", 1.9)):
        calls = [entry for entry in log if entry["path"] == path]
        assert [c["status"] for c in calls[:2]] == [429, 200], calls
        # X-RateLimit-Reset was int(now) + 2 (at least 1 s later); Retry-After said 2 s.
        assert calls[1]["time"] - calls[0]["time"] >= at_least, (path, calls)


def test_max_retries_still_bounds_server_errors(busy_ic: EmulatorProcess, tmp_path: Path) -> None:
    busy_ic.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 1000, "path": "/admins"}
    )
    busy_ic.reset_stats()
    run = run_tap(tmp_path, tap_config(busy_ic, max_retries=2, max_retry_seconds=120))
    assert run.returncode != 0
    assert busy_ic.stats()["status_counts"].get("503") == 3
    assert "kept failing on GET /admins" in run.stderr
    assert "after 3 failed attempts" in run.stderr


def test_a_rate_limit_on_the_workspace_call_is_not_taken_for_a_missing_scope(
    busy_ic: EmulatorProcess, tmp_path: Path
) -> None:
    # GET /me and GET /tags are optional (a token may lack their scope), but a rate limit
    # that outlasts max_retry_seconds there stops the sync like anywhere else.
    busy_ic.admin(
        "POST", "faults", {"kind": "rate_limit", "count": 1_000_000, "path": "/me", "reset_in": 0}
    )
    run = run_tap(
        tmp_path, tap_config(busy_ic, max_retry_seconds=2, start_date="2001-01-01T00:00:00Z")
    )
    assert run.returncode != 0
    assert "Intercom's rate limit refused GET /me" in run.stderr
    assert "widened by a whole day" not in run.stderr
    assert not run.records.get("contacts")
