"""The ASGI middleware in front of each emulator: admin calls, faults and counters in one place.

Every public request passes it: it is counted (by the service's endpoint key), injected
latency is waited out, a fired ``drop`` closes the connection and a fired ``status`` fault is
answered in the API's error shape; other fired faults go on to the service's app in
``scope["emulator.fault"]``. Each answer is logged with its status and duration as it starts.
Requests under ``/_emulator/`` go to the admin surface and are never counted.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from emulators.core.admin import PREFIX, AdminSurface, Service
from emulators.core.faults import DROP, STATUS

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
REPEATED_SLASHES = re.compile(r"/{2,}")
FAULT_KEY = "emulator.fault"


def drop_connection(send: Any) -> bool:
    """Close the client connection without an answer (uvicorn keeps the transport there)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.abort() if hasattr(transport, "abort") else transport.close()
    return True


class EmulatorMiddleware:
    """Wraps a service's public ASGI app with the admin surface, faults and counters."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        """Serve ``app`` for the public API of ``service``."""
        self.app = app
        self.service = service
        self.admin = AdminSurface(service)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Route one ASGI event: lifespan to the app, admin calls to the core, the rest counted."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if self.service.merge_slashes and "//" in scope["path"]:
            scope = {**scope, "path": REPEATED_SLASHES.sub("/", scope["path"])}
        path = scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self.admin(scope, receive, send)
        else:
            await self._public(scope, receive, send)

    async def _public(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        service = self.service
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        latency, fired = service.faults.take(path, service.fault_kinds)
        if latency:
            await asyncio.sleep(latency / 1000)
        answered = fired is not None and fired["kind"] in {STATUS, DROP}
        service.log.count_request(service.endpoint_key(scope, answered))
        if service.counts_every_request:
            service.log.count_api_call()
        if fired and fired["kind"] == DROP:
            if drop_connection(send):
                ms = (time.perf_counter() - started) * 1000
                service.log.record(method, path, 0, ms, service.drop_status_key)
                return
            fired = {**fired, "kind": STATUS}  # no transport to drop: answer the failure
        recording = _recording(send, service, method, path, started)
        if fired and fired["kind"] == STATUS:
            response = service.fault_response(fired, method, path)
            await response(scope, receive, recording)
            return
        scope[FAULT_KEY] = fired
        await self.app(scope, receive, recording)


def _recording(send: Any, service: Service, method: str, path: str, started: float) -> Any:
    """``send``, logging the answer's status and duration as the answer starts."""

    async def recording_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            ms = (time.perf_counter() - started) * 1000
            service.log.record(method, path, int(message["status"]), ms)
        await send(message)

    return recording_send
