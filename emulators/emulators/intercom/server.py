"""The Intercom emulator's ASGI app: the API gate (versions, auth, rate limit) and lifespan.

The admin surface, faults and counters come from :mod:`emulators.core`; the routes from
:mod:`emulators.intercom.urls`; this module joins them and plugs the Intercom shapes in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from emulators.core.faults import FaultList
from emulators.core.middleware import FAULT_KEY, EmulatorMiddleware
from emulators.core.requestlog import RequestLog
from emulators.core.routing import ApiRoute, Resolved, resolve
from emulators.intercom import admin, admin_webhooks, delivery, webhooks
from emulators.intercom.api import Call, Reply
from emulators.intercom.db import Database
from emulators.intercom.errors import ApiError, error_body
from emulators.intercom.state import IntercomState
from emulators.intercom.urls import ROUTES
from emulators.intercom.versions import version_problem

__all__ = ["IntercomApp", "version_problem"]

log = logging.getLogger("emulators.intercom")
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
FAULT_KINDS = {"status", "latency", "drop", "rate_limit", "revoke_token"}
ROUTE_KEY = "emulator.route"
Scope = dict[str, Any]


def check_fault(fault: Any) -> dict[str, Any]:
    """A copy of a ``POST faults`` body ready to queue, or ValueError saying what is wrong."""
    kind = fault.get("kind")
    if kind not in FAULT_KINDS:
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
    return item


def encode(status: int, body: Any, headers: dict[str, str]) -> Response:
    """An API answer: dicts and lists as compact JSON, str and bytes as they are."""
    if body is None:
        content = b""
    elif isinstance(body, bytes):
        content = body
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        content, status_code=status, headers=headers, media_type="application/json; charset=utf-8"
    )


class IntercomApp:
    """The whole Intercom emulator as one ASGI callable (the core's ``Service`` for it)."""

    fault_kinds = frozenset({"status", "drop", "rate_limit"})
    counts_every_request = True
    drop_status_key = "0"
    admin_threaded = True
    merge_slashes = True  # as web front ends do (nginx's merge_slashes, on by default)

    def __init__(self, db: Database, *, webhook: dict[str, Any] | None = None) -> None:
        """Serve the workspace in ``db``; ``webhook`` subscribes a URL at start-up."""
        self.db = db
        self.state = IntercomState(db)
        self.log = RequestLog(maxlen=5000, stamp=time.time)
        self.faults = FaultList()
        self.deliverer: delivery.Deliverer | None = None
        self.startup_webhook = webhook
        db.snapshot()
        self._app = EmulatorMiddleware(self._serve, self)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one ASGI event."""
        await self._app(scope, receive, send)

    # ------------------------------------------------------------------ lifespan
    async def _serve(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self._public(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.deliverer = delivery.Deliverer(self.db)
                self.deliverer.start()
                if self.startup_webhook:
                    asyncio.get_running_loop().create_task(self._subscribe_startup())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.state.bursts.stop.set()
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
    def _resolved(self, scope: Scope) -> Resolved:
        found = scope.get(ROUTE_KEY)
        if found is None:
            path = scope["path"].rstrip("/") or "/"
            found = scope[ROUTE_KEY] = resolve(ROUTES, scope["method"], path)
        return found

    def endpoint_key(self, scope: Scope, faulted: bool) -> str:
        """Requests count under their route template (``(unknown)`` for no route)."""
        return f"{scope['method']} {self._resolved(scope).template or '(unknown)'}"

    async def _public(self, scope: Scope, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        headers: dict[str, str] = {}
        status, body = await self._answer(
            request, self._resolved(scope), scope.get(FAULT_KEY), headers
        )
        await encode(status, body, headers)(scope, receive, send)

    async def _answer(
        self,
        request: Request,
        found: Resolved,
        fired: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> tuple[int, Any]:
        refused = self._gate(request, fired, headers)
        if refused is not None:
            return refused
        method, path = request.method, request.scope["path"].rstrip("/") or "/"
        if found.route is None:
            if found.other_method:
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
            method=method,
            path=path,
            params=found.params,
            query=dict(request.query_params),
            body=body,
        )
        try:
            reply: Reply = await anyio.to_thread.run_sync(
                found.route.endpoint, self.state.api, call
            )
        except ApiError as exc:
            return exc.status, exc.body()
        headers.update(reply.headers)
        return reply.status, reply.body

    def _gate(
        self, request: Request, fired: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, Any] | None:
        """Version, token and rate limit, in Intercom's order: the refusal, or None to go on."""
        problem = version_problem(request.headers.get("intercom-version"))
        if problem:
            return 400, error_body("intercom_version_invalid", problem)
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or token not in self.state.tokens["active"]:
            return 401, error_body("unauthorized", "Access Token Invalid")
        if fired and fired["kind"] == "rate_limit":
            return self._refused(fired, headers)
        allowed, rate_headers, per_window = self.state.limiter.take()
        headers.update(rate_headers)
        if not allowed:
            return 429, error_body(
                "rate_limit_exceeded", f"Exceeded rate limit of {per_window} in 10_seconds"
            )
        return None

    def _refused(self, fault: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        """An injected 429, with the rate-limit headers Intercom sends on one."""
        rate_headers, per_window = self.state.limiter.refusal(fault)
        headers.update(rate_headers)
        return 429, error_body(
            "rate_limit_exceeded", f"Exceeded rate limit of {per_window} in 10_seconds"
        )

    def fault_response(self, fault: dict[str, Any], method: str, path: str) -> Response:
        """An injected status, before anything else is checked (429s with rate headers)."""
        headers: dict[str, str] = {}
        code = int(fault.get("status", 503))
        if code == 429:
            status, body = self._refused(fault, headers)
        else:
            status, body = (
                code,
                error_body(
                    STATUS_CODES.get(code, "server_error"),
                    fault.get("message") or f"Emulated failure ({code})",
                ),
            )
        return encode(status, body, headers)

    # ------------------------------------------------------------------ admin surface
    def stats(self) -> Any:
        """``GET stats``: the request counters."""
        return self.log.counters()

    def stats_reset(self) -> None:
        """Nothing besides the request log to zero."""

    def fault_add(self, body: Any) -> Any:
        """Queue a fault (``revoke_token`` revokes at once)."""
        if body.get("kind") == "revoke_token":
            self.state.revoke(body.get("token"))
            return {"ok": True, "revoked": True}
        return self.faults.add(check_fault(body))

    def fault_list(self) -> Any:
        """The waiting faults."""
        return self.faults.snapshot()

    def fault_clear(self) -> Any:
        """Nothing besides the core's list to clear."""
        return {"ok": True}

    def reset(self) -> Any:
        """The workspace as last seeded (or as at start-up) on the real clock."""
        return self.state.reset()

    def admin_routes(self) -> list[ApiRoute]:
        """Seeding, clock, settings, tokens, raw edits and webhooks."""
        return admin.routes(self.state) + admin_webhooks.routes(self.state)

    def admin_body(self, raw: bytes) -> Any:
        """A JSON body, ``{}`` when there is none."""
        return json.loads(raw) if raw else {}

    def admin_answer(self, payload: Any, status: int) -> Response:
        """JSON as it is (non-ASCII kept)."""
        return Response(
            json.dumps(payload, ensure_ascii=False),
            status_code=status,
            media_type="application/json",
        )

    def admin_error(self, exc: Exception) -> Response | None:
        """API errors in their shape; bad input as 400 ``{"error": ...}``."""
        if isinstance(exc, ApiError):
            return self.admin_answer(exc.body(), exc.status)
        if isinstance(exc, (ValueError, KeyError, TypeError, ZoneInfoNotFoundError)):
            return self.admin_answer({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return None

    def admin_not_found(self, method: str, sub: str) -> Response:
        """404 naming the call."""
        return self.admin_answer({"error": f"no admin call {method} /_emulator/{sub}"}, 404)
