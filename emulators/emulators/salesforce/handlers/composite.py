"""The Composite resource: ``POST /services/data/vNN.0/composite``.

Each subrequest is dispatched to the same handler its URL reaches at the top level, through a
synthetic Starlette request, so validation, ids, errors and bodies are identical. The composite
request is billed once (by the caller, ``app._public``); subrequests are never billed or counted.
The whole request runs without yielding to the event loop, so no other request interleaves.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.backend import DATA_PREFIX
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.handlers.common import get_obj, read_json, shape_record
from emulators.salesforce.ids import normalize
from emulators.salesforce.responses import error_response, json_response
from emulators.salesforce.store import JOURNAL

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTION = 5
REFERENCE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)((?:\.[^.}\[\]]+|\[\d+\])*)\}")
REFERENCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
PATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"}
ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


class Halted(Exception):
    """A subrequest that cannot run (a reference to a failed or missing result)."""


def _entry(
    ref: Any, status: int, body: Any, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "body": body,
        "httpHeaders": headers or {},
        "httpStatusCode": status,
        "referenceId": ref,
    }


def _halted(ref: Any, message: str = ROLLED_BACK) -> dict[str, Any]:
    return _entry(ref, 400, [{"errorCode": "PROCESSING_HALTED", "message": message}])


def _limit(message: str) -> Response:
    """Salesforce answers a violated composite limit as one failed pseudo-subrequest."""
    return json_response(
        {
            "compositeResponse": [
                _entry(None, 400, [{"errorCode": "LIMIT_EXCEEDED", "message": message}])
            ]
        }
    )


def _invalid(message: str) -> SalesforceError:
    return SalesforceError("INVALID_INPUT", message)


def _resolve(results: dict[str, dict[str, Any]], ref: str, path: str) -> Any:
    entry = results.get(ref)
    if entry is None:
        raise Halted(
            f"Invalid reference specified. No value for {ref}{path} found in {ref}. "
            f"Provided referenceId ({ref}) does not refer to an earlier subrequest."
        )
    if entry["httpStatusCode"] >= 400:
        raise Halted(
            f"Invalid reference specified. Referenced subrequest {ref} failed: {ref}{path}"
        )
    value: Any = entry["body"]
    for name, index in PATH_PART.findall(path):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise Halted(f"Invalid reference specified. No value for {ref}{path} found in {ref}.")
    return value


def _substitute(value: Any, results: dict[str, dict[str, Any]]) -> Any:
    """Replace @{ref.path} in every string of a JSON value.

    A whole-string reference keeps the referenced value's type.
    """
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole:
            return _resolve(results, whole.group(1), whole.group(2))
        return REFERENCE.sub(lambda m: _text(_resolve(results, m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return (
        json.dumps(value) if isinstance(value, (dict, list, bool)) or value is None else str(value)
    )


def _split_url(url: str) -> tuple[str, str, str]:
    """(version, rest, query string) of a subrequest URL under /services/data/vNN.0/."""
    path, _, query = url.partition("?")
    found = DATA_PREFIX.match(path)
    if not found:
        raise not_found()
    return found.group(1), found.group(2) or "/", query


def _counts_against_five(rest: str) -> bool:
    return bool(re.match(r"^/(query|queryAll|composite/sobjects)(/|$)", rest))


def _check(body: Any) -> tuple[bool, list[dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise SalesforceError(
            "JSON_PARSER_ERROR", "The request body must be an object with a compositeRequest array"
        )
    subrequests = body["compositeRequest"]
    if not subrequests:
        raise _invalid("compositeRequest must contain at least one subrequest")
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise SalesforceError("JSON_PARSER_ERROR", "Each subrequest must be a JSON object")
        for key in ("method", "url", "referenceId"):
            if not isinstance(sub.get(key), str) or not sub[key]:
                raise _invalid(f"Required field is missing in a subrequest: {key}")
        if sub["method"].upper() not in METHODS:
            raise _invalid(
                f"Invalid HTTP method in subrequest {sub['referenceId']}: {sub['method']}"
            )
        if not REFERENCE_ID.match(sub["referenceId"]):
            raise _invalid(
                f"Invalid referenceId: {sub['referenceId']}; use letters, digits "
                "and underscores, starting with a letter"
            )
        if sub["referenceId"] in seen:
            raise _invalid(f"Duplicate referenceId provided in the request: {sub['referenceId']}")
        seen.add(sub["referenceId"])
    return bool(body.get("allOrNone", False)), subrequests


def _request(
    outer: Request, method: str, path: str, query: str, body: Any, headers: dict[str, Any]
) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    pairs = [
        (k.lower().encode("latin-1", "replace"), str(v).encode("latin-1", "replace"))
        for k, v in headers.items()
        if k.lower() not in {"content-length", "authorization"}
    ]
    pairs.append((b"content-type", b"application/json"))
    pairs.append((b"content-length", str(len(raw)).encode()))
    if "authorization" in outer.headers:
        pairs.append((b"authorization", outer.headers["authorization"].encode("latin-1")))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode("latin-1"),
        "headers": pairs,
        "root_path": "",
        "scheme": outer.url.scheme,
        "server": outer.scope.get("server"),
        "client": outer.scope.get("client"),
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


def _normalize_query(query: str) -> str:
    """Subrequest URLs often carry SOQL unencoded (spaces, quotes); encode it properly."""
    pairs = urllib.parse.parse_qsl(
        query.replace("+", "%2B") if " " in query else query, keep_blank_values=True
    )
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


async def _run(
    emulator: Emulator, outer: Request, sub: dict[str, Any], results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ref = sub["referenceId"]
    method = sub["method"].upper()
    try:
        url = _substitute(sub["url"], results)
        body = _substitute(sub["body"], results) if "body" in sub else None
    except Halted as exc:
        return _halted(ref, str(exc))
    given = sub.get("httpHeaders")
    headers: dict[str, Any] = given if isinstance(given, dict) else {}
    try:
        version, rest, query = _split_url(str(url))
        matched = emulator.match(method, rest)
        if (
            matched is None
            or matched.route is None
            or not emulator.supported_version(version)
            or not (rest.startswith("/sobjects") or _counts_against_five(rest))
        ):
            raise not_found()
        request = _request(
            outer, method, str(url).partition("?")[0], _normalize_query(query), body, headers
        )
        response = await matched.route.endpoint(emulator, request, version, **matched.params)
    except SalesforceError as exc:
        response = error_response(exc)
    payload = json.loads(response.body) if response.body else None
    out_headers = (
        {"Location": response.headers["location"]} if "location" in response.headers else {}
    )
    return _entry(ref, response.status_code, payload, out_headers)


async def composite(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``POST /composite``."""
    all_or_none, subrequests = _check(await read_json(request))
    if len(subrequests) > MAX_SUBREQUESTS:
        return _limit(f"The request can’t contain more than {MAX_SUBREQUESTS} operations.")
    heavy = 0
    for sub in subrequests:
        with contextlib.suppress(SalesforceError):
            heavy += _counts_against_five(_split_url(sub["url"].split("@{")[0])[1])
    if heavy > MAX_QUERY_OR_COLLECTION:
        return _limit(
            f"The request can’t contain more than {MAX_QUERY_OR_COLLECTION} query "
            "or sObject Collections operations."
        )
    results: dict[str, dict[str, Any]] = {}
    answers: list[dict[str, Any]] = []
    journal: list[tuple[str, str, dict[str, Any] | None]] = []
    token = JOURNAL.set(journal if all_or_none else None)
    try:
        for position, sub in enumerate(subrequests):
            entry = await _run(emulator, request, sub, results)
            results[sub["referenceId"]] = entry
            answers.append(entry)
            if all_or_none and entry["httpStatusCode"] >= 400:
                emulator.store.rollback(journal)
                answers = (
                    [_halted(a["referenceId"]) for a in answers[:-1]]
                    + [entry]
                    + [_halted(s["referenceId"]) for s in subrequests[position + 1 :]]
                )
                break
    finally:
        JOURNAL.reset(token)
    return json_response({"compositeResponse": answers})


# -- sObject Collections retrieve -------------------------------------------------------------
RETRIEVE_LIMIT = 2000


def _names(value: Any, what: str) -> list[str]:
    """A list from a JSON array or a comma-separated query parameter."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SalesforceError("JSON_PARSER_ERROR", f"{what} must be a list of strings")
    names = [v.strip() for v in value if v.strip()]
    if not names:
        raise SalesforceError(
            "MISSING_ARGUMENT",
            f"{what} is required: give at least one, e.g. ?ids=00Q...,00Q...&fields=Id,Name "
            'or {"ids": [...], "fields": [...]}',
        )
    return names


async def collection_retrieve(
    emulator: Emulator, request: Request, version: str, sobject: str
) -> Response:
    """``GET|POST /composite/sobjects/{sobject}``: records of one type by id, in id order.

    Each slot is the record with ``attributes``, ``Id`` and the fields asked for, or null when
    the id is malformed, of another type, unknown or deleted. An unknown field fails the whole
    request with 400 ``INVALID_FIELD`` (the retrieve runs as a query, so the message is
    SOQL's). At most 2,000 ids.
    """
    obj = get_obj(emulator, sobject)
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise SalesforceError(
                "JSON_PARSER_ERROR", 'The request body must be {"ids": [...], "fields": [...]}'
            )
        raw_ids, raw_fields = body.get("ids"), body.get("fields")
    else:
        raw_ids = request.query_params.get("ids")
        raw_fields = request.query_params.get("fields")
    ids = _names(raw_ids if raw_ids is not None else [], "ids")
    wanted = _names(raw_fields if raw_fields is not None else [], "fields")
    if len(ids) > RETRIEVE_LIMIT:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"id limit reached: cannot retrieve more than {RETRIEVE_LIMIT} records in one "
            f"call ({len(ids)} given); split the ids over several calls",
        )
    fields = ["Id"]
    for name in wanted:
        fld = obj.field(name)
        if fld is None:
            raise SalesforceError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use "
                "a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        if fld.name not in fields:
            fields.append(fld.name)
    out: list[dict[str, Any] | None] = []
    records = emulator.store.records[obj.name]
    for rid in ids:
        canonical = normalize(rid)
        record = records.get(canonical) if canonical else None
        if record is None or record.get("IsDeleted"):
            out.append(None)
        else:
            out.append(shape_record(obj, record, version, fields))
    return json_response(out)
