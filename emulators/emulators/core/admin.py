"""The ``/_emulator/`` admin surface both emulators share, and the service interface it needs.

Shared calls (same URL on both, answers shaped by the service where the emulators differ):
``GET health``, ``GET stats``, ``POST stats/reset``, ``GET requests?limit=N``, ``GET/POST/DELETE
faults`` and ``POST reset`` (back to the seeded state, with no faults, counters or log). Each
service adds its own admin routes after these. Admin calls are never counted or billed.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from emulators.core.faults import FaultList
from emulators.core.requestlog import RequestLog
from emulators.core.routing import ApiRoute, resolve

PREFIX = "/_emulator"


@dataclass
class AdminCall:
    """One admin request as an admin handler sees it."""

    method: str
    params: dict[str, Any]
    query: dict[str, str]
    body: Any
    request: Request


#: An admin handler answers a JSON payload, ``(status, payload)`` or a finished Response.
AdminHandler = Callable[[AdminCall], Any]


class Service(Protocol):
    """What an emulator gives the core: its counters, faults, views and admin routes."""

    log: RequestLog
    faults: FaultList
    #: The kinds of fault that fire one per request (besides latency).
    fault_kinds: frozenset[str]
    #: Every public request is a billed API call (else the service counts the billed ones).
    counts_every_request: bool
    #: The ``status_counts`` key of a dropped connection.
    drop_status_key: str
    #: Admin handlers that are plain functions run in a worker thread.
    admin_threaded: bool
    #: "/a//b" is "/a/b", as front ends such as nginx answer.
    merge_slashes: bool

    def endpoint_key(self, scope: dict[str, Any], faulted: bool) -> str | None:
        """The ``by_endpoint`` key of a public request (``faulted``: a fault answers it)."""

    def fault_response(self, fault: dict[str, Any], method: str, path: str) -> Response:
        """The answer of an injected status fault, in the API's error shape."""

    def stats(self) -> Any:
        """``GET stats``."""

    def stats_reset(self) -> None:
        """Whatever ``POST stats/reset`` zeroes besides the request log."""

    def fault_add(self, body: Any) -> Any:
        """``POST faults``: check and add a fault; answer what the API shows."""

    def fault_list(self) -> Any:
        """``GET faults``."""

    def fault_clear(self) -> Any:
        """``DELETE faults`` (the core clears its fault list first)."""

    def reset(self) -> Any:
        """``POST reset``: the seeded state again (the core forgets faults, counters, log)."""

    def admin_routes(self) -> list[ApiRoute]:
        """The service's own admin routes (templates under ``/_emulator/``)."""

    def admin_body(self, raw: bytes) -> Any:
        """The JSON body of an admin call (raise the service's error when it is not)."""

    def admin_answer(self, payload: Any, status: int) -> Response:
        """An admin answer in the service's JSON encoding."""

    def admin_error(self, exc: Exception) -> Response | None:
        """The answer for an exception an admin handler raised, or None to let it propagate."""

    def admin_not_found(self, method: str, sub: str) -> Response:
        """The answer for an admin call that does not exist."""


def admin_route(method: str, sub: str, handler: AdminHandler) -> ApiRoute:
    """An admin route: ``sub`` is the template after ``/_emulator/``."""
    return ApiRoute(method, f"{PREFIX}/{sub}", handler)


def _shared_routes(service: Service) -> list[ApiRoute]:
    def clear_faults(_: AdminCall) -> Any:
        service.faults.clear()
        return service.fault_clear()

    def reset_stats(_: AdminCall) -> Any:
        service.log.reset()
        service.stats_reset()
        return {"ok": True}

    def reset(_: AdminCall) -> Any:
        service.faults.clear()
        answer = service.reset()
        service.log.forget()
        return answer

    def last_requests(call: AdminCall) -> Any:
        return service.log.last(int(call.query.get("limit", "100")))

    return [
        admin_route("GET", "health", lambda _: {"ok": True}),
        admin_route("GET", "stats", lambda _: service.stats()),
        admin_route("POST", "stats/reset", reset_stats),
        admin_route("GET", "requests", last_requests),
        admin_route("GET", "faults", lambda _: service.fault_list()),
        admin_route("POST", "faults", lambda call: service.fault_add(call.body)),
        admin_route("DELETE", "faults", clear_faults),
        admin_route("POST", "reset", reset),
    ]


class AdminSurface:
    """The admin routes of one service, answered as the service shapes them."""

    def __init__(self, service: Service) -> None:
        """Collect the shared routes, then the service's own."""
        self.service = service
        self.routes = _shared_routes(service) + service.admin_routes()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer one admin request."""
        sub = "/".join(p for p in scope["path"][len(PREFIX) :].split("/") if p)
        request = Request(scope, receive)
        found = resolve(self.routes, request.method, f"{PREFIX}/{sub}")
        if found.route is None:
            response = self.service.admin_not_found(request.method, sub)
        else:
            response = await self._run(request, found.route.endpoint, found.params)
        await response(scope, receive, send)

    async def _run(
        self, request: Request, handler: AdminHandler, params: dict[str, Any]
    ) -> Response:
        service = self.service
        try:
            call = AdminCall(
                request.method,
                params,
                dict(request.query_params),
                service.admin_body(await request.body()),
                request,
            )
            result = await _call(handler, call, service.admin_threaded)
        except Exception as exc:
            answer = service.admin_error(exc)
            if answer is None:
                raise
            return answer
        if isinstance(result, Response):
            return result
        status, payload = result if isinstance(result, tuple) else (200, result)
        return service.admin_answer(payload, status)


async def _call(handler: AdminHandler, call: AdminCall, threaded: bool) -> Any:
    if inspect.iscoroutinefunction(handler):
        return await handler(call)
    if threaded:
        return await anyio.to_thread.run_sync(handler, call)
    result = handler(call)
    if isinstance(result, Awaitable):
        return await result
    return result
