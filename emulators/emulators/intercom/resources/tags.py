"""The tag endpoints: list, find, create or tag in bulk, delete."""

from __future__ import annotations

from emulators.core.routing import RouteTable
from emulators.intercom import model
from emulators.intercom.api import Api, Call, Reply, body_object
from emulators.intercom.errors import not_found

routes = RouteTable()


@routes("GET", "/tags")
def list_tags(api: Api, call: Call) -> Reply:
    """Answer ``GET /tags``."""
    tags = [
        model.tag(r[0], r[1])
        for r in api.conn().execute("SELECT id, name FROM tags ORDER BY CAST(id AS INTEGER)")
    ]
    return Reply(body={"type": "list", "data": tags})


@routes("GET", "/tags/{tag_id}")
def get_tag(api: Api, call: Call) -> Reply:
    """Answer ``GET /tags/{tag_id}``."""
    row = (
        api.conn()
        .execute("SELECT id, name FROM tags WHERE id = ?", (call.params["tag_id"],))
        .fetchone()
    )
    if row is None:
        raise not_found("Tag")
    return Reply(body=model.tag(row[0], row[1]))


@routes("POST", "/tags")
def create_tag(api: Api, call: Call) -> Reply:
    """Answer ``POST /tags``."""
    body = body_object(call)
    tag = api.ws.upsert_tag(body.get("name"), body.get("id"))
    users = body.get("users")
    if isinstance(users, list):
        for user in users:
            cid = api.find_contact(user if isinstance(user, dict) else {})
            api.ws.tag_contact(cid, tag["id"], remove=bool(user.get("untag")))
    return Reply(body=tag)


@routes("DELETE", "/tags/{tag_id}")
def delete_tag(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /tags/{tag_id}``."""
    api.ws.delete_tag(call.params["tag_id"])
    return Reply(body=None)
