"""The companies scroll: one per app, restarted when Intercom loses it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess

from .tap_test_support import TOKEN, TapRun, parse_messages, run_tap, tap_command, tap_config


@pytest.fixture(scope="module")
def ic(tmp_path_factory: pytest.TempPathFactory):
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-scroll"), args=["--rate-limit-per-minute", "10000"]
    ) as emulator:
        emulator.seeded = emulator.admin(  # type: ignore[attr-defined]
            "POST", "seed", {"contacts": 40, "conversations": 5, "seed": 9, "companies": 120}
        )
        yield emulator


def _scroll(ic: EmulatorProcess, param: str | None = None) -> dict:
    url = f"{ic.url}/companies/scroll" + (f"?scroll_param={param}" if param else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def test_waits_while_another_scroll_is_open(ic: EmulatorProcess, tmp_path: Path) -> None:
    # Another client holds the app's only scroll, and finishes it a few seconds later.
    page = _scroll(ic)

    def refused() -> bool:
        entries = ic.admin("GET", "requests?limit=200")
        return any(e["path"] == "/companies/scroll" and e["status"] >= 400 for e in entries)

    def finish() -> None:
        # Finish the other scroll only once the tap was refused at least once (a loaded
        # machine can take longer than any fixed delay to start the tap), then 2 s later.
        deadline = time.monotonic() + 120
        while not refused() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        param = page["scroll_param"]
        while True:
            answer = _scroll(ic, param)
            if not answer["data"]:
                return
            param = answer["scroll_param"]

    finisher = threading.Thread(target=finish)
    finisher.start()
    run = run_tap(tmp_path, tap_config(ic))
    finisher.join()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "another scroll is open" in run.stderr
    ids = run.ids("companies")
    assert len(ids) == ic.seeded["companies"] and set(ids.values()) == {1}


def test_restarts_the_scroll_after_a_500(ic: EmulatorProcess, tmp_path: Path) -> None:
    ic.admin(
        "POST", "faults", {"kind": "status", "status": 500, "count": 1, "path": "/companies/scroll"}
    )
    try:
        run = run_tap(tmp_path, tap_config(ic))
    finally:
        ic.admin("DELETE", "faults")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "restarting it" in run.stderr
    ids = run.ids("companies")
    assert len(ids) == ic.seeded["companies"] and set(ids.values()) == {1}


def test_connection_test_leaves_no_scroll_open(ic: EmulatorProcess, tmp_path: Path) -> None:
    """`--config ENV --test`, as `meltano test` runs it: settings as variables (a number one
    too), one record per stream, and no scroll left open for the next sync to wait out."""
    env = {
        f"TAP_INTERCOM_EVENTS_{key.upper()}": str(value)
        for key, value in tap_config(ic, rate_limit_share=0.5, max_retries=2).items()
    }
    ic.reset_stats()
    test = subprocess.run(
        [*tap_command(), "--config", "ENV", "--test"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **env},
    )
    assert test.returncode == 0, test.stderr[-3000:]
    records = TapRun(0, parse_messages(test.stdout), "").records
    assert {s: len(r) for s, r in records.items() if s in ("admins", "contacts")} == {
        "admins": 1,
        "contacts": 1,
    }
    called = ic.stats()["by_endpoint"]
    assert "GET /admins" in called and "GET /companies/scroll" not in called, called
    run = run_tap(tmp_path, tap_config(ic))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "another scroll is open" not in run.stderr
    assert len(run.ids("companies")) == ic.seeded["companies"]
