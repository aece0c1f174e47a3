"""The waiting list and the target's state section, in process (no Salesforce needed)."""

from __future__ import annotations

import datetime
import json

from target_salesforce_leads.report import RunReport
from target_salesforce_leads.runstate import RunState
from target_salesforce_leads.waiting import STATE_KEY, Entry, StreamInfo, WaitingList

INFO = StreamInfo({"type": "object", "properties": {"k": {"type": "string"}}}, ["k"])


def entry(key: str, code: str = "INVALID_CROSS_REFERENCE_KEY", **extra: object) -> Entry:
    return Entry(
        stream="Task",
        key=key,
        external_id=key.upper(),
        sobject="Task",
        code=code,
        message=f"why {key}",
        record={"k": key.upper(), "Who": {"X__c": "p"}},
        **extra,
    )  # type: ignore[arg-type]


def test_round_trip_through_the_state_string() -> None:
    wl = WaitingList()
    wl.wait(entry("a"), INFO)
    wl.wait(entry("b", "UNABLE_TO_LOCK_ROW"), INFO)
    blob = wl.encode()
    assert isinstance(blob, str) and "why a" not in blob  # compressed
    back = WaitingList.decode(blob)
    assert back.entries == wl.entries
    assert back.streams["Task"] == INFO
    assert back.reasons() == {"INVALID_CROSS_REFERENCE_KEY": 1, "UNABLE_TO_LOCK_ROW": 1}
    assert len(WaitingList.decode("")) == 0


def test_waiting_again_keeps_the_first_sighting_and_counts_attempts() -> None:
    wl = WaitingList()
    first = wl.wait(entry("a", first_seen="2026-01-01T00:00:00+00:00"), INFO)
    again = wl.wait(entry("a", "UNABLE_TO_LOCK_ROW"), INFO)
    assert again.first_seen == first.first_seen == "2026-01-01T00:00:00+00:00"
    assert again.attempts == 2 and again.code == "UNABLE_TO_LOCK_ROW"
    assert wl.settle("Task", "a") is again and len(wl) == 0


def test_expiry_and_capacity_take_the_oldest() -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    wl = WaitingList()
    for i, days in enumerate((40, 20, 1)):
        seen = (now - datetime.timedelta(days=days)).isoformat()
        wl.wait(entry(f"r{i}", first_seen=seen), INFO)
    assert [e.key for e in wl.expired(30)] == ["r0"]
    assert [e.key for e in wl.over_capacity(1)] == ["r1"]
    assert list(k for _, k in wl.entries) == ["r2"]


def test_state_section_is_per_org_and_carries_the_generation() -> None:
    first = RunState("00DORG1")
    rest, loaded = first.absorb({"bookmarks": {"contacts": 1}})
    assert loaded is None and not first.loaded and rest == {"bookmarks": {"contacts": 1}}
    first.waiting.wait(entry("a"), INFO)
    emitted = first.emit(rest)
    section = emitted[STATE_KEY]["orgs"]["00DORG1"]
    assert section["waiting_count"] == 1 and section["generation"] == first.generation
    assert emitted["bookmarks"] == {"contacts": 1}
    json.dumps(emitted)  # plain JSON

    # The next run of the same org gets its generation and waiting records back ...
    nxt = RunState("00DORG1")
    rest, loaded = nxt.absorb(emitted)
    assert STATE_KEY not in rest and loaded is not None and list(loaded.entries) == [("Task", "a")]
    assert nxt.generation == first.generation and nxt.loaded
    # ... a second org sees none of it, starts its own generation, and keeps the first's section.
    other = RunState("00DORG2")
    _, loaded = other.absorb(emitted)
    assert loaded is None and not other.loaded and other.generation != first.generation
    both = other.emit(rest)[STATE_KEY]["orgs"]
    assert set(both) == {"00DORG1", "00DORG2"} and both["00DORG1"] == section


def test_open_problems_list_has_one_line_per_record(tmp_path) -> None:
    path = tmp_path / "problems.jsonl"
    wl = WaitingList()
    run1 = RunReport(None, None, run_id="run1", problems_file=str(path))
    run1.reject("Lead", "Lead", "L1", "INVALID_EMAIL_ADDRESS", "bad", {})
    run1.reject("Lead", "Lead", "L2", "DUPLICATES_DETECTED", "dup", {})
    wl.wait(entry("t1"), INFO)
    run1.write_problems(wl)
    # Run 2: L1 rejected again (same line, new run id), L2 written, t1 still waiting.
    run2 = RunReport(None, None, run_id="run2", problems_file=str(path))
    run2.reject("Lead", "Lead", "L1", "INVALID_EMAIL_ADDRESS", "bad", {})
    run2.settled("Lead", "l2")
    wl.wait(entry("t1"), INFO)
    run2.write_problems(wl)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(r["status"], r["external_id"], r["run_id"]) for r in rows] == [
        ("rejected", "L1", "run2"),
        ("waiting", "T1", ""),
    ]
    assert rows[1]["attempts"] == 2
