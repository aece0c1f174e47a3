"""The rolling 24-hour budget of a long-lived run, against the Salesforce emulator.

The org's daily limit is nearly used by others: the real target CLI, on an open pipe, spends
its share, then pauses (it does not exit, and emits no STATE for what it did not write); killed
and restarted once the org has room, it writes every record once. Ground truth is the
emulator's own call count and records.
"""

from __future__ import annotations

import collections
import queue
import time

from .target_sf_live import LiveTarget
from .target_sf_testlib import lead, record_msg, schema_msg, state_msg

DAILY_LIMIT = 1000
USED_BY_OTHERS = 980
SHARE = 0.25  # of the 20 requests others leave: 5 calls in any 24 hours
ALLOWANCE = int(SHARE * (DAILY_LIMIT - USED_BY_OTHERS))
BATCHES = 6


def _batch(n: int) -> list[dict]:
    return [record_msg("Lead", lead(f"{n}_{i}")) for i in (0, 1)]


def _written(harness) -> collections.Counter[str]:
    rows = harness.query("SELECT Id, Intercom_Contact_ID__c FROM Lead")
    return collections.Counter(str(r["Intercom_Contact_ID__c"]) for r in rows)


def _wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


def test_a_spent_rolling_budget_pauses_the_run_and_a_restart_loses_nothing(harness, tmp_path):
    cfg = harness.config(
        drain_on_state=True,
        max_batch_age_seconds=0.5,
        api_budget=SHARE,
        api_budget_window="24h",
        summary_file=str(tmp_path / "summary.json"),
        waiting_file=str(tmp_path / "waiting.jsonl"),
        problems_file=str(tmp_path / "problems.jsonl"),
    )
    harness.sf.admin("POST", "limits", {"daily_api_limit": DAILY_LIMIT, "used": USED_BY_OTHERS})
    calls_before = harness.api_calls()
    first = LiveTarget(cfg, tmp_path / "live", "first")
    expected = collections.Counter()
    try:
        first.send(schema_msg("Lead"))
        last = -1
        # One batch at a time, each followed by its STATE, until one is held back.
        for n in range(BATCHES):
            first.send(*_batch(n), state_msg({"batch": n}))
            expected.update(f"ic_{n}_{i}" for i in (0, 1))
            try:
                last = first.next_state(timeout=20)["batch"]
            except queue.Empty:
                break
        paused = _wait_for(lambda: "Pausing: the API budget for 24 hours" in first.stderr(), 30)
        assert paused, first.stderr()[-3000:]
        assert last < BATCHES - 1, "the run wrote everything: the budget never paused it"
        for n in range(last + 2, BATCHES):  # the rest arrive while it pauses
            first.send(*_batch(n), state_msg({"batch": n}))
            expected.update(f"ic_{n}_{i}" for i in (0, 1))
        time.sleep(2)
        # It pauses, it does not stop, it spent no more than its share, and each STATE it
        # emitted covers records that are in Salesforce.
        assert first.proc.poll() is None, first.stderr()[-3000:]
        spent = harness.api_calls() - calls_before
        assert 0 < spent <= ALLOWANCE, (spent, harness.sf.stats()["by_endpoint"])
        assert [s["batch"] for s in first.states] == list(range(last + 1))
        done = _written(harness)
        for n in range(last + 1):
            assert done[f"ic_{n}_0"] == 1 and done[f"ic_{n}_1"] == 1, (n, done)
    finally:
        first.kill()

    # Others' usage is gone (a new day for them): a restart from the last STATE catches up.
    harness.sf.admin("POST", "limits", {"daily_api_limit": DAILY_LIMIT, "used": 0})
    again = LiveTarget(cfg, tmp_path / "live", "again")
    again.send(schema_msg("Lead"))
    for n in range(last + 1, BATCHES):
        again.send(*_batch(n), state_msg({"batch": n}))
    while again.next_state(timeout=60)["batch"] != BATCHES - 1:
        pass
    assert again.close() == 0, again.stderr()[-3000:]
    assert _written(harness) == expected
