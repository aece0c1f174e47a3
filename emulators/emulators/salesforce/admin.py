"""The ``/_emulator/`` admin surface: inspection, seeding and faults. Never billed or counted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.app import json_response
from emulators.salesforce.errors import SalesforceError, not_found

if TYPE_CHECKING:
    from emulators.salesforce.app import Emulator

FAULT_KINDS = {"status", "latency", "drop", "lock_row", "bulk_fail", "expire_tokens_after",
               "expire_tokens", "revoke_token"}


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
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
    return {
        "api_calls": emulator.api_calls,
        "requests": emulator.requests_total,
        "by_endpoint": dict(emulator.by_endpoint),
        "status_counts": dict(emulator.status_counts),
        "record_writes": dict(emulator.store.writes),
        "api_usage": {"used": emulator.used, "max": emulator.limit},
        "records": {name: sum(1 for r in recs.values() if not r.get("IsDeleted"))
                    for name, recs in emulator.store.records.items()},
        "bulk_jobs": {state: sum(1 for j in emulator.bulk.jobs.values() if j.state == state)
                      for state in {j.state for j in emulator.bulk.jobs.values()}},
    }


def add_fault(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
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
        emulator.faults.append({"kind": "latency", "ms": float(body.get("ms", 100))})
    else:
        fault = {"kind": kind, "count": count, "path": body.get("path")}
        if kind == "status":
            fault["status"] = int(body.get("status", 503))
        emulator.faults.append(fault)
    return faults_view(emulator)


def faults_view(emulator: Emulator) -> dict[str, Any]:
    return {"faults": emulator.faults, "lock_row": emulator.lock_faults,
            "bulk_fail": emulator.bulk.fail_next, "expire_tokens_after": emulator.expire_after}


async def dispatch(emulator: Emulator, request: Request, path: str) -> Response:
    """Route one admin call."""
    from emulators.salesforce import handlers

    method = request.method
    parts = [p for p in path.split("/") if p]
    route = "/".join(parts)
    version = emulator.settings.api_version
    store = emulator.store
    if method == "GET" and route == "health":
        return json_response({"ok": True})
    if method == "GET" and route == "stats":
        return json_response(stats(emulator))
    if method == "POST" and route == "stats/reset":
        emulator.stats_reset()
        return json_response({"ok": True})
    if method == "GET" and route == "requests":
        limit = int(request.query_params.get("limit", "100"))
        entries = list(emulator.log)[-limit:] if limit > 0 else []
        return json_response(entries)
    if route == "faults":
        if method == "POST":
            return json_response(add_fault(emulator, await _body(request)))
        if method == "DELETE":
            emulator.faults.clear()
            emulator.lock_faults = 0
            emulator.bulk.fail_next = 0
            emulator.expire_after = None
            return json_response(faults_view(emulator))
        if method == "GET":
            return json_response(faults_view(emulator))
    if method == "POST" and route == "query":
        body = await _body(request)
        include_deleted = bool(body.get("all", False))
        return json_response(
            handlers.run_query(emulator, str(body.get("q", "")), include_deleted, version, None)
        )
    if method == "POST" and len(parts) == 2 and parts[0] == "records":
        obj = store.obj(parts[1])
        if obj is None:
            raise not_found(f"unknown sObject {parts[1]}")
        body = await _body(request)
        records = body.get("records", [])
        ids = []
        touched = []
        for item in records:
            if not isinstance(item, dict):
                raise SalesforceError("JSON_PARSER_ERROR", "records must be objects")
            values = {k: v for k, v in item.items() if k != "attributes"}
            changes = store.prepare(obj, values, None) if not body.get("skip_validation") \
                else _raw_changes(obj, values)
            record = store.apply(obj, changes, None)
            touched.append(record)
            ids.append(record["Id"])
        store.persist(obj.name, touched)
        return json_response({"ids": ids})
    if method == "POST" and len(parts) == 3 and parts[0] == "leads" and parts[2] == "convert":
        body = await _body(request)
        contact_id, account_id = store.convert_lead(
            parts[1], body.get("account_id"), body.get("contact_id")
        )
        return json_response({"contact_id": contact_id, "account_id": account_id})
    if method == "POST" and route == "tokens/expire":
        emulator.expire_tokens()
        return json_response({"ok": True})
    if method == "POST" and route == "tokens/revoke":
        body = await _body(request)
        refresh = str(body.get("refresh_token", emulator.settings.refresh_token))
        if body.get("revoke", True):
            emulator.revoke_refresh(refresh)
        else:  # restore a revoked refresh token (for tests)
            emulator.revoked_refresh.discard(refresh)
            store.meta_set("revoked_refresh_tokens", json.dumps(sorted(emulator.revoked_refresh)))
        return json_response({"ok": True})
    if method == "POST" and route == "limits":
        body = await _body(request)
        if body.get("daily_api_limit") is not None:
            emulator.limit = int(body["daily_api_limit"])
            store.meta_set("daily_api_limit", str(emulator.limit))
        if body.get("used") is not None:
            emulator.used = int(body["used"])
        emulator.flush_usage()
        return json_response({"used": emulator.used, "max": emulator.limit})
    if method == "POST" and route == "config":
        body = await _body(request)
        if "bulk_rate" in body:
            emulator.bulk.rate = float(body["bulk_rate"]) if body["bulk_rate"] else None
        if "bulk_max_upload_bytes" in body:
            emulator.bulk.max_upload_bytes = int(body["bulk_max_upload_bytes"])
        if "token_ttl" in body:
            emulator.settings.token_ttl = float(body["token_ttl"])
        return json_response({"bulk_rate": emulator.bulk.rate,
                              "bulk_max_upload_bytes": emulator.bulk.max_upload_bytes,
                              "token_ttl": emulator.settings.token_ttl})
    if method == "POST" and route == "reset":
        store.db.execute("DELETE FROM records WHERE sobject != 'User'")
        for name in store.records:
            if name != "User":
                store.records[name].clear()
                for index in store.ext[name].values():
                    index.clear()
        return json_response({"ok": True})
    raise not_found(f"unknown admin call {method} /_emulator/{route}")


def _raw_changes(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Seed values without validation (e.g. duplicates that predate a unique rule)."""
    out = {}
    for key, value in values.items():
        fld = obj.field(key)
        if fld is None:
            raise SalesforceError("INVALID_FIELD", f"No such column '{key}' on sobject of type "
                                  f"{obj.name}", [key])
        out[fld.name] = value
    return out
