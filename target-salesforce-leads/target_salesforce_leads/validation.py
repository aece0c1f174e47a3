"""Local validation of records against an sObject's describe, with Salesforce's own error codes.

A record that Salesforce would refuse is rejected here instead, so it costs no API call.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from salesforce_client.emails import is_email

# A date, or a date-time whose date part Salesforce keeps.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
# Salesforce field types whose values are sent as JSON strings.
TEXT_TYPES = {
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "combobox",
    "encryptedstring",
}
NUMBER_TYPES = {"double", "currency", "percent", "int", "long"}


@dataclass
class Rejection:
    """Why a record cannot be written: Salesforce's error code and a message."""

    code: str
    message: str


@dataclass
class ObjectSchema:
    """What validation and routing need from one sObject's describe."""

    name: str
    fields: dict[str, dict[str, t.Any]]
    relationships: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    required_on_create: list[str] = field(default_factory=list)
    picklists: dict[str, frozenset[str]] = field(default_factory=dict)
    lower_fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_describe(cls, describe: dict[str, t.Any]) -> ObjectSchema:
        """What validation and routing need of an sObject describe."""
        fields = {f["name"]: f for f in describe.get("fields") or []}
        schema = cls(name=str(describe.get("name")), fields=fields)
        for name, f in fields.items():
            schema.lower_fields[name.lower()] = name
            if f.get("relationshipName") and f.get("type") == "reference":
                schema.relationships[str(f["relationshipName"])] = f
            if (
                f.get("createable")
                and not f.get("nillable", True)
                and not f.get("defaultedOnCreate")
                and f.get("type") != "boolean"
            ):
                schema.required_on_create.append(name)
            if f.get("restrictedPicklist") and f.get("type") in {"picklist", "multipicklist"}:
                schema.picklists[name] = frozenset(
                    str(v.get("value"))
                    for v in f.get("picklistValues") or []
                    if v.get("active", True)
                )
        return schema

    def has_field(self, name: str) -> bool:
        """Whether the sObject has the field ``name``."""
        return name in self.fields

    def is_external_id(self, name: str) -> bool:
        """Whether ``name`` is an External ID field of the sObject."""
        f = self.fields.get(name)
        return bool(f and (f.get("externalId") or f.get("idLookup")))

    def writable(self, name: str) -> bool:
        """Whether ``name`` can be set on insert or update."""
        f = self.fields.get(name)
        return bool(f and (f.get("createable") or f.get("updateable")))


def validate(
    record: dict[str, t.Any], schema: ObjectSchema, *, creating: bool | None = None
) -> Rejection | None:
    """Return why ``record`` would be refused by Salesforce, or None if it looks writable.

    Args:
        record: Field values (relationship objects allowed under their relationship name).
        schema: The target sObject's schema.
        creating: True when the record will be inserted (required fields then apply),
            None when not known yet (only explicit nulls of required fields are checked).
    """
    for name, value in record.items():
        if name.startswith("_"):
            continue  # a control property for the target, never written
        f = schema.fields.get(name)
        if f is None:
            if name in schema.relationships and isinstance(value, dict):
                continue
            return Rejection(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}"
            )
        if not (f.get("createable") or f.get("updateable")) and name != "Id":
            return Rejection(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {name}. Please check the "
                "security settings of this field and verify that it is "
                "read/write for your profile or permission set.",
            )
        if value is None:
            rej = _null(name, f, schema)
        else:
            check = _CHECKS.get(f.get("type"))
            rej = check(name, value, f, schema) if check is not None else None
        if rej is not None:
            return rej
    if creating:
        missing = [
            n
            for n in schema.required_on_create
            if record.get(n) in (None, "") and n not in _relationship_fields(record, schema)
        ]
        if missing:
            return Rejection(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]"
            )
    return None


_Field = dict[str, t.Any]


def _null(name: str, f: _Field, schema: ObjectSchema) -> Rejection | None:
    if name in schema.picklists and not f.get("nillable", True):
        return Rejection(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.get('label') or name}: bad value for restricted picklist field: null",
        )
    if name in schema.required_on_create:
        return Rejection("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]")
    return None


def _text(name: str, value: t.Any, f: _Field, schema: ObjectSchema) -> Rejection | None:
    ftype = f.get("type")
    text = value if isinstance(value, str) else str(value)
    length = int(f.get("length") or 0)
    # Salesforce counts UTF-16 code units: an emoji (a surrogate pair) counts as two.
    if length and _utf16_length(text) > length:
        return Rejection(
            "STRING_TOO_LONG",
            f"{f.get('label') or name}: data value too large: {text[:40]!r}... "
            f"(max length={length})",
        )
    if ftype == "email" and text and not is_email(text):
        return Rejection(
            "INVALID_EMAIL_ADDRESS",
            f"{f.get('label') or name}: invalid email address: {text}",
        )
    allowed = schema.picklists.get(name)
    if allowed is not None:
        values = text.split(";") if ftype == "multipicklist" else [text]
        bad = [v for v in values if v not in allowed]
        if bad:
            return Rejection(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.get('label') or name}: bad value for restricted picklist field: {bad[0]}",
            )
    return None


def _number(name: str, value: t.Any, f: _Field, schema: ObjectSchema) -> Rejection | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(str(value))
        except ValueError:
            return Rejection(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{name}: value not of required type: {value}",
            )
    precision, scale = f.get("precision"), int(f.get("scale") or 0)
    if precision:
        digits = int(precision) - scale
        if abs(round(float(value), scale)) >= 10**digits:
            return Rejection(
                "NUMBER_OUTSIDE_VALID_RANGE", f"{name}: number outside valid range: {value}"
            )
    return None


def _date(name: str, value: t.Any, f: _Field, schema: ObjectSchema) -> Rejection | None:
    if isinstance(value, str) and _DATE.match(value):
        return None
    return Rejection(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
    )


def _datetime(name: str, value: t.Any, f: _Field, schema: ObjectSchema) -> Rejection | None:
    if isinstance(value, str) and _DATETIME.match(value):
        return None
    return Rejection(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f.get('label') or name}: value not of required type: {value}",
    )


def _boolean(name: str, value: t.Any, f: _Field, schema: ObjectSchema) -> Rejection | None:
    if isinstance(value, bool):
        return None
    return Rejection(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
    )


# The check of a non-null value, by Salesforce field type (types not named: no check).
_CHECKS: dict[t.Any, t.Callable[[str, t.Any, _Field, ObjectSchema], Rejection | None]] = {
    **{typ: _text for typ in TEXT_TYPES},
    **{typ: _number for typ in NUMBER_TYPES},
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
}


def _utf16_length(text: str) -> int:
    """A text's length as Salesforce's field limits count it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _relationship_fields(record: dict[str, t.Any], schema: ObjectSchema) -> set[str]:
    return {schema.relationships[k]["name"] for k in record if k in schema.relationships}


def missing_on_create(record: dict[str, t.Any], schema: ObjectSchema) -> list[str]:
    """Required fields a record lacks if it were inserted."""
    rel = _relationship_fields(record, schema)
    return [n for n in schema.required_on_create if record.get(n) in (None, "") and n not in rel]
