"""Builders of Intercom 2.14 objects (contact, company, conversation, part, tag, ...).

One module (over 400 lines): every object's shape in one place, the builders nesting each
other's results (a conversation holds parts, authors, tags); each builder is short.
"""

from __future__ import annotations

import hashlib
import html
import re
import zlib
from datetime import datetime, timezone
from typing import Any

CONTACT_NULLABLE_STRINGS = (
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
    "android_app_name",
    "android_app_version",
    "android_device",
    "android_os_version",
    "android_sdk_version",
    "ios_app_name",
    "ios_app_version",
    "ios_device",
    "ios_os_version",
    "ios_sdk_version",
)
CONTACT_TIMESTAMPS = (
    "signed_up_at",
    "last_seen_at",
    "last_replied_at",
    "last_contacted_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "android_last_seen_at",
    "ios_last_seen_at",
)
EMBED_LIMIT = 10  # tags/companies/notes embedded in a contact; the rest via their own URL

_TAG_RE = re.compile(r"<[^>]+>")
_BREAK_RE = re.compile(r"</p>|<br\s*/?>", re.IGNORECASE)


def hex_id(namespace: str, n: int) -> str:
    """A 24-hex id shaped like Intercom's, fixed for a (namespace, n) pair."""
    digest = hashlib.blake2b(f"{namespace}:{n}".encode(), digest_size=8).hexdigest()
    return f"{0x65000000 + n:08x}{digest}"


def plaintext(body: str | None) -> str | None:
    """Render an HTML body as Intercom's ``display_as=plaintext`` does (tags stripped)."""
    if body is None:
        return None
    text = _BREAK_RE.sub("\n", body)
    return html.unescape(_TAG_RE.sub("", text)).strip()


def iso(ts: int) -> str:
    """Event summary timestamps are ISO 8601 strings with milliseconds, as Intercom sends."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def email_domain(email: str | None) -> str:
    """The domain of an email address (empty for none)."""
    if email and "@" in email:
        return email.rsplit("@", 1)[1].lower()
    return ""


def new_contact(
    cid: str,
    workspace_id: str,
    *,
    role: str,
    created_at: int,
    updated_at: int | None = None,
    email: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    owner_id: int | None = None,
    custom_attributes: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A contact object in the 2.14 shape (tag/company sub-lists are filled by the store)."""
    doc: dict[str, Any] = {
        "type": "contact",
        "id": cid,
        "workspace_id": workspace_id,
        "external_id": external_id,
        "role": role,
        # The 2.14 schema types email as a non-nullable string: a contact without one has "".
        "email": email or "",
        "email_domain": email_domain(email),
        "phone": phone,
        "name": name,
        "owner_id": owner_id,
        "has_hard_bounced": False,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": False,
        "created_at": created_at,
        "updated_at": updated_at if updated_at is not None else created_at,
    }
    for key in CONTACT_TIMESTAMPS:
        doc[key] = None
    for key in CONTACT_NULLABLE_STRINGS:
        doc[key] = None
    doc["custom_attributes"] = dict(custom_attributes or {})
    doc["avatar"] = {"type": "avatar", "image_url": None}
    doc["tags"] = sublist(cid, "tags", [], 0)
    doc["notes"] = sublist(cid, "notes", [], 0)
    doc["companies"] = sublist(cid, "companies", [], 0)
    doc["location"] = {
        "type": "location",
        "country": None,
        "region": None,
        "city": None,
        **(location or {}),
    }
    doc["social_profiles"] = {"type": "list", "data": []}
    if extra:
        doc.update(extra)
    return doc


def sublist(cid: str, kind: str, data: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A contact's list-of-references attribute (tags, companies, notes)."""
    return {
        "type": "list",
        "data": data[:EMBED_LIMIT],
        "url": f"/contacts/{cid}/{kind}",
        "total_count": total,
        "has_more": total > EMBED_LIMIT,
    }


def tag_ref(tag_id: str) -> dict[str, Any]:
    """A reference to a tag."""
    return {"type": "tag", "id": tag_id, "url": f"/tags/{tag_id}"}


def company_ref(company_id: str) -> dict[str, Any]:
    """A reference to a company."""
    return {"type": "company", "id": company_id, "url": f"/companies/{company_id}"}


def tag(tag_id: str, name: str, applied_at: int | None = None) -> dict[str, Any]:
    """A tag object."""
    doc: dict[str, Any] = {"type": "tag", "id": tag_id, "name": name}
    if applied_at is not None:
        doc["applied_at"] = applied_at
        doc["applied_by"] = {"type": "admin", "id": "1"}
    return doc


def new_company(
    internal_id: str,
    company_id: str,
    app_id: str,
    *,
    name: str,
    created_at: int,
    size: int | None = None,
    industry: str | None = None,
    website: str | None = None,
    monthly_spend: int = 0,
    plan: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new company object."""
    doc: dict[str, Any] = {
        "type": "company",
        "company_id": company_id,
        "id": internal_id,
        "app_id": app_id,
        "name": name,
        "remote_created_at": created_at,
        "created_at": created_at,
        "updated_at": created_at,
        "last_request_at": created_at,
        "monthly_spend": monthly_spend,
        "session_count": 0,
        "user_count": 0,
        "tags": {"type": "tag.list", "tags": []},
        "segments": {"type": "segment.list", "segments": []},
        "custom_attributes": dict(custom_attributes or {}),
    }
    if plan:
        doc["plan"] = {"type": "plan", "id": str(zlib.crc32(plan.encode()) % 100000), "name": plan}
    if size is not None:
        doc["size"] = size
    if industry is not None:
        doc["industry"] = industry
    if website is not None:
        doc["website"] = website
    return doc


def author(kind: str, aid: str, name: str | None, email: str | None) -> dict[str, Any]:
    """A conversation part's author."""
    doc: dict[str, Any] = {"type": kind, "id": aid, "name": name}
    # The schema gives author.email the `email` format; an unusable address is left out.
    if email and "@" in email and " " not in email:
        doc["email"] = email
    if kind in {"admin", "bot"}:
        doc["from_ai_agent"] = False
        doc["is_ai_answer"] = False
    return doc


def new_part(
    part_id: str,
    *,
    part_type: str,
    body: str | None,
    created_at: int,
    author_doc: dict[str, Any],
    state: str = "open",
    assigned_to: dict[str, Any] | None = None,
    tags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A new conversation part."""
    part: dict[str, Any] = {
        "type": "conversation_part",
        "id": part_id,
        "part_type": part_type,
        "body": body,
        "created_at": created_at,
        "updated_at": created_at,
        "notified_at": created_at,
        "author": author_doc,
        "attachments": [],
        "external_id": None,
        "redacted": False,
        "state": state,
        "tags": tags or [],
        "app_package_code": None,
    }
    # `assigned_to`, `metadata` and `event_details` are $refs whose `nullable` the 2.14
    # description cannot honour, so they are left out rather than sent as null.
    if assigned_to is not None:
        part["assigned_to"] = assigned_to
    return part


def new_statistics() -> dict[str, Any]:
    """A new conversation's statistics, all empty."""
    return {
        "type": "conversation_statistics",
        "count_reopens": 0,
        "count_assignments": 0,
        "count_conversation_parts": 0,
        "assigned_team_first_response_time": [],
        "assigned_team_first_response_time_in_office_hours": [],
    }


def new_conversation(
    conv_id: str,
    *,
    created_at: int,
    contact: dict[str, Any],
    subject: str,
    body: str,
    admin_assignee_id: int | None,
    team_assignee_id: int | None,
) -> dict[str, Any]:
    """A conversation started by a contact (parts and statistics are added by the store)."""
    contact_author = author(
        contact.get("role") or "user", contact["id"], contact.get("name"), contact.get("email")
    )
    return {
        "type": "conversation",
        "id": conv_id,
        "title": subject or None,
        "created_at": created_at,
        "updated_at": created_at,
        "waiting_since": created_at,
        "snoozed_until": None,
        "open": True,
        "state": "open",
        "read": False,
        "priority": "not_priority",
        "admin_assignee_id": admin_assignee_id,
        "team_assignee_id": team_assignee_id,
        "tags": {"type": "tag.list", "tags": []},
        "conversation_rating": None,
        "source": {
            "type": "conversation",
            "id": f"src{conv_id}",
            "delivered_as": "customer_initiated",
            "subject": subject,
            "body": body,
            "author": contact_author,
            "attachments": [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}
            ],
        },
        "teammates": {"type": "admin.list", "teammates": []},
        "custom_attributes": {},
        "first_contact_reply": {"created_at": created_at, "type": "conversation", "url": None},
        "sla_applied": None,
        "statistics": new_statistics(),
        "conversation_parts": {"type": "conversation_part.list", "total_count": 0},
        "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
        "ai_agent_participated": False,
    }


def apply_part_to_conversation(conv: dict[str, Any], part: dict[str, Any]) -> None:
    """Update a conversation's state, statistics and timestamps for one appended part."""
    stats = conv.setdefault("statistics", new_statistics()) or new_statistics()
    conv["statistics"] = stats
    ts = part["created_at"]
    kind = part["author"]["type"]
    ptype = part["part_type"]
    stats["count_conversation_parts"] = stats.get("count_conversation_parts", 0) + 1
    conv["conversation_parts"] = {
        "type": "conversation_part.list",
        "total_count": stats["count_conversation_parts"],
    }
    conv["updated_at"] = max(conv["updated_at"], ts)
    if kind == "admin":
        if ptype == "comment":
            stats.setdefault("first_admin_reply_at", ts)
            stats["last_admin_reply_at"] = ts
            stats.setdefault("time_to_admin_reply", max(0, ts - conv["created_at"]))
            conv["waiting_since"] = None
            teammates = conv["teammates"]["teammates"]
            if not any(t["id"] == part["author"]["id"] for t in teammates):
                teammates.append({"type": "admin", "id": part["author"]["id"]})
        if ptype == "close":
            conv["state"], conv["open"], conv["snoozed_until"] = "closed", False, None
            stats.setdefault("first_close_at", ts)
            stats.setdefault("time_to_first_close", max(0, ts - conv["created_at"]))
            stats["last_close_at"] = ts
            stats["time_to_last_close"] = max(0, ts - conv["created_at"])
            stats["last_closed_by_id"] = part["author"]["id"]
        elif ptype == "open":
            if conv["state"] == "closed":
                stats["count_reopens"] = stats.get("count_reopens", 0) + 1
            conv["state"], conv["open"], conv["snoozed_until"] = "open", True, None
        elif ptype == "snoozed":
            conv["state"], conv["open"] = "snoozed", True
        elif ptype in {"assignment", "assign_and_reopen"}:
            stats["count_assignments"] = stats.get("count_assignments", 0) + 1
            stats.setdefault("first_assignment_at", ts)
            stats["last_assignment_at"] = ts
            stats.setdefault("time_to_assignment", max(0, ts - conv["created_at"]))
    else:
        if ptype == "comment":
            stats.setdefault("first_contact_reply_at", ts)
            stats["last_contact_reply_at"] = ts
            if conv.get("waiting_since") is None:
                conv["waiting_since"] = ts
            if conv["state"] != "open":
                stats["count_reopens"] = stats.get("count_reopens", 0) + 1
                conv["state"], conv["open"], conv["snoozed_until"] = "open", True, None
            conv["read"] = False
    part["state"] = conv["state"]


def list_item(conv: dict[str, Any]) -> dict[str, Any]:
    """The list/search shape of a conversation: everything but its parts."""
    return {k: v for k, v in conv.items() if k != "conversation_parts"}


def admin(aid: str, name: str, email: str, team_ids: list[int]) -> dict[str, Any]:
    """An admin object."""
    return {
        "type": "admin",
        "id": aid,
        "name": name,
        "email": email,
        "job_title": "Support",
        "away_mode_enabled": False,
        "away_mode_reassign": False,
        "has_inbox_seat": True,
        "team_ids": team_ids,
        "avatar": None,
    }


def team(tid: str, name: str, admin_ids: list[int]) -> dict[str, Any]:
    """A team object."""
    return {
        "type": "team",
        "id": tid,
        "name": name,
        "admin_ids": admin_ids,
        "admin_priority_level": {"primary_admin_ids": admin_ids[:1], "secondary_admin_ids": []},
        "assignment_limit": None,
        "distribution_method": "round_robin",
    }


def data_attribute(
    attr_id: int,
    model: str,
    name: str,
    data_type: str,
    created_at: int,
    *,
    custom: bool,
    label: str | None = None,
    description: str = "",
    options: list[Any] | None = None,
) -> dict[str, Any]:
    """A data attribute object."""
    doc: dict[str, Any] = {
        "type": "data_attribute",
        "id": attr_id,
        "model": model,
        "name": name,
        "full_name": f"custom_attributes.{name}" if custom else name,
        "label": label or name.replace("_", " ").title(),
        "description": description,
        "data_type": data_type,
        "api_writable": True,
        "messenger_writable": custom,
        "ui_writable": True,
        "custom": custom,
        "archived": False,
        "created_at": created_at,
        "updated_at": created_at,
        "admin_id": "1",
    }
    if options:
        doc["options"] = options
    return doc


def segment(
    seg_id: str, name: str, person_type: str, created_at: int, updated_at: int
) -> dict[str, Any]:
    """A segment as `GET /segments` lists it (`count` is added on `include_count=true`)."""
    return {
        "type": "segment",
        "id": seg_id,
        "name": name,
        "created_at": created_at,
        "updated_at": updated_at,
        "person_type": person_type,
    }


def activity_log(
    log_id: str,
    admin_doc: dict[str, Any],
    ip: str,
    activity_type: str,
    description: str,
    created_at: int,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """One entry of `GET /admins/activity_logs` (the 2.14 `activity_log` schema)."""
    return {
        "id": log_id,
        "performed_by": {
            "type": "admin",
            "id": admin_doc["id"],
            "email": admin_doc["email"],
            "ip": ip,
        },
        "metadata": metadata,
        "created_at": created_at,
        "activity_type": activity_type,
        "activity_description": description,
    }
