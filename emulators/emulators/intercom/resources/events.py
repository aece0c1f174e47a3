"""The data event endpoints: record, summaries and list."""

from __future__ import annotations

import json

from emulators.core.routing import RouteTable
from emulators.intercom import model
from emulators.intercom.api import Api, Call, Reply, body_object
from emulators.intercom.errors import invalid

routes = RouteTable()


@routes("POST", "/events")
def create_event(api: Api, call: Call) -> Reply:
    """Answer ``POST /events``."""
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


@routes("POST", "/events/summaries")
def create_event_summaries(api: Api, call: Call) -> Reply:
    """Answer ``POST /events/summaries``."""
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


@routes("GET", "/events")
def list_events(api: Api, call: Call) -> Reply:
    """Answer ``GET /events``."""
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
