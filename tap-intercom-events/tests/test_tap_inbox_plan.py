"""How the inbox mode turns notifications into re-reads (pure logic, in process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tap_intercom_events.inbox import InboxItem
from tap_intercom_events.inbox_mode import InboxReader, plan_batch, target_of
from tap_intercom_events.tap import TapIntercomEvents


def _item(offset: int, topic: str, item: Any) -> InboxItem:
    body = {
        "type": "notification_event",
        "id": f"notif_{offset}",
        "topic": topic,
        "data": {"type": "notification_event_data", "item": item},
    }
    return InboxItem(str(offset), f"notif_{offset}", topic, 0.0, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("topic", "item", "expected"),
    [
        ("contact.user.created", {"type": "contact", "id": "c1"}, ("contacts", "c1")),
        ("contact.user.updated", {"type": "contact", "id": "c1"}, ("contacts", "c1")),
        ("contact.lead.signed_up", {"type": "contact", "id": "c1"}, ("contacts", "c1")),
        # A tag removed from a contact is a change of the contact, not a deletion.
        (
            "contact.user.tag.deleted",
            {"type": "contact_tag", "contact": {"type": "contact", "id": "c2"}, "tag": {"id": "9"}},
            ("contacts", "c2"),
        ),
        ("conversation.user.replied", {"type": "conversation", "id": "7"}, ("conversations", "7")),
        (
            "conversation_part.tag.created",
            {"type": "conversation", "id": 8},
            ("conversations", "8"),
        ),
        (
            "conversation_part.tag.created",
            {"type": "conversation_part", "id": "p1", "conversation_id": "9"},
            ("conversations", "9"),
        ),
        ("contact.deleted", {"type": "contact", "id": "c1"}, "contact deleted"),
        ("contact.archived", {"type": "contact", "id": "c1"}, "contact archived"),
        ("conversation.deleted", {"type": "conversation", "id": "7"}, "conversation deleted"),
        ("ping", {"type": "ping"}, "ping"),
        (
            "company.created",
            {"type": "company", "id": "x"},
            "company topic (companies are read by the batch job)",
        ),
        ("visitor.signed_up", {"type": "visitor", "id": "v"}, "unknown topic"),
        ("contact.user.updated", {"type": "contact"}, "no item id in the notification"),
        ("contact.user.updated", None, "no item in the notification"),
    ],
)
def test_target_of_each_topic(topic: str, item: Any, expected: Any) -> None:
    payload = {"data": {"type": "notification_event_data", "item": item}}
    assert target_of(topic, payload) == expected


def test_a_batch_is_coalesced_by_item_in_order_of_first_mention() -> None:
    items = [
        _item(1, "contact.user.updated", {"type": "contact", "id": "b"}),
        _item(2, "conversation.user.replied", {"type": "conversation", "id": "5"}),
        _item(3, "contact.user.updated", {"type": "contact", "id": "a"}),
        _item(4, "contact.email.updated", {"type": "contact", "id": "b"}),
        _item(5, "conversation.admin.closed", {"type": "conversation", "id": "5"}),
        _item(6, "ping", {"type": "ping"}),
        _item(7, "ping", {"type": "ping"}),
        InboxItem("8", "notif_8", "contact.user.updated", 0.0, b"not json"),
    ]
    batch = plan_batch(items)
    assert batch.notifications == 8
    assert list(batch.contacts) == ["b", "a"]
    assert list(batch.conversations) == ["5"]
    assert batch.skipped == {"ping": 2, "body is not JSON": 1}


class _FlakyInbox:
    """An inbox whose first reads fail as a lost database connection does."""

    url = "postgresql://inbox@db.invalid/inbox"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.reads = 0

    def read_after(self, offset: str | None, limit: int = 500) -> tuple[list, str | None]:
        self.reads += 1
        if self.reads <= self.failures:
            raise ConnectionError("server closed the connection unexpectedly")
        return [], offset


def _reader(**config: Any) -> InboxReader:
    tap = TapIntercomEvents(
        config={"access_token": "t", "inbox_url": "sqlite:///x.db", **config}, validate_config=True
    )
    return InboxReader(tap)


def test_a_failing_inbox_read_is_retried() -> None:
    inbox = _FlakyInbox(failures=2)
    assert _reader()._read_after(inbox, "7", 10) == ([], "7")  # type: ignore[arg-type]
    assert inbox.reads == 3


def test_an_inbox_unreadable_for_max_retry_seconds_stops_the_tap_saying_why() -> None:
    inbox = _FlakyInbox(failures=1000)
    with pytest.raises(RuntimeError, match=r"Could not read the inbox postgresql://inbox@db"):
        _reader(max_retry_seconds=1)._read_after(inbox, None, 10)  # type: ignore[arg-type]
