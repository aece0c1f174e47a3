"""Salesforce admin calls on records: seed (``POST records/{o}``), delete by hand, query, convert.

Seeded writes can carry a ``stamp`` (records that predate the test) and skip validation
(e.g. duplicates that predate a unique rule). None of these is billed or counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulators.core.admin import AdminCall, admin_route
from emulators.core.routing import ApiRoute
from emulators.salesforce.admin_schema import sobject
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.handlers.query import run_query
from emulators.salesforce.store import parse_datetime

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator
    from emulators.salesforce.metadata import SObject


def stamp_of(value: Any) -> str | None:
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


def raw_changes(obj: SObject, values: dict[str, Any]) -> dict[str, Any]:
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


def routes(emulator: Emulator) -> list[ApiRoute]:
    """The record admin routes over one org."""
    store = emulator.store

    def delete(call: AdminCall) -> Any:
        obj = sobject(emulator, call.params["sobject"])
        found = store.lookup(call.params["id"])
        if found is None or found[0].name != obj.name:
            raise not_found(f"no {obj.name} record with id {call.params['id']}")
        record = found[1]
        hard = call.query.get("hard", "").lower() == "true"
        if hard:
            store.erase(obj, record)
        else:
            store.delete(obj, record, counted=False, stamp=stamp_of(call.query.get("stamp")))
            store.persist(obj.name, [record])
        return {"id": record["Id"], "deleted": True, "hard": hard}

    def seed(call: AdminCall) -> Any:
        obj = store.obj(call.params["sobject"])
        if obj is None:
            raise not_found(f"unknown sObject {call.params['sobject']}")
        body = call.body
        stamp = stamp_of(body.get("stamp"))
        touched = []
        for item in body.get("records", []):
            if not isinstance(item, dict):
                raise SalesforceError("JSON_PARSER_ERROR", "records must be objects")
            values = {k: v for k, v in item.items() if k != "attributes"}
            changes = (
                store.prepare(obj, values, None)
                if not body.get("skip_validation")
                else raw_changes(obj, values)
            )
            touched.append(store.apply(obj, changes, None, stamp))
        store.persist(obj.name, touched)
        return {"ids": [record["Id"] for record in touched]}

    def query(call: AdminCall) -> Any:
        include_deleted = bool(call.body.get("all", False))
        version = emulator.settings.api_version
        return run_query(emulator, str(call.body.get("q", "")), include_deleted, version, None)

    def convert(call: AdminCall) -> Any:
        contact_id, account_id = store.convert_lead(
            call.params["id"], call.body.get("account_id"), call.body.get("contact_id")
        )
        return {"contact_id": contact_id, "account_id": account_id}

    return [
        admin_route("DELETE", "records/{sobject}/{id}", delete),
        admin_route("POST", "records/{sobject}", seed),
        admin_route("POST", "query", query),
        admin_route("POST", "leads/{id}/convert", convert),
    ]
