"""Webhooks: HEAD validation, signed notification_event payloads, retries with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from emulators.testing import free_port

from .conftest import Client
from .hooks import SECRET, Receiver


def subscribe(client: Client, receiver: Receiver, topics: list[str]) -> dict[str, Any]:
    return client.admin(
        "POST", "webhooks", {"url": receiver.url, "topics": topics, "client_secret": SECRET}
    )


def test_subscribing_needs_an_endpoint_that_answers_head(fresh: Client) -> None:
    refusing = Receiver(head_status=405)
    try:
        with pytest.raises(RuntimeError, match="HEAD"):
            subscribe(fresh, refusing, ["contact.lead.created"])
    finally:
        refusing.close()
    nobody = f"http://127.0.0.1:{free_port()}/hooks"
    with pytest.raises(RuntimeError, match="HEAD"):
        fresh.admin(
            "POST", "webhooks", {"url": nobody, "topics": ["ping"], "client_secret": SECRET}
        )
    assert fresh.admin("GET", "webhooks") == []


def test_qualification_fires_a_signed_notification(fresh: Client, receiver: Receiver) -> None:
    sub = subscribe(fresh, receiver, ["contact.lead.updated"])
    assert "client_secret" not in sub
    lead = fresh.post("/contacts", {"role": "lead", "email": "hook.lead@example.com"}).json()
    fresh.admin("POST", f"contacts/{lead['id']}/qualify")
    receiver.wait_for(lambda: receiver.notifications("contact.lead.updated"))
    record = receiver.received[0]
    expected = "sha1=" + hmac.new(SECRET.encode(), record["raw"], hashlib.sha1).hexdigest()
    assert hmac.compare_digest(record["signature"], expected)
    note = json.loads(record["raw"])
    assert note["type"] == "notification_event" and note["id"].startswith("notif_")
    assert note["app_id"] == fresh.get("/me").json()["app"]["id_code"]
    assert note["delivery_attempts"] == 1 and note["first_sent_at"] >= note["created_at"] - 1
    item = note["data"]["item"]
    assert note["data"]["type"] == "notification_event_data"
    assert (
        item["id"] == lead["id"] and item["custom_attributes"]["qualification"] == "hand_to_sales"
    )
    # Topics not subscribed to are not sent.
    assert receiver.notifications("contact.lead.created") == []
    deliveries = fresh.admin("GET", "webhooks/deliveries")
    assert deliveries[-1]["status"] == "delivered" and SECRET not in json.dumps(deliveries)


def test_failing_endpoint_is_retried_with_backoff(fresh: Client, receiver: Receiver) -> None:
    fresh.admin("POST", "config", {"webhook_retry_base_seconds": 0.3, "webhook_slow_ms": 5000})
    subscribe(fresh, receiver, ["conversation.admin.replied"])
    receiver.fail_next = 2
    admin_id = fresh.get("/admins").json()["admins"][0]["id"]
    conv = fresh.get("/conversations", params={"per_page": 1}).json()["conversations"][0]
    fresh.post(
        f"/conversations/{conv['id']}/reply",
        {"message_type": "comment", "type": "admin", "admin_id": admin_id, "body": "Hello"},
    )
    receiver.wait_for(lambda: len(receiver.received) >= 3)
    attempts = receiver.received[:3]
    notes = [json.loads(a["raw"]) for a in attempts]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert len({n["id"] for n in notes}) == 1  # the same notification, at least once
    assert [n["delivery_attempts"] for n in notes] == [1, 2, 3]
    gaps = [b["time"] - a["time"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.55  # 0.3 s, then 0.6 s
    item = notes[-1]["data"]["item"]
    assert item["id"] == conv["id"]
    assert item["conversation_parts"]["conversation_parts"][-1]["body"] == "Hello"
    time.sleep(0.3)
    assert len(receiver.received) == 3
    assert fresh.admin("GET", "webhooks/deliveries")[-1]["attempts"] == 3


def test_slow_answers_count_as_failures_and_delivery_gives_up(
    fresh: Client, receiver: Receiver
) -> None:
    fresh.admin(
        "POST",
        "config",
        {
            "webhook_retry_base_seconds": 0.1,
            "webhook_timeout_seconds": 0.3,
            "webhook_max_attempts": 3,
        },
    )
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.slow_next, receiver.slow_seconds = 1, 1.0
    fresh.post("/contacts", {"role": "lead", "email": "slow.hook@example.com"})
    receiver.wait_for(lambda: len(receiver.received) >= 2)
    assert receiver.received[0]["slow"] and not receiver.received[1]["slow"]
    receiver.wait_for(
        lambda: fresh.admin("GET", "webhooks/deliveries")[-1]["status"] == "delivered"
    )
    receiver.fail_next = 10
    fresh.post("/contacts", {"role": "lead", "email": "always.failing@example.com"})
    receiver.wait_for(lambda: fresh.admin("GET", "webhooks/deliveries")[-1]["status"] == "failed")
    last = fresh.admin("GET", "webhooks/deliveries")[-1]
    assert last["attempts"] == 3 and last["last_status"] == 500


def test_ping_and_conversation_topics(fresh: Client, receiver: Receiver) -> None:
    subscribe(
        fresh,
        receiver,
        ["conversation.admin.closed", "conversation_part.tag.created", "conversation.user.created"],
    )
    fresh.admin("POST", "webhooks/ping")
    receiver.wait_for(lambda: receiver.notifications("ping"))
    admin_id = fresh.get("/admins").json()["admins"][0]["id"]
    contact = fresh.get("/contacts", params={"per_page": 1}).json()["data"][0]
    conv_id = fresh.post(
        "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "Hi"}
    ).json()["conversation_id"]
    fresh.post(
        f"/conversations/{conv_id}/parts",
        {"message_type": "close", "type": "admin", "admin_id": admin_id},
    )
    tag_id = fresh.get("/tags").json()["data"][0]["id"]
    fresh.post(f"/conversations/{conv_id}/tags", {"id": tag_id, "admin_id": admin_id})
    topics = [
        "conversation.user.created",
        "conversation.admin.closed",
        "conversation_part.tag.created",
    ]
    receiver.wait_for(lambda: all(receiver.notifications(t) for t in topics))
    closed = receiver.notifications("conversation.admin.closed")[0]["data"]["item"]
    assert closed["id"] == conv_id and closed["state"] == "closed"


def test_simulate_from_another_process_is_delivered_by_the_server(
    fresh: Client, receiver: Receiver
) -> None:
    subscribe(
        fresh,
        receiver,
        [
            "contact.lead.updated",
            "contact.user.updated",
            "contact.lead.created",
            "conversation.user.replied",
            "conversation.admin.replied",
            "conversation.admin.closed",
            "conversation.user.created",
        ],
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulators",
            "intercom",
            "simulate",
            "--data-dir",
            str(fresh.proc.data_dir),
            "--steps",
            "20",
            "--seed",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    touched = json.loads(out.stdout)
    assert touched["contacts"] or touched["conversations"]
    receiver.wait_for(lambda: len(receiver.received) >= 10)
    items = {n["data"]["item"].get("id") for n in receiver.notifications()}
    assert items & (set(touched["contacts"]) | set(touched["conversations"]))
