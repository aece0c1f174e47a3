"""The search query language of `POST /contacts/search` and `POST /conversations/search`.

It is compiled to SQL so pages are served by SQLite rather than by scanning rows in Python.
One module (over 400 lines): one compiler, whose field, operator and value rules depend on
each other (which operators a field takes depends on its kind and on the resource).

Contacts: timestamp fields match by calendar day in the workspace timezone (`=` the whole day,
`>` from the start of the next day, `<` before the start of that day; other operators are
errors). Conversations: timestamps compare by the second, and `>`/`<` include the value, as the
2.14 description documents ("Greater (or equal) than").

Numbers: an integral JSON number written with a fraction (`946684800.0`) is taken as the
integer (JSON Schema from draft 6 on counts it as one); a timestamp may also carry a real
fraction (`946684800.5`), compared exactly (contacts: the calendar day holding that instant).
Conversation `id` takes `>`/`<` (a shipped connector sends `id > ""`): numeric ids compare as
numbers, `""` is below every id. Sources and choices: docs/intercom.md, "Search values" and
"Conversation ids in search".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators.intercom.errors import ApiError, invalid

MAX_DEPTH = 2
MAX_FILTERS = 15
STRING_OPS = {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}
INT_OPS = {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="}
BOOL_OPS = {"=", "!=", "IN", "NIN"}
CONTACT_DATE_OPS = {"=", "<", ">"}
CONV_INT_OPS = {"=", "!=", "IN", "NIN", "<", ">"}
ALL_OPS = STRING_OPS | INT_OPS
_NAME_RE = re.compile(r"^[A-Za-z0-9_\- ]{1,190}$")


@dataclass(frozen=True)
class Field:
    """A searchable field: its SQL expression and type."""

    kind: str  # string | integer | boolean | date | tag | segment | member
    expr: str = ""  # SQL expression, or json path for "member" fields


def _j(alias: str, path: str) -> str:
    return f"json_extract({alias}.data, '$.{path}')"


CONTACT_FIELDS: dict[str, Field] = {
    "id": Field("string", "c.id"),
    "role": Field("string", "c.role"),
    "email": Field("string", "c.email"),
    "external_id": Field("string", "c.external_id"),
    "created_at": Field("date", "c.created_at"),
    "updated_at": Field("date", "c.updated_at"),
    "owner_id": Field("integer", _j("c", "owner_id")),
    "tag_id": Field("tag"),
    "segment_id": Field("segment"),
}
for _name in (
    "name",
    "email_domain",
    "phone",
    "language_override",
    "browser",
    "browser_language",
    "os",
    "ios_app_version",
    "ios_device",
    "ios_app_device",
    "ios_os_version",
    "ios_app_name",
    "ios_sdk_version",
    "android_app_version",
    "android_device",
    "android_app_name",
    "andoid_sdk_version",
    "android_sdk_version",
    "location.country",
    "location.region",
    "location.city",
):
    CONTACT_FIELDS[_name] = Field("string", _j("c", _name))
CONTACT_FIELDS["avatar"] = Field("string", _j("c", "avatar.image_url"))
for _name in (
    "signed_up_at",
    "last_seen_at",
    "last_contacted_at",
    "last_replied_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "ios_last_seen_at",
    "android_last_seen_at",
):
    CONTACT_FIELDS[_name] = Field("date", _j("c", _name))
for _name in ("unsubscribed_from_emails", "marked_email_as_spam", "has_hard_bounced"):
    CONTACT_FIELDS[_name] = Field("boolean", _j("c", _name))

CONVERSATION_FIELDS: dict[str, Field] = {
    "id": Field("string", "v.id"),
    "created_at": Field("date", "v.created_at"),
    "updated_at": Field("date", "v.updated_at"),
    "contact_ids": Field("member", "$.contacts.contacts"),
    "teammate_ids": Field("member", "$.teammates.teammates"),
    "tag_ids": Field("member", "$.tags.tags"),
    "channel_initiated": Field("string", _j("v", "source.delivered_as")),
    "admin_assignee_id": Field("integer", _j("v", "admin_assignee_id")),
    "team_assignee_id": Field("integer", _j("v", "team_assignee_id")),
    "open": Field("boolean", _j("v", "open")),
    "read": Field("boolean", _j("v", "read")),
    "ai_agent_participated": Field("boolean", _j("v", "ai_agent_participated")),
    "state": Field("string", _j("v", "state")),
    "priority": Field("string", _j("v", "priority")),
    "waiting_since": Field("date", _j("v", "waiting_since")),
    "snoozed_until": Field("date", _j("v", "snoozed_until")),
    "conversation_rating.requested_at": Field("date", _j("v", "conversation_rating.created_at")),
    "conversation_rating.replied_at": Field("date", _j("v", "conversation_rating.updated_at")),
    "conversation_rating.score": Field("integer", _j("v", "conversation_rating.rating")),
    "conversation_rating.remark": Field("string", _j("v", "conversation_rating.remark")),
    "conversation_rating.contact_id": Field("string", _j("v", "conversation_rating.contact.id")),
    "conversation_rating.admin_d": Field("string", _j("v", "conversation_rating.teammate.id")),
    "ai_agent.rating": Field("integer", _j("v", "ai_agent.rating")),
}
for _name in (
    "type",
    "id",
    "delivered_as",
    "subject",
    "body",
    "author.id",
    "author.type",
    "author.name",
    "author.email",
    "url",
):
    CONVERSATION_FIELDS[f"source.{_name}"] = Field("string", _j("v", f"source.{_name}"))
for _name in (
    "time_to_assignment",
    "time_to_admin_reply",
    "time_to_first_close",
    "time_to_last_close",
    "median_time_to_reply",
    "count_reopens",
    "count_assignments",
    "count_conversation_parts",
):
    CONVERSATION_FIELDS[f"statistics.{_name}"] = Field("integer", _j("v", f"statistics.{_name}"))
for _name in (
    "first_contact_reply_at",
    "first_assignment_at",
    "first_admin_reply_at",
    "first_close_at",
    "last_assignment_at",
    "last_assignment_admin_reply_at",
    "last_contact_reply_at",
    "last_admin_reply_at",
    "last_close_at",
):
    CONVERSATION_FIELDS[f"statistics.{_name}"] = Field("date", _j("v", f"statistics.{_name}"))
CONVERSATION_FIELDS["statistics.last_closed_by_id"] = Field(
    "string", _j("v", "statistics.last_closed_by_id")
)
for _name in (
    "resolution_state",
    "last_answer_type",
    "rating_remark",
    "source_type",
    "source_title",
):
    CONVERSATION_FIELDS[f"ai_agent.{_name}"] = Field("string", _j("v", f"ai_agent.{_name}"))

CONTACT_SORTABLE = {k for k, f in CONTACT_FIELDS.items() if f.kind in {"string", "date", "integer"}}
CONVERSATION_SORTABLE = {
    k for k, f in CONVERSATION_FIELDS.items() if f.kind in {"string", "date", "integer"}
}
# Sorting by these uses a real, never-null column (and its index).
NOT_NULL_COLUMNS = {"c.id", "c.created_at", "c.updated_at", "v.id", "v.created_at", "v.updated_at"}


class Compiler:
    """Turns one search query into a SQL condition and its parameters."""

    def __init__(
        self,
        resource: str,
        tz: ZoneInfo,
        custom_types: dict[str, str] | None = None,
        segments: dict[str, Any] | None = None,
    ) -> None:
        self.resource = resource
        self.fields = CONTACT_FIELDS if resource == "contacts" else CONVERSATION_FIELDS
        self.alias = "c" if resource == "contacts" else "v"
        self.tz = tz
        self.custom_types = custom_types or {}
        self.segments = segments or {}  # segment id -> its rule, a contacts query
        self._in_segment = False
        self.params: list[Any] = []

    def compile(self, query: Any) -> str:
        """The SQL condition for a search query (``parameter_invalid`` if malformed)."""
        if not isinstance(query, dict):
            raise invalid("query must be an object", "query")
        return self._node(query, 0)

    # ------------------------------------------------------------------ structure
    def _node(self, node: Any, depth: int) -> str:
        if not isinstance(node, dict):
            raise invalid("every query item must be an object", "query")
        op = node.get("operator")
        if "field" in node:
            return self._filter(node)
        if op not in {"AND", "OR"}:
            raise invalid(
                f"operator {op!r} needs a 'field'; combine filters with 'AND' or 'OR'", "query"
            )
        if depth >= MAX_DEPTH:
            raise invalid(f"queries can be nested at most {MAX_DEPTH} levels deep", "query")
        items = node.get("value")
        if not isinstance(items, list) or not items:
            raise invalid(f"'{op}' needs a non-empty list of filters as its value", "query")
        if len(items) > MAX_FILTERS:
            raise invalid(
                f"at most {MAX_FILTERS} filters are allowed in one AND/OR group (got {len(items)})",
                "query",
            )
        parts = [self._node(item, depth + 1) for item in items]
        return "(" + f" {op} ".join(parts) + ")"

    def _field(self, name: Any) -> Field:
        if not isinstance(name, str):
            raise invalid("field must be a string", "query.field")
        if name in self.fields:
            return self.fields[name]
        if name.startswith("custom_attributes."):
            attr = name.split(".", 1)[1]
            if not _NAME_RE.match(attr):
                raise invalid(f"'{name}' is not a valid custom attribute name", "query.field")
            if self.resource == "contacts" and attr not in self.custom_types:
                raise invalid(
                    f"'{name}' is not a custom attribute of this workspace", "query.field"
                )
            kind = {
                "integer": "integer",
                "float": "integer",
                "boolean": "boolean",
                "date": "date",
            }.get(self.custom_types.get(attr, "string"), "string")
            path = attr.replace('"', "")
            return Field(kind, f"json_extract({self.alias}.data, '$.custom_attributes.\"{path}\"')")
        raise invalid(f"'{name}' is not a searchable field", "query.field")

    # ------------------------------------------------------------------ filters
    def _filter(self, node: dict[str, Any]) -> str:
        name, op, value = node.get("field"), node.get("operator"), node.get("value")
        field = self._field(name)
        assert isinstance(name, str)  # _field refuses any other
        if op not in ALL_OPS:
            raise invalid(f"operator {op!r} is not supported", "query.operator")
        kind = field.kind
        if kind == "date" and self.resource == "contacts":
            if op not in CONTACT_DATE_OPS:
                raise invalid(
                    f"operator '{op}' is not supported on the date field '{name}'; "
                    "use '=', '>' or '<' (dates match by calendar day)",
                    "query.operator",
                )
            return self._contact_date(field.expr, op, self._timestamp(value, name))
        allowed = {
            "string": STRING_OPS,
            "integer": INT_OPS,
            "boolean": BOOL_OPS,
            "tag": {"=", "!="},
            "segment": {"=", "!="},
            "member": {"=", "!=", "IN", "NIN"},
            "date": CONV_INT_OPS,
        }[kind]
        if self.resource == "conversations" and kind == "integer":
            allowed = CONV_INT_OPS
        if self.resource == "conversations" and name == "id" and op in {"<", ">"}:
            return self._conversation_id_range(field.expr, op, value)
        if op not in allowed:
            raise invalid(
                f"operator '{op}' is not supported on the field '{name}'", "query.operator"
            )
        if kind == "tag":
            self.params.append(self._str(value, name))
            cond = "c.id IN (SELECT contact_id FROM contact_tags WHERE tag_id = ?)"
            return cond if op == "=" else f"NOT ({cond})"
        if kind == "segment":
            return self._segment(op, self._str(value, name))
        if kind == "member":
            return self._member(field.expr, op, value, name)
        return self._value_filter(field, op, value, name)

    def _segment(self, op: str, segment_id: str) -> str:
        """Membership of a segment: its rule, computed now (unknown segments hold nobody)."""
        rule = self.segments.get(segment_id)
        if rule is None or self._in_segment:
            cond = "0"  # an unknown segment holds nobody
        else:
            # A segment's members are the contacts its rule matches, computed now; the
            # rule's own nesting does not count against the query's.
            self._in_segment = True
            try:
                cond = self._node(rule, 0)
            finally:
                self._in_segment = False
        # A rule on a missing attribute is NULL for that contact: not a member.
        return f"coalesce(({cond}), 0)" if op == "=" else f"NOT coalesce(({cond}), 0)"

    def _member(self, expr: str, op: str, value: Any, name: str) -> str:
        """An id among the objects of a list field (``companies.id`` and the like)."""
        values = self._list(value, name) if op in {"IN", "NIN"} else [self._str(value, name)]
        marks = ",".join("?" * len(values))
        self.params.extend(str(v) for v in values)
        cond = (
            f"EXISTS (SELECT 1 FROM json_each({self.alias}.data, '{expr}') "
            f"WHERE json_extract(value, '$.id') IN ({marks}))"
        )
        return cond if op in {"=", "IN"} else f"NOT {cond}"

    def _value_filter(self, field: Field, op: str, value: Any, name: str) -> str:
        """A string, integer, date or boolean field compared with a value (or a list)."""
        kind = field.kind
        convert = {
            "string": self._str,
            "integer": self._int,
            "date": self._timestamp,
            "boolean": self._bool,
        }[kind]
        expr = field.expr
        if op in {"IN", "NIN"}:
            values = [convert(v, name) for v in self._list(value, name)]
            marks = ",".join("?" * len(values))
            self.params.extend(v.lower() if isinstance(v, str) else v for v in values)
            target = f"lower({expr})" if kind == "string" else expr
            cond = f"{target} IN ({marks})"
            return cond if op == "IN" else f"({expr} IS NULL OR NOT {cond})"
        val = convert(value, name)
        if kind == "string":
            return self._string_filter(expr, op, val)
        if kind == "boolean":
            self.params.append(1 if val else 0)
            return f"{expr} = ?" if op == "=" else f"({expr} IS NULL OR {expr} != ?)"
        if self.resource == "conversations" and op in {"<", ">"}:
            op = op + "="  # documented as "greater (or equal) than" / "lower (or equal) than"
        self.params.append(val)
        if op == "!=":
            return f"({expr} IS NULL OR {expr} != ?)"
        return f"{expr} {op} ?"

    def _string_filter(self, expr: str, op: str, val: Any) -> str:
        """A string field: equal, contains, starts or ends with (all ignoring case)."""
        self.params.append(val)
        cond = {
            "=": f"{expr} = ? COLLATE NOCASE",
            "!=": f"{expr} = ? COLLATE NOCASE",
            "~": f"instr(lower({expr}), lower(?)) > 0",
            "!~": f"instr(lower({expr}), lower(?)) > 0",
            "^": f"lower(substr({expr}, 1, length(?1x))) = lower(?)",
            "$": f"lower(substr({expr}, -length(?1x))) = lower(?)",
        }[op]
        if op in {"^", "$"}:
            self.params.append(val)
            cond = cond.replace("?1x", "?")
        return f"({expr} IS NULL OR NOT ({cond}))" if op in {"!=", "!~"} else cond

    def _conversation_id_range(self, expr: str, op: str, value: Any) -> str:
        """`id > v` / `id < v` on conversations, inclusive like every conversation `>`/`<`.

        Conversation ids are numeric strings, so a numeric value compares as a number ("9" is
        below "10"); `""` is below every id (`id > ""` matches all, `id < ""` none); any other
        string compares as text.
        """
        text = self._str(value, "id")
        if text == "":
            return "1" if op == ">" else "0"
        if text.isascii() and text.isdigit():
            self.params.append(int(text))
            return f"CAST({expr} AS INTEGER) {op}= ?"
        self.params.append(text)
        return f"{expr} {op}= ?"

    def _contact_date(self, expr: str, op: str, value: float) -> str:
        start, end = day_bounds(value, self.tz)
        if op == "=":
            self.params.extend([start, end])
            return f"({expr} >= ? AND {expr} < ?)"
        if op == ">":
            self.params.append(end)
            return f"{expr} >= ?"
        self.params.append(start)
        return f"{expr} < ?"

    # ------------------------------------------------------------------ values
    @staticmethod
    def _str(value: Any, name: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise invalid(f"the value for '{name}' must be a string", "query.value")
        return str(value)

    @staticmethod
    def _int(value: Any, name: str) -> int:
        """An integer: a JSON integer, an integral JSON number (`12.0`) or a numeric string."""
        if isinstance(value, bool):
            raise invalid(f"the value for '{name}' must be an integer", "query.value")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise invalid(
            f"the value for '{name}' must be an integer (a unix timestamp for dates), "
            f"not {value!r}",
            "query.value",
        )

    @classmethod
    def _timestamp(cls, value: Any, name: str) -> int | float:
        """Unix seconds: what `_int` takes, or a finite number with a fraction, kept exact.

        (``datetime.timestamp()`` gives `946684800.25`; clients send it as it is).
        """
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            return value
        try:
            return cls._int(value, name)
        except ApiError:
            raise invalid(
                f"the value for '{name}' must be a unix timestamp in seconds (a "
                f"number such as 946684800), not {value!r}",
                "query.value",
            ) from None

    @staticmethod
    def _bool(value: Any, name: str) -> bool:
        if isinstance(value, bool):
            return value
        if value in {"true", "false"}:
            return value == "true"
        raise invalid(f"the value for '{name}' must be true or false", "query.value")

    @staticmethod
    def _list(value: Any, name: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise invalid(
                f"IN and NIN need a non-empty array as the value for '{name}'", "query.value"
            )
        return value


def day_bounds(ts: float, tz: ZoneInfo) -> tuple[int, int]:
    """Unix seconds of the start of the calendar day holding ``ts`` and of the next day."""
    day: date = datetime.fromtimestamp(ts, tz).date()
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return int(start.timestamp()), int(end.timestamp())


def sort_clause(resource: str, sort: Any) -> tuple[str | None, bool]:
    """Validate the undocumented-but-accepted `sort` object; answers (SQL expr, descending)."""
    if sort is None:
        return None, False
    if not isinstance(sort, dict):
        raise invalid(
            'sort must be an object like {"field": "updated_at", "order": "ascending"}', "sort"
        )
    field_name = sort.get("field")
    fields, sortable = (
        (CONTACT_FIELDS, CONTACT_SORTABLE)
        if resource == "contacts"
        else (CONVERSATION_FIELDS, CONVERSATION_SORTABLE)
    )
    if field_name not in sortable:
        raise invalid(f"cannot sort by {field_name!r}", "sort.field")
    order = sort.get("order", "descending")
    if order not in {"ascending", "descending"}:
        raise invalid("sort.order must be 'ascending' or 'descending'", "sort.order")
    expr = fields[field_name].expr
    if expr not in NOT_NULL_COLUMNS:
        expr = f"ifnull({expr}, -1)"
    return expr, order == "descending"
