"""The contact endpoints: list, search, create, find, merge, archive; tags, companies, notes."""

from __future__ import annotations

import json
import math
from typing import Any

from emulators.core.routing import RouteTable
from emulators.intercom import model
from emulators.intercom.api import Api, Call, Reply, body_object, int_param, per_page_of
from emulators.intercom.errors import invalid, not_found
from emulators.intercom.search import sort_clause

routes = RouteTable()


@routes("GET", "/contacts")
def list_contacts(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts``."""
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


@routes("POST", "/contacts/search")
def search_contacts(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/search``."""
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


@routes("POST", "/contacts")
def create_contact(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts``."""
    return Reply(body=api.ws.create_contact(body_object(call)))


@routes("GET", "/contacts/find_by_external_id/{external_id}")
def find_by_external_id(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/find_by_external_id/{external_id}``."""
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


@routes("POST", "/contacts/merge")
def merge_contacts(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/merge``."""
    body = body_object(call)
    if not body.get("from") or not body.get("into"):
        raise invalid("give 'from' (a lead id) and 'into' (a user id)")
    return Reply(body=api.ws.merge_contacts(str(body["from"]), str(body["into"])))


@routes("GET", "/contacts/{contact_id}")
def get_contact(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/{contact_id}``."""
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


@routes("PUT", "/contacts/{contact_id}")
def update_contact(api: Api, call: Call) -> Reply:
    """Answer ``PUT /contacts/{contact_id}``."""
    return Reply(body=api.ws.update_contact(call.params["contact_id"], body_object(call)))


@routes("DELETE", "/contacts/{contact_id}")
def delete_contact(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /contacts/{contact_id}``."""
    return Reply(body=api.ws.delete_contact(call.params["contact_id"]))


@routes("POST", "/contacts/{contact_id}/archive")
def archive_contact(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/{contact_id}/archive``."""
    return Reply(body=api.ws.archive_contact(call.params["contact_id"], True))


@routes("POST", "/contacts/{contact_id}/unarchive")
def unarchive_contact(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/{contact_id}/unarchive``."""
    cid = call.params["contact_id"]
    api.conn().execute("SELECT 1")  # the archived contact is still stored
    with api.db.write() as conn:
        row = conn.execute("SELECT external_id FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise not_found("User")
        conn.execute("UPDATE contacts SET archived = 0 WHERE id = ?", (cid,))
    return Reply(body={"type": "contact", "id": cid, "external_id": row[0], "archived": False})


@routes("GET", "/contacts/{contact_id}/tags")
def contact_tags(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/{contact_id}/tags``."""
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


@routes("POST", "/contacts/{contact_id}/tags")
def tag_contact(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/{contact_id}/tags``."""
    body = body_object(call)
    if not body.get("id"):
        raise invalid("id (the tag id) is required", "id")
    return Reply(body=api.ws.tag_contact(call.params["contact_id"], str(body["id"])))


@routes("DELETE", "/contacts/{contact_id}/tags/{tag_id}")
def untag_contact(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /contacts/{contact_id}/tags/{tag_id}``."""
    return Reply(
        body=api.ws.tag_contact(call.params["contact_id"], call.params["tag_id"], remove=True)
    )


@routes("GET", "/contacts/{contact_id}/companies")
def contact_companies(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/{contact_id}/companies``."""
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


@routes("POST", "/contacts/{contact_id}/companies")
def attach_company(api: Api, call: Call) -> Reply:
    """Answer ``POST /contacts/{contact_id}/companies``."""
    body = body_object(call)
    if not body.get("id"):
        raise invalid("id (the company's Intercom id) is required", "id")
    return Reply(body=api.ws.attach_company(call.params["contact_id"], str(body["id"])))


@routes("DELETE", "/contacts/{contact_id}/companies/{company_id}")
def detach_company(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /contacts/{contact_id}/companies/{company_id}``."""
    return Reply(
        body=api.ws.attach_company(
            call.params["contact_id"], call.params["company_id"], remove=True
        )
    )


@routes("GET", "/contacts/{contact_id}/segments")
def contact_segments(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/{contact_id}/segments``."""
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


@routes("GET", "/contacts/{contact_id}/notes")
def contact_notes(api: Api, call: Call) -> Reply:
    """Answer ``GET /contacts/{contact_id}/notes``."""
    api.contact_doc(call.params["contact_id"])
    return Reply(
        body={
            "type": "list",
            "data": [],
            "total_count": 0,
            "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 0},
        }
    )
