"""The company endpoints: list, scroll, create or update, find, and their contacts and segments."""

from __future__ import annotations

import json
import math
import time

from emulators.core.routing import RouteTable
from emulators.intercom.api import (
    COMPANY_LIST_CAP,
    SCROLL_PAGE,
    SCROLL_TTL,
    Api,
    Call,
    Reply,
    body_object,
    encode_cursor,
    int_param,
    per_page_of,
)
from emulators.intercom.errors import ApiError, not_found
from emulators.intercom.resources.segments import company_in_segment

routes = RouteTable()


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


@routes("GET", "/companies")
def get_companies(api: Api, call: Call) -> Reply:
    """Answer ``GET /companies``."""
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


@routes("POST", "/companies/list")
def list_companies(api: Api, call: Call) -> Reply:
    """Answer ``POST /companies/list``."""
    return _company_list(api, call, order_desc=call.query.get("order", "desc") != "asc")


@routes("GET", "/companies/scroll")
def scroll_companies(api: Api, call: Call) -> Reply:
    """Answer ``GET /companies/scroll``."""
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


@routes("POST", "/companies")
def upsert_company(api: Api, call: Call) -> Reply:
    """Answer ``POST /companies``."""
    return Reply(body=api.ws.upsert_company(body_object(call)))


@routes("GET", "/companies/{company_id}")
def get_company(api: Api, call: Call) -> Reply:
    """Answer ``GET /companies/{company_id}``."""
    row = (
        api.conn()
        .execute("SELECT data FROM companies WHERE id = ?", (call.params["company_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Company")
    return Reply(body=row[0])


@routes("GET", "/companies/{company_id}/contacts")
def company_contacts(api: Api, call: Call) -> Reply:
    """Answer ``GET /companies/{company_id}/contacts``."""
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


@routes("GET", "/companies/{company_id}/segments")
def company_segments(api: Api, call: Call) -> Reply:
    """Answer ``GET /companies/{company_id}/segments``."""
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
        if company_in_segment(json.loads(rule), company)
    ]
    return Reply(body={"type": "list", "data": found})
