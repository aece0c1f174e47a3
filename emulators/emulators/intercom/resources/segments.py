"""The segment endpoints, and which contacts and companies a segment holds."""

from __future__ import annotations

import json
from typing import Any

from emulators.core.routing import RouteTable
from emulators.intercom.api import Api, Call, Reply
from emulators.intercom.errors import ApiError, invalid

routes = RouteTable()


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
                    company_in_segment(json.loads(rule), json.loads(c[0]))
                    for c in api.conn().execute("SELECT data FROM companies")
                )
            )
        out.append(doc)
    return out


def company_in_segment(rule: dict[str, Any], company: dict[str, Any]) -> bool:
    """A company segment's rule is one {field (dotted path), operator, value} on the company."""
    value: Any = company
    for key in str(rule["field"]).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return False
    if rule["operator"] == ">=":
        return isinstance(value, (int, float)) and value >= rule["value"]
    return bool(value == rule["value"])


@routes("GET", "/segments")
def list_segments(api: Api, call: Call) -> Reply:
    """Answer ``GET /segments``."""
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


@routes("GET", "/segments/{segment_id}")
def get_segment(api: Api, call: Call) -> Reply:
    """Answer ``GET /segments/{segment_id}``."""
    row = (
        api.conn()
        .execute("SELECT data FROM segments WHERE id = ?", (call.params["segment_id"],))
        .fetchone()
    )
    if row is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return Reply(body=row[0])
