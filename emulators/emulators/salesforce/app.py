"""The ASGI application: OAuth, REST, Bulk API 2.0 ingest and the ``/_emulator`` admin surface.

Routing is a small regex table rather than Starlette's router so that every request passes one
place that applies faults, authentication, the daily budget and the per-endpoint counters.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce import soql
from emulators.salesforce.bulk import BulkEngine
from emulators.salesforce.errors import RequestError, SalesforceError, not_found
from emulators.salesforce.ids import normalize
from emulators.salesforce.schema import SchemaError, SObject, apply_overrides, load_schema
from emulators.salesforce.store import USER_ID, Store, now_iso

JSON_TYPE = "application/json;charset=UTF-8"
PAGE_SIZE = 2000
COLLECTION_LIMIT = 200


@dataclass
class Settings:
    """Everything the command line can set."""

    data_dir: Path
    api_version: str = "62.0"
    daily_api_limit: int = 100_000
    token_ttl: float = 7200.0
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"
    username: str = "integration@emulator.local"
    password: str = "emulator"
    refresh_token: str = "emulator-refresh-token"
    schema_files: list[Path] = field(default_factory=list)
    bulk_rate: float | None = None
    org_id: str | None = None
    drop_fields: list[str] = field(default_factory=list)
    picklists: list[str] = field(default_factory=list)
    restricted_picklists: list[str] = field(default_factory=list)
    read_only_fields: list[str] = field(default_factory=list)
    # The Sforce-Limit-Info value; {used}, {max} and {remaining} are filled in per response.
    limit_info_format: str = "api-usage={used}/{max}"


DEFAULT_LIMIT_INFO = "api-usage={used}/{max}"


def check_limit_info_format(template: str) -> str:
    """The template when it formats, else ValueError saying what is wrong."""
    try:
        text = template.format(used=1, max=2, remaining=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"limit info format {template!r} cannot be filled in ({exc!r}); use the "
            "placeholders {used}, {max} and {remaining}, e.g. "
            "'api-usage={used}/{max}; per-app-api-usage={used}/250(appName=sample-app)'"
        ) from None
    if not text.strip() or any(c in text for c in "\r\n"):
        raise ValueError(f"limit info format {template!r} must be one non-empty line")
    return template


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )


def error_response(exc: SalesforceError) -> Response:
    return json_response(exc.body(), exc.status)


def release_label(version: str) -> str:
    """Salesforce's release name for an API version (62.0 is Winter '25)."""
    step = 62 - int(float(version))
    season = ["Winter", "Summer", "Spring"][step % 3]
    return f"{season} '{25 - (step + 2) // 3:02d}"


Handler = Callable[..., Awaitable[Response]]


class Emulator:
    """State shared by all requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.objects = load_schema(settings.schema_files)
        apply_overrides(
            self.objects,
            settings.drop_fields,
            settings.picklists,
            settings.restricted_picklists,
            settings.read_only_fields,
        )
        self.store = Store(settings.data_dir, self.objects)
        try:
            self.org_id = self.store.org_id(settings.org_id)
        except ValueError as exc:
            raise SchemaError(f"--org-id: {exc}") from None
        for obj in self.objects.values():
            self.schema_changed(obj, at_start=True)
        self.bulk = BulkEngine(self, settings.data_dir / "bulk")
        self.bulk.rate = settings.bulk_rate
        self.tokens: dict[str, dict[str, Any]] = {}
        revoked = self.store.meta_get("revoked_refresh_tokens")
        self.revoked_refresh: set[str] = set(json.loads(revoked)) if revoked else set()
        self.limit = settings.daily_api_limit
        stored_limit = self.store.meta_get("daily_api_limit")
        if stored_limit and settings.daily_api_limit == 100_000:
            self.limit = int(stored_limit)
        usage = json.loads(self.store.meta_get("api_usage") or "{}")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.usage_day = today
        self.used = int(usage.get("used", 0)) if usage.get("day") == today else 0
        self._usage_flushed = time.monotonic()
        self.limit_info_format = check_limit_info_format(settings.limit_info_format)
        self.replication_id_limit = 600_000
        self.faults: list[dict[str, Any]] = []
        self.lock_faults = 0
        self.expire_after: int | None = None
        self.stats_reset()
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        self.locators: collections.OrderedDict[str, tuple[soql.Query, list[str], bool]] = (
            collections.OrderedDict()
        )
        self.routes = self._routes()

    # -- counters ------------------------------------------------------------------------------
    def stats_reset(self) -> None:
        self.api_calls = 0
        self.requests_total = 0
        self.by_endpoint: collections.Counter[str] = collections.Counter()
        self.status_counts: collections.Counter[str] = collections.Counter()
        self.store.writes.clear()

    def spend(self) -> bool:
        """Spend one call from the daily budget; False when it is gone."""
        today = time.strftime("%Y-%m-%d", time.gmtime())
        if today != self.usage_day:
            self.usage_day, self.used = today, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        if time.monotonic() - self._usage_flushed > 1.0:
            self.flush_usage()
        return True

    def flush_usage(self) -> None:
        self.store.meta_set("api_usage", json.dumps({"day": self.usage_day, "used": self.used}))
        self._usage_flushed = time.monotonic()

    def limit_header(self) -> dict[str, str]:
        return {
            "Sforce-Limit-Info": self.limit_info_format.format(
                used=self.used, max=self.limit, remaining=max(self.limit - self.used, 0)
            )
        }

    def take_lock_fault(self) -> bool:
        if self.lock_faults > 0:
            self.lock_faults -= 1
            return True
        return False

    # -- tokens --------------------------------------------------------------------------------
    def issue_token(self, refresh: str | None) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self.tokens[token] = {"expires": time.time() + self.settings.token_ttl, "refresh": refresh}
        return token

    def schema_changed(self, obj: SObject, at_start: bool = False) -> None:
        """Move the describe's Last-Modified forward when its content changed.

        The stamp is kept per data dir with a digest of the describe, so a restart with the
        same metadata keeps it (cached describes stay valid) and any change moves it past
        every earlier stamp (whole seconds, as HTTP dates have).
        """
        key = f"schema:{obj.name}"
        stored = json.loads(self.store.meta_get(key) or "{}")
        signature = obj.signature()
        if at_start and stored.get("signature") == signature:
            obj.modified = int(stored["modified"])
            return
        previous = max(int(stored.get("modified", 0)), obj.modified)
        obj.modified = max(int(time.time()), previous + 1)
        self.store.meta_set(key, json.dumps({"signature": signature, "modified": obj.modified}))

    def restore_schema(self) -> list[str]:
        """Put every sObject's metadata back to what the files and flags gave at start-up.

        Answers the objects that changed. Fields that come back start empty and fields that go
        lose their values, as in Salesforce; fields that stay keep theirs.
        """
        s = self.settings
        fresh = load_schema(s.schema_files)
        apply_overrides(
            fresh, s.drop_fields, s.picklists, s.restricted_picklists, s.read_only_fields
        )
        changed = []
        for name, obj in self.objects.items():
            if name not in fresh or fresh[name].signature() == obj.signature():
                continue
            before = set(obj.fields)
            obj.fields = fresh[name].fields
            obj.index()
            for fname in before ^ set(obj.fields):  # added or removed: values go
                self.store.field_changed(obj, fname, purge=True)
            for fname in before & set(obj.fields):  # kept: flags may have changed
                self.store.field_changed(obj, fname, purge=False)
            self.schema_changed(obj)
            changed.append(name)
        return changed

    def token_valid(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in {"bearer", "oauth"}:
            return False
        info = self.tokens.get(token.strip())
        return bool(info and info["expires"] > time.time())

    def revoke_refresh(self, refresh: str) -> None:
        """Revoke a refresh token and every access token issued from it."""
        self.revoked_refresh.add(refresh)
        self.store.meta_set("revoked_refresh_tokens", json.dumps(sorted(self.revoked_refresh)))
        for token in [t for t, info in self.tokens.items() if info["refresh"] == refresh]:
            del self.tokens[token]

    def expire_tokens(self) -> None:
        for info in self.tokens.values():
            info["expires"] = 0.0

    # -- routing -------------------------------------------------------------------------------
    def _routes(self) -> list[tuple[str, re.Pattern[str], str, Handler]]:
        from emulators.salesforce import handlers as h
        from emulators.salesforce import replication as r
        from emulators.salesforce.composite import collection_retrieve, composite

        table = [
            ("GET", "/", h.resources),
            ("GET", "/limits", h.limits),
            ("GET", "/limits/recordCount", r.record_count),
            ("GET", "/sobjects", h.describe_global),
            ("GET", "/sobjects/{sobject}", h.sobject_basic),
            ("GET", "/sobjects/{sobject}/describe", h.describe),
            ("POST", "/sobjects/{sobject}", h.create),
            # Before /sobjects/{sobject}/{id}, which would take "updated" for a record id.
            ("GET", "/sobjects/{sobject}/updated", r.updated),
            ("GET", "/sobjects/{sobject}/deleted", r.deleted),
            ("GET", "/sobjects/{sobject}/{id}", h.get_record),
            ("PATCH", "/sobjects/{sobject}/{id}", h.update_record),
            ("DELETE", "/sobjects/{sobject}/{id}", h.delete_record),
            ("GET", "/sobjects/{sobject}/{field}/{value}", h.get_by_external_id),
            ("PATCH", "/sobjects/{sobject}/{field}/{value}", h.upsert),
            ("DELETE", "/sobjects/{sobject}/{field}/{value}", h.delete_by_external_id),
            ("GET", "/query", h.query),
            ("GET", "/queryAll", h.query_all),
            ("GET", "/query/{locator}", h.query_more),
            ("GET", "/queryAll/{locator}", h.query_more),
            ("POST", "/composite", composite),
            ("POST", "/composite/sobjects", h.collection_create),
            ("PATCH", "/composite/sobjects", h.collection_update),
            ("DELETE", "/composite/sobjects", h.collection_delete),
            ("PATCH", "/composite/sobjects/{sobject}/{field}", h.collection_upsert),
            # Retrieve: POST with an sObject name reads; POST without one creates (above).
            ("GET", "/composite/sobjects/{sobject}", collection_retrieve),
            ("POST", "/composite/sobjects/{sobject}", collection_retrieve),
            ("POST", "/jobs/ingest", h.job_create),
            ("GET", "/jobs/ingest", h.job_list),
            ("GET", "/jobs/ingest/{job}", h.job_get),
            ("PATCH", "/jobs/ingest/{job}", h.job_patch),
            ("DELETE", "/jobs/ingest/{job}", h.job_delete),
            ("PUT", "/jobs/ingest/{job}/batches", h.job_upload),
            ("GET", "/jobs/ingest/{job}/successfulResults", h.job_results),
            ("GET", "/jobs/ingest/{job}/failedResults", h.job_results),
            ("GET", "/jobs/ingest/{job}/unprocessedrecords", h.job_results),
        ]
        compiled = []
        for method, template, handler in table:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
            if template.endswith("{value}"):
                pattern = pattern.replace("(?P<value>[^/]+)", "(?P<value>.+)")
            compiled.append((method, re.compile(f"^{pattern}/?$"), template, handler))
        return compiled

    def match(self, method: str, rest: str) -> tuple[str, Handler, dict[str, str]] | None:
        for route_method, pattern, template, handler in self.routes:
            if route_method != method:
                continue
            found = pattern.match(rest)
            if found:
                return (
                    template,
                    handler,
                    {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()},
                )
        return None

    def supported_version(self, version: str) -> bool:
        try:
            number = float(version)
        except ValueError:
            return False
        return 20.0 <= number <= float(self.settings.api_version) and number.is_integer()


DATA_PREFIX = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")


def _drop_connection(send: Any) -> bool:
    """Close the client connection without an answer (uvicorn keeps the transport there)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.abort() if hasattr(transport, "abort") else transport.close()
    return True


def build_app(emulator: Emulator) -> Callable[..., Awaitable[None]]:
    """The ASGI callable."""
    from emulators.salesforce import admin, handlers

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(emulator, receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        request = Request(scope, receive)
        if path.startswith("/_emulator/"):
            try:
                response = await admin.dispatch(emulator, request, path[len("/_emulator/") :])
            except SalesforceError as exc:
                response = error_response(exc)
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        response = await _public(emulator, request, method, path, send)
        if response is None:
            return  # connection dropped on purpose
        await response(scope, receive, send)
        entry = {
            "method": method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "time": now_iso(),
        }
        emulator.log.append(entry)
        emulator.status_counts[str(response.status_code)] += 1

    del handlers
    return app


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


async def _public(
    emulator: Emulator, request: Request, method: str, path: str, send: Any
) -> Response | None:
    """Faults, auth, budget and dispatch for everything outside /_emulator."""
    from emulators.salesforce import handlers

    emulator.requests_total += 1
    for fault in list(emulator.faults):
        if fault["kind"] == "latency":
            await asyncio.sleep(float(fault.get("ms", 0)) / 1000)
    for fault in list(emulator.faults):
        kind = fault["kind"]
        if kind not in {"status", "drop"} or not path.startswith(fault.get("path") or "/"):
            continue
        fault["count"] -= 1
        if fault["count"] <= 0:
            emulator.faults.remove(fault)
        emulator.by_endpoint[f"{method} (fault)"] += 1
        if kind == "drop" and _drop_connection(send):
            emulator.status_counts["dropped"] += 1
            emulator.log.append(
                {"method": method, "path": path, "status": 0, "duration_ms": 0.0, "time": now_iso()}
            )
            return None
        status = int(fault.get("status", 503))
        if path.startswith("/services/oauth2/"):
            # The login endpoints answer in OAuth's shape, also when they fail.
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
        return json_response(
            [
                {
                    "message": f"The server answered {status} (fault injected by the emulator); "
                    "retry later",
                    "errorCode": code,
                }
            ],
            status,
        )

    if path.startswith("/services/oauth2/"):
        emulator.by_endpoint[f"{method} {path.rstrip('/')}"] += 1
        return await handlers.oauth(emulator, request, path)
    if path.startswith("/id/"):
        emulator.by_endpoint[f"{method} /id/{{org}}/{{user}}"] += 1
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 3:
            return error_response(not_found())
        return handlers.identity(emulator, request, "id", parts[1], parts[2])
    if path.rstrip("/") == "/services/data":
        emulator.by_endpoint[f"{method} /services/data/"] += 1
        return handlers.versions(emulator)
    found = DATA_PREFIX.match(path)
    if not found:
        emulator.by_endpoint[f"{method} (unknown)"] += 1
        return error_response(not_found())
    version, rest = found.group(1), found.group(2) or "/"
    matched = emulator.match(method, rest)
    template = matched[0] if matched else "(unknown)"
    emulator.by_endpoint[f"{method} {template}"] += 1
    if not emulator.token_valid(request.headers.get("authorization")):
        return json_response(
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            401,
            headers=emulator.limit_header(),
        )
    if not emulator.spend():
        return json_response(
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            403,
            headers=emulator.limit_header(),
        )
    emulator.api_calls += 1
    if emulator.expire_after is not None:
        emulator.expire_after -= 1
        if emulator.expire_after <= 0:
            emulator.expire_after = None
            emulator.expire_tokens()
    if not emulator.supported_version(version) or matched is None:
        response = error_response(not_found())
    else:
        try:
            response = await matched[1](emulator, request, version, **matched[2])
        except SalesforceError as exc:
            response = error_response(exc)
    response.headers.update(emulator.limit_header())
    return response


def make_emulator(settings: Settings) -> Emulator:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Emulator(settings)


__all__ = [
    "Emulator",
    "Settings",
    "build_app",
    "make_emulator",
    "SObject",
    "RequestError",
    "USER_ID",
    "normalize",
]
