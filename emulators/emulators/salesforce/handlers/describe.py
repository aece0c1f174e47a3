"""The resource list, ``/limits`` and the describe calls (with ``If-Modified-Since``)."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.handlers.common import get_obj, shape_record
from emulators.salesforce.responses import JSON_TYPE, json_response

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


async def resources(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /``."""
    base = f"/services/data/v{version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return json_response({name: f"{base}/{name}" for name in names})


async def limits(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /limits``."""

    def pair(maximum: int, remaining: int) -> dict[str, int]:
        return {"Max": maximum, "Remaining": remaining}

    return json_response(
        {
            "DailyApiRequests": pair(emulator.limit, max(emulator.limit - emulator.used, 0)),
            "DailyBulkApiBatches": pair(15000, 15000),
            "DailyBulkV2QueryFileStorageMB": pair(976562, 976562),
            "DailyBulkV2QueryJobs": pair(10000, 10000),
            "DataStorageMB": pair(1024, 1024 - len(emulator.store.records["Lead"]) // 500),
            "FileStorageMB": pair(1024, 1024),
            "HourlyODataCallout": pair(10000, 10000),
            "SingleEmailMessages": pair(5000, 5000),
        }
    )


def conditional(request: Request, body: Any, modified: int) -> Response:
    """A metadata answer with ETag and Last-Modified; 304 when the client's copy is current.

    The ETag is a digest of the body, so a changed describe always has a new one; the
    Last-Modified moves forward whenever the metadata changes (see Emulator.schema_changed).
    If-None-Match wins over If-Modified-Since, as HTTP says.
    """
    text = json.dumps(body, separators=(",", ":"))
    etag = '"' + hashlib.sha1(text.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Last-Modified": email.utils.formatdate(modified, usegmt=True)}
    if_none = request.headers.get("if-none-match")
    if if_none is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none.split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    elif request.headers.get("if-modified-since"):
        try:
            since = email.utils.parsedate_to_datetime(request.headers["if-modified-since"])
        except (TypeError, ValueError):
            since = None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        if since is not None and since.timestamp() >= modified:
            return Response(status_code=304, headers=headers)
    return Response(text, media_type=JSON_TYPE, headers=headers)


async def describe_global(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /sobjects``."""
    return conditional(
        request,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.basic(version) for o in emulator.objects.values()],
        },
        max(o.modified for o in emulator.objects.values()),
    )


async def sobject_basic(
    emulator: Emulator, request: Request, version: str, sobject: str
) -> Response:
    """Answer ``GET /sobjects/{sobject}``."""
    obj = get_obj(emulator, sobject)
    recent = sorted(
        (r for r in emulator.store.records[obj.name].values() if not r.get("IsDeleted")),
        key=lambda r: r.get("LastModifiedDate", ""),
        reverse=True,
    )[:10]
    return json_response(
        {
            "objectDescribe": obj.basic(version),
            "recentItems": [
                shape_record(obj, r, version, ["Id", "Name"] if "Name" in obj.fields else ["Id"])
                for r in recent
            ],
        }
    )


async def describe(emulator: Emulator, request: Request, version: str, sobject: str) -> Response:
    """Answer ``GET /sobjects/{sobject}/describe``."""
    obj = get_obj(emulator, sobject)
    return conditional(request, obj.describe(version), obj.modified)
