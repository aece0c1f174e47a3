"""Inbox mode: the tap reads webhook notifications from the inbox, re-reads what they name from
the Intercom emulator (real sockets), and emits the records the batch path emits, STATE after."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulators.testing import EmulatorProcess

from .inbox_support import (
    TapProcess,
    api_delete,
    contact_ids,
    contact_item,
    conversation_ids,
    conversation_item,
    inbox_offsets,
    new_inbox,
    notify,
    records_of,
    totals,
)
from .tap_test_support import TapRun, run_tap, tap_config

CONTACTS_GET = "GET /contacts/{contact_id}"
CONVERSATIONS_GET = "GET /conversations/{conversation_id}"


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in records}


def _canonical(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(record, sort_keys=True) for record in records)


@pytest.fixture(scope="module")
def own_ic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator of this module's own, for tests that delete items or add faults."""
    with EmulatorProcess(
        "intercom", tmp_path_factory.mktemp("ic-inbox"), args=["--rate-limit-per-minute", "10000"]
    ) as ic:
        ic.admin(
            "POST",
            "seed",
            {"contacts": 160, "conversations": 12, "seed": 11, "big_conversations": 0},
        )
        yield ic


def test_drain_emits_what_the_notifications_name_as_the_batch_path_does(
    seeded_ic: EmulatorProcess, full_run: TapRun, tmp_path: Path
) -> None:
    batch_contacts = full_run.records["contacts"]
    tagged = [c["id"] for c in batch_contacts if (c.get("tags") or {}).get("data")][:2]
    with_companies = [
        c["id"]
        for c in batch_contacts
        if (c.get("companies") or {}).get("data") and c["id"] not in tagged
    ][:2]
    plain = [c["id"] for c in batch_contacts if c["id"] not in tagged + with_companies][:3]
    contacts = tagged + with_companies + plain
    truncated = {
        p["conversation_id"]
        for p in full_run.records["conversation_parts"]
        if p["conversation_parts_truncated"]
    }
    conversations = (
        sorted(truncated)[:1]
        + [c["id"] for c in full_run.records["conversations"] if c["id"] not in truncated][:3]
    )
    assert len(contacts) == 7 and len(conversations) == 4 and tagged and with_companies

    inbox, url = new_inbox(tmp_path)
    for contact_id in contacts:
        notify(inbox, "contact.user.updated", contact_item(contact_id))
    notify(
        inbox,
        "contact.lead.tag.created",
        {
            "type": "contact_tag",
            "created_at": 1,
            "contact": contact_item(tagged[0]),
            "tag": {"type": "tag", "id": "1", "name": "x"},
        },
    )
    notify(inbox, "contact.email.updated", contact_item(plain[0]))
    notify(inbox, "conversation.user.replied", conversation_item(conversations[0]))
    notify(inbox, "conversation_part.tag.created", {"type": "conversation", "id": conversations[1]})
    for conversation_id in conversations[1:]:
        notify(inbox, "conversation.admin.closed", conversation_item(conversation_id))
    notify(inbox, "ping", {"type": "ping", "message": "something"})
    notify(inbox, "company.updated", {"type": "company", "id": "c1"})
    notify(inbox, "visitor.signed_up", {"type": "visitor", "id": "v1"})
    items, last = inbox.read_after(None, 1000)
    inbox.close()

    run = run_tap(
        tmp_path / "run", tap_config(seeded_ic, inbox_url=url, fetch_event_summaries=True)
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("contacts") == Counter(contacts)  # each once, however many notifications
    assert run.ids("conversations") == Counter(conversations)
    assert set(run.ids("conversation_parts", "conversation_id")) == set(conversations)
    # The same records as the batch path, field for field.
    batch = _by_id(batch_contacts)
    for record in run.records["contacts"]:
        assert record == batch[record["id"]]
    batch = _by_id(full_run.records["conversations"])
    for record in run.records["conversations"]:
        assert record == batch[record["id"]]
    batch_parts = [
        p for p in full_run.records["conversation_parts"] if p["conversation_id"] in conversations
    ]
    assert _canonical(run.records["conversation_parts"]) == _canonical(batch_parts)
    batch_events = [
        e for e in full_run.records["contact_event_summaries"] if e["contact_id"] in contacts
    ]
    assert batch_events
    assert _canonical(run.records["contact_event_summaries"]) == _canonical(batch_events)
    # What a sync emits before them and the mapper needs: the workspace streams, and the
    # companies of the contacts (before each contact naming them).
    for stream in ("admins", "teams", "tags"):
        assert _canonical(run.records[stream]) == _canonical(full_run.records[stream])
    named = {ref["id"] for c in run.records["contacts"] for ref in c["companies"]["data"]}
    assert run.ids("companies") == Counter(named)
    batch = _by_id(full_run.records["companies"])
    for record in run.records["companies"]:
        assert record == batch[record["id"]]
    seen: set[str] = set()
    for message in run.messages:
        if message.get("type") != "RECORD":
            continue
        if message["stream"] == "companies":
            seen.add(message["record"]["id"])
        elif message["stream"] == "contacts":
            assert {ref["id"] for ref in message["record"]["companies"]["data"]} <= seen
    # Skipped notifications are counted by reason; the STATE ends at the last one.
    counted = totals(run.stderr)
    assert counted["notifications"] == len(items)
    assert counted["skipped"] == {
        "ping": 1,
        "unknown topic": 1,
        "company topic (companies are read by the batch job)": 1,
    }
    assert counted["reread"] == {"contacts": 7, "conversations": 4}
    assert run.last_state is not None and run.last_state["inbox"] == {"offset": last}
    assert run.messages[-1]["type"] == "STATE"
    assert len(run.states) == 1  # one batch: one STATE, after all of its records


def test_many_notifications_about_few_items_are_read_once(
    seeded_ic: EmulatorProcess, tmp_path: Path
) -> None:
    contacts = contact_ids(seeded_ic, 10)
    conversations = conversation_ids(seeded_ic, 2)
    inbox, url = new_inbox(tmp_path)
    topics = ["contact.user.updated", "contact.email.updated", "contact.lead.updated"]
    for index in range(100):
        notify(inbox, topics[index % 3], contact_item(contacts[index % 10]))
    for index in range(20):
        notify(inbox, "conversation.user.replied", conversation_item(conversations[index % 2]))
    inbox.close()
    seeded_ic.reset_stats()

    run = run_tap(tmp_path / "run", tap_config(seeded_ic, inbox_url=url))
    calls = seeded_ic.stats()["by_endpoint"]

    assert run.returncode == 0, run.stderr[-3000:]
    assert calls.get(CONTACTS_GET) == 10, calls
    assert calls.get(CONVERSATIONS_GET) == 2, calls
    assert run.ids("contacts") == Counter(contacts)
    assert run.ids("conversations") == Counter(conversations)


def test_state_follows_each_batch_and_a_restart_resumes_after_it(
    seeded_ic: EmulatorProcess, tmp_path: Path
) -> None:
    contacts = contact_ids(seeded_ic, 50)
    first, second = contacts[:30], contacts[30:]
    inbox, url = new_inbox(tmp_path)
    offset_of: dict[str, str] = {}
    for contact_id in first:
        notify(inbox, "contact.user.updated", contact_item(contact_id))
    for item in inbox.read_after(None, 1000)[0]:
        offset_of[item.offset] = item.payload()["data"]["item"]["id"]
    config = tap_config(seeded_ic, inbox_url=url, inbox_batch_size=10)

    run = run_tap(tmp_path / "run1", config)

    assert run.returncode == 0, run.stderr[-3000:]
    states = inbox_offsets(run.messages)
    assert len(states) == len(run.states) == 3  # one per batch of 10
    order = list(offset_of)
    for index, offset in states:
        # Every STATE comes after the records of every notification up to its offset.
        emitted = {r["id"] for r in records_of(run.messages[:index], "contacts")}
        vouched = {offset_of[o] for o in order[: order.index(offset) + 1]}
        assert emitted == vouched
    assert run.ids("contacts") == Counter(first)

    for contact_id in second:
        notify(inbox, "contact.user.updated", contact_item(contact_id))
    inbox.close()
    again = run_tap(tmp_path / "run2", config, state=run.last_state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.ids("contacts") == Counter(second)  # nothing before the offset again

    idle = run_tap(tmp_path / "run3", config, state=again.last_state)
    assert idle.returncode == 0, idle.stderr[-3000:]
    assert not idle.records  # and no call: not even the workspace streams
    assert idle.last_state is not None
    assert idle.last_state["inbox"] == again.last_state["inbox"]


def test_killed_mid_way_then_restarted_emits_every_item(
    own_ic: EmulatorProcess, tmp_path: Path
) -> None:
    contacts = contact_ids(own_ic, 120)
    inbox, url = new_inbox(tmp_path)
    for contact_id in contacts:
        notify(inbox, "contact.user.updated", contact_item(contact_id))
    offsets = {
        item.offset: item.payload()["data"]["item"]["id"]
        for item in inbox.read_after(None, 1000)[0]
    }
    inbox.close()
    order = list(offsets)
    config = tap_config(own_ic, inbox_url=url, inbox_batch_size=10, max_concurrency=2)
    own_ic.admin("POST", "faults", {"kind": "latency", "ms": 40})
    try:
        tap = TapProcess(tmp_path / "run1", config)
        tap.wait_for(lambda messages: len(inbox_offsets(messages)) >= 3)
        code = tap.stop(kill=True)
    finally:
        own_ic.admin("DELETE", "faults")
    assert code == -9
    states = inbox_offsets(tap.messages)
    index, offset = states[-1]
    assert order.index(offset) < len(order) - 1, "the tap finished before it was killed"
    vouched = {r["id"] for r in records_of(tap.messages[:index], "contacts")}
    state = tap.messages[index]["value"]

    restarted = run_tap(tmp_path / "run2", config, state=state)

    assert restarted.returncode == 0, restarted.stderr[-3000:]
    after = set(restarted.ids("contacts"))
    assert vouched | after == set(contacts)  # every notification's contact, at least once
    assert after == {offsets[o] for o in order[order.index(offset) + 1 :]}  # none before again


def test_follow_mode_emits_notifications_added_while_it_runs(
    seeded_ic: EmulatorProcess, tmp_path: Path
) -> None:
    contact = contact_ids(seeded_ic, 1)[0]
    conversation = conversation_ids(seeded_ic, 1)[0]
    inbox, url = new_inbox(tmp_path)
    notify(inbox, "contact.user.updated", contact_item(contact))
    tap = TapProcess(
        tmp_path / "run",
        tap_config(seeded_ic, inbox_url=url, follow=True, poll_interval_seconds=0.2),
    )
    try:
        tap.wait_for(lambda messages: len(inbox_offsets(messages)) == 1, timeout=60)
        assert [r["id"] for r in records_of(tap.messages, "contacts")] == [contact]
        seen = len(tap.messages)

        notify(inbox, "conversation.admin.replied", conversation_item(conversation))
        last = inbox.read_after(None, 1000)[1]
        tap.wait_for(lambda messages: inbox_offsets(messages)[-1][1] == last, timeout=30)
        later = tap.messages[seen:]
        assert [r["id"] for r in records_of(later, "conversations")] == [conversation]
        assert records_of(later, "conversation_parts")
        assert tap.proc.poll() is None  # still running, polling
    finally:
        code = tap.stop()
        inbox.close()
    assert code == 0, tap.stderr()[-3000:]


def test_follow_mode_coalesces_notifications_arriving_within_coalesce_seconds(
    seeded_ic: EmulatorProcess, tmp_path: Path
) -> None:
    contact = contact_ids(seeded_ic, 3)[2]
    inbox, url = new_inbox(tmp_path)
    seeded_ic.reset_stats()
    tap = TapProcess(
        tmp_path / "run",
        tap_config(
            seeded_ic, inbox_url=url, follow=True, poll_interval_seconds=0.05, coalesce_seconds=2.0
        ),
    )
    try:
        tap.wait_for_log("Inbox mode: reading")  # polling the empty inbox
        # Four notifications over ~1.2 s: polled every 0.05 s, each would be a batch of its own.
        for _ in range(4):
            notify(inbox, "contact.user.updated", contact_item(contact))
            time.sleep(0.4)
        last = inbox.read_after(None, 1000)[1]
        tap.wait_for(
            lambda messages: any(o == last for _, o in inbox_offsets(messages)), timeout=30
        )
    finally:
        code = tap.stop()
        inbox.close()
    assert code == 0, tap.stderr()[-3000:]
    # One batch (the SIGTERM handler may repeat its STATE).
    assert {offset for _, offset in inbox_offsets(tap.messages)} == {last}
    assert [r["id"] for r in records_of(tap.messages, "contacts")] == [contact]
    assert seeded_ic.stats()["by_endpoint"].get(CONTACTS_GET) == 1


def test_deleted_items_are_skipped_and_404s_counted(
    own_ic: EmulatorProcess, tmp_path: Path
) -> None:
    gone_contact, live_contact = contact_ids(own_ic, 150)[-2:]
    gone_conversation, live_conversation = conversation_ids(own_ic, 12)[-2:]
    inbox, url = new_inbox(tmp_path)
    # Notifications about items that were deleted before the tap read them.
    notify(inbox, "contact.user.updated", contact_item(gone_contact))
    notify(inbox, "conversation.admin.replied", conversation_item(gone_conversation))
    api_delete(own_ic, f"/contacts/{gone_contact}")
    api_delete(own_ic, f"/conversations/{gone_conversation}")
    notify(inbox, "contact.deleted", {"type": "contact", "id": gone_contact, "external_id": None})
    notify(inbox, "conversation.deleted", {"type": "conversation", "id": gone_conversation})
    notify(inbox, "contact.user.updated", contact_item(live_contact))
    notify(inbox, "conversation.user.replied", conversation_item(live_conversation))
    last = inbox.read_after(None, 1000)[1]
    inbox.close()

    run = run_tap(tmp_path / "run", tap_config(own_ic, inbox_url=url))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("contacts") == Counter([live_contact])
    assert run.ids("conversations") == Counter([live_conversation])
    assert set(run.ids("conversation_parts", "conversation_id")) == {live_conversation}
    counted = totals(run.stderr)
    assert counted["not_found"] == {"contacts": 1, "conversations": 1}
    assert counted["skipped"] == {"contact deleted": 1, "conversation deleted": 1}
    assert run.last_state is not None and run.last_state["inbox"] == {"offset": last}


def test_rereads_are_paced_by_the_rate_governor(tmp_path: Path) -> None:
    # 300 a minute: 50 calls per 10-second window.
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "300"]
    ) as ic:
        ic.admin(
            "POST", "seed", {"contacts": 90, "conversations": 3, "seed": 5, "big_conversations": 0}
        )
        contacts = contact_ids(ic, 80)
        inbox, url = new_inbox(tmp_path)
        for contact_id in contacts:
            notify(inbox, "contact.user.updated", contact_item(contact_id))
        inbox.close()
        ic.reset_stats()
        run = run_tap(tmp_path / "run", tap_config(ic, inbox_url=url, max_concurrency=10))
        stats = ic.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("contacts") == Counter(contacts)
    assert stats["by_endpoint"].get(CONTACTS_GET) == 80
    assert stats["api_calls"] > 50  # more than one window's budget: pacing had to happen
    assert stats["status_counts"].get("429", 0) == 0, stats


def test_a_postgresql_inbox_is_read_the_same_way(
    seeded_ic: EmulatorProcess, postgres_url: str, tmp_path: Path
) -> None:
    from tap_intercom_events.inbox import open_inbox

    contacts = contact_ids(seeded_ic, 5)
    conversation = conversation_ids(seeded_ic, 1)[0]
    inbox = open_inbox(postgres_url)
    for contact_id in contacts[:3]:
        notify(inbox, "contact.user.updated", contact_item(contact_id))
    notify(inbox, "conversation.user.replied", conversation_item(conversation))
    notify(inbox, "ping", {"type": "ping"})
    config = tap_config(seeded_ic, inbox_url=postgres_url, inbox_batch_size=2)

    run = run_tap(tmp_path / "run1", config)

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("contacts") == Counter(contacts[:3])
    assert run.ids("conversations") == Counter([conversation])
    assert len(inbox_offsets(run.messages)) == 3  # batches of 2, 2 and 1
    for contact_id in contacts[3:]:
        notify(inbox, "contact.user.created", contact_item(contact_id))
    inbox.close()
    again = run_tap(tmp_path / "run2", config, state=run.last_state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.ids("contacts") == Counter(contacts[3:])
    assert not again.records["conversations"]
