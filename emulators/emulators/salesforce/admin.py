"""The Salesforce emulator's views of the shared admin calls, and its own org-level calls.

Shared calls (health, stats, requests, faults, reset) are routed by :mod:`emulators.core.admin`;
this module shapes their answers for Salesforce and adds ``GET org``, ``POST tokens/expire``,
``POST tokens/revoke``, ``POST limits`` and ``POST config``. Never billed or counted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from emulators.core.admin import AdminCall, admin_route
from emulators.core.routing import ApiRoute
from emulators.salesforce.backend import check_limit_info_format
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.store import USER_ID

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator

FAULT_KINDS = {
    "status",
    "latency",
    "drop",
    "lock_row",
    "bulk_fail",
    "expire_tokens_after",
    "expire_tokens",
    "revoke_token",
}
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
REPLICATION_ID_LIMIT = 600_000


def parse_body(raw: bytes) -> dict[str, Any]:
    """An admin body: a JSON object, ``{}`` when empty."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SalesforceError("JSON_PARSER_ERROR", f"admin body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise SalesforceError("JSON_PARSER_ERROR", "admin body must be a JSON object")
    return body


def stats(emulator: Emulator) -> dict[str, Any]:
    """``GET stats``: billed calls, every request, writes, budget, records and bulk jobs."""
    counters = emulator.log.counters()
    return {
        "org_id": emulator.org_id,
        "api_calls": counters["api_calls"],
        "requests": emulator.log.requests,
        "by_endpoint": counters["by_endpoint"],
        "status_counts": counters["status_counts"],
        "record_writes": dict(emulator.store.writes),
        "api_usage": {"used": emulator.used, "max": emulator.limit},
        "records": {
            name: sum(1 for r in recs.values() if not r.get("IsDeleted"))
            for name, recs in emulator.store.records.items()
        },
        "bulk_jobs": {
            state: sum(1 for j in emulator.bulk.jobs.values() if j.state == state)
            for state in {j.state for j in emulator.bulk.jobs.values()}
        },
    }


def add_fault(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """``POST faults``: the core's kinds queue, the org's kinds act on the org at once."""
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise SalesforceError(
            "INVALID_FAULT", f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}"
        )
    count = int(body.get("count", 1))
    if kind == "lock_row":
        emulator.lock_faults += count
    elif kind == "bulk_fail":
        emulator.bulk.fail_next += count
    elif kind == "expire_tokens_after":
        emulator.expire_after = int(body.get("requests", 1))
    elif kind == "expire_tokens":
        emulator.expire_tokens()
    elif kind == "revoke_token":
        emulator.revoke_refresh(str(body.get("refresh_token", emulator.settings.refresh_token)))
    elif kind == "latency":
        emulator.faults.add({"kind": "latency", "ms": float(body.get("ms", 100))})
    else:
        fault = {"kind": kind, "count": count, "path": body.get("path")}
        if kind == "status":
            fault["status"] = int(body.get("status", 503))
        emulator.faults.add(fault)
    return faults_view(emulator)


def faults_view(emulator: Emulator) -> dict[str, Any]:
    """``GET faults``: the queued faults and the org's pending ones."""
    return {
        "faults": emulator.faults.snapshot(),
        "lock_row": emulator.lock_faults,
        "bulk_fail": emulator.bulk.fail_next,
        "expire_tokens_after": emulator.expire_after,
    }


def clear_faults(emulator: Emulator) -> dict[str, Any]:
    """``DELETE faults`` (the core has emptied its list): the org's pending ones too."""
    emulator.lock_faults = 0
    emulator.bulk.fail_next = 0
    emulator.expire_after = None
    return faults_view(emulator)


def config_view(emulator: Emulator) -> dict[str, Any]:
    """The run-time settings ``POST config`` changes."""
    return {
        "bulk_rate": emulator.bulk.rate,
        "bulk_max_upload_bytes": emulator.bulk.max_upload_bytes,
        "token_ttl": emulator.settings.token_ttl,
        "limit_info_format": emulator.limit_info_format,
        "replication_id_limit": emulator.replication_id_limit,
    }


def configure(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    """``POST config``: change the run-time settings named in ``body``; answer them all."""
    if "bulk_rate" in body:
        emulator.bulk.rate = float(body["bulk_rate"]) if body["bulk_rate"] else None
    if "bulk_max_upload_bytes" in body:
        emulator.bulk.max_upload_bytes = int(body["bulk_max_upload_bytes"])
    if "token_ttl" in body:
        emulator.settings.token_ttl = float(body["token_ttl"])
    if "limit_info_format" in body:
        template = body["limit_info_format"]
        if template is None:
            template = emulator.initial.limit_info_format
        try:
            emulator.limit_info_format = check_limit_info_format(str(template))
        except ValueError as exc:
            raise SalesforceError("INVALID_CONFIG", str(exc)) from None
    if "replication_id_limit" in body:
        emulator.replication_id_limit = int(body["replication_id_limit"] or REPLICATION_ID_LIMIT)
    return config_view(emulator)


def set_limits(emulator: Emulator, limit: int | None, used: int | None) -> dict[str, Any]:
    """``POST limits``: the daily API budget (kept in the data dir) and what is spent of it."""
    if limit is not None:
        emulator.limit = int(limit)
        emulator.store.meta_set("daily_api_limit", str(emulator.limit))
    if used is not None:
        emulator.used = int(used)
    emulator.flush_usage()
    return {"used": emulator.used, "max": emulator.limit}


def restore_refresh(emulator: Emulator, refresh: str) -> None:
    """Make a revoked refresh token good again (for tests)."""
    emulator.revoked_refresh.discard(refresh)
    emulator.store.meta_set("revoked_refresh_tokens", json.dumps(sorted(emulator.revoked_refresh)))


def reset(emulator: Emulator) -> dict[str, Any]:
    """``POST reset``: the org as it started, but the access tokens already issued stay good.

    Records go (the integration User stays), metadata, budget, run-time settings and revoked
    refresh tokens are back to their start-up values, pending org faults and query locators
    are forgotten. Bulk jobs and their results stay listed.
    """
    store = emulator.store
    store.db.execute("DELETE FROM records WHERE sobject != 'User'")
    for name in store.records:
        if name != "User":
            store.records[name].clear()
            for index in store.ext[name].values():
                index.clear()
    store.writes.clear()
    emulator.restore_schema()
    clear_faults(emulator)
    emulator.locators.clear()
    for refresh in list(emulator.revoked_refresh):
        restore_refresh(emulator, refresh)
    set_limits(emulator, emulator.initial_limit, 0)
    initial = emulator.initial
    emulator.settings.token_ttl = initial.token_ttl
    configure(
        emulator,
        {
            "bulk_rate": initial.bulk_rate,
            "bulk_max_upload_bytes": MAX_UPLOAD_BYTES,
            "limit_info_format": None,
            "replication_id_limit": None,
        },
    )
    return {"ok": True}


def routes(emulator: Emulator) -> list[ApiRoute]:
    """The org-level admin routes: identity, tokens, budget and run-time settings."""

    def org(call: AdminCall) -> Any:
        base = str(call.request.base_url).rstrip("/")
        return {
            "org_id": emulator.org_id,
            "user_id": USER_ID,
            "username": emulator.settings.username,
            "instance_url": base,
            "identity_url": f"{base}/id/{emulator.org_id}/{USER_ID}",
        }

    def expire(_: AdminCall) -> Any:
        emulator.expire_tokens()
        return {"ok": True}

    def revoke(call: AdminCall) -> Any:
        refresh = str(call.body.get("refresh_token", emulator.settings.refresh_token))
        if call.body.get("revoke", True):
            emulator.revoke_refresh(refresh)
        else:
            restore_refresh(emulator, refresh)
        return {"ok": True}

    return [
        admin_route("GET", "org", org),
        admin_route("POST", "tokens/expire", expire),
        admin_route("POST", "tokens/revoke", revoke),
        admin_route(
            "POST",
            "limits",
            lambda call: set_limits(
                emulator, call.body.get("daily_api_limit"), call.body.get("used")
            ),
        ),
        admin_route("POST", "config", lambda call: configure(emulator, call.body)),
    ]
