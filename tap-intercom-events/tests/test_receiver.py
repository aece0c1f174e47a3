"""The webhook receiver over a real socket: signatures, dedupe, limits, stale replays, health."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tap_intercom_events.inbox import InboxItem, open_inbox

from scripts.receiver_support import SECRET, ReceiverProcess, notification, signature

MAX_BODY = 8192
MAX_AGE = 3600


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    root = tmp_path_factory.mktemp("receiver")
    with ReceiverProcess(
        f"sqlite:///{root}/inbox.db",
        root / "receiver.log",
        args=["--max-body-bytes", str(MAX_BODY), "--max-age-seconds", str(MAX_AGE)],
    ) as rec:
        yield rec


def stored(receiver: ReceiverProcess) -> dict[str, list[InboxItem]]:
    """Every stored item by notification id (a list, so that a duplicate would show)."""
    inbox = open_inbox(receiver.inbox_url)
    items: list[InboxItem] = []
    offset = None
    while True:
        page, offset = inbox.read_after(offset)
        if not page:
            break
        items += page
    inbox.close()
    by_id: dict[str, list[InboxItem]] = {}
    for item in items:
        by_id.setdefault(item.notification_id, []).append(item)
    return by_id


def test_head_answers_200_for_intercoms_validation(receiver: ReceiverProcess) -> None:
    resp = httpx.head(receiver.webhook_url, timeout=5)
    assert resp.status_code == 200
    assert httpx.get(receiver.webhook_url, timeout=5).status_code == 405


def test_signatures(receiver: ReceiverProcess) -> None:
    before = receiver.metrics()
    body = notification("notif_sig_valid")
    assert receiver.post(body).json() == {"status": "stored", "id": "notif_sig_valid"}

    refused = {
        "invalid": (notification("notif_sig_invalid"), "sha1=" + "0" * 40),
        "not_sha1": (notification("notif_sig_format"), "sha256=abc"),
        "missing": (notification("notif_sig_missing"), None),
        "wrong_secret": (
            notification("notif_sig_wrong"),
            signature(notification("notif_sig_wrong"), "another-secret"),
        ),
    }
    # The body altered by one byte after signing: same length, one digit changed.
    original = notification("notif_sig_altered", created_at=int(time.time()))
    altered = original.replace(b'"delivery_attempts": 1', b'"delivery_attempts": 2')
    assert len(altered) == len(original) and altered != original
    refused["altered"] = (altered, signature(original))
    # The signature of another notification.
    refused["other_body"] = (notification("notif_sig_other"), signature(body))
    for name, (payload, sig) in refused.items():
        resp = receiver.post(payload, sig=sig)
        assert resp.status_code == 401, name
        assert resp.json()["status"] == "refused", name

    # The same notifications signed correctly are stored: only the signature was wrong.
    by_id = stored(receiver)
    assert "notif_sig_valid" in by_id
    assert by_id["notif_sig_valid"][0].body == body
    for payload, _ in refused.values():
        assert json.loads(payload)["id"] not in by_id
    after = receiver.metrics()
    assert (
        after['intercom_webhook_refused_total{reason="missing_signature"}']
        - before['intercom_webhook_refused_total{reason="missing_signature"}']
        == 1
    )
    assert (
        after['intercom_webhook_refused_total{reason="bad_signature"}']
        - before['intercom_webhook_refused_total{reason="bad_signature"}']
        == 5
    )
    assert after["intercom_webhook_stored_total"] - before["intercom_webhook_stored_total"] == 1
    assert SECRET not in receiver.log()


def test_duplicates_and_redeliveries_are_stored_once(receiver: ReceiverProcess) -> None:
    before = receiver.metrics()
    created = int(time.time()) - 60
    first = notification("notif_dup", created_at=created, attempts=1)
    redelivery = notification("notif_dup", created_at=created, attempts=3)
    other = notification("notif_dup_other", created_at=created)
    answers = [receiver.post(b) for b in (first, first, other, redelivery, first)]
    assert [r.status_code for r in answers] == [200] * 5
    assert [r.json()["status"] for r in answers] == [
        "stored",
        "duplicate",
        "stored",
        "duplicate",
        "duplicate",
    ]
    by_id = stored(receiver)
    assert len(by_id["notif_dup"]) == 1 and by_id["notif_dup"][0].body == first
    assert len(by_id["notif_dup_other"]) == 1
    after = receiver.metrics()
    assert (
        after["intercom_webhook_duplicates_total"] - before["intercom_webhook_duplicates_total"]
        == 3
    )


def test_body_limit(receiver: ReceiverProcess) -> None:
    def padded(notif_id: str, size: int) -> bytes:
        base = notification(notif_id, item={"type": "contact", "id": "c1", "pad": ""})
        body = base.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(base)) + b'"')
        assert len(body) == size
        return body

    at_limit = padded("notif_at_limit", MAX_BODY)
    over = padded("notif_over_limit", MAX_BODY + 1)
    assert receiver.post(at_limit).status_code == 200
    resp = receiver.post(over)
    assert resp.status_code == 413
    assert "max_body_bytes" in resp.json()["message"]

    # Chunked, without Content-Length: refused once the limit is passed.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(over), 1000):
            yield over[i : i + 1000]

    resp = httpx.post(
        receiver.webhook_url,
        content=chunks(),
        timeout=10,
        headers={"X-Hub-Signature": signature(over)},
    )
    assert resp.status_code == 413
    by_id = stored(receiver)
    assert "notif_at_limit" in by_id and "notif_over_limit" not in by_id
    assert receiver.metrics()['intercom_webhook_refused_total{reason="too_large"}'] == 2


def test_stale_replay_is_acknowledged_but_not_stored(receiver: ReceiverProcess) -> None:
    old = notification("notif_stale", created_at=int(time.time()) - MAX_AGE - 30)
    fresh = notification("notif_recent", created_at=int(time.time()) - MAX_AGE + 30)
    resp = receiver.post(old)
    assert resp.status_code == 200  # a 2xx, or Intercom would retry it for days
    assert resp.json()["status"] == "refused" and resp.json()["reason"] == "stale"
    assert receiver.post(fresh).json()["status"] == "stored"
    by_id = stored(receiver)
    assert "notif_stale" not in by_id and "notif_recent" in by_id
    assert receiver.metrics()['intercom_webhook_refused_total{reason="stale"}'] == 1
    assert "notif_stale" in receiver.log() and "max_age_seconds" in receiver.log()


def test_signed_but_not_a_notification(receiver: ReceiverProcess) -> None:
    for body in (
        b"not json",
        b"[1, 2]",
        json.dumps({"topic": "ping"}).encode(),
        json.dumps({"id": "notif_no_created", "topic": "ping"}).encode(),
    ):
        resp = receiver.post(body)
        assert resp.status_code == 400, body
        assert resp.json()["reason"] == "malformed"
    assert "notif_no_created" not in stored(receiver)


def test_health_and_metrics(receiver: ReceiverProcess) -> None:
    health = httpx.get(f"{receiver.url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    text = httpx.get(f"{receiver.url}/metrics", timeout=5)
    assert text.headers["content-type"].startswith("text/plain")
    metrics = receiver.metrics()
    total_refused = sum(
        v for k, v in metrics.items() if k.startswith("intercom_webhook_refused_total")
    )
    # Every POST counted once, in exactly one outcome; all of them timed.
    assert (
        metrics["intercom_webhook_received_total"]
        == metrics["intercom_webhook_stored_total"]
        + metrics["intercom_webhook_duplicates_total"]
        + total_refused
        + metrics["intercom_webhook_store_errors_total"]
    )
    assert (
        metrics["intercom_webhook_ack_seconds_count"] == metrics["intercom_webhook_received_total"]
    )
    assert metrics["intercom_webhook_stored_total"] == len(stored(receiver))
    assert (
        metrics['intercom_webhook_ack_seconds_bucket{le="+Inf"}']
        == metrics["intercom_webhook_ack_seconds_count"]
    )


def test_unwritable_inbox_answers_503_and_health_says_so(tmp_path: Path) -> None:
    """A store failure is a 503 (Intercom delivers again), never a 200."""
    db = tmp_path / "inbox.db"
    with ReceiverProcess(f"sqlite:///{db}", tmp_path / "receiver.log") as rec:
        assert rec.post(notification("notif_ok")).status_code == 200
        # A trigger that fails every insert: to the receiver, a broken store.
        conn = sqlite3.connect(db)
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN "
            "SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        conn.commit()
        conn.close()
        resp = rec.post(notification("notif_fails"))
        assert resp.status_code == 503
        assert rec.metrics()["intercom_webhook_store_errors_total"] == 1
        assert "notif_fails" in rec.log() and "503" in rec.log()
    inbox = open_inbox(f"sqlite:///{db}")
    assert [i.notification_id for i in inbox.read_after(None)[0]] == ["notif_ok"]
    inbox.close()


def test_without_a_secret_it_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_intercom_events.receiver",
            "--inbox-url",
            f"sqlite:///{tmp_path}/i.db",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET" in done.stderr


def test_retention_prunes_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inbox.db"
    inbox = open_inbox(url)
    inbox.add("notif_ancient", "ping", b"{}", received_at=time.time() - 3 * 86400)
    inbox.add("notif_yesterday", "ping", b"{}", received_at=time.time() - 86400)
    inbox.close()
    with ReceiverProcess(url, tmp_path / "receiver.log", args=["--retention-days", "2"]) as rec:
        deadline = time.monotonic() + 10
        while "pruned" not in rec.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "pruned 1 notifications stored more than 2 days ago" in rec.log()
    inbox = open_inbox(url)
    assert [i.notification_id for i in inbox.read_after(None)[0]] == ["notif_yesterday"]
    inbox.close()
