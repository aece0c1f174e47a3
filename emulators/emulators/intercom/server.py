"""The ASGI application: faults, versioning, auth, rate limits, counters, admin surface."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from emulators.intercom import api as api_module
from emulators.intercom import delivery, webhooks
from emulators.intercom.api import Api, Call, Reply
from emulators.intercom.burst import Bursts
from emulators.intercom.db import DEFAULT_SETTINGS, Database
from emulators.intercom.errors import ApiError, error_body
from emulators.intercom.seed import seed_workspace
from emulators.intercom.simulate import simulate
from emulators.intercom.workspace import Workspace

log = logging.getLogger("emulators.intercom")
# Every value Intercom accepts in Intercom-Version: the `intercom_version` enum of its published
# descriptions (1.0-1.4, 2.0-2.16) plus Unstable and Preview (docs/intercom.md, "Versions").
VERSIONS = {
    "1.0",
    "1.1",
    "1.2",
    "1.3",
    "1.4",
    *(f"2.{i}" for i in range(17)),
    "Unstable",
    "Preview",
}
# The versions this emulator answers for: Intercom publishes a description of each, and they
# agree on every field the plugins read, so one 2.14 shape serves them all.
EMULATED_VERSIONS = tuple(f"2.{i}" for i in range(7, 17))
DEFAULT_VERSION = "2.14"
WINDOW = 10  # seconds; Intercom enforces the per-minute limit in 10-second windows
STATUS_CODES = {
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    429: "rate_limit_exceeded",
    401: "unauthorized",
    403: "api_plan_restricted",
    404: "not_found",
    400: "parameter_invalid",
}

REPEATED_SLASHES = re.compile(r"/{2,}")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def version_problem(version: str | None) -> str | None:
    """Why an Intercom-Version header cannot be served, or None when it can (or is absent)."""
    if version is None or version in EMULATED_VERSIONS:
        return None
    served = f"{EMULATED_VERSIONS[0]} ... {EMULATED_VERSIONS[-1]}"
    if version not in VERSIONS:
        return (
            f"The requested version {version!r} is not a valid Intercom-Version. Intercom's "
            f"versions are 1.0 ... 1.4, 2.0 ... 2.16, Unstable and Preview; this emulator "
            f"serves {served}. Send one of those, e.g. {DEFAULT_VERSION}."
        )
    return (
        f"Intercom-Version {version!r} exists at Intercom, but this emulator only emulates "
        f"{served} (answers shaped as {DEFAULT_VERSION}); what it would answer for "
        f"{version!r} would not be what Intercom sends. Send one of {served}, or test a "
        f"client that needs {version!r} against Intercom itself."
    )


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.api_calls = 0
            self.by_endpoint: dict[str, int] = {}
            self.status_counts: dict[str, int] = {}
            self.log: deque[dict[str, Any]] = deque(maxlen=5000)

    def record(self, method: str, template: str, path: str, status: int, ms: float) -> None:
        with self.lock:
            self.api_calls += 1
            key = f"{method} {template}"
            self.by_endpoint[key] = self.by_endpoint.get(key, 0) + 1
            self.status_counts[str(status)] = self.status_counts.get(str(status), 0) + 1
            self.log.append(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(ms, 2),
                    "time": time.time(),
                }
            )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "api_calls": self.api_calls,
                "by_endpoint": dict(self.by_endpoint),
                "status_counts": dict(self.status_counts),
            }


class RateLimiter:
    """Per-app calls per minute, enforced as ceil(limit/6) per 10-second window.

    The headers speak of the window, as Intercom's rate-limiting page shows ("a rate limit of
    1000 per minute, which is 167 per 10-second window": ``X-RateLimit-Limit: 167``,
    ``X-RateLimit-Remaining`` counting down from 167, ``X-RateLimit-Reset`` the window's end).
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.window_start = 0
        self.used = 0
        self.lock = threading.Lock()

    @property
    def per_window(self) -> int:
        return max(1, math.ceil(self.per_minute / 6))

    def take(self) -> tuple[bool, dict[str, str], int]:
        now = time.time()
        start = int(now // WINDOW * WINDOW)
        per_window = self.per_window
        with self.lock:
            if start != self.window_start:
                self.window_start, self.used = start, 0
            allowed = self.used < per_window
            if allowed:
                self.used += 1
            remaining = max(0, per_window - self.used)
        headers = {
            "X-RateLimit-Limit": str(per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(start + WINDOW),
        }
        return allowed, headers, per_window

    def refusal(self, fault: dict[str, Any] | None = None) -> tuple[dict[str, str], int]:
        """Headers of an injected 429, which spends nothing: no calls left until the reset.

        The reset is the current window's end, as Intercom answers, unless the fault names
        one (``reset_in`` seconds from now, 0 or less: already due); ``retry_after`` adds a
        ``Retry-After`` header.
        """
        now = time.time()
        per_window = self.per_window
        reset = int(now // WINDOW * WINDOW) + WINDOW
        fault = fault or {}
        if fault.get("reset_in") is not None:
            reset = int(now) + int(fault["reset_in"])
        headers = {
            "X-RateLimit-Limit": str(per_window),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(int(fault["retry_after"]))
        return headers, per_window


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict[str, Any]] = []

    def add(self, fault: dict[str, Any]) -> dict[str, Any]:
        kind = fault.get("kind")
        if kind not in {"status", "latency", "drop", "rate_limit", "revoke_token"}:
            raise ValueError("kind must be status, latency, drop, rate_limit or revoke_token")
        if kind == "status" and not isinstance(fault.get("status"), int):
            raise ValueError("a status fault needs an integer 'status'")
        if kind == "latency" and not isinstance(fault.get("ms"), (int, float)):
            raise ValueError("a latency fault needs 'ms'")
        for name in ("reset_in", "retry_after"):
            value = fault.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"'{name}' must be an integer number of seconds")
        item = dict(fault)
        if kind in {"status", "drop", "rate_limit"}:
            item.setdefault("count", 1)
        with self.lock:
            self.items.append(item)
        return item

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def take(self, path: str) -> tuple[float, dict[str, Any] | None]:
        """Answers (latency in ms, the one-shot fault that fires for this request)."""
        latency = 0.0
        fired: dict[str, Any] | None = None
        with self.lock:
            for item in list(self.items):
                if item.get("path") and not path.startswith(item["path"]):
                    continue
                if item["kind"] == "latency":
                    latency += float(item["ms"])
                    if "count" in item:
                        item["count"] -= 1
                        if item["count"] <= 0:
                            self.items.remove(item)
                elif fired is None and item["kind"] in {"status", "drop", "rate_limit"}:
                    fired = dict(item)
                    item["count"] -= 1
                    if item["count"] <= 0:
                        self.items.remove(item)
        return latency, fired

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(i) for i in self.items]


class IntercomApp:
    """The whole server as one ASGI callable."""

    def __init__(self, db: Database, *, webhook: dict[str, Any] | None = None) -> None:
        self.db = db
        self.ws = Workspace(db)
        self.api = Api(self.ws)
        settings = db.settings()
        self.limiter = RateLimiter(int(settings["rate_limit_per_minute"]))
        self.stats = Stats()
        self.faults = Faults()
        self.deliverer: delivery.Deliverer | None = None
        self.bursts = Bursts(self.ws)
        self.startup_webhook = webhook
        tokens = db.get_meta("tokens", None)
        if tokens is None:
            tokens = {"active": ["emulator-token"], "revoked": []}
            db.set_meta("tokens", tokens)
        self.tokens = tokens

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if "//" in scope["path"]:
            # As web front ends do (nginx's merge_slashes, on by default): "/a//b" is "/a/b".
            scope = {**scope, "path": REPEATED_SLASHES.sub("/", scope["path"])}
        path = scope["path"]
        if path.startswith("/_emulator/") or path == "/_emulator":
            await self._admin(scope, receive, send)
        else:
            await self._public(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.deliverer = delivery.Deliverer(self.db)
                self.deliverer.start()
                if self.startup_webhook:
                    asyncio.get_running_loop().create_task(self._subscribe_startup())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.bursts.stop.set()
                if self.deliverer:
                    await self.deliverer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _subscribe_startup(self) -> None:
        hook = self.startup_webhook or {}
        try:
            await anyio.to_thread.run_sync(
                lambda: webhooks.add_subscription(
                    self.db, hook["url"], hook["topics"], hook["secret"], validate=False
                )
            )
            await anyio.to_thread.run_sync(webhooks.validate_url, hook["url"])
        except ValueError as exc:
            log.warning("webhook subscription from the command line: %s", exc)

    # ------------------------------------------------------------------ public API
    async def _public(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        method = request.method
        path = scope["path"].rstrip("/") or "/"
        template, handler, params, other_method = api_module.match(method, path)
        stat_key = template or "(unknown)"
        latency, fired = self.faults.take(path)
        if latency:
            await asyncio.sleep(latency / 1000)
        if fired and fired["kind"] == "drop":
            self.stats.record(method, stat_key, path, 0, (time.perf_counter() - started) * 1000)
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                transport.abort()
                return
            raise ConnectionAbortedError("drop fault")  # no transport: the server answers 500
        headers: dict[str, str] = {}
        status, body = await self._answer(
            request, method, path, handler, params, other_method, fired, headers
        )
        response = self._response(status, body, headers)
        self.stats.record(method, stat_key, path, status, (time.perf_counter() - started) * 1000)
        await response(scope, receive, send)

    async def _answer(
        self,
        request: Request,
        method: str,
        path: str,
        handler: Any,
        params: dict[str, str],
        other_method: bool,
        fired: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> tuple[int, Any]:
        if fired and fired["kind"] == "status":
            code = int(fired["status"])
            if code == 429:
                return self._refused(fired, headers)
            return code, error_body(
                STATUS_CODES.get(code, "server_error"),
                fired.get("message") or f"Emulated failure ({code})",
            )
        problem = version_problem(request.headers.get("intercom-version"))
        if problem:
            return 400, error_body("intercom_version_invalid", problem)
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return 401, error_body("unauthorized", "Access Token Invalid")
        if token not in self.tokens["active"]:
            return 401, error_body("unauthorized", "Access Token Invalid")
        if fired and fired["kind"] == "rate_limit":
            return self._refused(fired, headers)
        allowed, rate_headers, per_window = self.limiter.take()
        headers.update(rate_headers)
        if not allowed:
            return 429, error_body(
                "rate_limit_exceeded", f"Exceeded rate limit of {per_window} in 10_seconds"
            )
        if handler is None:
            if other_method:
                return 405, error_body("method_not_allowed", f"{method} is not supported on {path}")
            return 404, error_body("not_found", f"No endpoint {method} {path}")
        body: Any = None
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, error_body("parameter_invalid", "The request body is not valid JSON")
        call = Call(
            method=method, path=path, params=params, query=dict(request.query_params), body=body
        )
        try:
            reply: Reply = await anyio.to_thread.run_sync(handler, self.api, call)
        except ApiError as exc:
            return exc.status, exc.body()
        headers.update(reply.headers)
        return reply.status, reply.body

    def _refused(self, fault: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        """An injected 429, with the rate-limit headers Intercom sends on one."""
        rate_headers, per_window = self.limiter.refusal(fault)
        headers.update(rate_headers)
        return 429, error_body(
            "rate_limit_exceeded", f"Exceeded rate limit of {per_window} in 10_seconds"
        )

    @staticmethod
    def _response(status: int, body: Any, headers: dict[str, str]) -> Response:
        if body is None:
            content = b""
        elif isinstance(body, bytes):
            content = body
        elif isinstance(body, str):
            content = body.encode()
        else:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(
            content,
            status_code=status,
            headers=headers,
            media_type="application/json; charset=utf-8",
        )

    # ------------------------------------------------------------------ admin surface
    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        sub = scope["path"][len("/_emulator/") :].strip("/")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
            result = await anyio.to_thread.run_sync(
                self._admin_call, request.method, sub, body, dict(request.query_params)
            )
            status, payload = result
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        except (ValueError, KeyError, TypeError, ZoneInfoNotFoundError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        response = Response(
            json.dumps(payload, ensure_ascii=False),
            status_code=status,
            media_type="application/json",
        )
        await response(scope, receive, send)

    def _admin_call(  # noqa: C901 - one flat dispatch table reads best here
        self, method: str, sub: str, body: Any, query: dict[str, str]
    ) -> tuple[int, Any]:
        parts = sub.split("/")
        db, ws = self.db, self.ws
        if (method, sub) == ("GET", "health"):
            return 200, {"ok": True}
        if (method, sub) == ("GET", "stats"):
            return 200, self.stats.snapshot()
        if (method, sub) == ("POST", "stats/reset"):
            self.stats.reset()
            return 200, {"ok": True}
        if (method, sub) == ("GET", "requests"):
            limit = int(query.get("limit", 100))
            with self.stats.lock:
                entries = list(self.stats.log)[-limit:]
            return 200, entries
        if (method, sub) == ("POST", "faults"):
            if body.get("kind") == "revoke_token":
                self._revoke(body.get("token"))
                return 200, {"ok": True, "revoked": True}
            return 200, self.faults.add(body)
        if (method, sub) == ("DELETE", "faults"):
            self.faults.clear()
            return 200, {"ok": True}
        if (method, sub) == ("GET", "faults"):
            return 200, self.faults.snapshot()
        if (method, sub) == ("POST", "seed"):
            counts = seed_workspace(
                db,
                int(body.get("contacts", 200)),
                int(body.get("conversations", 50)),
                int(body.get("seed", 1)),
                companies=body.get("companies"),
                big_conversations=body.get("big_conversations"),
            )
            with self.api.scroll_lock:
                self.api.scroll = None
            return 200, counts
        if (method, sub) == ("GET", "seed/manifest"):
            return 200, {"seed": db.get_meta("seed"), "manifest": db.get_meta("manifest", {})}
        if sub == "clock":
            if method == "POST":
                return 200, db.set_clock(body)
            return 200, {"now": db.now(), "real": db.clock_state().get("real", True)}
        if (method, sub) in {("POST", "config"), ("GET", "config")}:
            return 200, self._config(body if method == "POST" else {})
        if (method, sub) == ("POST", "tokens"):
            token = body.get("token")
            if not isinstance(token, str) or not token:
                raise ValueError("token must be a non-empty string")
            if body.get("revoke"):
                self._revoke(token)
            else:
                if token not in self.tokens["active"]:
                    self.tokens["active"].append(token)
                if token in self.tokens["revoked"]:
                    self.tokens["revoked"].remove(token)
                db.set_meta("tokens", self.tokens)
            return 200, {"ok": True, "active_tokens": len(self.tokens["active"])}
        if sub == "webhooks" or sub.startswith("webhooks/"):
            return self._webhooks_call(method, sub, body, query)
        if (method, sub) == ("POST", "simulate"):
            return 200, simulate(ws, int(body.get("steps", 10)), int(body.get("seed", 1)))
        if len(parts) == 2 and parts[0] == "contacts" and method == "PATCH":
            return 200, ws.patch_contact_raw(parts[1], body)
        if len(parts) == 2 and parts[0] == "conversations" and method == "PATCH":
            return 200, ws.patch_conversation_raw(parts[1], body)
        if (
            len(parts) == 3
            and parts[0] == "conversations"
            and parts[2] == "parts"
            and method == "POST"
        ):
            conv = ws.append_parts_admin(
                parts[1], int(body.get("count", 1)), str(body.get("part_type", "comment"))
            )
            return 200, {
                "id": conv["id"],
                "updated_at": conv["updated_at"],
                "count_conversation_parts": conv["statistics"]["count_conversation_parts"],
            }
        if len(parts) == 3 and parts[0] == "contacts" and parts[2] == "events" and method == "POST":
            ws.record_event(
                parts[1],
                str(body["event_name"]),
                body.get("created_at"),
                body.get("metadata"),
                count=int(body.get("count", 1)),
            )
            return 200, {"ok": True}
        if (
            len(parts) == 3
            and parts[0] == "contacts"
            and parts[2] == "qualify"
            and method == "POST"
        ):
            return 200, ws.qualify(parts[1])
        return 404, {"error": f"no admin call {method} /_emulator/{sub}"}

    def _webhooks_call(
        self, method: str, sub: str, body: Any, query: dict[str, str]
    ) -> tuple[int, Any]:
        db = self.db
        if (method, sub) == ("POST", "webhooks"):
            return 200, webhooks.add_subscription(
                db,
                str(body.get("url", "")),
                list(body.get("topics") or []),
                str(body.get("client_secret", "")),
                api_version=str(body.get("api_version") or "2.14"),
            )
        if (method, sub) == ("GET", "webhooks"):
            now = db.now()
            return 200, [webhooks.public_subscription(s, now) for s in db.get_meta("webhooks", [])]
        if (method, sub) == ("DELETE", "webhooks"):
            db.set_meta("webhooks", [])
            return 200, {"ok": True}
        if (method, sub) == ("GET", "webhooks/deliveries"):
            return 200, webhooks.deliveries(
                db, int(query.get("limit", 1000)), query.get("status"), query.get("topic")
            )
        if (method, sub) == ("GET", "webhooks/attempts"):
            return 200, webhooks.attempts(
                db, int(query.get("after", 0)), int(query.get("limit", 1000))
            )
        if (method, sub) == ("GET", "webhooks/status"):
            return 200, webhooks.status(db)
        if (method, sub) == ("POST", "webhooks/ping"):
            with db.write() as conn:
                self.ws.emit(conn, "ping", {"type": "ping", "message": "Hello from the emulator"})
            return 200, {"ok": True}
        if (method, sub) == ("POST", "webhooks/burst"):
            return 200, self.bursts.start(body)
        if (method, sub) == ("GET", "webhooks/bursts"):
            return 200, self.bursts.snapshot()
        if method == "GET" and sub.startswith("webhooks/bursts/"):
            return 200, self.bursts.snapshot(sub.split("/", 2)[2])
        return 404, {"error": f"no admin call {method} /_emulator/{sub}"}

    def _revoke(self, token: str | None) -> None:
        targets = [token] if token else list(self.tokens["active"])
        for t in targets:
            if t in self.tokens["active"]:
                self.tokens["active"].remove(t)
            if t not in self.tokens["revoked"]:
                self.tokens["revoked"].append(t)
        self.db.set_meta("tokens", self.tokens)

    def _config(self, body: dict[str, Any]) -> dict[str, Any]:
        allowed = {
            "rate_limit_per_minute",
            "timezone",
            "search_delay_seconds",
            "app_name",
            *(k for k in DEFAULT_SETTINGS if k.startswith("webhook_")),
        }
        unknown = set(body) - allowed
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(allowed)}")
        for key, value in body.items():
            if key.startswith("webhook_") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{key} must be a number")
        for key in ("webhook_duplicate_rate", "webhook_reorder_rate"):
            if key in body and not 0 <= body[key] <= 1:
                raise ValueError(f"{key} must be between 0 and 1")
        if "timezone" in body:
            ZoneInfo(str(body["timezone"]))
        if "rate_limit_per_minute" in body:
            self.limiter.per_minute = int(body["rate_limit_per_minute"])
        settings = self.db.update_settings(body) if body else self.db.settings()
        return {k: settings[k] for k in sorted(allowed)}
