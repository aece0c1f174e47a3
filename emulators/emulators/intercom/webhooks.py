"""Webhook subscriptions, the signed `notification_event` envelope and the delivery log views.

Changes queue notifications in the `outbox` table (from the server or a `simulate` process);
`delivery.py` posts them as Intercom does. Each subscription carries its delivery health
(failures, pause, throttle, suspension); `subscription_state` reads it against the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from emulators.intercom.db import Database

TOPICS = [
    "conversation.user.created",
    "conversation.user.replied",
    "conversation.admin.replied",
    "conversation.admin.noted",
    "conversation.admin.closed",
    "conversation.admin.opened",
    "conversation.admin.snoozed",
    "conversation.admin.assigned",
    "conversation_part.tag.created",
    "conversation.deleted",
    "contact.lead.created",
    "contact.user.created",
    "contact.lead.updated",
    "contact.user.updated",
    "contact.lead.signed_up",
    "contact.lead.added_email",
    "contact.email.updated",
    "contact.lead.tag.created",
    "contact.user.tag.created",
    "contact.lead.tag.deleted",
    "contact.user.tag.deleted",
    "contact.archived",
    "contact.deleted",
    "company.created",
    "company.updated",
    "ping",
]
# Topics that appeared in a later API version than the first webhook one.
TOPIC_SINCE = {"contact.user.updated": (2, 6)}
NOT_TOPICS = {
    "conversation.tag.created": "there is no conversation.tag.created topic: tagging a "
    "conversation fires conversation_part.tag.created",
}
# Outbox statuses: waiting or on its way, and the final ones.
OPEN_STATUSES = ("pending", "sending")
FINAL_STATUSES = ("delivered", "failed", "dropped", "suspended", "cancelled")


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` header value: HMAC-SHA1 of the raw body keyed with the secret."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def validate_url(url: str, timeout: float = 5.0) -> None:
    """Intercom sends HEAD to a webhook URL when it is saved; it must answer 2xx."""
    try:
        resp = httpx.head(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ValueError(
            f"the webhook URL {url} did not answer a HEAD request ({exc}); start "
            "the receiver first, then subscribe"
        ) from exc
    if not 200 <= resp.status_code < 300:
        raise ValueError(
            f"the webhook URL {url} answered HEAD with {resp.status_code}; it must "
            "answer 2xx before it can be subscribed"
        )


def add_subscription(
    db: Database,
    url: str,
    topics: list[str],
    client_secret: str,
    *,
    validate: bool = True,
    api_version: str = "2.14",
) -> dict[str, Any]:
    """Subscribe a URL to topics (HEAD-validated first unless told not to)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    for topic in topics:
        if topic in NOT_TOPICS:
            raise ValueError(NOT_TOPICS[topic])
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topic(s): {', '.join(unknown)}; known: {', '.join(TOPICS)}")
    version = _version(api_version)
    for topic in topics:
        since = TOPIC_SINCE.get(topic)
        if since and version < since:
            raise ValueError(
                f"{topic} exists from API version {since[0]}.{since[1]} on; this "
                f"subscription uses {api_version}"
            )
    if not client_secret:
        raise ValueError("client_secret is required: notifications are signed with it")
    if validate:
        validate_url(url)
    sub = {
        "id": f"sub_{uuid.uuid4().hex[:12]}",
        "url": url,
        "topics": topics,
        "client_secret": client_secret,
        "api_version": api_version,
        "active": True,
        "consecutive_failures": 0,
        "failing_since": None,
        "paused_until": 0,
        "pauses": 0,
        "throttled_until": 0,
        "throttle_seconds": None,
        "throttles": 0,
        "deprioritised": False,
        "suspended_at": None,
    }
    with db.write() as conn:
        subs = [s for s in db.get_meta("webhooks", []) if s["url"] != url]
        subs.append(sub)
        db.set_meta("webhooks", subs, conn)
    return public_subscription(sub, db.now())


def _version(text: str) -> tuple[int, int]:
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        raise ValueError(f"api_version must look like 2.14, not {text!r}") from None


def subscription_state(sub: dict[str, Any], now: int) -> str:
    """`active`, `paused`, `throttled` or `suspended`, on the emulator clock ``now``."""
    if sub.get("suspended_at") is not None or not sub.get("active", True):
        return "suspended"
    if now < int(sub.get("paused_until") or 0):
        return "paused"
    if now < int(sub.get("throttled_until") or 0):
        return "throttled"
    return "active"


def public_subscription(sub: dict[str, Any], now: int) -> dict[str, Any]:
    """A subscription without its secret, with its delivery state, for admin answers and logs."""
    return {
        **{k: v for k, v in sub.items() if k != "client_secret"},
        "state": subscription_state(sub, now),
    }


def deliveries(
    db: Database,
    limit: int = 1000,
    status: str | None = None,
    topic: str | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` notifications (oldest first), optionally of one status or topic."""
    subs = {s["id"]: s["url"] for s in db.get_meta("webhooks", [])}
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if topic:
        where.append("topic = ?")
        args.append(topic)
    sql = (
        "SELECT seq, notif_id, subscription, topic, item, created_at, status, attempts, "
        "first_sent_at, last_status, last_error, delivered_at, duplicates, held FROM outbox"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY seq DESC LIMIT ?"
    )
    rows = db.conn().execute(sql, (*args, limit)).fetchall()
    out = []
    for r in reversed(rows):
        item = json.loads(r[4])
        out.append(
            {
                "seq": r[0],
                "id": r[1],
                "subscription": r[2],
                "url": subs.get(r[2]),
                "topic": r[3],
                "item_type": item.get("type"),
                "item_id": item.get("id"),
                "created_at": r[5],
                "status": r[6],
                "attempts": r[7],
                "first_sent_at": r[8],
                "last_status": r[9],
                "last_error": r[10],
                "delivered_at": r[11],
                "duplicates": r[12],
                "reordered": bool(r[13]),
            }
        )
    return out


def attempts(db: Database, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Every delivery attempt after attempt ``seq`` ``after``, oldest first."""
    rows = (
        db.conn()
        .execute(
            "SELECT seq, notif_id, subscription, attempt, sent_at, clock, status_code, latency_ms, "
            "outcome, error FROM webhook_attempts WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        .fetchall()
    )
    keys = (
        "seq",
        "id",
        "subscription",
        "attempt",
        "sent_at",
        "clock",
        "status_code",
        "latency_ms",
        "outcome",
        "error",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


def status(db: Database) -> dict[str, Any]:
    """Per subscription: its state and health, notifications by status, attempts by outcome."""
    now = db.now()
    conn = db.conn()
    by_status: dict[str, dict[str, int]] = {}
    for sub_id, st, n in conn.execute(
        "SELECT subscription, status, count(*) FROM outbox GROUP BY subscription, status"
    ):
        by_status.setdefault(sub_id, {})[st] = n
    by_outcome: dict[str, dict[str, int]] = {}
    for sub_id, outcome, n in conn.execute(
        "SELECT subscription, outcome, count(*) FROM webhook_attempts "
        "GROUP BY subscription, outcome"
    ):
        by_outcome.setdefault(sub_id, {})[outcome] = n
    subs = []
    for sub in db.get_meta("webhooks", []):
        subs.append(
            {
                **public_subscription(sub, now),
                "notifications": by_status.get(sub["id"], {}),
                "attempts": by_outcome.get(sub["id"], {}),
            }
        )
    return {"now": now, "subscriptions": subs}


def notification(
    app_id: str,
    notif_id: str,
    topic: str,
    item: dict[str, Any],
    created_at: int,
    attempts: int,
    first_sent_at: int,
) -> dict[str, Any]:
    """A ``notification_event`` for a topic and the object it carries."""
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
