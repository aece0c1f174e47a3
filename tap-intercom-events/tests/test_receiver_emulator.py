"""The Intercom emulator's real webhook delivery into the receiver: bursts with injected
duplicates and reordering, the receiver killed -9 mid-burst and restarted. Ground truth is the
emulator's own delivery log: every notification it saw acknowledged is in the inbox, once."""

from __future__ import annotations

import time
from pathlib import Path

from emulators.testing import EmulatorProcess
from tap_intercom_events.inbox import InboxItem, open_inbox

from scripts.receiver_support import SECRET, ReceiverProcess


def _inbox_items(url: str) -> list[InboxItem]:
    inbox = open_inbox(url)
    items: list[InboxItem] = []
    offset = None
    while True:
        page, offset = inbox.read_after(offset)
        if not page:
            break
        items += page
    inbox.close()
    return items


def _wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_emulator_delivery_with_receiver_killed_mid_burst(tmp_path: Path) -> None:
    rec = ReceiverProcess(f"sqlite:///{tmp_path}/inbox.db", tmp_path / "receiver.log").start()
    with EmulatorProcess(
        "intercom", tmp_path / "ic", args=["--rate-limit-per-minute", "100000"]
    ) as ic:
        ic.admin("POST", "seed", {"contacts": 40, "conversations": 20, "seed": 2})
        ic.admin(
            "POST",
            "config",
            {
                "webhook_retry_base_seconds": 0.2,
                "webhook_max_attempts": 30,
                "webhook_duplicate_rate": 0.2,
                "webhook_duplicate_delay_seconds": 0.3,
                "webhook_reorder_rate": 0.2,
                "webhook_reorder_delay_seconds": 1,
                "webhook_concurrency": 10,
            },
        )
        ic.admin(
            "POST",
            "webhooks",
            {
                "url": rec.webhook_url,
                "client_secret": SECRET,
                "topics": [
                    "contact.lead.created",
                    "contact.user.updated",
                    "conversation.user.replied",
                ],
            },
        )
        bursts = [
            ic.admin(
                "POST",
                "webhooks/burst",
                {"count": 300, "rate_per_s": 150, "topic": "contact.lead.created"},
            ),
            ic.admin(
                "POST",
                "webhooks/burst",
                {"count": 100, "rate_per_s": 60, "topic": "contact.user.updated"},
            ),
            ic.admin(
                "POST",
                "webhooks/burst",
                {"count": 100, "rate_per_s": 60, "topic": "conversation.user.replied"},
            ),
        ]
        _wait(
            lambda: (
                sum(
                    d["status"] == "delivered"
                    for d in ic.admin("GET", "webhooks/deliveries?limit=5000")
                )
                >= 100
            ),
            60,
            "100 deliveries",
        )
        rec.kill()
        time.sleep(0.5)  # deliveries fail while it is down: the emulator retries them
        rec.start()
        _wait(
            lambda: all(ic.admin("GET", f"webhooks/bursts/{b['id']}")["done"] for b in bursts),
            60,
            "the bursts",
        )

        def settled() -> bool:
            deliveries = ic.admin("GET", "webhooks/deliveries?limit=5000")
            return len(deliveries) == 500 and all(d["status"] == "delivered" for d in deliveries)

        _wait(settled, 90, "every notification delivered")
        time.sleep(1.5)  # the injected duplicates of the last ones
        deliveries = ic.admin("GET", "webhooks/deliveries?limit=5000")
        attempts = ic.admin("GET", "webhooks/attempts?limit=100000")
        metrics = rec.metrics()
    rec.stop()

    items = _inbox_items(rec.inbox_url)
    ids = [i.notification_id for i in items]
    assert len(ids) == len(set(ids)), "a notification was stored twice"
    assert set(ids) == {d["id"] for d in deliveries}
    by_id = {d["id"]: d for d in deliveries}
    for item in items:
        payload = item.payload()
        assert item.topic == payload["topic"] == by_id[item.notification_id]["topic"]
        assert payload["data"]["item"]["id"] == by_id[item.notification_id]["item_id"]
    outcomes = [a["outcome"] for a in attempts]
    assert "unreachable" in outcomes or "error" in outcomes, "the kill cost no delivery"
    assert sum(d["duplicates"] for d in deliveries) > 0
    assert any(d["reordered"] for d in deliveries)
    # Redeliveries and injected duplicates were acknowledged, not stored again.
    assert outcomes.count("ok") > len(deliveries)
    assert metrics["intercom_webhook_duplicates_total"] > 0
