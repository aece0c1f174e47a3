"""Data replication resources: ``sobjects/{o}/updated``, ``deleted`` and record counts.

The record counts are those of ``limits/recordCount``.

Rules follow Salesforce's REST API guide ("sObject Get Updated", "sObject Get Deleted") and the
SOAP guide's getUpdated()/getDeleted() rules: ``start``/``end`` are ISO 8601 date-times, seconds
are ignored (both are rounded down to the minute), ``start`` must come before ``end``, results
go back at most 30 days (updated) or 15 days (deleted) before the call, and more than 600,000
ids answer ``EXCEEDED_ID_LIMIT``. The emulator has no transactions in flight, so
``latestDateCovered`` is ``end`` (or the current minute when ``end`` is in the future).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.responses import json_response
from emulators.salesforce.store import now_iso, parse_datetime

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator
    from emulators.salesforce.metadata import SObject

ID_LIMIT = 600_000
UPDATED_DAYS = 30
DELETED_DAYS = 15


def _moment(text: str) -> dt.datetime:
    """A Salesforce-format UTC timestamp back to a datetime."""
    return dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)


def _param(request: Request, name: str) -> dt.datetime:
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        raise SalesforceError(
            "MISSING_ARGUMENT",
            f"The {name} parameter is missing; send start and end as ISO 8601 date-times, "
            "e.g. ?start=2024-05-01T00:00:00%2B00:00&end=2024-05-02T00:00:00%2B00:00",
        )
    # A '+' in an offset arrives as a space when the client did not URL-encode it.
    text = raw.strip().replace(" ", "+")
    parsed = parse_datetime(text) if len(text) > 10 else None
    if parsed is None:
        raise SalesforceError(
            "INVALID_REPLICATION_DATE",
            f"{name}: {raw!r} is not an ISO 8601 date-time; use YYYY-MM-DDThh:mm:ss+hh:mm "
            "(URL-encoded)",
        )
    return _moment(parsed).replace(second=0)  # Salesforce ignores the seconds


def _window(request: Request, days: int) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(start, end, latestDateCovered) after Salesforce's checks."""
    start, end = _param(request, "start"), _param(request, "end")
    if start >= end:
        raise SalesforceError(
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate (seconds are ignored, so both "
            "must differ by at least one minute)",
        )
    now = dt.datetime.now(dt.timezone.utc)
    oldest = (now - dt.timedelta(days=days)).replace(second=0, microsecond=0)
    if start < oldest:
        raise SalesforceError(
            "INVALID_REPLICATION_DATE",
            f"startDate is more than {days} days before the current time: results go back "
            f"at most {days} days; start from {now_iso(oldest)} or later and query older "
            "changes with SOQL (queryAll) instead",
        )
    covered = min(end, now.replace(second=0, microsecond=0))
    return start, end, max(covered, start)


def _obj(emulator: Emulator, name: str) -> SObject:
    obj = emulator.store.obj(name)
    if obj is None:
        raise not_found()
    return obj


def _check_count(emulator: Emulator, count: int) -> None:
    limit = int(getattr(emulator, "replication_id_limit", ID_LIMIT))
    if count > limit:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"More than {limit} ids were found; choose start and end dates closer together",
        )


async def updated(emulator: Emulator, request: Request, version: str, sobject: str) -> Response:
    """Ids of the live records created or changed (``SystemModstamp``) in the window."""
    obj = _obj(emulator, sobject)
    start, _, covered = _window(request, UPDATED_DAYS)
    low, high = now_iso(start), now_iso(covered)
    ids = [
        (record.get("SystemModstamp") or record.get("LastModifiedDate") or "", rid)
        for rid, record in emulator.store.records[obj.name].items()
        if not record.get("IsDeleted")
        and low <= (record.get("SystemModstamp") or record.get("LastModifiedDate") or "") < high
    ]
    _check_count(emulator, len(ids))
    ids.sort()
    return json_response({"ids": [rid for _, rid in ids], "latestDateCovered": high})


async def deleted(emulator: Emulator, request: Request, version: str, sobject: str) -> Response:
    """The records deleted (to the recycle bin) in the window, with their deletion time."""
    obj = _obj(emulator, sobject)
    start, _, covered = _window(request, DELETED_DAYS)
    low, high = now_iso(start), now_iso(covered)
    gone = sorted(
        (record.get("SystemModstamp", ""), rid)
        for rid, record in emulator.store.records[obj.name].items()
        if record.get("IsDeleted") and low <= record.get("SystemModstamp", "") < high
    )
    _check_count(emulator, len(gone))
    return json_response(
        {
            "deletedRecords": [{"id": rid, "deletedDate": stamp} for stamp, rid in gone],
            "earliestDateAvailable": emulator.store.created_iso(),
            "latestDateCovered": high,
        }
    )


async def record_count(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /limits/recordCount``: ``{"sObjects": [{"count", "name"}]}``.

    Live records per object (all objects when the ``sObjects`` parameter is absent; unknown
    names are left out).
    """
    wanted = request.query_params.get("sObjects")
    if wanted:
        names: list[Any] = [n.strip() for n in wanted.split(",") if n.strip()]
        objs = [o for o in (emulator.store.obj(n) for n in names) if o is not None]
    else:
        objs = list(emulator.objects.values())
    seen: set[str] = set()
    out = []
    for obj in objs:
        if obj.name in seen:
            continue
        seen.add(obj.name)
        count = sum(1 for r in emulator.store.records[obj.name].values() if not r.get("IsDeleted"))
        out.append({"count": count, "name": obj.name})
    return json_response({"sObjects": out})
