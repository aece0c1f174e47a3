"""The target in a long-lived job: batches written by age while input is quiet, and on STATE.

The real target CLI on an open pipe against the Salesforce emulator; ground truth is the
emulator's records, read while the target is still running.
"""

from __future__ import annotations

import json
import time

import pytest

from .target_sf_live import LiveTarget
from .target_sf_testlib import lead, record_msg, schema_msg, state_msg


def _wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    return check()


def _leads(harness, *exts: str) -> dict[str, dict]:
    ids = ", ".join(f"'{e}'" for e in exts)
    rows = harness.query(
        "SELECT Id, Intercom_Contact_ID__c, Email FROM Lead "
        f"WHERE Intercom_Contact_ID__c IN ({ids})"
    )
    return {r["Intercom_Contact_ID__c"]: r for r in rows}


@pytest.fixture
def live(harness, tmp_path):
    started: list[LiveTarget] = []

    def start(**overrides) -> LiveTarget:
        cfg = harness.config(
            summary_file=str(tmp_path / "summary.json"),
            waiting_file=str(tmp_path / "waiting.jsonl"),
            problems_file=str(tmp_path / "problems.jsonl"),
            **overrides,
        )
        target = LiveTarget(cfg, tmp_path / "live", f"target-{len(started)}")
        started.append(target)
        return target

    yield start
    for target in started:
        target.close(timeout=60)


def test_a_record_is_written_within_max_batch_age_while_input_is_quiet(harness, live):
    """No further message arrives: the SDK's own age check (run when a record arrives) would
    leave the record pending; the target writes it within max_batch_age_seconds anyway."""
    target = live(max_batch_age_seconds=1)
    target.send(schema_msg("Lead"), record_msg("Lead", lead(1)))
    started = time.monotonic()
    found = _wait_for(lambda: _leads(harness, "ic_1"), timeout=20)
    assert "ic_1" in found, target.stderr()[-3000:]
    # Written within about the age (plus log-in and describe at start).
    assert time.monotonic() - started < 15
    target.send(record_msg("Lead", lead(2)), state_msg({"bookmark": 2}))
    # With drain_on_state off, the STATE is emitted by the next age drain.
    state = target.next_state(timeout=20)
    assert state["bookmark"] == 2
    assert "ic_2" in _leads(harness, "ic_2")
    assert target.close() == 0


def test_drain_on_state_writes_the_pending_batch_and_emits_the_state_after_it(harness, live):
    """A STATE makes the target write what is pending (once it is max_batch_age_seconds old)
    and pass the STATE on, without waiting for a further record or the end of the input."""
    target = live(drain_on_state=True, max_batch_age_seconds=1)
    target.send(
        schema_msg("Lead"),
        record_msg("Lead", lead(1)),
        record_msg("Lead", lead(2)),
        state_msg({"bookmark": 1}),
    )
    state = target.next_state(timeout=30)
    assert state["bookmark"] == 1
    # The state covers both records: they are in Salesforce by the time it is emitted.
    assert set(_leads(harness, "ic_1", "ic_2")) == {"ic_1", "ic_2"}
    target.send(record_msg("Lead", lead(3)), state_msg({"bookmark": 2}))
    assert target.next_state(timeout=30)["bookmark"] == 2
    assert "ic_3" in _leads(harness, "ic_3")
    assert target.close() == 0


def test_states_arriving_while_the_batch_is_young_are_held_for_one_write(harness, live):
    """A tap sending a STATE every two records: the batch is written once, at its age, and
    the last STATE follows it (not a look-up and a write per STATE)."""
    target = live(drain_on_state=True, max_batch_age_seconds=3)
    target.send(schema_msg("Lead"), state_msg({"bookmark": 0}))
    assert target.next_state(timeout=30)["bookmark"] == 0  # nothing pending: emitted at once
    calls = harness.api_calls()
    started = time.monotonic()
    for n in range(1, 6):
        target.send(
            record_msg("Lead", lead(2 * n)),
            record_msg("Lead", lead(2 * n + 1)),
            state_msg({"bookmark": n}),
        )
        time.sleep(0.2)
    while target.next_state(timeout=30)["bookmark"] != 5:
        pass
    assert time.monotonic() - started < 20
    assert len(_leads(harness, *(f"ic_{i}" for i in range(2, 12)))) == 10
    # One batch: one look-up (POST /composite) and one write (the Collections upsert).
    assert harness.api_calls() - calls == 2, harness.sf.stats()["by_endpoint"]
    assert harness.write_calls(composite=False) == 1, harness.sf.stats()["by_endpoint"]
    assert [s["bookmark"] for s in target.states] == [0, 5]
    assert target.close() == 0


def test_a_state_is_not_emitted_again_after_a_batch_that_brought_no_new_one(harness, live):
    """Records after the last STATE are written by age and at the end: the SDK writes the
    latest STATE after each batch, the target emits it once."""
    target = live(drain_on_state=True, max_batch_age_seconds=1)
    target.send(schema_msg("Lead"), state_msg({"bookmark": 0}))
    assert target.next_state(timeout=30)["bookmark"] == 0
    target.send(record_msg("Lead", lead(1)))
    assert "ic_1" in _wait_for(lambda: _leads(harness, "ic_1"), timeout=20)
    target.send(record_msg("Lead", lead(2)))
    assert target.close() == 0
    assert "ic_2" in _leads(harness, "ic_2")
    assert [s["bookmark"] for s in target.states] == [0]


def test_without_drain_on_state_a_state_waits_for_the_batch(harness, live):
    """The batch job's defaults keep batching: a STATE alone writes nothing."""
    target = live()
    target.send(schema_msg("Lead"), record_msg("Lead", lead(1)), state_msg({"bookmark": 1}))
    with pytest.raises(Exception):  # noqa: B017, PT011 - queue.Empty: no state within 5 s
        target.next_state(timeout=5)
    assert _leads(harness, "ic_1") == {}
    assert target.close() == 0
    assert target.states[-1]["bookmark"] == 1
    assert "ic_1" in _leads(harness, "ic_1")


def test_waiting_and_problems_files_are_rewritten_after_each_drain_on_state(
    harness, live, tmp_path
):
    """A long-lived run never reaches its end: the open lists are current after each STATE."""
    target = live(drain_on_state=True, max_batch_age_seconds=1)
    task = {
        "Intercom_Conversation_ID__c": "conv_1",
        "Subject": "Hi",
        "Who": {"Intercom_Contact_ID__c": "ic_missing"},
    }
    target.send(schema_msg("Task"), record_msg("Task", task), state_msg({"bookmark": 1}))
    target.next_state(timeout=30)
    waiting = [json.loads(x) for x in (tmp_path / "waiting.jsonl").read_text().splitlines()]
    assert [(w["external_id"], w["error_code"]) for w in waiting] == [
        ("conv_1", "INVALID_CROSS_REFERENCE_KEY")
    ]
    problems = [json.loads(x) for x in (tmp_path / "problems.jsonl").read_text().splitlines()]
    assert [p["status"] for p in problems] == ["waiting"]
    # The parent arrives: the Task is retried with the next batch and leaves both lists.
    target.send(schema_msg("Lead"), record_msg("Lead", lead("missing")), state_msg({"bookmark": 2}))
    target.next_state(timeout=30)
    target.send(record_msg("Task", task), state_msg({"bookmark": 3}))
    target.next_state(timeout=30)
    assert (tmp_path / "waiting.jsonl").read_text() == ""
    tasks = harness.query("SELECT Id, WhoId FROM Task WHERE Intercom_Conversation_ID__c = 'conv_1'")
    assert len(tasks) == 1 and tasks[0]["WhoId"]
    assert target.close() == 0


def test_a_long_lived_run_that_stops_writing_ends_without_its_state(harness, live):
    """Salesforce keeps failing: rather than hold every later record back while it runs on,
    the run ends (exit 1) without the STATE, so a restart sends the records again."""
    target = live(drain_on_state=True, max_batch_age_seconds=1, max_retries=1)
    target.send(schema_msg("Lead"), state_msg({"bookmark": 0}))
    assert target.next_state(timeout=30)["bookmark"] == 0
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 1000, "path": "/services/data/v62.0/composite"},
    )
    target.send(record_msg("Lead", lead(1)), state_msg({"bookmark": 1}))
    target.proc.wait(timeout=60)  # it ends by itself, input still open
    assert target.close() == 1
    assert [s["bookmark"] for s in target.states] == [0]
    assert "long-lived run ends here" in target.stderr()
    harness.sf.admin("DELETE", "faults")
    again = live(drain_on_state=True, max_batch_age_seconds=1)
    again.send(
        state_msg(target.states[-1]),
        schema_msg("Lead"),
        record_msg("Lead", lead(1)),
        state_msg({"bookmark": 1}),
    )
    while again.next_state(timeout=30)["bookmark"] != 1:
        pass
    assert "ic_1" in _leads(harness, "ic_1")
    assert again.close() == 0
