"""Webhooks: HEAD validation, signed notification_event payloads, retries with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from emulators.testing import free_port

from .conftest import Client

SECRET = "whsec-test-secret"


class Receiver:
    """A real HTTP endpoint on a loopback port that records notifications."""

    def __init__(self, head_status: int = 200) -> None:
        self.head_status = head_status
        self.fail_next = 0
        self.slow_next = 0
        self.slow_seconds = 0.0
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                self.send_response(receiver.head_status)
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    slow = receiver.slow_next > 0
                    receiver.slow_next -= slow
                    fail = receiver.fail_next > 0
                    receiver.fail_next -= fail
                    receiver.received.append({"time": time.monotonic(), "raw": raw,
                                              "signature": self.headers["X-Hub-Signature"],
                                              "status": 500 if fail else 200, "slow": slow})
                if slow:
                    time.sleep(receiver.slow_seconds)
                self.send_response(500 if fail else 200)
                self.end_headers()

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def notifications(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = [json.loads(r["raw"]) for r in self.received]
        return [n for n in out if topic is None or n["topic"] == topic]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; received {self.notifications()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def subscribe(client: Client, receiver: Receiver, topics: list[str]) -> dict[str, Any]:
    return client.admin("POST", "webhooks", {"url": receiver.url, "topics": topics,
                                             "client_secret": SECRET})


def test_subscribing_needs_an_endpoint_that_answers_head(fresh: Client) -> None:
    refusing = Receiver(head_status=405)
    try:
        with pytest.raises(RuntimeError, match="HEAD"):
            subscribe(fresh, refusing, ["contact.lead.created"])
    finally:
        refusing.close()
    nobody = f"http://127.0.0.1:{free_port()}/hooks"
    with pytest.raises(RuntimeError, match="HEAD"):
        fresh.admin("POST", "webhooks", {"url": nobody, "topics": ["ping"],
                                         "client_secret": SECRET})
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
    assert item["id"] == lead["id"] and item["custom_attributes"]["qualification"] == \
        "hand_to_sales"
    # Topics not subscribed to are not sent.
    assert receiver.notifications("contact.lead.created") == []
    deliveries = fresh.admin("GET", "webhooks/deliveries")
    assert deliveries[-1]["status"] == "delivered" and SECRET not in json.dumps(deliveries)


def test_failing_endpoint_is_retried_with_backoff(fresh: Client, receiver: Receiver) -> None:
    fresh.admin("POST", "config", {"webhook_retry_base_seconds": 0.3})
    subscribe(fresh, receiver, ["conversation.admin.replied"])
    receiver.fail_next = 2
    admin_id = fresh.get("/admins").json()["admins"][0]["id"]
    conv = fresh.get("/conversations", params={"per_page": 1}).json()["conversations"][0]
    fresh.post(f"/conversations/{conv['id']}/reply", {"message_type": "comment", "type": "admin",
                                                      "admin_id": admin_id, "body": "Hello"})
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
    fresh.admin("POST", "config", {"webhook_retry_base_seconds": 0.1,
                                   "webhook_timeout_seconds": 0.3, "webhook_max_attempts": 3})
    subscribe(fresh, receiver, ["contact.lead.created"])
    receiver.slow_next, receiver.slow_seconds = 1, 1.0
    fresh.post("/contacts", {"role": "lead", "email": "slow.hook@example.com"})
    receiver.wait_for(lambda: len(receiver.received) >= 2)
    assert receiver.received[0]["slow"] and not receiver.received[1]["slow"]
    receiver.wait_for(lambda: fresh.admin("GET", "webhooks/deliveries")[-1]["status"] ==
                      "delivered")
    receiver.fail_next = 10
    fresh.post("/contacts", {"role": "lead", "email": "always.failing@example.com"})
    receiver.wait_for(lambda: fresh.admin("GET", "webhooks/deliveries")[-1]["status"] ==
                      "failed")
    last = fresh.admin("GET", "webhooks/deliveries")[-1]
    assert last["attempts"] == 3 and last["last_status"] == 500


def test_ping_and_conversation_topics(fresh: Client, receiver: Receiver) -> None:
    subscribe(fresh, receiver, ["conversation.admin.closed", "conversation_part.tag.created",
                                "conversation.user.created"])
    fresh.admin("POST", "webhooks/ping")
    receiver.wait_for(lambda: receiver.notifications("ping"))
    admin_id = fresh.get("/admins").json()["admins"][0]["id"]
    contact = fresh.get("/contacts", params={"per_page": 1}).json()["data"][0]
    conv_id = fresh.post("/conversations", {"from": {"type": "user", "id": contact["id"]},
                                            "body": "Hi"}).json()["conversation_id"]
    fresh.post(f"/conversations/{conv_id}/parts", {"message_type": "close", "type": "admin",
                                                   "admin_id": admin_id})
    tag_id = fresh.get("/tags").json()["data"][0]["id"]
    fresh.post(f"/conversations/{conv_id}/tags", {"id": tag_id, "admin_id": admin_id})
    topics = ["conversation.user.created", "conversation.admin.closed",
              "conversation_part.tag.created"]
    receiver.wait_for(lambda: all(receiver.notifications(t) for t in topics))
    closed = receiver.notifications("conversation.admin.closed")[0]["data"]["item"]
    assert closed["id"] == conv_id and closed["state"] == "closed"


def test_simulate_from_another_process_is_delivered_by_the_server(
    fresh: Client, receiver: Receiver
) -> None:
    subscribe(fresh, receiver, ["contact.lead.updated", "contact.user.updated",
                                "contact.lead.created", "conversation.user.replied",
                                "conversation.admin.replied", "conversation.admin.closed",
                                "conversation.user.created"])
    out = subprocess.run(
        [sys.executable, "-m", "emulators", "intercom", "simulate", "--data-dir",
         str(fresh.proc.data_dir), "--steps", "20", "--seed", "5"],
        capture_output=True, text=True, timeout=60, check=True)
    touched = json.loads(out.stdout)
    assert touched["contacts"] or touched["conversations"]
    receiver.wait_for(lambda: len(receiver.received) >= 10)
    items = {n["data"]["item"].get("id") for n in receiver.notifications()}
    assert items & (set(touched["contacts"]) | set(touched["conversations"]))
