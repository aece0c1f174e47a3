"""Two receivers behind one (imagined) load balancer, one PostgreSQL inbox on a real server:
each notification delivered to both at once is stored once, and a reader following the inbox
while they write reads every one exactly once."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
from tap_intercom_events.inbox import InboxItem, open_inbox

from scripts.receiver_support import ReceiverProcess, notification, signature

TOTAL = 1200


def _follow(postgres_url: str, senders: list[threading.Thread]) -> list[InboxItem]:
    """Read the inbox while the senders send, then to its end."""
    reader = open_inbox(postgres_url)
    followed: list[InboxItem] = []
    offset = None
    while any(t.is_alive() for t in senders):
        page, offset = reader.read_after(offset, limit=50)
        followed += page
        time.sleep(0.002)
    for t in senders:
        t.join(timeout=120)
    time.sleep(0.1)
    while True:
        page, offset = reader.read_after(offset, limit=50)
        if not page:
            break
        followed += page
    reader.close()
    return followed


def test_two_receivers_one_postgres_inbox(postgres_url: str, tmp_path: Path) -> None:
    receivers = [
        ReceiverProcess(postgres_url, tmp_path / f"receiver-{n}.log").start() for n in range(2)
    ]
    bodies = [notification(f"notif_pg_{i}") for i in range(TOTAL)]
    answers: list[tuple[int, int, str]] = []  # (notification, receiver, status)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send(receiver_index: int, order: list[int]) -> None:
        rec = receivers[receiver_index]
        try:
            with httpx.Client(timeout=10) as client:
                for i in order:
                    resp = client.post(
                        rec.webhook_url,
                        content=bodies[i],
                        headers={"X-Hub-Signature": signature(bodies[i])},
                    )
                    with lock:
                        answers.append(
                            (i, receiver_index, f"{resp.status_code} {resp.json().get('status')}")
                        )
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    # Every notification goes to both receivers (a redelivery landing on the other node), from
    # three senders each, in shuffled orders so that both race on the same ids.
    rng = random.Random(3)
    senders = []
    for r in range(2):
        ids = list(range(TOTAL))
        rng.shuffle(ids)
        for part in range(3):
            senders.append(threading.Thread(target=send, args=(r, ids[part::3])))
    for t in senders:
        t.start()

    followed = _follow(postgres_url, senders)
    assert not errors, errors
    metrics = [rec.metrics() for rec in receivers]
    for rec in receivers:
        rec.stop()

    assert len(answers) == 2 * TOTAL
    assert {status for _, _, status in answers} <= {"200 stored", "200 duplicate"}
    stored_by = {}
    for i, r, status in answers:
        if status == "200 stored":
            assert i not in stored_by, f"notification {i} stored by both receivers"
            stored_by[i] = r
    assert len(stored_by) == TOTAL
    assert set(stored_by.values()) == {0, 1}  # both receivers did store some
    assert sum(m["intercom_webhook_stored_total"] for m in metrics) == TOTAL
    assert sum(m["intercom_webhook_duplicates_total"] for m in metrics) == TOTAL

    ids = [item.notification_id for item in followed]
    assert len(ids) == len(set(ids)) == TOTAL, "the follower missed or repeated notifications"
    assert set(ids) == {f"notif_pg_{i}" for i in range(TOTAL)}
    keys = [tuple(int(p) for p in item.offset.split(":")) for item in followed]
    assert keys == sorted(keys)
    assert all(
        item.body == bodies[int(item.notification_id.rsplit("_", 1)[1])] for item in followed
    )
