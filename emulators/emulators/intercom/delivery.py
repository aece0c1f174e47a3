"""The server's webhook delivery loop, with Intercom's published delivery rules.

One module (over 400 lines): the loop and the rules it applies to each attempt.

Each attempt is logged (`webhook_attempts`). An attempt fails when the endpoint answers non-2xx,
cannot be reached, times out, or answers 2xx slower than `webhook_slow_ms` (the endpoint is then
deprioritised: one delivery at a time, after the others). Failed notifications are retried with
exponential backoff up to `webhook_max_attempts`. More than `webhook_pause_failures` consecutive
failed attempts within `webhook_pause_window_seconds` pause the subscription for
`webhook_pause_seconds`; failing for `webhook_suspend_seconds` suspends it. A 429 throttles it
for `webhook_throttle_seconds` (doubling up to `webhook_throttle_max_seconds`), and while it is
throttled the notifications waiting beyond the oldest `webhook_throttle_keep` are dropped.
Pause, throttle and suspension run on the emulator clock; backoff and latency on wall time.

At-least-once effects can be injected: `webhook_duplicate_rate` redelivers a delivered
notification once more after `webhook_duplicate_delay_seconds`, `webhook_reorder_rate` holds a
new notification back until one at least `webhook_reorder_depth` places later was sent (or
`webhook_reorder_delay_seconds` passed). Whether
a notification is affected depends only on `webhook_chaos_seed` and its outbox sequence number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import httpx

from emulators.intercom.db import Database
from emulators.intercom.webhooks import notification, sign, subscription_state

log = logging.getLogger("emulators.intercom.delivery")

THROTTLE_DROP = "dropped while throttled: the endpoint answered 429"


def chaos_hit(seed: Any, kind: str, seq: int, rate: float) -> bool:
    """Whether the injected effect ``kind`` hits outbox row ``seq`` (pure: seed and seq only)."""
    if rate <= 0:
        return False
    return random.Random(f"{seed}:{kind}:{seq}").random() < rate


@dataclass
class Job:
    """One notification claimed for one delivery attempt."""

    seq: int
    notif_id: str
    sub: dict[str, Any]
    topic: str
    item: str
    created_at: int
    attempts: int
    first_sent: int | None
    delivered_at: float | None
    duplicates: int


@dataclass
class Outcome:
    """What one delivery attempt came to."""

    kind: str  # ok, slow, throttled, error, timeout, unreachable
    status_code: int | None
    latency_ms: float
    error: str | None


class Deliverer:
    """Background loop of the server process that posts queued notifications."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start delivering in the running event loop."""
        with self.db.write() as conn:
            conn.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop delivering (the attempt under way is abandoned, to be retried)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                sent = 0
                try:
                    sent = await self._round(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - keep delivering after a bad round
                    log.exception("webhook delivery round failed")
                if sent:
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.05)
                self.wake.clear()

    async def _round(self, client: httpx.AsyncClient) -> int:
        settings = self.db.settings()
        jobs = await asyncio.to_thread(self._claim, settings)
        if jobs:
            await asyncio.gather(*(self._deliver(client, settings, job) for job in jobs))
        return len(jobs)

    # ------------------------------------------------------------------ claiming
    DUE = (
        "status = 'pending' AND (next_attempt <= :wall OR (hold_for IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM outbox x WHERE x.subscription = o.subscription "
        "AND x.seq >= o.hold_for AND x.attempts > 0)))"
    )

    def _claim(self, settings: dict[str, Any]) -> list[Job]:
        wall = time.time()
        conn = self.db.conn()
        # A cheap read first: the write lock is only taken when something is due.
        if (
            conn.execute(
                f"SELECT 1 FROM outbox o WHERE {self.DUE} LIMIT 1", {"wall": wall}
            ).fetchone()
            is None
        ):
            return []
        now = self.db.now()
        jobs: list[Job] = []
        with self.db.write() as conn:
            subs = self.db.get_meta("webhooks", [])
            known = [s["id"] for s in subs]
            marks = ",".join("?" * len(known))
            conn.execute(
                "UPDATE outbox SET status = 'cancelled', last_error = 'subscription removed' "
                f"WHERE status = 'pending' AND subscription NOT IN ({marks})",
                known,
            )
            # The deprioritised (slow) endpoints are served after the others, one at a time.
            for sub in sorted(subs, key=lambda s: bool(s.get("deprioritised"))):
                state = subscription_state(sub, now)
                if state == "throttled":
                    self._drop_excess(conn, sub["id"], int(settings["webhook_throttle_keep"]))
                if state != "active":
                    continue
                limit = 1 if sub.get("deprioritised") else int(settings["webhook_concurrency"])
                jobs.extend(self._claim_for(conn, settings, sub, wall, limit))
        return jobs

    def _claim_for(
        self,
        conn: sqlite3.Connection,
        settings: dict[str, Any],
        sub: dict[str, Any],
        wall: float,
        limit: int,
    ) -> list[Job]:
        rows = conn.execute(
            "SELECT seq, notif_id, topic, item, created_at, attempts, first_sent_at, "
            "delivered_at, duplicates, held FROM outbox o "
            f"WHERE subscription = :sub AND {self.DUE} "
            "ORDER BY seq LIMIT :limit",
            {"sub": sub["id"], "wall": wall, "limit": limit},
        ).fetchall()
        jobs = []
        seed, rate = settings["webhook_chaos_seed"], float(settings["webhook_reorder_rate"])
        for seq, notif_id, topic, item, created, attempts, first, delivered, dups, held in rows:
            if attempts == 0 and not held and chaos_hit(seed, "reorder", seq, rate):
                conn.execute(
                    "UPDATE outbox SET held = 1, hold_for = ?, next_attempt = ? WHERE seq = ?",
                    (
                        seq + int(settings["webhook_reorder_depth"]),
                        wall + float(settings["webhook_reorder_delay_seconds"]),
                        seq,
                    ),
                )
                continue
            conn.execute(
                "UPDATE outbox SET status = 'sending', hold_for = NULL WHERE seq = ?", (seq,)
            )
            jobs.append(
                Job(seq, notif_id, sub, topic, item, created, attempts, first, delivered, dups)
            )
        return jobs

    @staticmethod
    def _drop_excess(conn: sqlite3.Connection, sub_id: str, keep: int) -> None:
        """Drop the notifications of a throttled subscription beyond its oldest ``keep``."""
        conn.execute(
            "UPDATE outbox SET status = 'dropped', last_error = ? WHERE subscription = ? "
            "AND status = 'pending' AND delivered_at IS NULL AND seq NOT IN (SELECT seq FROM "
            "outbox WHERE subscription = ? AND status IN ('pending', 'sending') "
            "AND delivered_at IS NULL ORDER BY seq LIMIT ?)",
            (THROTTLE_DROP, sub_id, sub_id, keep),
        )

    # ------------------------------------------------------------------ one attempt
    async def _deliver(self, client: httpx.AsyncClient, settings: dict[str, Any], job: Job) -> None:
        attempt = job.attempts + 1
        first_sent = job.first_sent or self.db.now()
        body = json.dumps(
            notification(
                str(settings["app_id_code"]),
                job.notif_id,
                job.topic,
                json.loads(job.item),
                job.created_at,
                attempt,
                first_sent,
            ),
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Intercom-Webhooks-Emulator",
            "X-Hub-Signature": sign(job.sub["client_secret"], body),
        }
        sent_at = time.time()
        started = time.perf_counter()
        try:
            resp = await client.post(
                job.sub["url"],
                content=body,
                headers=headers,
                timeout=float(settings["webhook_timeout_seconds"]),
            )
            latency = (time.perf_counter() - started) * 1000
            code = resp.status_code
            if code == 429:
                outcome = Outcome("throttled", code, latency, "answered 429")
            elif not 200 <= code < 300:
                outcome = Outcome("error", code, latency, f"answered {code}")
            elif latency > float(settings["webhook_slow_ms"]):
                outcome = Outcome(
                    "slow",
                    code,
                    latency,
                    f"answered after {latency:.0f} ms, over {settings['webhook_slow_ms']} ms",
                )
            else:
                outcome = Outcome("ok", code, latency, None)
        except httpx.TimeoutException:
            outcome = Outcome("timeout", None, (time.perf_counter() - started) * 1000, "timed out")
        except httpx.HTTPError as exc:
            outcome = Outcome(
                "unreachable",
                None,
                (time.perf_counter() - started) * 1000,
                f"{type(exc).__name__}: {exc}",
            )
        await asyncio.to_thread(self._record, settings, job, attempt, first_sent, sent_at, outcome)

    def _record(
        self,
        settings: dict[str, Any],
        job: Job,
        attempt: int,
        first_sent: int,
        sent_at: float,
        outcome: Outcome,
    ) -> None:
        now = self.db.now()
        wall = time.time()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO webhook_attempts (outbox_seq, notif_id, subscription, attempt, "
                "sent_at, clock, status_code, latency_ms, outcome, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.seq,
                    job.notif_id,
                    job.sub["id"],
                    attempt,
                    sent_at,
                    now,
                    outcome.status_code,
                    round(outcome.latency_ms, 3),
                    outcome.kind,
                    outcome.error,
                ),
            )
            status, next_attempt, delivered_at, dups = self._next(
                settings, job, attempt, wall, outcome
            )
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, first_sent_at = ?, last_status = ?, "
                "last_error = ?, next_attempt = ?, delivered_at = ?, duplicates = ? "
                "WHERE seq = ? AND status = 'sending'",
                (
                    status,
                    attempt,
                    first_sent,
                    outcome.status_code,
                    outcome.error,
                    next_attempt,
                    delivered_at,
                    dups,
                    job.seq,
                ),
            )
            self._health(conn, settings, job.sub["id"], now, outcome)

    @staticmethod
    def _next(
        settings: dict[str, Any],
        job: Job,
        attempt: int,
        wall: float,
        outcome: Outcome,
    ) -> tuple[str, float, float | None, int]:
        """The notification's status, next attempt time, delivery time and duplicates."""
        if job.delivered_at is not None:  # an injected redelivery: once, whatever it answers
            return "delivered", 0.0, job.delivered_at, job.duplicates
        if outcome.kind == "ok":
            if job.duplicates == 0 and chaos_hit(
                settings["webhook_chaos_seed"],
                "duplicate",
                job.seq,
                float(settings["webhook_duplicate_rate"]),
            ):
                delay = float(settings["webhook_duplicate_delay_seconds"])
                return "pending", wall + delay, wall, 1
            return "delivered", 0.0, wall, job.duplicates
        if attempt >= int(settings["webhook_max_attempts"]):
            return "failed", 0.0, None, job.duplicates
        if outcome.kind == "throttled":  # retried when the throttle ends
            return "pending", wall, None, job.duplicates
        delay = float(settings["webhook_retry_base_seconds"]) * (2 ** (attempt - 1))
        return "pending", wall + delay, None, job.duplicates

    def _health(
        self,
        conn: sqlite3.Connection,
        settings: dict[str, Any],
        sub_id: str,
        now: int,
        outcome: Outcome,
    ) -> None:
        """Update the subscription's failures, pause, throttle, suspension and priority."""
        subs = self.db.get_meta("webhooks", [])
        sub = next((s for s in subs if s["id"] == sub_id), None)
        if sub is None:
            return
        if outcome.kind == "ok":
            sub.update(
                consecutive_failures=0,
                failing_since=None,
                deprioritised=False,
                throttle_seconds=None,
            )
        else:
            sub["consecutive_failures"] = int(sub.get("consecutive_failures") or 0) + 1
            if sub.get("failing_since") is None:
                sub["failing_since"] = now
            if outcome.kind == "slow":
                sub["deprioritised"] = True
            if outcome.kind == "throttled":
                base = float(settings["webhook_throttle_seconds"])
                seconds = float(sub.get("throttle_seconds") or base)
                sub["throttled_until"] = now + int(seconds)
                sub["throttle_seconds"] = min(
                    seconds * 2, float(settings["webhook_throttle_max_seconds"])
                )
                sub["throttles"] = int(sub.get("throttles") or 0) + 1
                self._drop_excess(conn, sub_id, int(settings["webhook_throttle_keep"]))
            if now - int(sub["failing_since"]) >= int(settings["webhook_suspend_seconds"]):
                self._suspend(conn, sub, now)
            elif self._pause_due(conn, settings, sub, now):
                sub["paused_until"] = now + int(settings["webhook_pause_seconds"])
                sub["pauses"] = int(sub.get("pauses") or 0) + 1
                sub["consecutive_failures"] = 0
        self.db.set_meta("webhooks", subs, conn)

    @staticmethod
    def _pause_due(
        conn: sqlite3.Connection, settings: dict[str, Any], sub: dict[str, Any], now: int
    ) -> bool:
        """More than N consecutive failed attempts, the first of the last N+1 inside the window."""
        limit = int(settings["webhook_pause_failures"])
        if sub["consecutive_failures"] <= limit:
            return False
        row = conn.execute(
            "SELECT clock FROM webhook_attempts WHERE subscription = ? ORDER BY seq DESC "
            "LIMIT 1 OFFSET ?",
            (sub["id"], limit),
        ).fetchone()
        window = int(settings["webhook_pause_window_seconds"])
        return row is not None and now - int(row[0]) <= window

    @staticmethod
    def _suspend(conn: sqlite3.Connection, sub: dict[str, Any], now: int) -> None:
        sub.update(active=False, suspended_at=now)
        conn.execute(
            "UPDATE outbox SET status = 'suspended', last_error = ? WHERE subscription = ? "
            "AND status = 'pending' AND delivered_at IS NULL",
            (f"subscription suspended: deliveries failed since {sub['failing_since']}", sub["id"]),
        )
        conn.execute(
            "UPDATE outbox SET status = 'delivered' WHERE subscription = ? "
            "AND status = 'pending' AND delivered_at IS NOT NULL",
            (sub["id"],),
        )
