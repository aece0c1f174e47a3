"""The Salesforce emulator's ASGI app: the API gate (OAuth, session, budget) and lifespan.

The admin surface, faults and counters come from :mod:`emulators.core`; the data API routes
from :mod:`emulators.salesforce.urls`; this module joins them and plugs the Salesforce shapes
in (the core's ``Service`` for this emulator is :class:`SalesforceService`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.core.middleware import EmulatorMiddleware
from emulators.core.routing import ApiRoute, Resolved
from emulators.salesforce import admin, admin_records, admin_schema
from emulators.salesforce.backend import (
    DATA_PREFIX,
    Emulator,
    Settings,
    check_limit_info_format,
    make_emulator,
)
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.handlers import auth
from emulators.salesforce.responses import error_response, json_response
from emulators.salesforce.urls import ROUTES

__all__ = [
    "Emulator",
    "SalesforceService",
    "Settings",
    "build_app",
    "check_limit_info_format",
    "make_emulator",
]

Scope = dict[str, Any]
ROUTE_KEY = "emulator.route"
SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMIT_EXCEEDED = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]


class SalesforceService:
    """One org behind the core middleware: its gate, error shapes and admin calls."""

    fault_kinds = frozenset({"status", "drop"})
    counts_every_request = False  # only calls that pass the session and budget are billed
    drop_status_key = "dropped"
    admin_threaded = False  # the org's state lives on the event loop
    merge_slashes = False

    def __init__(self, emulator: Emulator) -> None:
        """Serve ``emulator``'s org."""
        self.emulator = emulator
        self.log = emulator.log
        self.faults = emulator.faults
        emulator.routes = ROUTES

    # -- the public API ------------------------------------------------------------------------
    def _parsed(self, scope: Scope) -> tuple[str, str, Resolved | None] | None:
        """(version, rest, route or None) of a data API path; None for other paths."""
        if ROUTE_KEY not in scope:
            found = DATA_PREFIX.match(scope["path"])
            if found is None:
                scope[ROUTE_KEY] = None
            else:
                version, rest = found.group(1), found.group(2) or "/"
                scope[ROUTE_KEY] = (version, rest, self.emulator.match(scope["method"], rest))
        return scope[ROUTE_KEY]

    def endpoint_key(self, scope: Scope, faulted: bool) -> str:
        """``METHOD template``; OAuth paths as they are; faulted requests as ``(fault)``."""
        method, path = scope["method"], scope["path"]
        if faulted:
            return f"{method} (fault)"
        if path.startswith("/services/oauth2/"):
            return f"{method} {path.rstrip('/')}"
        if path.startswith("/id/"):
            return f"{method} /id/{{org}}/{{user}}"
        if path.rstrip("/") == "/services/data":
            return f"{method} /services/data/"
        parsed = self._parsed(scope)
        if parsed is None or parsed[2] is None:
            return f"{method} (unknown)"
        return f"{method} {parsed[2].template}"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """The public API behind the middleware (and the lifespan)."""
        if scope["type"] == "lifespan":
            await _lifespan(self.emulator, receive, send)
            return
        response = await self._public(Request(scope, receive), scope)
        await response(scope, receive, send)

    async def _public(self, request: Request, scope: Scope) -> Response:
        emulator, method, path = self.emulator, scope["method"], scope["path"]
        if path.startswith("/services/oauth2/"):
            return await auth.oauth(emulator, request, path)
        if path.startswith("/id/"):
            parts = path.strip("/").split("/")
            if method != "GET" or len(parts) != 3:
                return error_response(not_found())
            return auth.identity(emulator, request, "id", parts[1], parts[2])
        if path.rstrip("/") == "/services/data":
            return auth.versions(emulator)
        parsed = self._parsed(scope)
        if parsed is None:
            return error_response(not_found())
        version, _, matched = parsed
        refused = self._gate(request)
        if refused is not None:
            return refused
        if not emulator.supported_version(version) or matched is None or matched.route is None:
            response = error_response(not_found())
        else:
            try:
                response = await matched.route.endpoint(
                    emulator, request, version, **matched.params
                )
            except SalesforceError as exc:
                response = error_response(exc)
        response.headers.update(emulator.limit_header())
        return response

    def _gate(self, request: Request) -> Response | None:
        """Session, then budget; a billed call may expire the tokens (``expire_tokens_after``)."""
        emulator = self.emulator
        if not emulator.token_valid(request.headers.get("authorization")):
            return json_response(SESSION_EXPIRED, 401, headers=emulator.limit_header())
        if not emulator.spend():
            return json_response(LIMIT_EXCEEDED, 403, headers=emulator.limit_header())
        self.log.count_api_call()
        if emulator.expire_after is not None:
            emulator.expire_after -= 1
            if emulator.expire_after <= 0:
                emulator.expire_after = None
                emulator.expire_tokens()
        return None

    def fault_response(self, fault: dict[str, Any], method: str, path: str) -> Response:
        """An injected failure; the login endpoints answer in OAuth's shape."""
        status = int(fault.get("status", 503))
        if path.startswith("/services/oauth2/"):
            error = "temporarily_unavailable" if status == 503 else "server_error"
            return json_response(
                {
                    "error": error,
                    "error_description": (
                        f"The login server answered {status} (fault injected by the emulator); "
                        "retry later"
                    ),
                },
                status,
            )
        code = {500: "UNKNOWN_EXCEPTION", 503: "SERVER_UNAVAILABLE"}.get(status, "UNKNOWN_ERROR")
        message = f"The server answered {status} (fault injected by the emulator); retry later"
        return json_response([{"message": message, "errorCode": code}], status)

    # -- the admin surface ---------------------------------------------------------------------
    def stats(self) -> Any:
        """``GET stats``."""
        return admin.stats(self.emulator)

    def stats_reset(self) -> None:
        """Record write counts go with the request counters."""
        self.emulator.store.writes.clear()

    def fault_add(self, body: Any) -> Any:
        """``POST faults``."""
        return admin.add_fault(self.emulator, body)

    def fault_list(self) -> Any:
        """``GET faults``."""
        return admin.faults_view(self.emulator)

    def fault_clear(self) -> Any:
        """``DELETE faults``."""
        return admin.clear_faults(self.emulator)

    def reset(self) -> Any:
        """``POST reset``."""
        return admin.reset(self.emulator)

    def admin_routes(self) -> list[ApiRoute]:
        """Org, tokens, budget, settings, metadata and records."""
        emulator = self.emulator
        return (
            admin.routes(emulator) + admin_schema.routes(emulator) + admin_records.routes(emulator)
        )

    def admin_body(self, raw: bytes) -> Any:
        """A JSON object (JSON_PARSER_ERROR otherwise)."""
        return admin.parse_body(raw)

    def admin_answer(self, payload: Any, status: int) -> Response:
        """Compact JSON, as the API answers."""
        return json_response(payload, status)

    def admin_error(self, exc: Exception) -> Response | None:
        """Salesforce errors in their shape; anything else propagates."""
        return error_response(exc) if isinstance(exc, SalesforceError) else None

    def admin_not_found(self, method: str, sub: str) -> Response:
        """NOT_FOUND naming the call."""
        return error_response(not_found(f"unknown admin call {method} /_emulator/{sub}"))


async def _lifespan(emulator: Emulator, receive: Any, send: Any) -> None:
    worker: asyncio.Task[None] | None = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            worker = asyncio.create_task(emulator.bulk.run())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if worker:
                worker.cancel()
            emulator.flush_usage()
            emulator.store.db.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_app(emulator: Emulator) -> EmulatorMiddleware:
    """The ASGI callable serving ``emulator``."""
    service = SalesforceService(emulator)
    return EmulatorMiddleware(service, service)
