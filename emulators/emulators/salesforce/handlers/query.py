"""SOQL over REST: ``/query``, ``/queryAll`` and their ``nextRecordsUrl`` locators."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce import soql
from emulators.salesforce.backend import PAGE_SIZE
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.responses import json_response

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


def page_size(request: Request) -> int:
    """The batch size from the ``Sforce-Query-Options`` header (default 2000)."""
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(PAGE_SIZE, int(value)))
    return PAGE_SIZE


def run_query(
    emulator: Emulator, text: str, include_deleted: bool, version: str, size: int | None
) -> dict[str, Any]:
    """Run SOQL and answer the first page (or every record when size is None)."""
    store = emulator.store
    query = soql.parse(text, store)
    rows = soql.execute(query, store, include_deleted)
    if query.count:
        return {"totalSize": len(rows), "done": True, "records": []}
    if query.aggregate:
        # AggregateResult rows; GROUP BY answers have no query locator (one page).
        return {"totalSize": len(rows), "done": True, "records": rows}
    return page(emulator, query, [r["Id"] for r in rows], 0, include_deleted, version, size)


def page(
    emulator: Emulator,
    query: soql.Query,
    ids: list[str],
    start: int,
    include_deleted: bool,
    version: str,
    size: int | None,
) -> dict[str, Any]:
    """One page of query results, with ``nextRecordsUrl`` when more wait."""
    store = emulator.store
    end = len(ids) if size is None else min(start + size, len(ids))
    table = store.records[query.sobject.name]
    records = soql.shape_many(
        query, store, [table[rid] for rid in ids[start:end] if rid in table], version
    )
    body: dict[str, Any] = {"totalSize": len(ids), "done": end >= len(ids), "records": records}
    if end < len(ids):
        locator = "01g" + secrets.token_hex(6).upper()
        emulator.locators[locator] = (query, ids, include_deleted)
        while len(emulator.locators) > 500:
            emulator.locators.popitem(last=False)
        kind = "queryAll" if include_deleted else "query"
        body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{end}"
    return body


async def query(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /query``."""
    return await _query(emulator, request, version, False)


async def query_all(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /queryAll``."""
    return await _query(emulator, request, version, True)


async def _query(emulator: Emulator, request: Request, version: str, deleted: bool) -> Response:
    text = request.query_params.get("q")
    if not text:
        raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
    return json_response(run_query(emulator, text, deleted, version, page_size(request)))


async def query_more(emulator: Emulator, request: Request, version: str, locator: str) -> Response:
    """Answer ``GET /query/{locator}``, ``GET /queryAll/{locator}``."""
    key, _, start = locator.rpartition("-")
    entry = emulator.locators.get(key)
    if entry is None or not start.isdigit():
        raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", status=400)
    query_obj, ids, deleted = entry
    emulator.locators.pop(key)
    return json_response(
        page(emulator, query_obj, ids, int(start), deleted, version, page_size(request))
    )
