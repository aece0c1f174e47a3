"""Webhook subscriptions and at-least-once delivery of signed `notification_event`s.

Changes queue notifications in the `outbox` table (from the server or a `simulate` process);
the server's delivery loop posts them, retrying with exponential backoff on non-2xx answers,
errors and answers slower than the timeout, and gives up after the configured attempts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx

from emulators.intercom.db import Database

log = logging.getLogger("emulators.intercom.webhooks")
TOPICS = [
    "conversation.user.created", "conversation.user.replied", "conversation.admin.replied",
    "conversation.admin.noted", "conversation.admin.closed", "conversation.admin.opened",
    "conversation.admin.snoozed", "conversation.admin.assigned", "conversation_part.tag.created",
    "conversation.deleted", "contact.lead.created", "contact.user.created",
    "contact.lead.updated", "contact.user.updated", "contact.lead.signed_up",
    "contact.lead.added_email", "contact.email.updated", "contact.lead.tag.created",
    "contact.user.tag.created", "contact.lead.tag.deleted", "contact.user.tag.deleted",
    "contact.archived", "contact.deleted", "company.created", "company.updated", "ping",
]


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` header value: HMAC-SHA1 of the raw body keyed with the secret."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def validate_url(url: str, timeout: float = 5.0) -> None:
    """Intercom sends HEAD to a webhook URL when it is saved; it must answer 2xx."""
    try:
        resp = httpx.head(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ValueError(f"the webhook URL {url} did not answer a HEAD request ({exc}); start "
                         "the receiver first, then subscribe") from exc
    if not 200 <= resp.status_code < 300:
        raise ValueError(f"the webhook URL {url} answered HEAD with {resp.status_code}; it must "
                         "answer 2xx before it can be subscribed")


def add_subscription(
    db: Database, url: str, topics: list[str], client_secret: str, *, validate: bool = True
) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topic(s): {', '.join(unknown)}; known: {', '.join(TOPICS)}")
    if not client_secret:
        raise ValueError("client_secret is required: notifications are signed with it")
    if validate:
        validate_url(url)
    subs = [s for s in db.get_meta("webhooks", []) if s["url"] != url]
    sub = {"id": f"sub_{uuid.uuid4().hex[:12]}", "url": url, "topics": topics,
           "client_secret": client_secret, "active": True}
    subs.append(sub)
    db.set_meta("webhooks", subs)
    return public_subscription(sub)


def public_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """A subscription without its secret, for admin answers and logs."""
    return {k: v for k, v in sub.items() if k != "client_secret"}


def deliveries(db: Database, limit: int = 1000) -> list[dict[str, Any]]:
    subs = {s["id"]: s["url"] for s in db.get_meta("webhooks", [])}
    rows = db.conn().execute(
        "SELECT notif_id, subscription, topic, item, created_at, status, attempts, "
        "first_sent_at, last_status, last_error FROM outbox ORDER BY seq DESC LIMIT ?",
        (limit,)).fetchall()
    out = []
    for r in reversed(rows):
        item = json.loads(r[3])
        out.append({
            "id": r[0], "subscription": r[1], "url": subs.get(r[1]), "topic": r[2],
            "item_type": item.get("type"), "item_id": item.get("id"), "created_at": r[4],
            "status": r[5], "attempts": r[6], "first_sent_at": r[7], "last_status": r[8],
            "last_error": r[9],
        })
    return out


def notification(
    app_id: str, notif_id: str, topic: str, item: dict[str, Any], created_at: int,
    attempts: int, first_sent_at: int,
) -> dict[str, Any]:
    return {
        "type": "notification_event",
        "app_id": app_id,
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": notif_id,
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": attempts,
        "delivered_at": 0,
        "first_sent_at": first_sent_at,
        "created_at": created_at,
        "self": None,
    }


class Deliverer:
    """Background loop of the server process that posts queued notifications."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    await self._round(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - keep delivering after a bad round
                    log.exception("webhook delivery round failed")
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=0.1)
                except asyncio.TimeoutError:
                    pass
                self.wake.clear()

    def _claim(self) -> list[tuple[Any, ...]]:
        # A cheap read first: the write lock is only taken when something is due.
        due = self.db.conn().execute(
            "SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt <= ? LIMIT 1",
            (time.time(),)).fetchone()
        if due is None:
            return []
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT seq, notif_id, subscription, topic, item, created_at, attempts, "
                "first_sent_at FROM outbox WHERE status = 'pending' AND next_attempt <= ? "
                "ORDER BY seq LIMIT 50", (time.time(),)).fetchall()
            conn.executemany("UPDATE outbox SET status = 'sending' WHERE seq = ?",
                             [(r[0],) for r in rows])
        return rows

    async def _round(self, client: httpx.AsyncClient) -> None:
        rows = await asyncio.to_thread(self._claim)
        if not rows:
            return
        settings = self.db.settings()
        subs = {s["id"]: s for s in self.db.get_meta("webhooks", [])}
        await asyncio.gather(*(self._deliver(client, settings, subs, row) for row in rows))

    async def _deliver(
        self, client: httpx.AsyncClient, settings: dict[str, Any],
        subs: dict[str, dict[str, Any]], row: tuple[Any, ...],
    ) -> None:
        seq, notif_id, sub_id, topic, item, created_at, attempts, first_sent = row
        sub = subs.get(sub_id)
        if sub is None:
            await asyncio.to_thread(self._finish, seq, "cancelled", attempts, first_sent, None,
                                    "subscription removed")
            return
        attempts += 1
        first_sent = first_sent or int(time.time())
        body = json.dumps(notification(
            str(settings["app_id_code"]), notif_id, topic, json.loads(item), created_at,
            attempts, first_sent), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Intercom-Webhooks-Emulator",
                   "X-Hub-Signature": sign(sub["client_secret"], body)}
        status_code: int | None = None
        error: str | None = None
        try:
            resp = await client.post(sub["url"], content=body, headers=headers,
                                     timeout=float(settings["webhook_timeout_seconds"]))
            status_code = resp.status_code
            ok = 200 <= status_code < 300
            if not ok:
                error = f"answered {status_code}"
        except httpx.TimeoutException:
            ok, error = False, "timed out"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            status = "delivered"
        elif attempts >= int(settings["webhook_max_attempts"]):
            status = "failed"
        else:
            status = "pending"
        delay = float(settings["webhook_retry_base_seconds"]) * (2 ** (attempts - 1))
        await asyncio.to_thread(self._finish, seq, status, attempts, first_sent, status_code,
                                error, time.time() + delay)

    def _finish(
        self, seq: int, status: str, attempts: int, first_sent: int | None,
        status_code: int | None, error: str | None, next_attempt: float = 0.0,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, first_sent_at = ?, last_status = ?, "
                "last_error = ?, next_attempt = ? WHERE seq = ?",
                (status, attempts, first_sent, status_code, error, next_attempt, seq))
