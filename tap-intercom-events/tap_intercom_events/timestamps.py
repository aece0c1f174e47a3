"""Unix timestamps to RFC 3339, driven by the stream schema and cheap on the hot path."""

from __future__ import annotations

import datetime
import time
import typing as t

#: A plan maps a property to ``None`` (a date-time leaf), a nested plan (an object) or a
#: one-item tuple holding the plan of each array item.
Plan = dict[str, t.Any]

_strftime = time.strftime
_gmtime = time.gmtime
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_rfc3339(value: float) -> str:
    """Format a unix timestamp (seconds) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _strftime(_FORMAT, _gmtime(value))


def parse_rfc3339(value: str) -> int:
    """Unix seconds of an RFC 3339 string (as written by the tap or given in config)."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return int(parsed.timestamp())


def _is_datetime(schema: dict) -> bool:
    return schema.get("format") == "date-time"


def _types(schema: dict) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def build_plan(schema: dict) -> Plan:
    """Return the conversion plan for an object schema (empty when nothing to convert)."""
    plan: Plan = {}
    for name, prop in (schema.get("properties") or {}).items():
        if _is_datetime(prop):
            plan[name] = None
            continue
        kinds = _types(prop)
        if "object" in kinds:
            if sub := build_plan(prop):
                plan[name] = sub
        elif "array" in kinds:
            items = prop.get("items") or {}
            if _is_datetime(items):
                plan[name] = (None,)
            elif sub := build_plan(items):
                plan[name] = (sub,)
    return plan


def convert(record: dict, plan: Plan) -> dict:
    """Replace, in place, the numeric timestamps that ``plan`` points at; returns ``record``."""
    for key, sub in plan.items():
        value = record.get(key)
        if value is None:
            continue
        if sub is None:
            if value.__class__ is int or value.__class__ is float:
                record[key] = _strftime(_FORMAT, _gmtime(value))
        elif sub.__class__ is dict:
            if value.__class__ is dict:
                convert(value, sub)
        elif value.__class__ is list:
            inner = sub[0]
            if inner is None:
                record[key] = [
                    _strftime(_FORMAT, _gmtime(v)) if v.__class__ in (int, float) else v
                    for v in value
                ]
            else:
                for item in value:
                    if item.__class__ is dict:
                        convert(item, inner)
    return record
