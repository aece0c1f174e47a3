"""The public Intercom endpoints. Handlers are synchronous (they run in worker threads) and
answer ``Reply`` objects; lists are assembled from the stored JSON strings of each object.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from emulators.intercom import model
from emulators.intercom.errors import ApiError, invalid, not_found
from emulators.intercom.search import Compiler, sort_clause
from emulators.intercom.workspace import Workspace, dumps

MAX_PER_PAGE = 150
COMPANY_LIST_CAP = 10_000
SCROLL_PAGE = 50
SCROLL_TTL = 60.0


@dataclass
class Call:
    """One API request as a handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any = None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list (encoded by the server), str/bytes (already JSON), or None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Api", Call], Reply]
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

    def register(fn: Handler) -> Handler:
        ROUTES.append((method, pattern, template, fn))
        return fn

    return register


def match(method: str, path: str) -> tuple[str, Handler | None, dict[str, str], bool]:
    """Answers (template, handler, path params, path_exists_with_other_method)."""
    other = False
    for m, pattern, template, fn in ROUTES:
        found = pattern.match(path)
        if found:
            if m == method:
                return template, fn, found.groupdict(), False
            other = True
    return "", None, {}, other


def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: Any) -> dict[str, Any]:
    try:
        pad = "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(token + pad))
        if not isinstance(state, dict) or "i" not in state:
            raise ValueError
        return state
    except (ValueError, TypeError) as exc:
        raise invalid(
            "starting_after is not a cursor this API returned; start again without it",
            "starting_after",
        ) from exc


def per_page_of(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise invalid("per_page must be an integer", "per_page") from exc
    if not 1 <= n <= MAX_PER_PAGE:
        raise invalid(f"per_page must be between 1 and {MAX_PER_PAGE}", "per_page")
    return n


def int_param(call: Call, name: str, default: int) -> int:
    raw = call.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid(f"{name} must be an integer", name) from exc


def body_object(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise invalid("the request body must be a JSON object")
    return call.body


class Api:
    """State the handlers share: the workspace, settings, and the open company scroll."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.db = ws.db
        self.scroll: dict[str, Any] | None = None
        self.scroll_lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        return self.db.conn()

    def tz(self) -> ZoneInfo:
        return ZoneInfo(str(self.db.settings()["timezone"]))

    # ------------------------------------------------------------------ paging
    def page(
        self,
        *,
        table: str,
        alias: str,
        where: str,
        params: list[Any],
        sort_expr: str | None,
        descending: bool,
        per_page: int,
        starting_after: Any,
        data_key: str,
        list_type: str,
        with_total: bool = True,
    ) -> str:
        """One page of a keyset-paginated list; the cursor carries the last (sort value, id).
        ``with_total=False`` leaves `total_count` out (lists whose schema has none).
        """
        conn = self.conn()
        cursor = decode_cursor(starting_after) if starting_after else None
        if cursor is None:
            total = conn.execute(
                f"SELECT count(*) FROM {table} {alias} WHERE {where}", params
            ).fetchone()[0]
            page_no = 1
        else:
            total, page_no = int(cursor.get("t", 0)), int(cursor.get("p", 0)) + 1
        cond, args = where, list(params)
        op = "<" if descending else ">"
        direction = "DESC" if descending else "ASC"
        if cursor is not None:
            # The keyset bound comes first and in this form so SQLite starts the index scan
            # at the cursor instead of filtering every earlier row (pages stay O(per_page)).
            if sort_expr:
                value = cursor.get("v")
                cond = (
                    f"{sort_expr} {op}= ? AND ({sort_expr} {op} ? OR {alias}.id {op} ?) AND {where}"
                )
                args = [value, value, cursor["i"], *params]
            else:
                cond = f"{alias}.id {op} ? AND {where}"
                args = [cursor["i"], *params]
        order = (
            f"{sort_expr} {direction}, {alias}.id {direction}"
            if sort_expr
            else (f"{alias}.id {direction}")
        )
        rows = conn.execute(
            f"SELECT {sort_expr or 'NULL'}, {alias}.id, {alias}.data FROM {table} {alias} "
            f"WHERE {cond} ORDER BY {order} LIMIT ?",
            [*args, per_page + 1],
        ).fetchall()
        more = len(rows) > per_page
        rows = rows[:per_page]
        pages: dict[str, Any] = {
            "type": "pages",
            "page": page_no,
            "per_page": per_page,
            "total_pages": math.ceil(total / per_page) if total else 0,
        }
        if more:
            last = rows[-1]
            pages["next"] = {
                "per_page": per_page,
                "starting_after": encode_cursor(
                    {"v": last[0], "i": last[1], "p": page_no, "t": total}
                ),
            }
        head_doc: dict[str, Any] = {"type": list_type, "total_count": total, "pages": pages}
        if not with_total:
            del head_doc["total_count"]
        head = json.dumps(head_doc)
        return head[:-1] + f',"{data_key}":[' + ",".join(r[2] for r in rows) + "]}"

    def contact_where(self, search: bool) -> tuple[str, list[Any]]:
        where = "c.merged_into IS NULL AND c.archived = 0"
        params: list[Any] = []
        if search:
            delay = int(float(self.db.settings().get("search_delay_seconds") or 0))
            if delay > 0:
                where += " AND c.indexed_at <= ?"
                params.append(self.db.now() - delay)
        return where, params

    def contact_segment_rules(self) -> dict[str, Any]:
        """Segment id -> its rule (a contacts search query), for `segment_id` filters."""
        return {
            r[0]: json.loads(r[1])
            for r in self.conn().execute("SELECT id, rule FROM segments WHERE kind = 'contact'")
        }

    def contact_compiler(self) -> Compiler:
        return Compiler(
            "contacts",
            self.tz(),
            self.ws.data_attribute_types(self.conn(), "contact"),
            segments=self.contact_segment_rules(),
        )

    def segment_matches(self, rule: Any, contact_id: str | None = None) -> int:
        """How many searchable contacts a contact segment's rule holds (or 0/1 for one)."""
        compiler = self.contact_compiler()
        cond = compiler.compile(rule)
        where, params = self.contact_where(search=False)
        sql = f"SELECT count(*) FROM contacts c WHERE {where} AND {cond}"
        args = [*params, *compiler.params]
        if contact_id is not None:
            sql += " AND c.id = ?"
            args.append(contact_id)
        return int(self.conn().execute(sql, args).fetchone()[0])

    def contact_doc(self, cid: str) -> dict[str, Any]:
        row = (
            self.conn()
            .execute("SELECT data FROM contacts WHERE id = ? AND merged_into IS NULL", (cid,))
            .fetchone()
        )
        if row is None:
            raise not_found("User")
        return json.loads(row[0])

    def conversation_doc(self, conv_id: str, plaintext: bool = False) -> dict[str, Any]:
        conn = self.conn()
        row = conn.execute("SELECT data FROM conversations WHERE id = ?", (conv_id,)).fetchone()
        if row is None:
            raise not_found("Conversation")
        conv = json.loads(row[0])
        # Intercom answers only the 500 most recent parts; the total reveals the truncation.
        parts = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT data FROM parts WHERE conversation_id = ? ORDER BY pos DESC LIMIT 500",
                (conv_id,),
            )
        ]
        parts.reverse()
        if plaintext:
            for part in parts:
                part["body"] = model.plaintext(part["body"])
            conv["source"]["body"] = model.plaintext(conv["source"].get("body")) or ""
        conv["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": conv["statistics"]["count_conversation_parts"],
        }
        return conv

    def find_contact(self, body: dict[str, Any]) -> str:
        """Resolve a contact from `id`, `intercom_user_id`, `user_id` or `email`."""
        conn = self.conn()
        for key, sql in (
            ("id", "id = ?"),
            ("intercom_user_id", "id = ?"),
            ("user_id", "external_id = ?"),
            ("email", "email = ? COLLATE NOCASE"),
        ):
            if body.get(key):
                row = conn.execute(
                    f"SELECT id FROM contacts WHERE {sql} AND merged_into IS NULL "
                    "ORDER BY role = 'user' DESC, seq LIMIT 1",
                    (str(body[key]),),
                ).fetchone()
                if row is None:
                    raise not_found("User")
                return str(row[0])
        raise invalid("identify the contact with id, intercom_user_id, user_id or email")


# ====================================================================== workspace
@route("GET", "/me")
def get_me(api: Api, call: Call) -> Reply:
    settings = api.db.settings()
    row = api.conn().execute("SELECT data FROM admins ORDER BY id LIMIT 1").fetchone()
    adm = (
        json.loads(row[0])
        if row
        else model.admin("7000001", "Emulator Admin", "admin@emulated-workspace.test", [])
    )
    seeded = api.db.get_meta("seed", {}) or {}
    me = {
        "type": "admin",
        "id": adm["id"],
        "name": adm["name"],
        "email": adm["email"],
        "job_title": adm.get("job_title", ""),
        "away_mode_enabled": False,
        "away_mode_reassign": False,
        "has_inbox_seat": True,
        "team_ids": adm["team_ids"],
        "avatar": {"type": "avatar", "image_url": None},
        "email_verified": True,
        "app": {
            "type": "app",
            "id_code": settings["app_id_code"],
            "name": settings["app_name"],
            "created_at": int(seeded.get("seeded_at", 1_700_000_000)) - 400 * 86400,
            "secure": False,
            "identity_verification": False,
            "timezone": settings["timezone"],
            "region": "US",
        },
    }
    return Reply(body=me)


@route("GET", "/admins")
def list_admins(api: Api, call: Call) -> Reply:
    rows = [r[0] for r in api.conn().execute("SELECT data FROM admins ORDER BY id")]
    return Reply(body='{"type":"admin.list","admins":[' + ",".join(rows) + "]}")


def _unix_param(call: Call, name: str, required: bool) -> int | None:
    raw = call.query.get(name)
    if raw in (None, ""):
        if required:
            raise invalid(
                f"{name} is required: the start of the period as unix seconds "
                f"(e.g. {name}=1677253093)",
                name,
            )
        return None
    try:
        return int(float(str(raw)))
    except ValueError as exc:
        raise invalid(f"{name} must be unix seconds (e.g. 1677253093), not {raw!r}", name) from exc


# Registered before /admins/{admin_id}, which would otherwise take "activity_logs" for an id.
@route("GET", "/admins/activity_logs")
def list_activity_logs(api: Api, call: Call) -> Reply:
    after = _unix_param(call, "created_at_after", required=True)
    before = _unix_param(call, "created_at_before", required=False)
    where, params = "a.created_at >= ?", [after]
    if before is not None:
        where += " AND a.created_at <= ?"
        params.append(before)
    text = api.page(
        table="activity_logs",
        alias="a",
        where=where,
        params=params,
        sort_expr="a.created_at",
        descending=True,
        per_page=per_page_of(call.query.get("per_page"), 20),
        starting_after=call.query.get("starting_after"),
        data_key="activity_logs",
        list_type="activity_log.list",
        with_total=False,
    )
    return Reply(body=text)


@route("GET", "/admins/{admin_id}")
def get_admin(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT data FROM admins WHERE id = ?", (call.params["admin_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Admin")
    return Reply(body=row[0])


@route("GET", "/teams")
def list_teams(api: Api, call: Call) -> Reply:
    rows = [r[0] for r in api.conn().execute("SELECT data FROM teams ORDER BY id")]
    return Reply(body='{"type":"team.list","teams":[' + ",".join(rows) + "]}")


@route("GET", "/teams/{team_id}")
def get_team(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT data FROM teams WHERE id = ?", (call.params["team_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Team")
    return Reply(body=row[0])


# ====================================================================== tags
@route("GET", "/tags")
def list_tags(api: Api, call: Call) -> Reply:
    tags = [
        model.tag(r[0], r[1])
        for r in api.conn().execute("SELECT id, name FROM tags ORDER BY CAST(id AS INTEGER)")
    ]
    return Reply(body={"type": "list", "data": tags})


@route("GET", "/tags/{tag_id}")
def get_tag(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT id, name FROM tags WHERE id = ?", (call.params["tag_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Tag")
    return Reply(body=model.tag(row[0], row[1]))


@route("POST", "/tags")
def create_tag(api: Api, call: Call) -> Reply:
    body = body_object(call)
    tag = api.ws.upsert_tag(body.get("name"), body.get("id"))
    users = body.get("users")
    if isinstance(users, list):
        for user in users:
            cid = api.find_contact(user if isinstance(user, dict) else {})
            api.ws.tag_contact(cid, tag["id"], remove=bool(user.get("untag")))
    return Reply(body=tag)


@route("DELETE", "/tags/{tag_id}")
def delete_tag(api: Api, call: Call) -> Reply:
    api.ws.delete_tag(call.params["tag_id"])
    return Reply(body=None)


# ====================================================================== segments
def _segments(api: Api, kind: str, include_count: bool) -> list[dict[str, Any]]:
    out = []
    for data, rule in api.conn().execute(
        "SELECT data, rule FROM segments WHERE kind = ? ORDER BY id", (kind,)
    ):
        doc = json.loads(data)
        if include_count:
            doc["count"] = (
                api.segment_matches(json.loads(rule))
                if kind == "contact"
                else sum(
                    _company_in_segment(json.loads(rule), json.loads(c[0]))
                    for c in api.conn().execute("SELECT data FROM companies")
                )
            )
        out.append(doc)
    return out


def _company_in_segment(rule: dict[str, Any], company: dict[str, Any]) -> bool:
    """A company segment's rule is one {field (dotted path), operator, value} on the company."""
    value: Any = company
    for key in str(rule["field"]).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return False
    if rule["operator"] == ">=":
        return isinstance(value, (int, float)) and value >= rule["value"]
    return bool(value == rule["value"])


@route("GET", "/segments")
def list_segments(api: Api, call: Call) -> Reply:
    include = call.query.get("include_count", "false")
    if include not in {"true", "false"}:
        raise invalid("include_count must be true or false", "include_count")
    kind = call.query.get("type") or "contact"
    if kind not in {"contact", "user", "company"}:
        raise invalid(
            "type must be 'company' to list company segments, or absent for the segments of people",
            "type",
        )
    kind = "company" if kind == "company" else "contact"
    return Reply(body={"type": "segment.list", "segments": _segments(api, kind, include == "true")})


@route("GET", "/segments/{segment_id}")
def get_segment(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT data FROM segments WHERE id = ?", (call.params["segment_id"],))
        .fetchone()
    )
    if row is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return Reply(body=row[0])


# ====================================================================== contacts
@route("GET", "/contacts")
def list_contacts(api: Api, call: Call) -> Reply:
    where, params = api.contact_where(search=False)
    text = api.page(
        table="contacts",
        alias="c",
        where=where,
        params=params,
        sort_expr=None,
        descending=False,
        per_page=per_page_of(call.query.get("per_page"), 50),
        starting_after=call.query.get("starting_after"),
        data_key="data",
        list_type="list",
    )
    return Reply(body=text)


@route("POST", "/contacts/search")
def search_contacts(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if "query" not in body:
        raise invalid("query is required", "query")
    compiler = api.contact_compiler()
    cond = compiler.compile(body["query"])
    sort_expr, descending = sort_clause("contacts", body.get("sort"))
    pagination = body.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise invalid("pagination must be an object", "pagination")
    where, params = api.contact_where(search=True)
    text = api.page(
        table="contacts",
        alias="c",
        where=f"{where} AND {cond}",
        params=params + compiler.params,
        sort_expr=sort_expr,
        descending=descending,
        per_page=per_page_of(pagination.get("per_page"), 50),
        starting_after=pagination.get("starting_after"),
        data_key="data",
        list_type="list",
    )
    return Reply(body=text)


@route("POST", "/contacts")
def create_contact(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.create_contact(body_object(call)))


@route("GET", "/contacts/find_by_external_id/{external_id}")
def find_by_external_id(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute(
            "SELECT data FROM contacts WHERE external_id = ? AND merged_into IS NULL",
            (call.params["external_id"],),
        )
        .fetchone()
    )
    if row is None:
        raise not_found("User")
    return Reply(body=row[0])


@route("POST", "/contacts/merge")
def merge_contacts(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if not body.get("from") or not body.get("into"):
        raise invalid("give 'from' (a lead id) and 'into' (a user id)")
    return Reply(body=api.ws.merge_contacts(str(body["from"]), str(body["into"])))


@route("GET", "/contacts/{contact_id}")
def get_contact(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute(
            "SELECT data FROM contacts WHERE id = ? AND merged_into IS NULL",
            (call.params["contact_id"],),
        )
        .fetchone()
    )
    if row is None:
        raise not_found("User")
    return Reply(body=row[0])


@route("PUT", "/contacts/{contact_id}")
def update_contact(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.update_contact(call.params["contact_id"], body_object(call)))


@route("DELETE", "/contacts/{contact_id}")
def delete_contact(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.delete_contact(call.params["contact_id"]))


@route("POST", "/contacts/{contact_id}/archive")
def archive_contact(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.archive_contact(call.params["contact_id"], True))


@route("POST", "/contacts/{contact_id}/unarchive")
def unarchive_contact(api: Api, call: Call) -> Reply:
    cid = call.params["contact_id"]
    api.conn().execute("SELECT 1")  # the archived contact is still stored
    with api.db.write() as conn:
        row = conn.execute("SELECT external_id FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise not_found("User")
        conn.execute("UPDATE contacts SET archived = 0 WHERE id = ?", (cid,))
    return Reply(body={"type": "contact", "id": cid, "external_id": row[0], "archived": False})


@route("GET", "/contacts/{contact_id}/tags")
def contact_tags(api: Api, call: Call) -> Reply:
    cid = call.params["contact_id"]
    api.contact_doc(cid)
    tags = [
        model.tag(r[0], r[1])
        for r in api.conn().execute(
            "SELECT t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id "
            "WHERE ct.contact_id = ? ORDER BY ct.applied_at, t.id",
            (cid,),
        )
    ]
    return Reply(body={"type": "list", "data": tags})


@route("POST", "/contacts/{contact_id}/tags")
def tag_contact(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if not body.get("id"):
        raise invalid("id (the tag id) is required", "id")
    return Reply(body=api.ws.tag_contact(call.params["contact_id"], str(body["id"])))


@route("DELETE", "/contacts/{contact_id}/tags/{tag_id}")
def untag_contact(api: Api, call: Call) -> Reply:
    return Reply(
        body=api.ws.tag_contact(call.params["contact_id"], call.params["tag_id"], remove=True)
    )


@route("GET", "/contacts/{contact_id}/companies")
def contact_companies(api: Api, call: Call) -> Reply:
    cid = call.params["contact_id"]
    api.contact_doc(cid)
    per_page = per_page_of(call.query.get("per_page"), 50)
    page_no = max(1, int_param(call, "page", 1))
    conn = api.conn()
    total = conn.execute(
        "SELECT count(*) FROM contact_companies WHERE contact_id = ?", (cid,)
    ).fetchone()[0]
    rows = [
        r[0]
        for r in conn.execute(
            "SELECT co.data FROM contact_companies cc JOIN companies co ON co.id = cc.company_id "
            "WHERE cc.contact_id = ? ORDER BY cc.pos, co.id LIMIT ? OFFSET ?",
            (cid, per_page, (page_no - 1) * per_page),
        )
    ]
    total_pages = math.ceil(total / per_page) if total else 0
    pages: dict[str, Any] = {
        "type": "pages",
        "page": page_no,
        "per_page": per_page,
        "total_pages": total_pages,
    }
    if page_no < total_pages:
        pages["next"] = f"/contacts/{cid}/companies?page={page_no + 1}&per_page={per_page}"
    # The list is under `data`, as every example of this operation in the 2.14 description
    # shows and as `type: list` means to Intercom's own SDKs (docs/intercom.md, "Contact's
    # companies"); the schema's `companies` is the key of the retired `company.list` shape.
    head = json.dumps({"type": "list", "total_count": total, "pages": pages})
    return Reply(body=head[:-1] + ',"data":[' + ",".join(rows) + "]}")


@route("POST", "/contacts/{contact_id}/companies")
def attach_company(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if not body.get("id"):
        raise invalid("id (the company's Intercom id) is required", "id")
    return Reply(body=api.ws.attach_company(call.params["contact_id"], str(body["id"])))


@route("DELETE", "/contacts/{contact_id}/companies/{company_id}")
def detach_company(api: Api, call: Call) -> Reply:
    return Reply(
        body=api.ws.attach_company(
            call.params["contact_id"], call.params["company_id"], remove=True
        )
    )


@route("GET", "/contacts/{contact_id}/segments")
def contact_segments(api: Api, call: Call) -> Reply:
    cid = call.params["contact_id"]
    api.contact_doc(cid)
    found = [
        json.loads(data)
        for data, rule in api.conn().execute(
            "SELECT data, rule FROM segments WHERE kind = 'contact' ORDER BY id"
        )
        if api.segment_matches(json.loads(rule), contact_id=cid)
    ]
    return Reply(body={"type": "list", "data": found})


@route("GET", "/contacts/{contact_id}/notes")
def contact_notes(api: Api, call: Call) -> Reply:
    api.contact_doc(call.params["contact_id"])
    return Reply(
        body={
            "type": "list",
            "data": [],
            "total_count": 0,
            "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 0},
        }
    )


# ====================================================================== companies
def _company_list(api: Api, call: Call, order_desc: bool) -> Reply:
    per_page = per_page_of(call.query.get("per_page"), 15)
    page_no = max(1, int_param(call, "page", 1))
    conn = api.conn()
    total = conn.execute("SELECT count(*) FROM companies").fetchone()[0]
    visible = min(total, COMPANY_LIST_CAP)
    offset = (page_no - 1) * per_page
    limit = max(0, min(per_page, visible - offset))
    direction = "DESC" if order_desc else "ASC"
    rows = (
        [
            r[0]
            for r in conn.execute(
                f"SELECT data FROM companies ORDER BY created_at {direction}, id {direction} "
                "LIMIT ? OFFSET ?",
                (limit, offset),
            )
        ]
        if limit
        else []
    )
    total_pages = math.ceil(visible / per_page) if visible else 0
    head = json.dumps(
        {
            "type": "list",
            "total_count": total,
            "pages": {
                "type": "pages",
                "page": page_no,
                "per_page": per_page,
                "total_pages": total_pages,
            },
        }
    )
    return Reply(body=head[:-1] + ',"data":[' + ",".join(rows) + "]}")


@route("GET", "/companies")
def get_companies(api: Api, call: Call) -> Reply:
    conn = api.conn()
    for key, column in (("company_id", "company_id"), ("name", "name")):
        if call.query.get(key):
            row = conn.execute(
                f"SELECT data FROM companies WHERE {column} = ? LIMIT 1", (call.query[key],)
            ).fetchone()
            if row is None:
                raise not_found("Company")
            # The 2.14 description answers this lookup as a company_list holding the match.
            head = json.dumps(
                {
                    "type": "list",
                    "total_count": 1,
                    "pages": {"type": "pages", "page": 1, "per_page": 1, "total_pages": 1},
                }
            )
            return Reply(body=head[:-1] + ',"data":[' + row[0] + "]}")
    return _company_list(api, call, order_desc=True)


@route("POST", "/companies/list")
def list_companies(api: Api, call: Call) -> Reply:
    return _company_list(api, call, order_desc=call.query.get("order", "desc") != "asc")


@route("GET", "/companies/scroll")
def scroll_companies(api: Api, call: Call) -> Reply:
    param = call.query.get("scroll_param")
    now = time.monotonic()
    with api.scroll_lock:
        scroll = api.scroll
        if scroll and now - scroll["used"] > SCROLL_TTL:
            scroll = api.scroll = None
        if not param:
            if scroll is not None:
                raise ApiError(
                    400,
                    "scroll_exists",
                    "Only one scroll per app may be open at a time; finish it or "
                    "wait a minute for it to expire",
                )
            scroll = api.scroll = {
                "param": encode_cursor({"i": "", "n": now}),
                "after": "",
                "used": now,
            }
        elif scroll is None or scroll["param"] != param:
            raise ApiError(
                404,
                "not_found",
                "Scroll parameter not found or expired; restart the scroll without scroll_param",
            )
        rows = (
            api.conn()
            .execute(
                "SELECT id, data FROM companies WHERE id > ? ORDER BY id LIMIT ?",
                (scroll["after"], SCROLL_PAGE),
            )
            .fetchall()
        )
        if rows:
            scroll["after"] = rows[-1][0]
            scroll["used"] = now
            scroll["param"] = encode_cursor({"i": rows[-1][0], "n": now})
            out_param = scroll["param"]
        else:
            out_param = scroll["param"]
            api.scroll = None  # the end of the scroll closes it
    head = json.dumps(
        {"type": "list", "pages": None, "total_count": None, "scroll_param": out_param}
    )
    return Reply(body=head[:-1] + ',"data":[' + ",".join(r[1] for r in rows) + "]}")


@route("POST", "/companies")
def upsert_company(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.upsert_company(body_object(call)))


@route("GET", "/companies/{company_id}")
def get_company(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT data FROM companies WHERE id = ?", (call.params["company_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Company")
    return Reply(body=row[0])


@route("GET", "/companies/{company_id}/contacts")
def company_contacts(api: Api, call: Call) -> Reply:
    company_id = call.params["company_id"]
    if api.conn().execute("SELECT 1 FROM companies WHERE id = ?", (company_id,)).fetchone() is None:
        raise not_found("Company")
    text = api.page(
        table="contacts",
        alias="c",
        where="c.merged_into IS NULL AND c.id IN (SELECT contact_id FROM contact_companies "
        "WHERE company_id = ?)",
        params=[company_id],
        sort_expr=None,
        descending=False,
        per_page=per_page_of(call.query.get("per_page"), 50),
        starting_after=call.query.get("starting_after"),
        data_key="data",
        list_type="list",
    )
    return Reply(body=text)


@route("GET", "/companies/{company_id}/segments")
def company_segments(api: Api, call: Call) -> Reply:
    row = (
        api.conn()
        .execute("SELECT data FROM companies WHERE id = ?", (call.params["company_id"],))
        .fetchone()
    )
    if row is None:
        # The code this operation's description gives (not the `not_found` of the others).
        raise ApiError(404, "company_not_found", "Company Not Found")
    company = json.loads(row[0])
    found = [
        json.loads(data)
        for data, rule in api.conn().execute(
            "SELECT data, rule FROM segments WHERE kind = 'company' ORDER BY id"
        )
        if _company_in_segment(json.loads(rule), company)
    ]
    return Reply(body={"type": "list", "data": found})


# ====================================================================== conversations
@route("GET", "/conversations")
def list_conversations(api: Api, call: Call) -> Reply:
    text = api.page(
        table="conversations",
        alias="v",
        where="1",
        params=[],
        sort_expr="v.updated_at",
        descending=True,
        per_page=per_page_of(call.query.get("per_page"), 20),
        starting_after=call.query.get("starting_after"),
        data_key="conversations",
        list_type="conversation.list",
    )
    return Reply(body=text)


@route("POST", "/conversations/search")
def search_conversations(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if "query" not in body:
        raise invalid("query is required", "query")
    compiler = Compiler("conversations", api.tz())
    cond = compiler.compile(body["query"])
    sort_expr, descending = sort_clause("conversations", body.get("sort"))
    pagination = body.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise invalid("pagination must be an object", "pagination")
    text = api.page(
        table="conversations",
        alias="v",
        where=cond,
        params=compiler.params,
        sort_expr=sort_expr,
        descending=descending,
        per_page=per_page_of(pagination.get("per_page"), 20),
        starting_after=pagination.get("starting_after"),
        data_key="conversations",
        list_type="conversation.list",
    )
    return Reply(body=text)


@route("POST", "/conversations")
def create_conversation(api: Api, call: Call) -> Reply:
    body = body_object(call)
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("id"):
        raise invalid("from: {type: 'user'|'lead'|'contact', id} is required", "from")
    if not isinstance(body.get("body"), str) or not body["body"]:
        raise invalid("body is required", "body")
    conv = api.ws.create_conversation(str(sender["id"]), body["body"], body.get("subject", ""))
    return Reply(
        body={
            "type": "user_message",
            "id": conv["source"]["id"],
            "created_at": conv["created_at"],
            "body": body["body"],
            "message_type": "inapp",
            "conversation_id": conv["id"],
        }
    )


@route("GET", "/conversations/{conversation_id}")
def get_conversation(api: Api, call: Call) -> Reply:
    display = call.query.get("display_as")
    if display not in (None, "", "plaintext", "html"):
        raise invalid("display_as must be 'plaintext'", "display_as")
    return Reply(
        body=api.conversation_doc(call.params["conversation_id"], plaintext=display == "plaintext")
    )


@route("PUT", "/conversations/{conversation_id}")
def update_conversation(api: Api, call: Call) -> Reply:
    conv = api.ws.update_conversation(call.params["conversation_id"], body_object(call))
    return Reply(body=api.conversation_doc(conv["id"]))


@route("DELETE", "/conversations/{conversation_id}")
def delete_conversation(api: Api, call: Call) -> Reply:
    return Reply(body=api.ws.delete_conversation(call.params["conversation_id"]))


@route("POST", "/conversations/{conversation_id}/reply")
def reply_conversation(api: Api, call: Call) -> Reply:
    body = body_object(call)
    conv_id = call.params["conversation_id"]
    message_type = body.get("message_type")
    if message_type not in {"comment", "note", "quick_reply"}:
        raise invalid("message_type must be 'comment' or 'note'", "message_type")
    kind = body.get("type")
    if kind == "admin":
        if not body.get("admin_id"):
            raise invalid("admin_id is required for admin replies", "admin_id")
        author_id = str(body["admin_id"])
    elif kind in {"user", "lead", "contact"}:
        if message_type != "comment":
            raise invalid("contacts can only reply with message_type 'comment'", "message_type")
        author_id = api.find_contact(body)
        kind = "contact"
    else:
        raise invalid("type must be 'admin' or 'user'", "type")
    if message_type in {"comment", "note"} and not body.get("body"):
        raise invalid("body is required", "body")
    conv = api.ws.conversation_action(
        conv_id,
        "comment" if message_type == "quick_reply" else message_type,
        author_type=kind,
        author_id=author_id,
        body=body.get("body"),
        created_at=body.get("created_at"),
    )
    return Reply(body=api.conversation_doc(conv["id"]))


@route("POST", "/conversations/{conversation_id}/parts")
def manage_conversation(api: Api, call: Call) -> Reply:
    body = body_object(call)
    message_type = body.get("message_type")
    if message_type not in {"close", "open", "snoozed", "assignment"}:
        raise invalid(
            "message_type must be one of close, open, snoozed, assignment", "message_type"
        )
    if body.get("type") != "admin" or not body.get("admin_id"):
        raise invalid("type 'admin' and admin_id are required", "admin_id")
    if message_type == "snoozed" and not isinstance(body.get("snoozed_until"), int):
        raise invalid("snoozed_until (unix seconds) is required to snooze", "snoozed_until")
    conv = api.ws.conversation_action(
        call.params["conversation_id"],
        message_type,
        author_type="admin",
        author_id=str(body["admin_id"]),
        body=body.get("body"),
        assignee_id=body.get("assignee_id"),
        snoozed_until=body.get("snoozed_until"),
    )
    return Reply(body=api.conversation_doc(conv["id"]))


@route("POST", "/conversations/{conversation_id}/tags")
def tag_conversation(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if not body.get("id") or not body.get("admin_id"):
        raise invalid("id (the tag id) and admin_id are required", "id")
    return Reply(
        body=api.ws.tag_conversation(
            call.params["conversation_id"], str(body["id"]), str(body["admin_id"])
        )
    )


@route("DELETE", "/conversations/{conversation_id}/tags/{tag_id}")
def untag_conversation(api: Api, call: Call) -> Reply:
    body = body_object(call)
    if not body.get("admin_id"):
        raise invalid("admin_id is required", "admin_id")
    return Reply(
        body=api.ws.tag_conversation(
            call.params["conversation_id"],
            call.params["tag_id"],
            str(body["admin_id"]),
            remove=True,
        )
    )


# ====================================================================== data events
@route("POST", "/events")
def create_event(api: Api, call: Call) -> Reply:
    body = body_object(call)
    name = body.get("event_name")
    if not isinstance(name, str) or not name:
        raise invalid("event_name is required", "event_name")
    created_at = body.get("created_at")
    if not isinstance(created_at, int) or isinstance(created_at, bool):
        raise invalid("created_at (unix seconds) is required", "created_at")
    cid = api.find_contact(body)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("metadata must be an object", "metadata")
    api.ws.record_event(cid, name, created_at, metadata)
    return Reply(status=202, body=None)


@route("POST", "/events/summaries")
def create_event_summaries(api: Api, call: Call) -> Reply:
    body = body_object(call)
    cid = api.find_contact({"user_id": body.get("user_id")})
    summary = body.get("event_summaries") or {}
    if isinstance(summary, dict) and summary.get("event_name"):
        api.ws.record_event(
            cid,
            summary["event_name"],
            summary.get("last") or None,
            count=int(summary.get("count") or 1),
        )
    return Reply(body=None)


@route("GET", "/events")
def list_events(api: Api, call: Call) -> Reply:
    if call.query.get("type") != "user":
        raise invalid("type=user is required", "type")
    keys = [k for k in ("intercom_user_id", "user_id", "email") if call.query.get(k)]
    if len(keys) != 1:
        raise invalid("give exactly one of intercom_user_id, user_id or email", "filter")
    cid = api.find_contact({keys[0]: call.query[keys[0]]})
    doc = api.contact_doc(cid)
    conn = api.conn()
    if call.query.get("summary") == "true":
        events = [
            {
                "name": r[0],
                "first": model.iso(r[1]),
                "last": model.iso(r[2]),
                "count": r[3],
                "description": "",
            }
            for r in conn.execute(
                "SELECT name, first, last, count FROM event_summaries WHERE contact_id = ? "
                "ORDER BY name",
                (cid,),
            )
        ]
        return Reply(
            body={
                "type": "event.summary",
                "email": doc["email"],
                "intercom_user_id": cid,
                "user_id": doc["external_id"] or "",
                "events": events,
            }
        )
    events = []
    for seq, name, created_at, metadata in conn.execute(
        "SELECT seq, event_name, created_at, metadata FROM events WHERE contact_id = ? "
        "ORDER BY created_at DESC, seq DESC LIMIT 500",
        (cid,),
    ):
        events.append(
            {
                "type": "event",
                "id": str(seq),
                "event_name": name,
                "created_at": created_at,
                "intercom_user_id": cid,
                "user_id": doc["external_id"] or "",
                "email": doc["email"],
                "metadata": json.loads(metadata or "{}"),
            }
        )
    return Reply(body={"type": "event.list", "events": events, "pages": {}})


# ====================================================================== data attributes
@route("GET", "/data_attributes")
def list_data_attributes(api: Api, call: Call) -> Reply:
    model_name = call.query.get("model")
    if model_name and model_name not in {"contact", "company", "conversation"}:
        raise invalid("model must be contact, company or conversation", "model")
    sql, args = "SELECT data FROM data_attributes", []
    if model_name:
        sql, args = sql + " WHERE model = ?", [model_name]
    rows = [r[0] for r in api.conn().execute(sql + " ORDER BY id", args)]
    return Reply(body='{"type":"list","data":[' + ",".join(rows) + "]}")


@route("POST", "/data_attributes")
def create_data_attribute(api: Api, call: Call) -> Reply:
    body = body_object(call)
    name, model_name, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\- ]{1,190}", name):
        raise invalid("name is required (letters, digits, spaces, '_' and '-')", "name")
    if model_name not in {"contact", "company"}:
        raise invalid("model must be 'contact' or 'company'", "model")
    if data_type not in {"string", "integer", "float", "boolean", "date", "datetime"}:
        raise invalid("data_type must be string, integer, float, boolean or date", "data_type")
    with api.db.write() as conn:
        if conn.execute(
            "SELECT 1 FROM data_attributes WHERE model = ? AND name = ?", (model_name, name)
        ).fetchone():
            raise invalid(
                f"You already have '{name}' in your {model_name} data. To save "
                "this as new people data, use a different name.",
                "name",
            )
        attr_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM data_attributes").fetchone()[0]
        doc = model.data_attribute(
            attr_id,
            model_name,
            name,
            "date" if data_type == "datetime" else data_type,
            api.db.now(),
            custom=True,
            description=body.get("description") or "",
            options=[
                o.get("value") if isinstance(o, dict) else str(o) for o in body.get("options") or []
            ]
            or None,
        )
        conn.execute(
            "INSERT INTO data_attributes VALUES (?, ?, ?, ?)",
            (attr_id, model_name, name, dumps(doc)),
        )
    return Reply(body=doc)
