"""The webhook receiver: Intercom notifications verified, stored in the inbox, acknowledged fast.

    INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET=... intercom-webhook-receiver --port 8770

`HEAD /webhooks/intercom` answers 200 (Intercom checks the URL when the subscription is saved).
`POST /webhooks/intercom` takes one notification. What it answers, and why:

- 413: body larger than max_body_bytes (read no further, nothing stored).
- 401: `X-Hub-Signature` missing, not `sha1=<hex>`, or not the HMAC-SHA1 of the raw body keyed
  with the app's client secret (compared in constant time; nothing stored).
- 400: signed, but not a notification (not JSON, or no id, topic or created_at).
- 200 `stored` / `duplicate`: the notification is in the inbox (committed before answering);
  a redelivery of a stored id is acknowledged again and stored once.
- 200 `refused_stale`: signed, but created more than max_age_seconds ago: not stored. A 2xx,
  because Intercom retries every other answer and counts it toward pausing the subscription;
  the batch job reconciles the item anyway. Counted in /metrics and logged.
- 503: the inbox could not store it (disk, database): Intercom delivers it again later.

No Intercom or Salesforce call is made on the request path. `GET /health` answers 200 when the
inbox answers; `GET /metrics` is Prometheus text. The client secret is never logged.

One module (over 400 lines): one small service (its settings, checks, writer and routes),
started as one command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from singer_sdk import typing as th
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tap_intercom_events.inbox import DEFAULT_URL, Inbox, NewNotification, open_inbox, redact

NAME = "intercom-webhook-receiver"
ENV_PREFIX = "INTERCOM_WEBHOOK_RECEIVER_"
log = logging.getLogger("tap_intercom_events.receiver")

SETTINGS = th.PropertiesList(
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        required=True,
        description="Client secret of your Intercom app (Developer Hub > your app > Basic "
        "information); notifications are signed with it. Set it through "
        "INTERCOM_WEBHOOK_RECEIVER_CLIENT_SECRET, never in a committed file.",
    ),
    th.Property(
        "inbox_url",
        th.StringType,
        default=DEFAULT_URL,
        description="Where notifications are stored: sqlite:///PATH (one receiver) or "
        "postgresql://USER@HOST:PORT/DB (several receivers behind a load balancer; password "
        "in PGPASSWORD). The tap's inbox mode reads the same URL.",
    ),
    th.Property(
        "host",
        th.StringType,
        default="127.0.0.1",
        description="Address to listen on (0.0.0.0 in a container behind a proxy).",
    ),
    th.Property("port", th.IntegerType, default=8770, description="Port to listen on."),
    th.Property(
        "path",
        th.StringType,
        default="/webhooks/intercom",
        description="Path of the webhook endpoint: the URL registered in Intercom ends with it.",
    ),
    th.Property(
        "max_body_bytes",
        th.IntegerType,
        default=4 * 1024 * 1024,
        description="Largest notification body accepted; larger ones are answered 413 and not "
        "stored.",
    ),
    th.Property(
        "max_age_seconds",
        th.IntegerType,
        default=86400,
        description="Notifications created longer ago than this are replays: acknowledged (200, "
        "so Intercom does not retry) but not stored, and counted as refused stale. 0 accepts "
        "any age.",
    ),
    th.Property(
        "retention_days",
        th.NumberType,
        default=30,
        description="Notifications stored longer ago than this are deleted from the inbox "
        "(checked at start and hourly, logged): keep it longer than the real-time job may be "
        "stopped. 0 keeps them all.",
    ),
    th.Property(
        "log_level", th.StringType, default="info", description="debug, info, warning or error."
    ),
)

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PRUNE_INTERVAL_SECONDS = 3600
REFUSAL_REASONS = ("missing_signature", "bad_signature", "too_large", "malformed", "stale")


@dataclass(frozen=True)
class ReceiverConfig:
    """The receiver's settings (from variables and options); the secret never in its repr."""

    client_secret: str
    inbox_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = 8770
    path: str = "/webhooks/intercom"
    max_body_bytes: int = 4 * 1024 * 1024
    max_age_seconds: int = 86400
    retention_days: float = 30
    log_level: str = "info"

    def __repr__(self) -> str:  # the secret stays out of tracebacks and logs
        return (
            f"ReceiverConfig(inbox_url={redact(self.inbox_url)!r}, host={self.host!r}, "
            f"port={self.port}, path={self.path!r})"
        )


class Metrics:
    """Counters and the acknowledgement-latency histogram, as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self.store_errors = 0
        self._buckets = [0] * len(ACK_BUCKETS)
        self._ack_sum = 0.0
        self._ack_count = 0

    def count(self, field: str, reason: str | None = None) -> None:
        """Count one notification under ``field`` (and ``reason`` for a rejection)."""
        with self._lock:
            if reason is None:
                setattr(self, field, getattr(self, field) + 1)
            else:
                self.refused[reason] += 1

    def observe_ack(self, seconds: float) -> None:
        """Record how long one notification took to be acknowledged."""
        with self._lock:
            self._ack_sum += seconds
            self._ack_count += 1
            for i, bound in enumerate(ACK_BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1

    def text(self) -> str:
        """The counters in Prometheus' text format."""
        p = "intercom_webhook_"
        with self._lock:
            lines = [
                f"# HELP {p}received_total Notifications POSTed to the endpoint.",
                f"# TYPE {p}received_total counter",
                f"{p}received_total {self.received}",
                f"# HELP {p}stored_total Notifications stored in the inbox.",
                f"# TYPE {p}stored_total counter",
                f"{p}stored_total {self.stored}",
                f"# HELP {p}duplicates_total Notifications already in the inbox (acknowledged).",
                f"# TYPE {p}duplicates_total counter",
                f"{p}duplicates_total {self.duplicates}",
                f"# HELP {p}refused_total Notifications refused, by reason.",
                f"# TYPE {p}refused_total counter",
                *(f'{p}refused_total{{reason="{r}"}} {n}' for r, n in self.refused.items()),
                f"# HELP {p}store_errors_total Notifications the inbox failed to store (503).",
                f"# TYPE {p}store_errors_total counter",
                f"{p}store_errors_total {self.store_errors}",
                f"# HELP {p}ack_seconds Time from request to answer, for POSTs.",
                f"# TYPE {p}ack_seconds histogram",
                *(
                    f'{p}ack_seconds_bucket{{le="{b}"}} {n}'
                    for b, n in zip(ACK_BUCKETS, self._buckets, strict=True)
                ),
                f'{p}ack_seconds_bucket{{le="+Inf"}} {self._ack_count}',
                f"{p}ack_seconds_sum {self._ack_sum:.6f}",
                f"{p}ack_seconds_count {self._ack_count}",
            ]
        return "\n".join(lines) + "\n"


def expected_signature(secret: str, body: bytes) -> bytes:
    """The ``X-Hub-Signature`` Intercom sends with ``body``: HMAC-SHA1 with the client secret."""
    return b"sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest().encode()


def _signature_problem(secret: str, header: str | None, body: bytes) -> str | None:
    """The refusal reason for the X-Hub-Signature header, or None when it signs the body."""
    if not header:
        return "missing_signature"
    given = header.strip().lower().encode("latin-1")
    if not hmac.compare_digest(expected_signature(secret, body), given):
        return "bad_signature"
    return None


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _notification_fields(body: bytes) -> tuple[str, str, float] | str:
    """(id, topic, created_at) of a notification body, or why it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "the body is not JSON"
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    notif_id, topic, created = payload.get("id"), payload.get("topic"), payload.get("created_at")
    if not isinstance(notif_id, str) or not notif_id:
        return "the notification has no id"
    if not isinstance(topic, str) or not topic:
        return "the notification has no topic"
    if (
        isinstance(created, bool)
        or not isinstance(created, (int, float))
        or not math.isfinite(created)
    ):
        return "the notification has no numeric created_at"
    return notif_id, topic, float(created)


class GroupWriter:
    """Stores the notifications of concurrent requests together.

    One transaction (and one disk sync) for all that arrived while the previous one was being
    committed.
    """

    def __init__(self, inbox: Inbox, max_batch: int = 500) -> None:
        self.inbox = inbox
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[NewNotification, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start storing batches on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop storing (the batch being committed is cancelled with the task)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def add(self, notification: NewNotification) -> bool:
        """True when stored, False when already stored; committed when it returns."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((notification, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await anyio.to_thread.run_sync(self.inbox.add_many, [n for n, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each request answers 503 with it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), added in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(added)


async def prune_periodically(inbox: Inbox, retention_days: float) -> None:
    """Delete what the inbox has held longer than `retention_days`, now and every hour."""
    while True:
        cutoff = time.time() - retention_days * 86400
        try:
            deleted = await anyio.to_thread.run_sync(inbox.prune, cutoff)
        except Exception as exc:  # noqa: BLE001 - retried next hour; receiving goes on
            log.warning("could not prune the inbox (retried in an hour): %s", exc)
        else:
            if deleted:
                log.info(
                    "pruned %d notifications stored more than %s days ago (retention_days)",
                    deleted,
                    f"{retention_days:g}",
                )
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


class _Handlers:
    """The receiver's routes over one config, its metrics and (once started) its inbox."""

    inbox: Inbox
    writer: GroupWriter

    def __init__(self, config: ReceiverConfig, inbox: Inbox | None) -> None:
        self.config = config
        self.given_inbox = inbox
        self.metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Open the inbox (unless given) and start the writer; stop and close them at the end."""
        config = self.config
        if self.given_inbox is not None:
            self.inbox = self.given_inbox
        else:
            self.inbox = await anyio.to_thread.run_sync(open_inbox, config.inbox_url)
        self.writer = writer = GroupWriter(self.inbox)
        writer.start()
        pruner = None
        if config.retention_days > 0:
            pruner = asyncio.get_running_loop().create_task(
                prune_periodically(self.inbox, config.retention_days)
            )
        log.info(
            "receiving Intercom webhooks on http://%s:%s%s, storing into %s",
            config.host,
            config.port,
            config.path,
            redact(config.inbox_url),
        )
        try:
            yield
        finally:
            if pruner is not None:
                pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruner
            await writer.stop()
            if self.given_inbox is None:
                self.inbox.close()

    def refuse(self, reason: str, status: int, message: str, request: Request) -> JSONResponse:
        """Count, log and answer a refused notification."""
        self.metrics.count("refused", reason)
        client = request.client.host if request.client else "?"
        log.warning("refused a notification from %s (%s): %s", client, reason, message)
        return JSONResponse({"status": "refused", "reason": reason, "message": message}, status)

    async def webhook(self, request: Request) -> Response:
        """``POST`` (a notification) or ``HEAD`` (Intercom's check) on the webhook path."""
        if request.method == "HEAD":
            return Response(status_code=200)
        started = time.perf_counter()
        self.metrics.count("received")
        try:
            return await self.handle(request)
        finally:
            self.metrics.observe_ack(time.perf_counter() - started)

    async def handle(self, request: Request) -> Response:
        """Check one notification (size, signature, shape, age), then store it."""
        config = self.config
        body = await _read_limited(request, config.max_body_bytes)
        if body is None:
            return self.refuse(
                "too_large",
                413,
                f"the body is larger than max_body_bytes="
                f"{config.max_body_bytes}; raise the setting if Intercom sent it",
                request,
            )
        problem = _signature_problem(
            config.client_secret, request.headers.get("x-hub-signature"), body
        )
        if problem == "missing_signature":
            return self.refuse(
                problem, 401, "no X-Hub-Signature header: not from Intercom", request
            )
        if problem:
            return self.refuse(
                problem,
                401,
                "X-Hub-Signature does not sign this body with the "
                "app's client secret (wrong secret, or the body was altered)",
                request,
            )
        fields = _notification_fields(body)
        if isinstance(fields, str):
            return self.refuse(
                "malformed", 400, f"signed, but not a notification: {fields}", request
            )
        notif_id, topic, created_at = fields
        now = time.time()
        if config.max_age_seconds and now - created_at > config.max_age_seconds:
            return self.refuse(
                "stale",
                200,
                f"notification {notif_id} was created "
                f"{now - created_at:.0f} s ago, more than max_age_seconds="
                f"{config.max_age_seconds}: not stored (the batch job reconciles it)",
                request,
            )
        return await self.store(NewNotification(notif_id, topic, body, now))

    async def store(self, notification: NewNotification) -> Response:
        """Store a checked notification; 503 (Intercom delivers it again) when that fails."""
        notif_id, topic = notification.notification_id, notification.topic
        try:
            added = await self.writer.add(notification)
        except Exception as exc:  # noqa: BLE001 - any failure to store is a 503 for a retry
            self.metrics.count("store_errors")
            log.error(
                "could not store notification %s in %s: %s; answered 503 so that Intercom "
                "delivers it again",
                notif_id,
                redact(self.config.inbox_url),
                exc,
            )
            return JSONResponse(
                {
                    "status": "error",
                    "message": "the inbox could not store the notification; deliver it again later",
                },
                503,
            )
        self.metrics.count("stored" if added else "duplicates")
        log.debug("%s notification %s (%s)", "stored" if added else "duplicate", notif_id, topic)
        return JSONResponse({"status": "stored" if added else "duplicate", "id": notif_id})

    async def health(self, _request: Request) -> Response:
        """``GET /health``: 200 when the inbox answers, 503 with the reason when not."""
        try:
            await anyio.to_thread.run_sync(self.inbox.check)
        except Exception as exc:  # noqa: BLE001 - reported to the health checker
            return JSONResponse(
                {
                    "status": "unavailable",
                    "inbox": redact(self.config.inbox_url),
                    "message": f"the inbox does not answer: {exc}",
                },
                503,
            )
        return JSONResponse({"status": "ok", "inbox": redact(self.config.inbox_url)})

    async def metrics_text(self, _request: Request) -> Response:
        """``GET /metrics``: the counters in Prometheus' text format."""
        return PlainTextResponse(self.metrics.text(), media_type="text/plain; version=0.0.4")


def create_app(config: ReceiverConfig, inbox: Inbox | None = None) -> Starlette:
    """The ASGI app. Opens the inbox at start-up unless one is given; closes what it opened."""
    handlers = _Handlers(config, inbox)
    app = Starlette(
        routes=[
            Route(config.path, handlers.webhook, methods=["POST", "HEAD"]),
            Route("/health", handlers.health, methods=["GET"]),
            Route("/metrics", handlers.metrics_text, methods=["GET"]),
        ],
        lifespan=handlers.lifespan,
    )
    app.state.metrics = handlers.metrics
    return app


def _env(name: str, default: Any) -> Any:
    return os.environ.get(ENV_PREFIX + name.upper(), default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The receiver's command-line options."""
    parser = argparse.ArgumentParser(
        prog=NAME,
        description="Receive Intercom webhook notifications into the inbox. Every "
        f"option also reads {ENV_PREFIX}<OPTION> (the client secret only from "
        f"{ENV_PREFIX}CLIENT_SECRET).",
    )
    parser.add_argument("--about", action="store_true", help="print the settings and exit")
    parser.add_argument("--format", default="json", help="with --about: json")
    defaults = {p["name"]: p.get("default") for p in _properties()}
    for name in ("inbox_url", "host", "path", "log_level"):
        parser.add_argument(f"--{name.replace('_', '-')}", default=_env(name, defaults[name]))
    for name in ("port", "max_body_bytes", "max_age_seconds"):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=int(_env(name, defaults[name]))
        )
    parser.add_argument(
        "--retention-days",
        type=float,
        default=float(_env("retention_days", defaults["retention_days"])),
    )
    return parser.parse_args(argv)


def _properties() -> list[dict[str, Any]]:
    schema = SETTINGS.to_dict()
    return [{"name": n, **p} for n, p in schema["properties"].items()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the receiver (or print its `--about`); answers the exit status."""
    args = parse_args(argv)
    if args.about:
        print(
            json.dumps(
                {
                    "name": NAME,
                    "description": "Intercom webhook receiver",
                    "settings": SETTINGS.to_dict(),
                },
                indent=2,
            )
        )
        return 0
    secret = os.environ.get(ENV_PREFIX + "CLIENT_SECRET", "")
    if not secret:
        print(
            f"{NAME}: no client secret, so no notification could be verified; set "
            f"{ENV_PREFIX}CLIENT_SECRET to your Intercom app's client secret (Developer Hub > "
            "your app > Basic information)",
            file=sys.stderr,
        )
        return 2
    config = ReceiverConfig(
        client_secret=secret,
        inbox_url=args.inbox_url,
        host=args.host,
        port=args.port,
        path=args.path if args.path.startswith("/") else "/" + args.path,
        max_body_bytes=args.max_body_bytes,
        max_age_seconds=args.max_age_seconds,
        retention_days=args.retention_days,
        log_level=args.log_level.lower(),
    )
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        inbox = open_inbox(config.inbox_url)
    except Exception as exc:  # noqa: BLE001 - a person reads this
        print(
            f"{NAME}: cannot open the inbox {redact(config.inbox_url)}: {exc}; check inbox_url",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    try:
        uvicorn.run(
            create_app(config, inbox),
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=False,
            http="httptools",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    finally:
        inbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
