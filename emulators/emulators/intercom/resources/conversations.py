"""The conversation endpoints: list, search, create, find, update, reply, manage, tag."""

from __future__ import annotations

from emulators.core.routing import RouteTable
from emulators.intercom.api import Api, Call, Reply, body_object, per_page_of
from emulators.intercom.errors import invalid
from emulators.intercom.search import Compiler, sort_clause

routes = RouteTable()


@routes("GET", "/conversations")
def list_conversations(api: Api, call: Call) -> Reply:
    """Answer ``GET /conversations``."""
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


@routes("POST", "/conversations/search")
def search_conversations(api: Api, call: Call) -> Reply:
    """Answer ``POST /conversations/search``."""
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


@routes("POST", "/conversations")
def create_conversation(api: Api, call: Call) -> Reply:
    """Answer ``POST /conversations``."""
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


@routes("GET", "/conversations/{conversation_id}")
def get_conversation(api: Api, call: Call) -> Reply:
    """Answer ``GET /conversations/{conversation_id}``."""
    display = call.query.get("display_as")
    if display not in (None, "", "plaintext", "html"):
        raise invalid("display_as must be 'plaintext'", "display_as")
    return Reply(
        body=api.conversation_doc(call.params["conversation_id"], plaintext=display == "plaintext")
    )


@routes("PUT", "/conversations/{conversation_id}")
def update_conversation(api: Api, call: Call) -> Reply:
    """Answer ``PUT /conversations/{conversation_id}``."""
    conv = api.ws.update_conversation(call.params["conversation_id"], body_object(call))
    return Reply(body=api.conversation_doc(conv["id"]))


@routes("DELETE", "/conversations/{conversation_id}")
def delete_conversation(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /conversations/{conversation_id}``."""
    return Reply(body=api.ws.delete_conversation(call.params["conversation_id"]))


@routes("POST", "/conversations/{conversation_id}/reply")
def reply_conversation(api: Api, call: Call) -> Reply:
    """Answer ``POST /conversations/{conversation_id}/reply``."""
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


@routes("POST", "/conversations/{conversation_id}/parts")
def manage_conversation(api: Api, call: Call) -> Reply:
    """Answer ``POST /conversations/{conversation_id}/parts``."""
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


@routes("POST", "/conversations/{conversation_id}/tags")
def tag_conversation(api: Api, call: Call) -> Reply:
    """Answer ``POST /conversations/{conversation_id}/tags``."""
    body = body_object(call)
    if not body.get("id") or not body.get("admin_id"):
        raise invalid("id (the tag id) and admin_id are required", "id")
    return Reply(
        body=api.ws.tag_conversation(
            call.params["conversation_id"], str(body["id"]), str(body["admin_id"])
        )
    )


@routes("DELETE", "/conversations/{conversation_id}/tags/{tag_id}")
def untag_conversation(api: Api, call: Call) -> Reply:
    """Answer ``DELETE /conversations/{conversation_id}/tags/{tag_id}``."""
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
