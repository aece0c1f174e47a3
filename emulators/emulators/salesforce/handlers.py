"""Handlers of the public API: OAuth, REST resources, SOQL, Collections and Bulk 2.0 ingest."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import secrets
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce import soql
from emulators.salesforce.errors import RequestError, SalesforceError, not_found
from emulators.salesforce.ids import normalize
from emulators.salesforce.schema import SObject
from emulators.salesforce.store import USER_ID, now_iso

from emulators.salesforce.app import (  # isort: skip
    COLLECTION_LIMIT,
    JSON_TYPE,
    PAGE_SIZE,
    json_response,
    release_label,
)

if TYPE_CHECKING:
    from emulators.salesforce.app import Emulator


# -- helpers ---------------------------------------------------------------------------------
async def read_json(request: Request) -> Any:
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
    obj = emulator.store.obj(name)
    if obj is None:
        raise not_found()
    return obj


def record_url(version: str, obj: SObject, rid: str) -> str:
    return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"


def shape_record(
    obj: SObject, record: dict[str, Any], version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": record_url(version, obj, record["Id"])}
    }
    names = fields or list(obj.fields)
    for name in names:
        out[name] = record.get(name)
    return out


def writable(obj: SObject, action: str) -> None:
    allowed = {"create": obj.createable, "update": obj.updateable, "delete": obj.deletable}
    if not allowed[action]:
        raise SalesforceError(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            f"You can't {action} {obj.name} records through this API in the emulator",
            status=403 if action == "delete" else 400,
        )


def lock_check(emulator: Emulator, rid: str | None = None) -> None:
    if emulator.take_lock_fault():
        raise SalesforceError(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: " + (rid or ""),
        )


# -- OAuth and versions ----------------------------------------------------------------------
def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


async def oauth(emulator: Emulator, request: Request, path: str) -> Response:
    endpoint = path.rstrip("/").rsplit("/", 1)[-1]
    if endpoint == "userinfo" and request.method in {"GET", "POST"}:
        return identity(emulator, request, "userinfo")
    if request.method != "POST" or endpoint not in {"token", "revoke"}:
        return oauth_error("not_found", "unknown OAuth endpoint", 404)
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
    form.update(request.query_params)
    settings = emulator.settings
    if endpoint == "revoke":
        token = form.get("token", "")
        if token in emulator.tokens:
            emulator.tokens.pop(token)
        elif token:
            emulator.revoke_refresh(token)
        return Response(status_code=200)
    grant = form.get("grant_type", "")
    if grant not in {"refresh_token", "password", "client_credentials"}:
        return oauth_error("unsupported_grant_type", "grant type not supported")
    if form.get("client_id") != settings.client_id:
        return oauth_error("invalid_client_id", "client identifier invalid")
    if form.get("client_secret") != settings.client_secret:
        return oauth_error("invalid_client", "invalid client credentials")
    refresh = None
    if grant == "refresh_token":
        refresh = form.get("refresh_token", "")
        if refresh != settings.refresh_token or refresh in emulator.revoked_refresh:
            return oauth_error("invalid_grant", "expired access/refresh token")
    elif grant == "password":
        password = form.get("password", "")
        if form.get("username") != settings.username or password != settings.password:
            return oauth_error("invalid_grant", "authentication failure")
    base = str(request.base_url).rstrip("/")
    token = emulator.issue_token(refresh)
    body = {
        "access_token": token,
        "signature": secrets.token_urlsafe(32),
        "scope": "api refresh_token",
        "instance_url": base,
        "id": f"{base}/id/{emulator.org_id}/{USER_ID}",
        "token_type": "Bearer",
        "issued_at": str(int(time.time() * 1000)),
    }
    return json_response(body, headers={"Cache-Control": "no-cache,must-revalidate,no-store"})


def identity(
    emulator: Emulator, request: Request, kind: str, org: str | None = None, user: str | None = None
) -> Response:
    """The identity URL (``/id/{org}/{user}``) or OpenID ``/services/oauth2/userinfo``.

    Both need a valid access token (403 ``Bad_OAuth_Token`` otherwise, as Salesforce answers)
    and are not billed: Salesforce limits them per token and hour, not by the daily budget.
    """
    if not emulator.token_valid(request.headers.get("authorization")):
        return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
    if kind == "id" and (
        normalize(org or "") != emulator.org_id or normalize(user or "") != USER_ID
    ):
        return Response("Bad_Id", status_code=404, media_type="text/plain")
    base = str(request.base_url).rstrip("/")
    user_rec = emulator.store.records["User"][USER_ID]
    version = emulator.settings.api_version
    urls = {
        name: f"{base}/services/data/v{version}/{name}/" for name in ("sobjects", "query", "recent")
    }
    urls["rest"] = f"{base}/services/data/v{version}/"
    common = {
        "user_id": USER_ID,
        "organization_id": emulator.org_id,
        "email": user_rec.get("Email"),
        "email_verified": True,
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 3600000,
        "urls": urls,
        "is_app_installed": True,
    }
    if kind == "userinfo":
        body = {
            "sub": f"{base}/id/{emulator.org_id}/{USER_ID}",
            "preferred_username": emulator.settings.username,
            "nickname": user_rec.get("Alias"),
            "name": user_rec.get("Name"),
            "given_name": user_rec.get("FirstName"),
            "family_name": user_rec.get("LastName"),
            "zoneinfo": user_rec.get("TimeZoneSidKey"),
            "updated_at": user_rec.get("LastModifiedDate"),
            **common,
        }
    else:
        body = {
            "id": f"{base}/id/{emulator.org_id}/{USER_ID}",
            "asserted_user": True,
            "username": emulator.settings.username,
            "nick_name": user_rec.get("Alias"),
            "display_name": user_rec.get("Name"),
            "first_name": user_rec.get("FirstName"),
            "last_name": user_rec.get("LastName"),
            "timezone": user_rec.get("TimeZoneSidKey"),
            "last_modified_date": user_rec.get("LastModifiedDate"),
            **common,
        }
    return json_response(body)


def versions(emulator: Emulator) -> Response:
    top = int(float(emulator.settings.api_version))
    return json_response(
        [
            {"label": release_label(f"{v}.0"), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(31, top + 1)
        ]
    )


# -- resources, limits, describe -------------------------------------------------------------
async def resources(emulator: Emulator, request: Request, version: str) -> Response:
    base = f"/services/data/v{version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return json_response({name: f"{base}/{name}" for name in names})


async def limits(emulator: Emulator, request: Request, version: str) -> Response:
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
    obj = get_obj(emulator, sobject)
    return conditional(request, obj.describe(version), obj.modified)


# -- single records --------------------------------------------------------------------------
def find_record(emulator: Emulator, obj: SObject, rid: str) -> dict[str, Any]:
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
    if not isinstance(body, dict):
        raise RequestError(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of the sObject from a JSON array or value; send an object",
        )
    return body


async def create(emulator: Emulator, request: Request, version: str, sobject: str) -> Response:
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
    obj = get_obj(emulator, sobject)
    writable(obj, "delete")
    record = find_record(emulator, obj, id)
    lock_check(emulator, record["Id"])
    emulator.store.delete(obj, record)
    emulator.store.persist(obj.name, [record])
    return Response(status_code=204)


def external_field(obj: SObject, name: str) -> Any:
    fld = obj.field(name)
    if fld is None or not (fld.external_id or fld.name == "Id"):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {name}")
    return fld


def matches_for(emulator: Emulator, obj: SObject, fld: Any, value: str) -> list[str]:
    if fld.name == "Id":
        found = emulator.store.lookup(value)
        ok = found and found[0].name == obj.name and not found[1].get("IsDeleted")
        return [found[1]["Id"]] if ok else []
    return emulator.store.find_by_ext(obj, fld, value)


def several(version: str, obj: SObject, ids: list[str]) -> Response:
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
    obj = get_obj(emulator, sobject)
    found = one_by_external_id(emulator, version, obj, field, value)
    if isinstance(found, Response):
        return found
    return json_response(shape_record(obj, found, version))


async def delete_by_external_id(
    emulator: Emulator, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
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


# -- SOQL ------------------------------------------------------------------------------------
def page_size(request: Request) -> int:
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
    return await _query(emulator, request, version, False)


async def query_all(emulator: Emulator, request: Request, version: str) -> Response:
    return await _query(emulator, request, version, True)


async def _query(emulator: Emulator, request: Request, version: str, deleted: bool) -> Response:
    text = request.query_params.get("q")
    if not text:
        raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
    return json_response(run_query(emulator, text, deleted, version, page_size(request)))


async def query_more(emulator: Emulator, request: Request, version: str, locator: str) -> Response:
    key, _, start = locator.rpartition("-")
    entry = emulator.locators.get(key)
    if entry is None or not start.isdigit():
        raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", status=400)
    query_obj, ids, deleted = entry
    emulator.locators.pop(key)
    return json_response(
        page(emulator, query_obj, ids, int(start), deleted, version, page_size(request))
    )


# -- sObject Collections ---------------------------------------------------------------------
def collection_body(body: Any) -> tuple[bool, list[Any]]:
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
    out: dict[str, Any] = {"success": False, "errors": [exc.record_error()]}
    if created is not None:
        out["created"] = False
    return out


def record_type(emulator: Emulator, item: dict[str, Any], default: str | None) -> SObject:
    attrs = item.get("attributes")
    name = attrs.get("type") if isinstance(attrs, dict) else default
    if not name:
        raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.")
    obj = emulator.store.obj(str(name))
    if obj is None:
        raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


async def collection_create(emulator: Emulator, request: Request, version: str) -> Response:
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


# -- Bulk API 2.0 ingest ---------------------------------------------------------------------
async def job_create(emulator: Emulator, request: Request, version: str) -> Response:
    job = emulator.bulk.create(await read_json(request), version)
    return json_response(job.public(full=False))


async def job_list(emulator: Emulator, request: Request, version: str) -> Response:
    jobs = sorted(emulator.bulk.jobs.values(), key=lambda j: j.info["createdDate"])
    return json_response(
        {"done": True, "records": [j.public(full=False) for j in jobs], "nextRecordsUrl": None}
    )


async def job_get(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    return json_response(emulator.bulk.get(job).public())


async def job_patch(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    found = emulator.bulk.get(job)
    body = await read_json(request)
    return json_response(emulator.bulk.set_state(found, body).public(full=False))


async def job_delete(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    emulator.bulk.delete(emulator.bulk.get(job))
    return Response(status_code=204)


async def job_upload(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    found = emulator.bulk.get(job)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise SalesforceError(
            "INVALIDCONTENTTYPE",
            f"Content-Type {content_type or '(none)'} is not supported; upload text/csv",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > emulator.bulk.max_upload_bytes:
        raise SalesforceError(
            "BULK_API_ERROR",
            f"Request body of {declared} bytes exceeds the maximum upload size of "
            f"{emulator.bulk.max_upload_bytes} bytes; split the data into several jobs",
            status=413,
        )
    emulator.bulk.upload(found, await request.body())
    return Response(status_code=201)


async def job_results(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    data = emulator.bulk.results(emulator.bulk.get(job), kind)
    return Response(data, media_type="text/csv", headers={"Sforce-Locator": "null"})


__all__ = ["JSON_TYPE", "now_iso"]
