"""State sections of other plugins (the mapper's, the target's) pass through the tap unchanged.

Meltano keeps one state per pipeline. The target keeps its waiting records in its own top-level
key; it gets that key back only through the STATE messages the tap writes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from emulators.testing import EmulatorProcess
from tap_intercom_events.tap import TapIntercomEvents

from .tap_test_support import TOKEN, TapRun, run_tap, tap_config

FOREIGN: dict[str, Any] = {
    "target-salesforce-leads": {
        "orgs": {
            "00D000000000001EAA": {
                "generation": "g-1",
                "waiting": "eJyrrgUAAXUA+Q==",
                "waiting_count": 3,
            }
        },
    },
    "map-intercom-salesforce": {"version": 2, "mapping_hashes": ["a", "b"], "empty": {}},
}


def _bookmark_state(full_run: TapRun) -> dict[str, Any]:
    """Bookmarks half-way through the seeded contacts and conversations."""
    bookmarks: dict[str, Any] = {}
    for stream in ("contacts", "conversations"):
        values = sorted(record["updated_at"] for record in full_run.records[stream])
        bookmarks[stream] = {
            "replication_key": "updated_at",
            "replication_key_value": values[len(values) // 2],
        }
    return {"bookmarks": bookmarks}


def _assert_foreign_keys_in_every_state(run: TapRun) -> None:
    assert run.states, "no STATE message"
    for state in run.states:
        for key, value in FOREIGN.items():
            assert state.get(key) == value, f"{key} changed or missing in {state}"


def _bookmarks(run: TapRun) -> list[dict[str, Any]]:
    """Every STATE's bookmarks, without the SDK's signpost (the wall clock at sync start)."""
    return [
        {
            stream: {k: v for k, v in entry.items() if k != "replication_key_signpost"}
            for stream, entry in state["bookmarks"].items()
        }
        for state in run.states
    ]


def test_load_state_keeps_every_top_level_key() -> None:
    given = {
        **copy.deepcopy(FOREIGN),
        "bookmarks": {
            "contacts": {
                "replication_key": "updated_at",
                "replication_key_value": "2026-01-01T00:00:00Z",
            }
        },
    }
    tap = TapIntercomEvents(
        config={"access_token": TOKEN, "api_url": "http://127.0.0.1:9"},
        state=copy.deepcopy(given),
        parse_env_config=False,
    )
    assert tap.state == given
    # A copy: nothing the tap does to its state can reach the caller's dictionary.
    tap.state["map-intercom-salesforce"]["version"] = 99
    assert FOREIGN["map-intercom-salesforce"]["version"] == 2


def test_first_message_is_the_loaded_state_and_every_state_keeps_it(
    seeded_ic: EmulatorProcess, full_run: TapRun, tmp_path: Path
) -> None:
    bookmarks_only = _bookmark_state(full_run)
    loaded = {**copy.deepcopy(bookmarks_only), **copy.deepcopy(FOREIGN)}
    plain = run_tap(tmp_path / "plain", tap_config(seeded_ic), state=bookmarks_only)
    run = run_tap(tmp_path / "with-foreign", tap_config(seeded_ic), state=loaded)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert run.returncode == 0, run.stderr[-3000:]

    assert run.messages[0] == {"type": "STATE", "value": loaded}
    _assert_foreign_keys_in_every_state(run)
    # The tap's own bookkeeping is what it would have been without the foreign keys.
    assert _bookmarks(run) == _bookmarks(plain)
    assert run.ids("contacts") == plain.ids("contacts")
    for stream in ("contacts", "conversations"):
        before = bookmarks_only["bookmarks"][stream]["replication_key_value"]
        assert run.bookmark(stream) > before, f"{stream} bookmark did not advance"
        assert len(run.ids(stream)) < len(full_run.ids(stream))  # the bookmark was used


def test_foreign_keys_alone_come_first_and_the_sync_reads_everything(
    seeded_ic: EmulatorProcess, full_run: TapRun, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, tap_config(seeded_ic), state=copy.deepcopy(FOREIGN))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.messages[0] == {"type": "STATE", "value": FOREIGN}
    _assert_foreign_keys_in_every_state(run)
    assert run.ids("contacts") == full_run.ids("contacts")
    assert run.last_state is not None
    assert run.bookmark("contacts") == full_run.bookmark("contacts")


def test_no_state_no_leading_state_message(seeded_ic: EmulatorProcess, tmp_path: Path) -> None:
    run = run_tap(tmp_path, tap_config(seeded_ic), state={})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.messages[0]["type"] == "SCHEMA"
    assert set(run.last_state or {}) == {"bookmarks"}
