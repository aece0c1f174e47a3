"""Incremental syncs lose nothing: the bookmark's day, a day boundary in a non-UTC workspace,
and records that change while the sync runs."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from emulators.testing import EmulatorProcess

from .tap_test_support import TapRun, parse_messages, run_tap, tap_command, tap_config

TZ = ZoneInfo("Asia/Tokyo")  # UTC+9: local midnight is 15:00 UTC of the day before
# 23:40 in Tokyo: twenty minutes before the workspace's day turns over.
T0 = int(datetime.datetime(2026, 11, 20, 23, 40, tzinfo=TZ).timestamp())
LOOKBACK = 120


def epoch(value: str) -> int:
    return int(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module")
def tokyo(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("ic-tokyo")
    args = ["--rate-limit-per-minute", "10000", "--timezone", "Asia/Tokyo"]
    with EmulatorProcess("intercom", data_dir, args=args) as ic:
        ic.admin("POST", "clock", {"now": T0})
        ic.admin(
            "POST",
            "seed",
            {"contacts": 200, "conversations": 40, "seed": 3, "big_conversations": 0},
        )
        yield ic


@pytest.fixture(scope="module")
def first_run(tokyo: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> TapRun:
    run = run_tap(tmp_path_factory.mktemp("run1"), tap_config(tokyo, lookback_window=LOOKBACK))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.ids("contacts")) == 200
    return run


def _config(ic: EmulatorProcess, **extra) -> dict:
    return tap_config(ic, lookback_window=LOOKBACK, **extra)


def test_bookmark_stays_behind_the_newest_update(first_run: TapRun) -> None:
    newest = max(epoch(c["updated_at"]) for c in first_run.records["contacts"])
    assert epoch(first_run.bookmark("contacts")) == newest - LOOKBACK
    newest = max(epoch(c["updated_at"]) for c in first_run.records["conversations"])
    assert epoch(first_run.bookmark("conversations")) == newest - LOOKBACK


def test_changes_on_bookmark_day_across_midnight_and_during_the_sync(
    tokyo: EmulatorProcess, first_run: TapRun, tmp_path: Path
) -> None:
    contacts = sorted(first_run.records["contacts"], key=lambda c: c["updated_at"])
    conversations = sorted(first_run.records["conversations"], key=lambda c: c["updated_at"])
    bookmark = epoch(first_run.bookmark("contacts"))
    conv_bookmark = epoch(first_run.bookmark("conversations"))
    # What a correct next run may repeat: records at or after the bookmark (the lookback).
    lookback_contacts = {c["id"] for c in contacts if epoch(c["updated_at"]) >= bookmark}
    lookback_convs = {c["id"] for c in conversations if epoch(c["updated_at"]) >= conv_bookmark}

    old = [c for c in contacts if c["id"] not in lookback_contacts]
    same_day = old[:3]  # moved to the bookmark's own day, just after it
    past_midnight = old[3:6]  # moved past the workspace's midnight (same UTC day)
    during = old[6:9]  # changed while the second sync runs
    local_midnight = int(datetime.datetime(2026, 11, 21, tzinfo=TZ).timestamp())
    assert datetime.datetime.fromtimestamp(bookmark, TZ).date() == datetime.date(2026, 11, 20)
    for i, contact in enumerate(same_day):
        tokyo.admin("PATCH", f"contacts/{contact['id']}", {"updated_at": bookmark + 1 + i})
    for i, contact in enumerate(past_midnight):
        tokyo.admin("PATCH", f"contacts/{contact['id']}", {"updated_at": local_midnight + 60 + i})
    old_convs = [c for c in conversations if c["id"] not in lookback_convs]
    conv_same_day = old_convs[:2]
    for conversation in conv_same_day:
        tokyo.admin(
            "PATCH", f"conversations/{conversation['id']}", {"updated_at": conv_bookmark + 1}
        )
    tokyo.admin("POST", "clock", {"now": local_midnight + 600})
    big = old_convs[2]
    answer = tokyo.admin("POST", f"conversations/{big['id']}/parts", {"count": 600})
    assert answer["count_conversation_parts"] > 600

    # Second sync, slowed down so contacts can change under it.
    tokyo.admin("POST", "faults", {"kind": "latency", "ms": 150})
    run2 = _run_changing_during_sync(tokyo, tmp_path / "run2", first_run.last_state, during)
    tokyo.admin("DELETE", "faults")
    assert run2.returncode == 0, run2.stderr[-3000:]

    got = set(run2.ids("contacts"))
    moved = {c["id"] for c in same_day + past_midnight}
    assert moved <= got, "missed contacts changed after the bookmark"
    others = got - moved - {c["id"] for c in during}
    assert others <= lookback_contacts, "re-read contacts the bookmark had passed"
    assert set(run2.ids("contacts").values()) == {1}

    got_convs = set(run2.ids("conversations"))
    assert {c["id"] for c in conv_same_day} | {big["id"]} <= got_convs
    assert got_convs - {c["id"] for c in conv_same_day} - {big["id"]} <= lookback_convs
    flagged = {
        p["conversation_id"]
        for p in run2.records["conversation_parts"]
        if p["conversation_parts_truncated"]
    }
    assert flagged == {big["id"]}
    assert f"Conversation {big['id']} has" in run2.stderr
    # The bookmark never passes the changes made during the sync.
    during_at = epoch(run2.bookmark("contacts"))
    assert during_at < local_midnight + 1200

    run3 = run_tap(tmp_path / "run3", _config(tokyo), state=run2.last_state)
    assert run3.returncode == 0, run3.stderr[-3000:]
    assert {c["id"] for c in during} <= set(run3.ids("contacts")), "lost changes made mid-sync"
    # And nothing else of the old records comes back.
    assert set(run3.ids("contacts")) <= {c["id"] for c in during} | moved | lookback_contacts


def _run_changing_during_sync(ic, tmp_path, state, during) -> TapRun:
    """Run the tap; once it emits its first contact, change ``during`` (clock advanced)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(_config(ic, page_size=2)))
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    proc = subprocess.Popen(
        [*tap_command(), "--config", str(config_path), "--state", str(state_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()))
    reader.start()
    lines: list[str] = []
    changed = False
    for line in proc.stdout:
        lines.append(line)
        if not changed and '"stream":"contacts"' in line.replace(" ", "") and '"RECORD"' in line:
            ic.admin("POST", "clock", {"advance": 300})
            for contact in during:
                ic.admin("PATCH", f"contacts/{contact['id']}", {})
            changed = True
    proc.wait(timeout=120)
    reader.join()
    assert changed
    return TapRun(proc.returncode, parse_messages("".join(lines)), "".join(stderr_chunks))
