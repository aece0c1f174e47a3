"""What every Intercom endpoint shares: the request and answer types, paging, and ``Api``.

Handlers (in :mod:`emulators.intercom.resources`) are synchronous (they run in worker
threads) and answer ``Reply`` objects; lists are assembled from the stored JSON strings of
each object.
"""

from __future__ import annotations

import base64
import json
import math
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from emulators.intercom import model
from emulators.intercom.errors import invalid, not_found
from emulators.intercom.search import Compiler
from emulators.intercom.workspace import Workspace

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
    """One handler answer: status, body and extra headers."""

    status: int = 200
    body: Any = None  # dict/list (encoded by the server), str/bytes (already JSON), or None
    headers: dict[str, str] = field(default_factory=dict)


def encode_cursor(state: dict[str, Any]) -> str:
    """The opaque ``starting_after`` cursor for a paging state."""
    raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: Any) -> dict[str, Any]:
    """The paging state in a cursor this API returned (``parameter_invalid`` if not)."""
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
    """The ``per_page`` value, checked against 1..150 (``default`` when absent)."""
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
    """An integer query parameter (``default`` when absent)."""
    raw = call.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid(f"{name} must be an integer", name) from exc


def body_object(call: Call) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when there is none)."""
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
        """This thread's SQLite connection."""
        return self.db.conn()

    def tz(self) -> ZoneInfo:
        """The workspace timezone (search dates are calendar days there)."""
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
        """The SQL condition and values for the contacts a list or search may show."""
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
        """A search compiler over the contacts' fields and segments."""
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
        """One contact as stored (``not_found`` when there is none)."""
        row = (
            self.conn()
            .execute("SELECT data FROM contacts WHERE id = ? AND merged_into IS NULL", (cid,))
            .fetchone()
        )
        if row is None:
            raise not_found("User")
        return json.loads(row[0])

    def conversation_doc(self, conv_id: str, plaintext: bool = False) -> dict[str, Any]:
        """One conversation with its parts (bodies as plain text if asked)."""
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
