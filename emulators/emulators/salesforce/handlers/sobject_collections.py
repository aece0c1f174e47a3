"""sObject Collections writes: create, update, delete and upsert of up to 200 records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.backend import COLLECTION_LIMIT
from emulators.salesforce.errors import RequestError, SalesforceError
from emulators.salesforce.handlers.common import get_obj, lock_check, read_json, writable
from emulators.salesforce.handlers.records import body_object, matches_for, upsert_one
from emulators.salesforce.ids import normalize
from emulators.salesforce.metadata import SObject
from emulators.salesforce.responses import json_response

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


def collection_body(body: Any) -> tuple[bool, list[Any]]:
    """(allOrNone, records) of a Collections body, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise RequestError(
            "JSON_PARSER_ERROR", "The request body must be an object with a records array"
        )
    records = body["records"]
    if len(records) > COLLECTION_LIMIT:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into "
            "this call",
        )
    return bool(body.get("allOrNone", False)), records


def finish_collection(
    emulator: Emulator,
    results: list[dict[str, Any]],
    touched: list[tuple[SObject, dict[str, Any], dict[str, Any] | None]],
    all_or_none: bool,
) -> Response:
    """Persist, or with allOrNone and any failure roll back and mark every record."""
    store = emulator.store
    if all_or_none and any(not r["success"] for r in results):
        for obj, record, before in reversed(touched):
            store._unindex(obj.name, record)
            if before is None:
                store.records[obj.name].pop(record["Id"], None)
            else:
                record.clear()
                record.update(before)
                store._index(obj.name, record)
        rolled = {
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the "
            "request was using AllOrNone header",
            "fields": [],
        }
        return json_response(
            [
                r
                if not r["success"]
                else {
                    "id": None,
                    "success": False,
                    "errors": [rolled],
                    **({"created": False} if "created" in r else {}),
                }
                for r in results
            ]
        )
    by_obj: dict[str, list[dict[str, Any]]] = {}
    for obj, record, _ in touched:
        by_obj.setdefault(obj.name, []).append(record)
    for name, records in by_obj.items():
        store.persist(name, records)
    return json_response(results)


def failure(exc: SalesforceError, created: bool | None = None) -> dict[str, Any]:
    """One failed result in a Collections answer."""
    out: dict[str, Any] = {"success": False, "errors": [exc.record_error()]}
    if created is not None:
        out["created"] = False
    return out


def record_type(emulator: Emulator, item: dict[str, Any], default: str | None) -> SObject:
    """The sObject a Collections record names in its ``attributes``."""
    attrs = item.get("attributes")
    name = attrs.get("type") if isinstance(attrs, dict) else default
    if not name:
        raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.")
    obj = emulator.store.obj(str(name))
    if obj is None:
        raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


async def collection_create(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``POST /composite/sobjects``."""
    all_or_none, items = collection_body(await read_json(request))
    store = emulator.store
    results: list[dict[str, Any]] = []
    touched: list[tuple[SObject, dict[str, Any], dict[str, Any] | None]] = []
    for item in items:
        try:
            item = body_object(item)
            obj = record_type(emulator, item, None)
            writable(obj, "create")
            if "Id" in item or "id" in item:
                raise SalesforceError(
                    "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                )
            changes = store.prepare(obj, item, None)
            lock_check(emulator)
            record = store.apply(obj, changes, None)
            touched.append((obj, record, None))
            results.append({"id": record["Id"], "success": True, "errors": []})
        except RequestError:
            raise
        except SalesforceError as exc:
            results.append(failure(exc))
    return finish_collection(emulator, results, touched, all_or_none)


async def collection_update(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``PATCH /composite/sobjects``."""
    all_or_none, items = collection_body(await read_json(request))
    store = emulator.store
    results: list[dict[str, Any]] = []
    touched: list[tuple[SObject, dict[str, Any], dict[str, Any] | None]] = []
    seen: dict[str, int] = {}
    for item in items:
        rid = item.get("id") or item.get("Id") if isinstance(item, dict) else None
        if rid:
            seen[normalize(rid) or rid] = seen.get(normalize(rid) or rid, 0) + 1
    for item in items:
        try:
            item = body_object(item)
            obj = record_type(emulator, item, None)
            writable(obj, "update")
            rid = item.get("id") or item.get("Id")
            if not rid:
                raise SalesforceError(
                    "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                )
            if seen.get(normalize(rid) or rid, 0) > 1:
                raise SalesforceError("DUPLICATE_VALUE", f"Duplicate id in list: {rid}")
            found = store.lookup(rid)
            if found is None or found[0].name != obj.name:
                raise SalesforceError(
                    "MALFORMED_ID" if normalize(rid) is None else "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {rid}",
                    ["Id"],
                )
            record = found[1]
            values = {k: v for k, v in item.items() if k.lower() != "id"}
            changes = store.prepare(obj, values, record)
            lock_check(emulator, record["Id"])
            before = dict(record)
            store.apply(obj, changes, record)
            touched.append((obj, record, before))
            results.append({"id": record["Id"], "success": True, "errors": []})
        except RequestError:
            raise
        except SalesforceError as exc:
            results.append(
                {"id": item.get("id") if isinstance(item, dict) else None, **failure(exc)}
            )
    return finish_collection(emulator, results, touched, all_or_none)


async def collection_delete(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``DELETE /composite/sobjects``."""
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if len(ids) > COLLECTION_LIMIT:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more "
            f"than {COLLECTION_LIMIT} records into this call",
        )
    all_or_none = request.query_params.get("allOrNone", "").lower() == "true"
    store = emulator.store
    results: list[dict[str, Any]] = []
    touched: list[tuple[SObject, dict[str, Any], dict[str, Any] | None]] = []
    for rid in ids:
        try:
            found = store.lookup(rid)
            if found is None:
                raise SalesforceError(
                    "MALFORMED_ID" if normalize(rid) is None else "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {rid}",
                )
            obj, record = found
            writable(obj, "delete")
            lock_check(emulator, record["Id"])
            before = dict(record)
            store.delete(obj, record)
            touched.append((obj, record, before))
            results.append({"id": record["Id"], "success": True, "errors": []})
        except SalesforceError as exc:
            results.append({"id": rid, **failure(exc)})
    return finish_collection(emulator, results, touched, all_or_none)


async def collection_upsert(
    emulator: Emulator, request: Request, version: str, sobject: str, field: str
) -> Response:
    """Answer ``PATCH /composite/sobjects/{sobject}/{field}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "update")
    fld = obj.field(field)
    if fld is None or not (fld.external_id or fld.name == "Id"):
        raise SalesforceError(
            "INVALID_FIELD",
            f"Field name provided, {field} is not an External ID or indexed field for {obj.name}",
        )
    all_or_none, items = collection_body(await read_json(request))
    store = emulator.store
    keys: dict[str, int] = {}
    for item in items:
        if isinstance(item, dict):
            value = next((v for k, v in item.items() if k.lower() == fld.name.lower()), None)
            if value not in (None, ""):
                key = store.match_key(fld, value)
                keys[key] = keys.get(key, 0) + 1
    results: list[dict[str, Any]] = []
    touched: list[tuple[SObject, dict[str, Any], dict[str, Any] | None]] = []
    for item in items:
        try:
            item = body_object(item)
            item_obj = record_type(emulator, item, obj.name)
            if item_obj.name != obj.name:
                raise SalesforceError(
                    "INVALID_TYPE",
                    f"This upsert is for {obj.name}; a {item_obj.name} record cannot be in it",
                )
            value = next((v for k, v in item.items() if k.lower() == fld.name.lower()), None)
            if value in (None, ""):
                raise SalesforceError("MISSING_ARGUMENT", f"{fld.name} not specified", [fld.name])
            if keys.get(store.match_key(fld, value), 0) > 1:
                raise SalesforceError(
                    "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [fld.name]
                )
            existing = matches_for(emulator, obj, fld, str(value))
            before = dict(store.records[obj.name][existing[0]]) if len(existing) == 1 else None
            if len(existing) > 1:
                raise SalesforceError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{fld.name}: more than one record found for external id field: "
                    f"[{', '.join(existing)}]",
                    [fld.name],
                )
            rid, created = upsert_one(emulator, obj, fld, str(value), item)
            touched.append((obj, store.records[obj.name][rid], before))
            results.append({"id": rid, "success": True, "errors": [], "created": created})
        except RequestError:
            raise
        except SalesforceError as exc:
            results.append(failure(exc, created=False))
    return finish_collection(emulator, results, touched, all_or_none)
