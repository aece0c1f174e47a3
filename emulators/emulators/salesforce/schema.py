"""The emulated org's schema: the standard objects plus custom fields from YAML schema files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emulators.salesforce.metadata import Field, SObject, new_field, system_fields
from emulators.salesforce.standard_objects import standard_objects

DEFAULT_SCHEMA = Path(__file__).with_name("schema.yml")


class SchemaError(ValueError):
    """A schema file names an unknown type or is malformed."""


_TYPE_MAP = {
    "text": "string",
    "textarea": "textarea",
    "longtextarea": "textarea",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "number": "double",
    "currency": "currency",
    "percent": "percent",
    "checkbox": "boolean",
    "date": "date",
    "datetime": "datetime",
    "picklist": "picklist",
    "lookup": "reference",
}


def custom_field(obj: str, name: str, spec: dict[str, Any]) -> Field:
    """Build a custom field from its schema.yml spec (``{type: Text, length: 80, ...}``)."""
    if not isinstance(spec, dict):
        raise SchemaError(f"{obj}.{name}: a field spec is a mapping such as {{type: Text}}.")
    return _custom_field(obj, name, spec)


def _custom_field(obj: str, name: str, spec: dict[str, Any]) -> Field:
    if not name.endswith("__c"):
        raise SchemaError(f"{obj}.{name}: custom field names must end in __c.")
    kind = str(spec.get("type", "")).replace(" ", "").lower()
    if kind not in _TYPE_MAP:
        raise SchemaError(
            f"{obj}.{name}: unknown type {spec.get('type')!r}; use one of "
            + ", ".join(sorted(_TYPE_MAP))
        )
    type_ = _TYPE_MAP[kind]
    kw: dict[str, Any] = {
        "custom": True,
        "external_id": bool(spec.get("externalId", False)),
        "unique": bool(spec.get("unique", False)),
        "case_sensitive": bool(spec.get("caseSensitive", False)),
        "nillable": not spec.get("required", False),
    }
    if kw["external_id"]:
        kw["id_lookup"] = True
    if type_ in {"string", "email", "phone", "url"}:
        kw["length"] = int(spec.get("length", 255 if type_ != "phone" else 40))
        if type_ == "email":
            kw["length"] = int(spec.get("length", 80))
    elif type_ == "textarea":
        kw["length"] = int(spec.get("length", 255 if kind == "textarea" else 32768))
    elif type_ in {"double", "currency", "percent"}:
        kw["precision"] = int(spec.get("precision", 18))
        kw["scale"] = int(spec.get("scale", 0))
    elif type_ == "picklist":
        kw["picklist"] = [str(v) for v in spec.get("values", [])]
        kw["restricted"] = bool(spec.get("restricted", False))
        kw["length"] = 255
    elif type_ == "reference":
        target = spec.get("referenceTo")
        if not target:
            raise SchemaError(f"{obj}.{name}: a Lookup needs referenceTo.")
        kw["reference_to"] = [target] if isinstance(target, str) else list(target)
        kw["relationship_name"] = name[:-3] + "__r"
    return new_field(name, type_, str(spec.get("label", name[:-3].replace("_", " "))), **kw)


def load_schema(extra: list[Path] | None = None) -> dict[str, SObject]:
    """Standard objects plus the default custom fields plus any extra schema files."""
    objects = standard_objects()
    custom_prefix = 0
    for path in [DEFAULT_SCHEMA, *(extra or [])]:
        try:
            doc = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SchemaError(f"cannot read schema file {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise SchemaError(f"{path}: expected a mapping of object names to fields.")
        for obj_name, fields in doc.items():
            if obj_name not in objects:
                if not str(obj_name).endswith("__c"):
                    raise SchemaError(
                        f"{path}: unknown standard object {obj_name!r}; custom objects must "
                        "end in __c."
                    )
                custom_prefix += 1
                base = [
                    *system_fields(queues=True),
                    new_field("Name", "string", "Name", length=80, name_field=True, nillable=True),
                ]
                label = str(obj_name)[:-3].replace("_", " ")
                objects[obj_name] = SObject(
                    obj_name,
                    f"a0{custom_prefix:X}",
                    label,
                    label + "s",
                    {f.name: f for f in base},
                    custom=True,
                )
            obj = objects[obj_name]
            obj.index()
            for fname, spec in (fields or {}).items():
                _apply_file_spec(obj, str(fname), spec, path)
                obj.index()
    for obj in objects.values():
        obj.index()
    return objects


def _apply_file_spec(obj: SObject, name: str, spec: Any, path: Path) -> None:
    """One entry of a schema file: add/replace a custom field, or remove it (null).

    Or set the values of a standard picklist (``LeadSource: {values: [Web], restricted: true}``).
    """
    existing = obj.field(name)
    if spec is None:
        if existing is None:
            raise SchemaError(f"{path}: {obj.name}.{name} does not exist, so it cannot be removed.")
        remove_field(obj, existing.name)
        return
    if existing is not None and not existing.custom:
        if not isinstance(spec, dict) or not set(spec) <= {"values", "restricted"}:
            raise SchemaError(
                f"{path}: {obj.name}.{name} is a standard field; a schema file can only set a "
                "standard picklist's values and restricted flag."
            )
        set_picklist(existing, spec.get("values"), spec.get("restricted"), obj.name)
        return
    obj.fields[name] = custom_field(obj.name, name, spec)


def split_field_ref(text: str) -> tuple[str, str]:
    """``Lead.Intercom_Qualification__c`` -> ("Lead", "Intercom_Qualification__c")."""
    obj, dot, name = text.strip().partition(".")
    if not dot or not obj or not name or "." in name:
        raise SchemaError(
            f"{text!r} does not name a field; write Object.Field, e.g. "
            "Lead.Intercom_Qualification__c"
        )
    return obj, name


def find_field(objects: dict[str, SObject], obj_name: str, name: str) -> tuple[SObject, Field]:
    """The sObject and field named (case-insensitively), or SchemaError."""
    obj = objects.get(obj_name) or next(
        (o for o in objects.values() if o.name.lower() == obj_name.lower()), None
    )
    if obj is None:
        raise SchemaError(f"unknown sObject {obj_name!r}; known: {', '.join(sorted(objects))}")
    fld = obj.field(name)
    if fld is None:
        raise SchemaError(f"{obj.name} has no field {name!r}")
    return obj, fld


def remove_field(obj: SObject, name: str) -> Field:
    """Delete a custom field from an sObject's metadata (standard fields cannot be deleted)."""
    fld = obj.field(name)
    if fld is None:
        raise SchemaError(f"{obj.name} has no field {name!r}")
    if not fld.custom:
        raise SchemaError(
            f"{obj.name}.{fld.name} is a standard field and Salesforce cannot delete standard "
            "fields; make it read-only instead (--read-only-field or PATCH "
            f"/_emulator/fields/{obj.name}/{fld.name})"
        )
    del obj.fields[fld.name]
    obj.index()
    return fld


def set_picklist(fld: Field, values: Any, restricted: Any, obj_name: str = "") -> None:
    """Replace a picklist's values and, when given, its restricted flag."""
    if fld.type not in {"picklist", "combobox"}:
        raise SchemaError(f"{obj_name}.{fld.name} is a {fld.type} field, not a picklist")
    if values is not None:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{obj_name}.{fld.name}: values must be a list of strings")
        fld.picklist = tuple(values)
        fld.picklist_lower = {v.lower(): v for v in fld.picklist}
    if restricted is not None:
        fld.restricted = bool(restricted)


def apply_overrides(
    objects: dict[str, SObject],
    drop_fields: list[str] | None = None,
    picklists: list[str] | None = None,
    restricted_picklists: list[str] | None = None,
    read_only_fields: list[str] | None = None,
) -> None:
    """The start-up flags that misconfigure the org on purpose (after the schema files)."""
    for ref in drop_fields or []:
        obj, fld = find_field(objects, *split_field_ref(ref))
        remove_field(obj, fld.name)
    for ref, restricted in [(r, None) for r in picklists or []] + [
        (r, True) for r in restricted_picklists or []
    ]:
        target, eq, values = ref.partition("=")
        if not eq:
            raise SchemaError(
                f"{ref!r}: give the values after '=', e.g. Lead.LeadSource=Web,Phone Inquiry"
            )
        obj, fld = find_field(objects, *split_field_ref(target))
        set_picklist(fld, [v.strip() for v in values.split(",") if v.strip()], restricted, obj.name)
    for ref in read_only_fields or []:
        obj, fld = find_field(objects, *split_field_ref(ref))
        if fld.name == "Id":
            raise SchemaError("Id is read-only already")
        fld.createable = fld.updateable = False
