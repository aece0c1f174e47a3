"""Plain-text transcripts of Intercom conversations for a Task's Description."""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from mapper_intercom_salesforce.functions import parse_time
from mapper_intercom_salesforce.text import html_to_text, sf_len, truncate

DESCRIPTION_MAX = 32000

# Parts without a body still tell the story of the conversation.
_EVENT_TEXT = {
    "close": "closed the conversation",
    "open": "reopened the conversation",
    "snoozed": "snoozed the conversation",
    "assignment": "assigned the conversation",
    "default_assignment": "assigned the conversation",
    "away_mode_assignment": "assigned the conversation",
}
_CONTACT_TYPES = frozenset({"user", "lead", "contact"})


@dataclass(frozen=True)
class Message:
    """One line of a transcript."""

    at: dt.datetime | None
    author: str
    role: str
    text: str

    def render(self, zone: dt.tzinfo) -> str:
        """Render as ``YYYY-MM-DD HH:MM author (role): text``; extra lines are indented."""
        when = self.at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if self.at else "(no time)"
        body = self.text.replace("\n", "\n    ")
        return f"{when} {self.author} ({self.role}): {body}"


def _author(author: t.Any, admin_names: t.Mapping[str, str]) -> tuple[str, str]:
    if not isinstance(author, dict):
        return "unknown", "unknown"
    kind = str(author.get("type") or "unknown")
    name = author.get("name")
    if not name and kind == "admin":
        name = admin_names.get(str(author.get("id")))
    name = name or author.get("email") or f"{kind} {author.get('id') or ''}".strip()
    if author.get("from_ai_agent") or author.get("is_ai_answer"):
        kind = "ai agent"
    return " ".join(str(name).split()), kind


def _attachments(item: t.Mapping[str, t.Any]) -> list[str]:
    return [
        f"[attachment: {att.get('name') or att.get('url') or 'file'}]"
        for att in item.get("attachments") or ()
        if isinstance(att, dict)
    ]


def _message(
    item: t.Mapping[str, t.Any], at: t.Any, admin_names: t.Mapping[str, str]
) -> Message | None:
    author, role = _author(item.get("author"), admin_names)
    part_type = item.get("part_type")
    text = "\n".join(line for line in html_to_text(item.get("body")).split("\n") if line.strip())
    extras = _attachments(item)
    if extras:
        text = "\n".join([text, *extras]) if text else "\n".join(extras)
    if not text:
        event = _EVENT_TEXT.get(str(part_type))
        if event is None:
            return None
        text = f"[{event}]"
    if part_type == "note":
        role = f"{role}, internal note"
    return Message(at=parse_time(at), author=author, role=role, text=text)


def conversation_messages(
    conversation: t.Mapping[str, t.Any],
    parts: t.Iterable[t.Mapping[str, t.Any]],
    admin_names: t.Mapping[str, str],
) -> list[Message]:
    """Return the conversation's messages in time order: the opening message, then the parts.

    Args:
        conversation: The conversation record.
        parts: Its ``conversation_parts`` records, in any order, possibly repeated.
        admin_names: Admin id to name, for parts whose author has no name.

    Returns:
        The messages worth reading; parts without text or meaning are left out.
    """
    messages: list[Message] = []
    source = conversation.get("source")
    if isinstance(source, dict):
        opening = _message(source, conversation.get("created_at"), admin_names)
        if opening is not None:
            messages.append(opening)
    unique: dict[str, t.Mapping[str, t.Any]] = {}
    for part in parts:
        unique[str(part.get("id"))] = part

    def order(part: t.Mapping[str, t.Any]) -> tuple[str, int, str]:
        moment = parse_time(part.get("created_at"))
        part_id = str(part.get("id") or "")
        # Ids are numeric strings in Intercom; compare them as numbers when they are.
        return (moment.isoformat() if moment else "", len(part_id), part_id)

    for part in sorted(unique.values(), key=order):
        message = _message(part, part.get("created_at"), admin_names)
        if message is not None:
            messages.append(message)
    return messages


def first_message_text(messages: t.Sequence[Message]) -> str | None:
    """Return the first message's text on one line (for a subject), or None."""
    for message in messages:
        if not message.text.startswith("["):
            return " ".join(message.text.split())
    return None


def build_transcript(
    messages: t.Sequence[Message],
    *,
    parts_total: int | None = None,
    parts_received: int | None = None,
    parts_truncated: bool = False,
    timezone: dt.tzinfo = dt.timezone.utc,
    limit: int = DESCRIPTION_MAX,
) -> str:
    """Render messages as a transcript that fits ``limit`` Salesforce characters.

    When it does not fit, the opening message and the most recent messages are kept and a
    note in between says how many were left out.

    Args:
        messages: The messages, in order.
        parts_total: How many parts the conversation has according to Intercom.
        parts_received: How many parts the tap could read.
        parts_truncated: Whether Intercom returned fewer parts than the conversation has.
        timezone: The time zone of the timestamps shown.
        limit: The maximum length (Task.Description holds 32,000).

    Returns:
        The transcript text.
    """
    lines = [message.render(timezone) for message in messages]
    head: list[str] = lines[:1]
    body = lines[1:]
    if parts_truncated:
        received = (
            "only the most recent parts"
            if parts_received is None
            else (f"only the most recent {parts_received} parts")
        )
        of_total = f" of {parts_total}" if parts_total is not None else ""
        head.append(
            f"[Intercom returned {received}{of_total} of this conversation; "
            "earlier messages are missing here. See the conversation in Intercom.]"
        )
    text = "\n".join(head + body)
    if sf_len(text) <= limit:
        return text
    note_template = (
        "[{count} earlier messages left out to fit Salesforce's {limit:,}-character limit; "
        "see the conversation in Intercom for the full text.]"
    )
    longest_note = note_template.format(count=len(body), limit=limit)
    budget = limit - sf_len(longest_note) - 1
    # The opening message says what the conversation is about; keep at most half of the room.
    share = max(budget // 2 // len(head), 1) if head else 1
    kept_head = [truncate(line, share, "…") or "" for line in head]
    remaining = budget - sum(sf_len(line) + 1 for line in kept_head)
    tail: list[str] = []
    for line in reversed(body):
        cost = sf_len(line) + 1
        if cost > remaining:
            if not tail and remaining > 1:
                # The latest message alone is too long: keep its beginning.
                tail.append(truncate(line, remaining - 1, "…") or "")
            break
        tail.append(line)
        remaining -= cost
    tail.reverse()
    omitted = len(body) - len(tail)
    if omitted:
        note = note_template.format(count=omitted, limit=limit)
    else:
        note = (
            f"[shortened to fit Salesforce's {limit:,}-character limit; see the conversation "
            "in Intercom for the full text.]"
        )
    result = "\n".join([*kept_head, note, *tail])
    # Rounding in the budget above is conservative; this only guards the promise.
    return truncate(result, limit) or ""
