"""Salesforce admin calls that change the org's metadata at run time: fields and picklists.

``POST fields/{o}`` adds or replaces custom fields, ``DELETE fields/{o}/{f}`` removes one,
``PATCH fields/{o}/{f}`` sets its field-level security, ``POST picklists/{o}/{f}`` its values,
``POST schema/reset`` puts everything back as the start-up files and flags gave it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulators.core.admin import AdminCall, admin_route
from emulators.core.routing import ApiRoute
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.metadata import Field, SObject
from emulators.salesforce.responses import json_response
from emulators.salesforce.schema import SchemaError, custom_field, remove_field, set_picklist

if TYPE_CHECKING:
    from starlette.responses import Response

    from emulators.salesforce.backend import Emulator

FIELD_SPEC_HINT = (
    'send {"name": "X__c", "type": "Text", ...} or '
    '{"X__c": {"type": "Text", ...}}, the field spec schema.yml uses'
)
FLS_HINT = (
    'PATCH a field with {"createable": bool, '
    '"updateable": bool} (its field-level security for the integration user)'
)


def sobject(emulator: Emulator, name: str) -> SObject:
    """The sObject called ``name``, or NOT_FOUND naming the known ones."""
    obj = emulator.store.obj(name)
    if obj is None:
        raise not_found(f"unknown sObject {name}; known: {', '.join(sorted(emulator.objects))}")
    return obj


def _field(obj: SObject, name: str) -> Field:
    fld = obj.field(name)
    if fld is None:
        raise not_found(f"{obj.name} has no field {name}")
    return fld


def _schema_error(exc: SchemaError) -> SalesforceError:
    return SalesforceError("INVALID_SCHEMA_CHANGE", str(exc))


def _built_fields(obj: SObject, body: dict[str, Any]) -> list[tuple[Field | None, Field]]:
    """(the field it replaces or None, the new field) for each spec in an add-fields body."""
    if "name" in body:
        specs = {str(body["name"]): {k: v for k, v in body.items() if k != "name"}}
    else:
        specs = body
    if not specs:
        raise SalesforceError("INVALID_SCHEMA_CHANGE", FIELD_SPEC_HINT)
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
    return built


def _add_fields(emulator: Emulator, call: AdminCall) -> Response:
    obj = sobject(emulator, call.params["sobject"])
    built = _built_fields(obj, call.body)
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


def _drop_field(emulator: Emulator, call: AdminCall) -> Any:
    obj = sobject(emulator, call.params["sobject"])
    fld = _field(obj, call.params["field"])
    try:
        remove_field(obj, fld.name)
    except SchemaError as exc:
        raise _schema_error(exc) from None
    emulator.store.field_changed(obj, fld.name, purge=True)
    emulator.schema_changed(obj)
    return {"removed": f"{obj.name}.{fld.name}"}


def _field_security(emulator: Emulator, call: AdminCall) -> Any:
    obj = sobject(emulator, call.params["sobject"])
    fld = _field(obj, call.params["field"])
    body = call.body
    if set(body) - {"createable", "updateable"} or not body:
        raise SalesforceError("INVALID_SCHEMA_CHANGE", FLS_HINT)
    if fld.name == "Id" or fld.calculated:
        raise SalesforceError(
            "INVALID_SCHEMA_CHANGE", f"{obj.name}.{fld.name} is computed and stays read-only"
        )
    for key in ("createable", "updateable"):
        if key in body:
            setattr(fld, key, bool(body[key]))
    emulator.schema_changed(obj)
    return {"field": fld.describe()}


def _picklist(emulator: Emulator, call: AdminCall) -> Any:
    obj = sobject(emulator, call.params["sobject"])
    fld = _field(obj, call.params["field"])
    if "values" not in call.body:
        raise SalesforceError(
            "INVALID_SCHEMA_CHANGE", 'send {"values": ["A", "B"], "restricted": true|false}'
        )
    try:
        set_picklist(fld, call.body["values"], call.body.get("restricted"), obj.name)
    except SchemaError as exc:
        raise _schema_error(exc) from None
    emulator.schema_changed(obj)
    return {"field": fld.describe()}


def routes(emulator: Emulator) -> list[ApiRoute]:
    """The metadata admin routes over one org."""
    return [
        admin_route("POST", "schema/reset", lambda _: {"changed": emulator.restore_schema()}),
        admin_route("POST", "fields/{sobject}", lambda call: _add_fields(emulator, call)),
        admin_route("DELETE", "fields/{sobject}/{field}", lambda call: _drop_field(emulator, call)),
        admin_route(
            "PATCH", "fields/{sobject}/{field}", lambda call: _field_security(emulator, call)
        ),
        admin_route("POST", "picklists/{sobject}/{field}", lambda call: _picklist(emulator, call)),
    ]
