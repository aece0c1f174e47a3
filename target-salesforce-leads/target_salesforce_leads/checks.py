"""Compare what a stream will write with an sObject's describe, before any record is sent.

Used by the target when each SCHEMA message arrives (from a fresh describe) and by
``--preflight``. Pure functions: the describe comes in as an :class:`ObjectSchema`, parents of
relationships through a ``lookup`` callable the caller provides.

Each :class:`Problem` names the field, Salesforce's error code that writing would meet, what is
wrong and the exact Setup step that fixes it. ``severity`` "error" blocks writing the stream;
"warning" does not (the records still go, some may be refused or waiting).

One module on purpose (over 400 lines): each check carries the full text of its Setup fix, and
the checks share one set of describe helpers.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_salesforce_leads.validation import NUMBER_TYPES, TEXT_TYPES, ObjectSchema

ERROR = "error"
WARNING = "warning"

# The types a string column may feed: the text types, plus ids, references and times.
_TEXT_TYPES = TEXT_TYPES | {"id", "reference", "time"}
_PICKLIST_TYPES = {"picklist", "multipicklist"}
# Custom fields of Task and Event are defined on the Activity object in Object Manager.
_ACTIVITY = {"Task", "Event"}
LONG_TEXT_MAX = 131_072


@dataclass(frozen=True)
class Problem:
    """One thing in the org that stops (error) or hampers (warning) writing a stream's field."""

    sobject: str
    field: str
    code: str
    message: str
    fix: str
    severity: str = ERROR

    @property
    def blocking(self) -> bool:
        """True when the stream must not be written until this is fixed."""
        return self.severity == ERROR

    def line(self) -> str:
        """``sObject.field: message [CODE]`` (the form the preflight prints)."""
        where = f"{self.sobject}.{self.field}" if self.field else self.sobject
        return f"{where}: {self.message} [{self.code}]"


def blocking(problems: t.Iterable[Problem]) -> list[Problem]:
    """The problems that block writing."""
    return [p for p in problems if p.blocking]


def properties_of(schema: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The ``properties`` of a stream's JSON schema (empty when it has none)."""
    props = (schema or {}).get("properties")
    return dict(props) if isinstance(props, t.Mapping) else {}


def stream_target(
    stream: str, key_properties: t.Sequence[str] | None, config: t.Mapping[str, t.Any]
) -> tuple[str, str | None]:
    """The sObject and external id field a stream is written to, as the sinks decide it."""
    settings = (config.get("stream_settings") or {}).get(stream) or {}
    keys = list(key_properties or [])
    key = settings.get("external_id_field") or (keys[0] if len(keys) == 1 else None)
    return str(settings.get("sobject") or stream), (str(key) if key else None)


def missing_object(sobject: str, detail: str = "") -> Problem:
    """The problem of an sObject that does not exist or is not accessible to the user."""
    why = f" ({detail})" if detail else ""
    return Problem(
        sobject,
        "",
        "INVALID_TYPE",
        f"the sObject {sobject} does not exist or this user cannot access it{why}",
        "Setup > Object Manager > Create > Custom Object (or give the integration user's "
        f"profile or permission set access to {sobject}); or, if {sobject} is a typo, correct "
        "stream_settings.<stream>.sobject.",
    )


def check_stream(
    sobject: str,
    properties: t.Mapping[str, t.Any] | None,
    key: str | None,
    schema: ObjectSchema,
    lookup: t.Callable[[str], ObjectSchema | None] | None = None,
) -> list[Problem]:
    """Every problem writing these properties to ``sobject`` would meet.

    Args:
        sobject: The sObject the stream is written to.
        properties: The stream's JSON schema ``properties`` (None: unknown, only the key is
            checked). Names starting with "_" are control properties and skipped. An object
            property named like a relationship (``Who: {Intercom_Contact_ID__c: ...}``) is a
            reference by the parent's external id.
        key: The external id field records are upserted by (None: not configured).
        schema: The sObject's describe.
        lookup: Returns the describe of a referenced sObject (None when it is not accessible);
            without it, only the relationship itself is checked.

    Returns:
        The problems, errors and warnings, in the order of the properties (the key first).
    """
    problems: list[Problem] = []
    if key:
        problems.extend(_check_key(sobject, key, (properties or {}).get(key), schema))
    props = properties or {}
    for name, spec in props.items():
        if name.startswith("_") or name == key:
            continue
        spec = spec if isinstance(spec, t.Mapping) else {}
        f = schema.fields.get(name)
        if f is None and name in schema.relationships:
            types = _types(spec) - {"null"}
            if types and "object" not in types:
                ref = schema.relationships[name]
                problems.append(
                    Problem(
                        sobject,
                        name,
                        "INVALID_FIELD",
                        f"{name} is a relationship of {sobject}: it takes an object naming the "
                        f"parent's external id, not JSON {'/'.join(sorted(types))}",
                        f"In the mapping, send {name} as an object such as "
                        f'{{"<External ID field>": value}}, or send the parent\'s record Id as '
                        f"{ref.get('name')}.",
                    )
                )
            else:
                problems.extend(_check_reference(sobject, name, spec, schema, lookup))
            continue
        if f is None:
            problems.append(_missing_field(sobject, name, spec, schema))
            continue
        problems.extend(_check_field(sobject, name, spec, f))
    if properties is not None:
        problems.extend(_check_required(sobject, props, key, schema))
    return problems


# -- the key ------------------------------------------------------------------------------------


def _check_key(sobject: str, key: str, spec: t.Any, schema: ObjectSchema) -> list[Problem]:
    f = schema.fields.get(key)
    where = _manager(sobject, custom=key.endswith("__c"))
    if f is None:
        return [
            Problem(
                sobject,
                key,
                "INVALID_FIELD",
                f"the upsert key {key} does not exist on {sobject}, so no record can be written",
                f"{where} > Fields & Relationships > New: Text(255) '{key}' (Field Name "
                f"{_field_name(key)}), tick 'Unique' and 'External ID', and give the integration "
                "user edit access; or set stream_settings.<stream>.external_id_field to an "
                "existing External ID field.",
            )
        ]
    problems: list[Problem] = []
    if not f.get("externalId"):
        problems.append(
            Problem(
                sobject,
                key,
                "INVALID_FIELD",
                f"the upsert key {key} exists but is not marked External ID, so Salesforce cannot "
                "upsert by it",
                f"{where} > Fields & Relationships > {_label(f, key)} > Edit: tick 'External ID' "
                "and 'Unique'.",
            )
        )
    elif not f.get("unique"):
        problems.append(
            Problem(
                sobject,
                key,
                "DUPLICATE_EXTERNAL_ID",
                f"{key} is an External ID but not Unique; two records sharing a value make upserts "
                "fail",
                f"{where} > Fields & Relationships > {_label(f, key)} > Edit: tick 'Unique'.",
                WARNING,
            )
        )
    problems.extend(_writability(sobject, key, f))
    if isinstance(spec, t.Mapping):
        problems.extend(_check_type(sobject, key, spec, f))
    return problems


# -- plain fields -------------------------------------------------------------------------------


def _missing_field(
    sobject: str, name: str, spec: t.Mapping[str, t.Any], schema: ObjectSchema
) -> Problem:
    other = schema.lower_fields.get(name.lower())
    if other:
        return Problem(
            sobject,
            name,
            "INVALID_FIELD",
            f"{sobject} has no field {name}; its name is spelled {other}",
            f"Rename the mapped field {name} to {other} in the mapping that writes {sobject}.",
        )
    if not name.endswith("__c"):
        return Problem(
            sobject,
            name,
            "INVALID_FIELD",
            f"{sobject} has no standard field {name} (standard field names are fixed; custom "
            "field API names end in __c)",
            f"Correct the field name in the mapping, or create a custom field: "
            f"{_manager(sobject, custom=True)} > Fields & Relationships > New: "
            f"{suggest_type(spec)} '{name}__c'.",
        )
    return Problem(
        sobject,
        name,
        "INVALID_FIELD",
        f"{sobject} has no field {name}; records carrying it cannot be written",
        f"{_manager(sobject, custom=True)} > Fields & Relationships > New: {suggest_type(spec)} "
        f"'{name}' (Field Name {_field_name(name)}), and give the integration user edit access.",
    )


def _check_field(
    sobject: str, name: str, spec: t.Mapping[str, t.Any], f: t.Mapping[str, t.Any]
) -> list[Problem]:
    problems = list(_writability(sobject, name, f))
    problems.extend(_check_type(sobject, name, spec, f))
    ftype = f.get("type")
    length = int(f.get("length") or 0)
    max_length = spec.get("maxLength")
    if (
        ftype in _TEXT_TYPES
        and ftype not in _PICKLIST_TYPES
        and length
        and isinstance(max_length, int)
        and max_length > length
    ):
        problems.append(
            Problem(
                sobject,
                name,
                "STRING_TOO_LONG",
                f"the stream allows up to {max_length} characters but {name} holds {length}; "
                "longer values are refused",
                f"{_manager(sobject, custom=name.endswith('__c'))} > Fields & Relationships > "
                f"{_label(f, name)} > Edit: set Length to {max_length} (or lower the mapping's "
                f"max_length for {name} to {length}).",
                WARNING,
            )
        )
    problems.extend(_check_enum(sobject, name, spec, f))
    return problems


def _writability(sobject: str, name: str, f: t.Mapping[str, t.Any]) -> list[Problem]:
    if name == "Id":
        return []
    createable, updateable = bool(f.get("createable")), bool(f.get("updateable"))
    if createable and updateable:
        return []
    if f.get("calculated") or not (f.get("custom") or createable or updateable):
        fix = (
            f"Stop writing {name}: it is computed or system-maintained by Salesforce; "
            "remove it from the mapping."
        )
    else:
        fix = (
            f"{_manager(sobject, custom=bool(f.get('custom')))} > Fields & Relationships > "
            f"{_label(f, name)} > Set Field-Level Security: make it visible and not "
            "read-only for the integration user's profile (or grant Edit in a permission "
            "set)."
        )
    if not createable and not updateable:
        what = "read-only for this user"
    elif not updateable:
        what = "writable on insert only, so upserts of existing records are refused"
    else:
        what = "writable on update only, so inserts of new records are refused"
    return [Problem(sobject, name, "INVALID_FIELD_FOR_INSERT_UPDATE", f"{name} is {what}", fix)]


# The JSON types a Salesforce field type takes (text fields take any but object and array).
_JSON_TYPES: dict[str, set[str]] = {
    **{typ: {"integer", "number"} for typ in NUMBER_TYPES},
    "boolean": {"boolean"},
    "date": {"string"},
    "datetime": {"string"},
}
# A string format a date or datetime field would store wrongly, and what it loses.
_LOSSY_FORMATS = {
    ("date", "date-time"): "a date-time (its time and time zone would be lost)",
    ("datetime", "date"): "a date without a time",
}


def _type_mismatch(ftype: str, types: set[str], fmt: str | None) -> str | None:
    """What the stream sends that a field of ``ftype`` cannot take, or None."""
    if ftype in _TEXT_TYPES:
        structured = types & {"object", "array"}
        return "a JSON " + "/".join(sorted(structured)) if structured else None
    allowed = _JSON_TYPES.get(ftype)
    if allowed is None:
        return None
    if types - allowed:
        return "JSON " + "/".join(sorted(types - allowed))
    return _LOSSY_FORMATS.get((ftype, fmt or ""))


def _check_type(
    sobject: str, name: str, spec: t.Mapping[str, t.Any], f: t.Mapping[str, t.Any]
) -> list[Problem]:
    types = _types(spec) - {"null"}
    if not types:
        return []
    ftype = str(f.get("type") or "")
    bad = _type_mismatch(ftype, types, _format(spec))
    if bad is None:
        return []
    kind = _describe_type(f)
    return [
        Problem(
            sobject,
            name,
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"the stream sends {bad} but {name} is a {kind} field",
            f"Either map {name} to a {kind} value (the mapping's type for {name}), or use a "
            f"field of the stream's type: {_manager(sobject, custom=True)} > Fields & "
            f"Relationships > New: {suggest_type(spec)}.",
        )
    ]


def _check_enum(
    sobject: str, name: str, spec: t.Mapping[str, t.Any], f: t.Mapping[str, t.Any]
) -> list[Problem]:
    values = _enum(spec)
    ftype = f.get("type")
    if not values or ftype not in _PICKLIST_TYPES | {"combobox"}:
        return []
    active = {str(v.get("value")) for v in f.get("picklistValues") or [] if v.get("active", True)}
    wanted: list[str] = []
    for value in values:
        for part in value.split(";") if ftype == "multipicklist" else [value]:
            if part not in active and part not in wanted:
                wanted.append(part)
    restricted = bool(f.get("restrictedPicklist")) and ftype in _PICKLIST_TYPES
    problems = []
    where = _manager(sobject, custom=name.endswith("__c"))
    for value in wanted:
        if restricted:
            problems.append(
                Problem(
                    sobject,
                    name,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{_label(f, name)} is a restricted picklist without the value {value!r} the "
                    "stream sends; records carrying it are refused",
                    f"{where} > Fields & Relationships > {_label(f, name)} > Values > New: {value}",
                )
            )
        else:
            problems.append(
                Problem(
                    sobject,
                    name,
                    "PICKLIST_VALUE_MISSING",
                    f"{_label(f, name)} has no picklist value {value!r}; Salesforce stores it, but "
                    "it is not offered in the UI, reports or filters",
                    f"{where} > Fields & Relationships > {_label(f, name)} > Values > New: {value}",
                    WARNING,
                )
            )
    return problems


def _check_required(
    sobject: str, props: t.Mapping[str, t.Any], key: str | None, schema: ObjectSchema
) -> list[Problem]:
    given = {n for n in props if not n.startswith("_")}
    if key:
        given.add(key)
    for rel in given & set(schema.relationships):
        given.add(str(schema.relationships[rel].get("name")))
    return [
        Problem(
            sobject,
            name,
            "REQUIRED_FIELD_MISSING",
            f"{name} is required to create a {sobject} but the stream does not send it; new "
            "records are refused (updates of existing ones work)",
            f"Map a value to {name} in the mapping that writes {sobject}, or make it optional "
            f"or defaulted in {_manager(sobject, custom=name.endswith('__c'))} > Fields & "
            f"Relationships > {_label(schema.fields[name], name)}.",
            WARNING,
        )
        for name in schema.required_on_create
        if name not in given
    ]


# -- relationships ------------------------------------------------------------------------------


def _check_reference(
    sobject: str,
    name: str,
    spec: t.Mapping[str, t.Any],
    schema: ObjectSchema,
    lookup: t.Callable[[str], ObjectSchema | None] | None,
) -> list[Problem]:
    ref = schema.relationships[name]
    problems = list(_writability(sobject, str(ref.get("name")), ref))
    inner = [k for k in properties_of(spec) if k != "attributes" and not k.startswith("_")]
    if not inner:
        return problems
    if len(inner) > 1:
        problems.append(
            Problem(
                sobject,
                name,
                "INVALID_FIELD",
                f"the reference {name} names several fields ({', '.join(inner)}); a parent is "
                "found by exactly one external id",
                f"Keep one external id field in {name} in the mapping that writes {sobject}.",
            )
        )
        return problems
    field = inner[0]
    targets = _pinned_types(spec) or [str(x) for x in ref.get("referenceTo") or []]
    if lookup is None or not targets:
        return problems
    found: list[str] = []
    lacking: list[tuple[str, Problem]] = []
    for parent in targets:
        ps = lookup(parent)
        if not isinstance(ps, ObjectSchema):
            lacking.append((parent, missing_object(parent, f"referenced by {sobject}.{name}")))
            continue
        pf = ps.fields.get(field)
        pwhere = _manager(parent, custom=field.endswith("__c"))
        if pf is None:
            lacking.append(
                (
                    parent,
                    Problem(
                        parent,
                        field,
                        "INVALID_FIELD",
                        f"{sobject}.{name} finds its {parent} by {field}, which {parent} "
                        "does not have",
                        f"{pwhere} > Fields & Relationships > New: Text(255) '{field}' (Field Name "
                        f"{_field_name(field)}), tick 'Unique' and 'External ID'.",
                    ),
                )
            )
        elif not pf.get("externalId"):
            lacking.append(
                (
                    parent,
                    Problem(
                        parent,
                        field,
                        "INVALID_FIELD",
                        f"{sobject}.{name} finds its {parent} by {field}, which is not marked "
                        "External ID",
                        f"{pwhere} > Fields & Relationships > {_label(pf, field)} > Edit: tick "
                        "'External ID' and 'Unique'.",
                    ),
                )
            )
        else:
            found.append(parent)
    for parent, problem in lacking:
        if found:
            # A polymorphic reference still links to the other types.
            problem = Problem(
                problem.sobject,
                problem.field,
                problem.code,
                f"{problem.message}; {sobject} records whose {name} is a {parent} cannot be "
                f"linked (they link when it is a {' or '.join(found)})",
                problem.fix,
                WARNING,
            )
        problems.append(problem)
    return problems


def _pinned_types(spec: t.Mapping[str, t.Any]) -> list[str]:
    """Types named by an ``attributes.type`` enum/const in a reference's schema."""
    attrs = properties_of(spec).get("attributes")
    type_spec = properties_of(attrs).get("type") if isinstance(attrs, t.Mapping) else None
    return _enum(type_spec) if isinstance(type_spec, t.Mapping) else []


# -- JSON schema and Setup wording --------------------------------------------------------------


def _subschemas(spec: t.Mapping[str, t.Any]) -> list[t.Mapping[str, t.Any]]:
    subs = [spec]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in spec.get(key) or []:
            if isinstance(sub, t.Mapping):
                subs.extend(_subschemas(sub))
    return subs


def _types(spec: t.Mapping[str, t.Any]) -> set[str]:
    types: set[str] = set()
    for sub in _subschemas(spec):
        declared = sub.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(str(x) for x in declared)
    return types


def _format(spec: t.Mapping[str, t.Any]) -> str | None:
    for sub in _subschemas(spec):
        if sub.get("format"):
            return str(sub["format"])
    return None


def _enum(spec: t.Mapping[str, t.Any]) -> list[str]:
    values: list[str] = []
    for sub in _subschemas(spec):
        candidates = list(sub.get("enum") or [])
        if "const" in sub:
            candidates.append(sub["const"])
        values.extend(str(v) for v in candidates if v is not None and str(v) not in values)
    return values


def suggest_type(spec: t.Mapping[str, t.Any]) -> str:
    """The Setup field type for a JSON schema property, as Object Manager names it."""
    types = _types(spec) - {"null"}
    fmt = _format(spec)
    enum = _enum(spec)
    if enum:
        return "Picklist (values: " + ", ".join(enum) + ")"
    if "boolean" in types:
        return "Checkbox"
    if "integer" in types:
        return "Number(18, 0)"
    if "number" in types:
        return "Number(16, 2)"
    if fmt == "date-time":
        return "Date/Time"
    if fmt == "date":
        return "Date"
    if fmt in ("uri", "url", "iri"):
        return "URL(255)"
    if fmt == "email":
        return "Email"
    length = spec.get("maxLength")
    if not isinstance(length, int):
        length = next(
            (s.get("maxLength") for s in _subschemas(spec) if isinstance(s.get("maxLength"), int)),
            None,
        )
    if isinstance(length, int) and length > 255:
        return f"Long Text Area({min(length, LONG_TEXT_MAX)})"
    return f"Text({length if isinstance(length, int) and length > 0 else 255})"


def _describe_type(f: t.Mapping[str, t.Any]) -> str:
    ftype = str(f.get("type") or "")
    return {
        "double": "Number",
        "int": "Number",
        "long": "Number",
        "currency": "Currency",
        "percent": "Percent",
        "boolean": "Checkbox",
        "date": "Date",
        "datetime": "Date/Time",
        "textarea": "Text Area",
        "string": "Text",
        "picklist": "Picklist",
        "multipicklist": "Multi-Select Picklist",
        "url": "URL",
        "email": "Email",
        "phone": "Phone",
        "reference": "Lookup",
    }.get(ftype, ftype)


def _manager(sobject: str, *, custom: bool) -> str:
    where = "Activity" if custom and sobject in _ACTIVITY else sobject
    return f"Setup > Object Manager > {where}"


def _label(f: t.Mapping[str, t.Any], name: str) -> str:
    return str(f.get("label") or name)


def _field_name(api_name: str) -> str:
    return api_name.removesuffix("__c")
