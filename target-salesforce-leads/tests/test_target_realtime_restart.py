"""A long-lived target killed -9 mid-batch loses nothing and duplicates nothing.

A script plays the tap: batches of records, each followed by a STATE naming the offset after
it. The target writes a batch by size (batch_size) without emitting a STATE, is killed while
the next write is under way, and is restarted with the last STATE it emitted; the script sends
again from that offset, as the tap in inbox mode does. Ground truth: the emulator's Leads.
"""

from __future__ import annotations

import collections
import time

from .target_sf_live import LiveTarget
from .target_sf_testlib import lead, record_msg, schema_msg, state_msg

TOTAL = 40


def _people(start: int, end: int) -> list[dict]:
    return [record_msg("Lead", lead(i)) for i in range(start, end)]


def _written(harness) -> collections.Counter[str]:
    rows = harness.query("SELECT Id, Intercom_Contact_ID__c, Email FROM Lead")
    return collections.Counter(str(r["Intercom_Contact_ID__c"]) for r in rows)


def test_killed_mid_batch_then_restarted_from_its_last_state(harness, tmp_path):
    cfg = harness.config(
        drain_on_state=True,
        max_batch_age_seconds=1,
        batch_size=10,
        summary_file=str(tmp_path / "summary.json"),
        waiting_file=str(tmp_path / "waiting.jsonl"),
        problems_file=str(tmp_path / "problems.jsonl"),
    )
    first = LiveTarget(cfg, tmp_path / "live", "first")
    try:
        first.send(schema_msg("Lead"), *_people(0, 10), state_msg({"offset": 10}))
        last = first.next_state(timeout=60)
        assert last["offset"] == 10
        harness.sf.admin("POST", "faults", {"kind": "latency", "ms": 400})
        # 25 more records, their STATE not sent yet: the target writes 10-19 and 20-29 as
        # batches fill, emitting no state (a state covers only what precedes it).
        first.send(*_people(10, 35))
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and sum(_written(harness)[f"ic_{i}"] for i in range(10, 20)) < 10
        ):
            time.sleep(0.05)
        assert sum(_written(harness)[f"ic_{i}"] for i in range(10, 20)) == 10
        time.sleep(0.2)  # the next batch's look-ups and write are under way
        first.kill()
    finally:
        if first.proc.poll() is None:
            first.kill()
        harness.sf.admin("DELETE", "faults")
    assert first.states[-1]["offset"] == 10  # nothing after the kill's last state
    before = _written(harness)
    assert sum(before.values()) < TOTAL  # the kill left records unwritten

    second = LiveTarget(cfg, tmp_path / "live", "second")
    # The tap starts from the state the target emitted last (it carries the target's section).
    second.send(
        state_msg(last),
        schema_msg("Lead"),
        *_people(last["offset"], TOTAL),
        state_msg({"offset": TOTAL}),
    )
    while second.next_state(timeout=120)["offset"] != TOTAL:
        pass  # the state it started from comes back first
    assert second.close() == 0, second.stderr()[-3000:]
    assert "waiting for it" not in second.stderr()  # no lock left behind by the kill
    after = _written(harness)
    assert after == collections.Counter({f"ic_{i}": 1 for i in range(TOTAL)})
    emails = collections.Counter(
        str(r["Email"]).lower() for r in harness.query("SELECT Id, Email FROM Lead")
    )
    assert max(emails.values()) == 1
