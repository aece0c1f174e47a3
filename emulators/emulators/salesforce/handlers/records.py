"""Single-record REST: create, read, update, delete, by Id and by external Id (upsert)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.errors import RequestError, SalesforceError, not_found
from emulators.salesforce.handlers.common import (
    get_obj,
    lock_check,
    read_json,
    record_url,
    shape_record,
    writable,
)
from emulators.salesforce.ids import normalize
from emulators.salesforce.metadata import SObject
from emulators.salesforce.responses import json_response

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


def find_record(emulator: Emulator, obj: SObject, rid: str) -> dict[str, Any]:
    """A live record of ``obj`` by id (NOT_FOUND otherwise)."""
    found = emulator.store.lookup(rid)
    if found is None or found[0].name != obj.name:
        if normalize(rid) is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {rid}"
            )
        raise not_found()
    record = found[1]
    if record.get("IsDeleted"):
        raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", status=404)
    return record


def body_object(body: Any) -> dict[str, Any]:
    """A JSON object body (JSON_PARSER_ERROR otherwise)."""
    if not isinstance(body, dict):
        raise RequestError(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of the sObject from a JSON array or value; send an object",
        )
    return body


async def create(emulator: Emulator, request: Request, version: str, sobject: str) -> Response:
    """Answer ``POST /sobjects/{sobject}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "create")
    values = body_object(await read_json(request))
    store = emulator.store
    changes = store.prepare(obj, values, None)
    lock_check(emulator)
    record = store.apply(obj, changes, None)
    store.persist(obj.name, [record])
    return json_response(
        {"id": record["Id"], "success": True, "errors": []},
        201,
        headers={"Location": record_url(version, obj, record["Id"])},
    )


async def get_record(
    emulator: Emulator, request: Request, version: str, sobject: str, id: str
) -> Response:
    """Answer ``GET /sobjects/{sobject}/{id}``."""
    obj = get_obj(emulator, sobject)
    record = find_record(emulator, obj, id)
    fields = None
    if request.query_params.get("fields"):
        fields = []
        for name in request.query_params["fields"].split(","):
            fld = obj.field(name.strip())
            if fld is None:
                raise SalesforceError(
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on sobject of type {obj.name}",
                )
            fields.append(fld.name)
    return json_response(shape_record(obj, record, version, fields))


async def update_record(
    emulator: Emulator, request: Request, version: str, sobject: str, id: str
) -> Response:
    """Answer ``PATCH /sobjects/{sobject}/{id}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "update")
    values = body_object(await read_json(request))
    record = find_record(emulator, obj, id)
    values = {k: v for k, v in values.items() if k.lower() != "id"}
    changes = emulator.store.prepare(obj, values, record)
    lock_check(emulator, record["Id"])
    emulator.store.apply(obj, changes, record)
    emulator.store.persist(obj.name, [record])
    return Response(status_code=204)


async def delete_record(
    emulator: Emulator, request: Request, version: str, sobject: str, id: str
) -> Response:
    """Answer ``DELETE /sobjects/{sobject}/{id}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "delete")
    record = find_record(emulator, obj, id)
    lock_check(emulator, record["Id"])
    emulator.store.delete(obj, record)
    emulator.store.persist(obj.name, [record])
    return Response(status_code=204)


def external_field(obj: SObject, name: str) -> Any:
    """The external id field called ``name`` (NOT_FOUND otherwise)."""
    fld = obj.field(name)
    if fld is None or not (fld.external_id or fld.name == "Id"):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {name}")
    return fld


def matches_for(emulator: Emulator, obj: SObject, fld: Any, value: str) -> list[str]:
    """The ids of the records whose external id field holds ``value``."""
    if fld.name == "Id":
        found = emulator.store.lookup(value)
        if found is None or found[0].name != obj.name or found[1].get("IsDeleted"):
            return []
        return [found[1]["Id"]]
    return emulator.store.find_by_ext(obj, fld, value)


def several(version: str, obj: SObject, ids: list[str]) -> Response:
    """The 300 answer listing the records an external id matches."""
    return json_response([record_url(version, obj, rid) for rid in ids], 300)


def one_by_external_id(
    emulator: Emulator, version: str, obj: SObject, field: str, value: str
) -> dict[str, Any] | Response:
    """The one record holding an external id value, or the 300 answer listing several."""
    ids = matches_for(emulator, obj, external_field(obj, field), value)
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return several(version, obj, ids)
    return emulator.store.records[obj.name][ids[0]]


async def get_by_external_id(
    emulator: Emulator, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    """Answer ``GET /sobjects/{sobject}/{field}/{value}``."""
    obj = get_obj(emulator, sobject)
    found = one_by_external_id(emulator, version, obj, field, value)
    if isinstance(found, Response):
        return found
    return json_response(shape_record(obj, found, version))


async def delete_by_external_id(
    emulator: Emulator, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    """Answer ``DELETE /sobjects/{sobject}/{field}/{value}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "delete")
    record = one_by_external_id(emulator, version, obj, field, value)
    if isinstance(record, Response):
        return record
    emulator.store.delete(obj, record)
    emulator.store.persist(obj.name, [record])
    return Response(status_code=204)


def upsert_one(
    emulator: Emulator,
    obj: SObject,
    fld: Any,
    value: str,
    values: dict[str, Any],
    update_only: bool = False,
) -> tuple[str, bool]:
    """Validate and apply one upsert; answer (id, created). The caller persists."""
    store = emulator.store
    ids = matches_for(emulator, obj, fld, value)
    if len(ids) > 1:
        raise SalesforceError("MULTIPLE_CHOICES", ",".join(ids), status=300)
    values = {k: v for k, v in values.items() if k.lower() not in {"id", fld.name.lower()}}
    if ids:
        record = store.records[obj.name][ids[0]]
        changes = store.prepare(obj, values, record)
        lock_check(emulator, record["Id"])
        store.apply(obj, changes, record)
        return record["Id"], False
    if update_only:
        raise not_found()
    if fld.name == "Id":
        raise not_found()
    values[fld.name] = value
    changes = store.prepare(obj, values, None)
    lock_check(emulator)
    record = store.apply(obj, changes, None)
    return record["Id"], True


async def upsert(
    emulator: Emulator, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    """Answer ``PATCH /sobjects/{sobject}/{field}/{value}``."""
    obj = get_obj(emulator, sobject)
    writable(obj, "update")
    fld = external_field(obj, field)
    values = body_object(await read_json(request))
    update_only = request.query_params.get("updateOnly", "").lower() == "true"
    try:
        rid, created = upsert_one(emulator, obj, fld, value, values, update_only)
    except SalesforceError as exc:
        if exc.code == "MULTIPLE_CHOICES":
            return several(version, obj, exc.message.split(","))
        raise
    emulator.store.persist(obj.name, [emulator.store.records[obj.name][rid]])
    if not created and float(version) < 46.0:
        return Response(status_code=204)
    return json_response(
        {"id": rid, "success": True, "errors": [], "created": created},
        201 if created else 200,
        headers={"Location": record_url(version, obj, rid)},
    )
