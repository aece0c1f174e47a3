"""What the REST handlers share: reading JSON bodies, finding sObjects, shaping records."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from emulators.salesforce.errors import RequestError, SalesforceError, not_found
from emulators.salesforce.metadata import SObject

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


async def read_json(request: Request) -> Any:
    """The request body as JSON (JSON_PARSER_ERROR if it is not)."""
    raw = await request.body()
    if not raw.strip():
        raise RequestError("JSON_PARSER_ERROR", "The request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        column = getattr(exc, "colno", 1)
        raise RequestError(
            "JSON_PARSER_ERROR",
            f"Unexpected character in the request body: {getattr(exc, 'msg', exc)} at "
            f"[line:{line}, column:{column}]",
        ) from None


def get_obj(emulator: Emulator, name: str) -> SObject:
    """The sObject called ``name`` (NOT_FOUND otherwise)."""
    obj = emulator.store.obj(name)
    if obj is None:
        raise not_found()
    return obj


def record_url(version: str, obj: SObject, rid: str) -> str:
    """A record's REST URL."""
    return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"


def shape_record(
    obj: SObject, record: dict[str, Any], version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """A record as the API answers it, with ``attributes``."""
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": record_url(version, obj, record["Id"])}
    }
    names = fields or list(obj.fields)
    for name in names:
        out[name] = record.get(name)
    return out


def writable(obj: SObject, action: str) -> None:
    """Raise when the object cannot be created, updated or deleted by this user."""
    allowed = {"create": obj.createable, "update": obj.updateable, "delete": obj.deletable}
    if not allowed[action]:
        raise SalesforceError(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            f"You can't {action} {obj.name} records through this API in the emulator",
            status=403 if action == "delete" else 400,
        )


def lock_check(emulator: Emulator, rid: str | None = None) -> None:
    """Raise UNABLE_TO_LOCK_ROW when an injected row-lock fault fires."""
    if emulator.take_lock_fault():
        raise SalesforceError(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: " + (rid or ""),
        )
