"""Against a low rate limit the governor paces the tap instead of hitting 429s."""

from __future__ import annotations

import time
from pathlib import Path

from emulators.testing import EmulatorProcess
from tap_test_support import run_tap, tap_config


def test_low_rate_limit_gives_no_429(tmp_path: Path) -> None:
    # 600 a minute: 100 calls per 10-second window.
    with EmulatorProcess("intercom", tmp_path / "ic",
                         args=["--rate-limit-per-minute", "600"]) as ic:
        ic.admin("POST", "seed", {"contacts": 90, "conversations": 70, "seed": 2,
                                  "big_conversations": 0})
        ic.reset_stats()
        started = time.monotonic()
        run = run_tap(tmp_path / "run",
                      tap_config(ic, fetch_event_summaries=True, max_concurrency=10))
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


def test_rate_limit_share_leaves_the_rest_of_each_window(tmp_path: Path) -> None:
    # 600 a minute: 100 calls per 10-second window, of which the tap may use half.
    with EmulatorProcess("intercom", tmp_path / "ic",
                         args=["--rate-limit-per-minute", "600"]) as ic:
        ic.admin("POST", "seed", {"contacts": 30, "conversations": 75, "seed": 4,
                                  "big_conversations": 0})
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
