"""The ``/_emulator/`` admin surface: inspection, seeding and faults. Never billed or counted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.app import check_limit_info_format, json_response
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.schema import (
    SchemaError,
    SObject,
    custom_field,
    remove_field,
    set_picklist,
)
from emulators.salesforce.store import USER_ID, parse_datetime

if TYPE_CHECKING:
    from emulators.salesforce.app import Emulator

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
        "org_id": emulator.org_id,
        "api_calls": emulator.api_calls,
        "requests": emulator.requests_total,
        "by_endpoint": dict(emulator.by_endpoint),
        "status_counts": dict(emulator.status_counts),
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


def org_view(emulator: Emulator, request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "org_id": emulator.org_id,
        "user_id": USER_ID,
        "username": emulator.settings.username,
        "instance_url": base,
        "identity_url": f"{base}/id/{emulator.org_id}/{USER_ID}",
    }


def _sobject(emulator: Emulator, name: str) -> SObject:
    obj = emulator.store.obj(name)
    if obj is None:
        raise not_found(f"unknown sObject {name}; known: {', '.join(sorted(emulator.objects))}")
    return obj


def _schema_error(exc: SchemaError) -> SalesforceError:
    return SalesforceError("INVALID_SCHEMA_CHANGE", str(exc))


async def fields_call(
    emulator: Emulator, request: Request, method: str, parts: list[str]
) -> Response:
    """Add (POST fields/{o}), remove (DELETE fields/{o}/{f}) or restrict (PATCH ...) fields."""
    if len(parts) not in {1, 2}:
        raise not_found(f"unknown admin call {method} /_emulator/fields/{'/'.join(parts)}")
    obj = _sobject(emulator, parts[0])
    if method == "POST" and len(parts) == 1:
        body = await _body(request)
        if "name" in body:
            specs = {str(body["name"]): {k: v for k, v in body.items() if k != "name"}}
        else:
            specs = body
        if not specs:
            raise SalesforceError(
                "INVALID_SCHEMA_CHANGE",
                'send {"name": "X__c", "type": "Text", ...} or '
                '{"X__c": {"type": "Text", ...}}, the field spec schema.yml uses',
            )
        built = []
        for name, spec in specs.items():
            existing = obj.field(name)
            if existing is not None and not existing.custom:
                raise SalesforceError(
                    "INVALID_SCHEMA_CHANGE",
                    f"{obj.name}.{existing.name} is a standard field; "
                    "only custom fields (ending in __c) can be added or replaced",
                )
            try:
                built.append((existing, custom_field(obj.name, name, spec)))
            except SchemaError as exc:
                raise _schema_error(exc) from None
        for existing, fld in built:
            if existing is not None and existing.name != fld.name:
                del obj.fields[existing.name]
            obj.fields[fld.name] = fld
            obj.index()
            # A new field starts empty; a replaced one keeps its values.
            emulator.store.field_changed(obj, fld.name, purge=existing is None)
        emulator.schema_changed(obj)
        created = any(existing is None for existing, _ in built)
        return json_response({"fields": [f.describe() for _, f in built]}, 201 if created else 200)
    if len(parts) != 2:
        raise not_found(f"unknown admin call {method} /_emulator/fields/{parts[0]}")
    fld = obj.field(parts[1])
    if fld is None:
        raise not_found(f"{obj.name} has no field {parts[1]}")
    if method == "DELETE":
        try:
            remove_field(obj, fld.name)
        except SchemaError as exc:
            raise _schema_error(exc) from None
        emulator.store.field_changed(obj, fld.name, purge=True)
        emulator.schema_changed(obj)
        return json_response({"removed": f"{obj.name}.{fld.name}"})
    if method == "PATCH":
        body = await _body(request)
        unknown = set(body) - {"createable", "updateable"}
        if unknown or not body:
            raise SalesforceError(
                "INVALID_SCHEMA_CHANGE",
                'PATCH a field with {"createable": bool, '
                '"updateable": bool} (its field-level security for the integration user)',
            )
        if fld.name == "Id" or fld.calculated:
            raise SalesforceError(
                "INVALID_SCHEMA_CHANGE", f"{obj.name}.{fld.name} is computed and stays read-only"
            )
        for key in ("createable", "updateable"):
            if key in body:
                setattr(fld, key, bool(body[key]))
        emulator.schema_changed(obj)
        return json_response({"field": fld.describe()})
    raise not_found(f"unknown admin call {method} /_emulator/fields/{'/'.join(parts)}")


def faults_view(emulator: Emulator) -> dict[str, Any]:
    return {
        "faults": emulator.faults,
        "lock_row": emulator.lock_faults,
        "bulk_fail": emulator.bulk.fail_next,
        "expire_tokens_after": emulator.expire_after,
    }


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
    if method == "GET" and route == "org":
        return json_response(org_view(emulator, request))
    if method == "POST" and route == "schema/reset":
        return json_response({"changed": emulator.restore_schema()})
    if parts and parts[0] == "fields":
        return await fields_call(emulator, request, method, parts[1:])
    if method == "POST" and len(parts) == 3 and parts[0] == "picklists":
        obj = _sobject(emulator, parts[1])
        fld = obj.field(parts[2])
        if fld is None:
            raise not_found(f"{obj.name} has no field {parts[2]}")
        body = await _body(request)
        if "values" not in body:
            raise SalesforceError(
                "INVALID_SCHEMA_CHANGE", 'send {"values": ["A", "B"], "restricted": true|false}'
            )
        try:
            set_picklist(fld, body["values"], body.get("restricted"), obj.name)
        except SchemaError as exc:
            raise _schema_error(exc) from None
        emulator.schema_changed(obj)
        return json_response({"field": fld.describe()})
    if method == "DELETE" and len(parts) == 3 and parts[0] == "records":
        obj = _sobject(emulator, parts[1])
        found = store.lookup(parts[2])
        if found is None or found[0].name != obj.name:
            raise not_found(f"no {obj.name} record with id {parts[2]}")
        record = found[1]
        hard = request.query_params.get("hard", "").lower() == "true"
        if hard:
            store.erase(obj, record)
        else:
            store.delete(
                obj, record, counted=False, stamp=_stamp(request.query_params.get("stamp"))
            )
            store.persist(obj.name, [record])
        return json_response({"id": record["Id"], "deleted": True, "hard": hard})
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
        stamp = _stamp(body.get("stamp"))
        ids = []
        touched = []
        for item in records:
            if not isinstance(item, dict):
                raise SalesforceError("JSON_PARSER_ERROR", "records must be objects")
            values = {k: v for k, v in item.items() if k != "attributes"}
            changes = (
                store.prepare(obj, values, None)
                if not body.get("skip_validation")
                else _raw_changes(obj, values)
            )
            record = store.apply(obj, changes, None, stamp)
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
        if "limit_info_format" in body:
            template = body["limit_info_format"]
            if template is None:
                template = emulator.settings.limit_info_format
            try:
                emulator.limit_info_format = check_limit_info_format(str(template))
            except ValueError as exc:
                raise SalesforceError("INVALID_CONFIG", str(exc)) from None
        if "replication_id_limit" in body:
            emulator.replication_id_limit = int(body["replication_id_limit"] or 600_000)
        return json_response(
            {
                "bulk_rate": emulator.bulk.rate,
                "bulk_max_upload_bytes": emulator.bulk.max_upload_bytes,
                "token_ttl": emulator.settings.token_ttl,
                "limit_info_format": emulator.limit_info_format,
                "replication_id_limit": emulator.replication_id_limit,
            }
        )
    if method == "POST" and route == "reset":
        store.db.execute("DELETE FROM records WHERE sobject != 'User'")
        for name in store.records:
            if name != "User":
                store.records[name].clear()
                for index in store.ext[name].values():
                    index.clear()
        return json_response({"ok": True})
    raise not_found(f"unknown admin call {method} /_emulator/{route}")


def _stamp(value: Any) -> str | None:
    """An optional ISO 8601 time for seeded writes (records that predate the test)."""
    if value is None or value == "":
        return None
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise SalesforceError(
            "INVALID_ADMIN_CALL",
            f"stamp {value!r} is not an ISO 8601 date-time, e.g. 2024-05-01T10:00:00Z",
        )
    return parsed


def _raw_changes(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Seed values without validation (e.g. duplicates that predate a unique rule)."""
    out = {}
    for key, value in values.items():
        fld = obj.field(key)
        if fld is None:
            raise SalesforceError(
                "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
            )
        out[fld.name] = value
    return out
