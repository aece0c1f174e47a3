"""Records of the emulated org: in memory for speed, written through to SQLite for persistence.

One process owns a data dir; all mutations happen on the server's event loop (a single writer),
so no locks are needed. Every write is committed before the API answers.

One module (over 400 lines): one owner of the records, whose in-memory copy and SQLite copy
every write (with its field checks and conversions) keeps in step.
"""

from __future__ import annotations

import collections
import contextvars
import datetime as dt
import json
import math
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from emulators.salesforce.errors import RequestError, SalesforceError
from emulators.salesforce.ids import BASE62, POD, IdFactory, normalize, to18
from emulators.salesforce.metadata import Field, SObject

USER_ID = to18("005" + POD + "000000001")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# While a Composite request with allOrNone runs, every write is journalled here as
# (sobject, id, record before the write or None when created) so that it can be rolled back.
JOURNAL: contextvars.ContextVar[list[tuple[str, str, dict[str, Any] | None]] | None] = (
    contextvars.ContextVar("sf_journal", default=None)
)
STRING_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "combobox"}
# A compound address value's keys and the component fields they come from (the component's
# name is the compound's prefix plus this suffix: Mailing + City). The compound is read-only in
# Salesforce; the emulator derives it from the components on every write.
ADDRESS_PARTS = (
    ("street", "Street"),
    ("city", "City"),
    ("state", "State"),
    ("postalCode", "PostalCode"),
    ("country", "Country"),
    ("stateCode", "StateCode"),
    ("countryCode", "CountryCode"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
)


def sf_length(text: str) -> int:
    """A text's length as Salesforce counts it: UTF-16 code units.

    Salesforce runs on Java strings, so a character outside the Basic Multilingual Plane (an
    emoji, a CJK extension ideograph) is a surrogate pair and counts as two characters toward
    a field's length, as LEN() and Apex String.length() count it.
    """
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def new_org_id() -> str:
    """A fresh, random 18-character org id (key prefix 00D), as unique as a real org's."""
    return to18("00D" + POD + "".join(secrets.choice(BASE62) for _ in range(9)))


def check_org_id(text: str) -> str:
    """The canonical 18-character form of an org id given by a person, or ValueError."""
    rid = normalize(text.strip())
    if rid is None or not rid.startswith("00D"):
        raise ValueError(
            f"{text!r} is not a Salesforce org id: use 15 or 18 letters and digits starting "
            "with 00D (an 18-character id must end in its case-safe suffix)"
        )
    return rid


def now_iso(moment: dt.datetime | None = None) -> str:
    """Salesforce's datetime format: ``2024-05-01T10:00:00.000+0000`` (UTC)."""
    moment = moment or dt.datetime.now(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> str | None:
    """Normalise an ISO 8601 date-time (or date) to Salesforce's UTC format, else None."""
    raw = text.strip()
    if len(raw) == 10:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            return None
        return day.isoformat() + "T00:00:00.000+0000"
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    elif len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit() and raw[-3] != ":":
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return now_iso(moment.astimezone(dt.timezone.utc))


def _as_text(field: Field, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_boolean(field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"true", "1"}:
        return True
    if lowered in {"false", "0"}:
        return False
    raise ValueError


def _as_number(field: Field, value: Any) -> float | int:
    if isinstance(value, (bool, dict, list)):
        raise ValueError
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError
    if field.type == "int":
        if not number.is_integer():
            raise ValueError
        return int(number)
    number = round(number, field.scale)
    if abs(number) >= 10 ** (field.precision - field.scale):
        raise SalesforceError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field.label}: value outside of valid range on numeric field: {value}",
            [field.name],
        )
    return float(number)


def _as_date(field: Field, value: Any) -> str:
    text = str(value).strip()
    if len(text) > 10 and text[10] in "T ":
        text = text[:10]  # Salesforce accepts a date-time and keeps its date
    return dt.date.fromisoformat(text).isoformat()


def _as_datetime(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError
    return parsed


#: How a JSON value or CSV cell becomes the stored value, per field type (others: as given).
_CONVERTERS: dict[str, Callable[[Field, Any], Any]] = {
    **{kind: _as_text for kind in (*STRING_TYPES, "reference", "id")},
    "boolean": _as_boolean,
    **{kind: _as_number for kind in ("double", "currency", "percent", "int")},
    "date": _as_date,
    "datetime": _as_datetime,
}


class Store:
    """All records, the external-id indexes and the SQLite file behind them."""

    def __init__(self, data_dir: Path, objects: dict[str, SObject], readonly: bool = False):
        self.objects = objects
        self.by_prefix = {o.key_prefix: o for o in objects.values()}
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in objects}
        # Record writes since the last stats reset, e.g. {"Lead created": 3}: what a client
        # really changed, whatever API (REST, Collections, Composite, Bulk) carried it.
        self.writes: collections.Counter[str] = collections.Counter()
        # sobject -> field -> match key -> ids; only for external-id and unique fields.
        self.ext: dict[str, dict[str, dict[str, list[str]]]] = {
            name: {f.name: {} for f in o.fields.values() if f.external_id or f.unique}
            for name, o in objects.items()
        }
        self.ids = IdFactory()
        path = data_dir / "salesforce.sqlite3"
        if readonly:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        else:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, sobject TEXT NOT NULL,"
                " data TEXT NOT NULL)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        self._load()
        if not readonly and USER_ID not in self.records["User"]:
            self._seed_user()
        if not readonly and self.meta_get("created") is None:
            self.meta_set("created", now_iso())

    # -- loading and persistence -------------------------------------------------------------
    def _load(self) -> None:
        for rid, sobject, data in self.db.execute("SELECT id, sobject, data FROM records"):
            if sobject not in self.records:
                continue  # an object removed from the schema since
            record = json.loads(data)
            self.records[sobject][rid] = record
            self.ids.seen(rid)
            if not record.get("IsDeleted"):
                self._index(sobject, record)

    def _seed_user(self) -> None:
        stamp = now_iso()
        user = {
            "Id": USER_ID,
            "IsDeleted": False,
            "Username": "integration@emulator.local",
            "LastName": "Integration",
            "FirstName": "Emulator",
            "Name": "Emulator Integration",
            "Email": "integration@emulator.local",
            "Alias": "integ",
            "IsActive": True,
            "TimeZoneSidKey": "Europe/Berlin",
            "CreatedDate": stamp,
            "CreatedById": USER_ID,
            "LastModifiedDate": stamp,
            "LastModifiedById": USER_ID,
            "SystemModstamp": stamp,
        }
        self.records["User"][USER_ID] = user
        self.persist("User", [user])

    def persist(self, sobject: str, records: Iterable[dict[str, Any]]) -> None:
        """Write records through to SQLite and commit, in one transaction."""
        rows = [(r["Id"], sobject, json.dumps(r, separators=(",", ":"))) for r in records]
        if not rows:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO records (id, sobject, data) VALUES (?, ?, ?)", rows
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def meta_get(self, key: str) -> str | None:
        """A text value kept under ``key`` (None when absent)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        """Keep a text value under ``key``."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def created_iso(self) -> str:
        """When this data dir's org was first started, to the minute (Salesforce's format).

        Nothing is ever purged from the emulator's delete log, so this is the
        ``earliestDateAvailable`` of ``sobjects/{o}/deleted``.
        """
        stamp = self.meta_get("created") or now_iso()
        return stamp[:17] + "00.000+0000"

    def org_id(self, override: str | None = None) -> str:
        """This data dir's org id: made once and kept in the meta table; override wins."""
        if override:
            return check_org_id(override)
        stored = self.meta_get("org_id")
        if stored:
            return stored
        created = new_org_id()
        self.meta_set("org_id", created)
        return created

    # -- lookups -----------------------------------------------------------------------------
    def obj(self, name: str) -> SObject | None:
        """Find an sObject type by case-insensitive name."""
        found = self.objects.get(name)
        if found:
            return found
        lower = name.lower()
        for obj in self.objects.values():
            if obj.name.lower() == lower:
                return obj
        return None

    def lookup(self, record_id: str) -> tuple[SObject, dict[str, Any]] | None:
        """Find a record (deleted ones included) by a 15- or 18-character id."""
        rid = normalize(record_id)
        if rid is None:
            return None
        obj = self.by_prefix.get(rid[:3])
        if obj is None:
            return None
        record = self.records[obj.name].get(rid)
        return (obj, record) if record is not None else None

    @staticmethod
    def match_key(field: Field, value: Any) -> str:
        """The key a value is indexed under for matching (lower case unless case-sensitive)."""
        text = value if isinstance(value, str) else str(value)
        return text if field.case_sensitive else text.lower()

    def find_by_ext(self, obj: SObject, field: Field, value: Any) -> list[str]:
        """Ids of live records whose external-id field matches value."""
        index = self.ext[obj.name].get(field.name)
        if index is None:
            return []
        return list(index.get(self.match_key(field, value), ()))

    def _index(self, sobject: str, record: dict[str, Any]) -> None:
        for fname, index in self.ext[sobject].items():
            value = record.get(fname)
            if value is not None and value != "":
                field = self.objects[sobject].fields[fname]
                index.setdefault(self.match_key(field, value), []).append(record["Id"])

    def _unindex(self, sobject: str, record: dict[str, Any]) -> None:
        for fname, index in self.ext[sobject].items():
            value = record.get(fname)
            if value is not None and value != "":
                field = self.objects[sobject].fields[fname]
                key = self.match_key(field, value)
                ids = index.get(key)
                if ids and record["Id"] in ids:
                    ids.remove(record["Id"])
                    if not ids:
                        del index[key]

    def field_changed(self, obj: SObject, name: str, purge: bool) -> None:
        """Keep the indexes in step after a field was added, replaced or removed at run time.

        ``purge`` removes the field's stored values from every record of the object (memory and
        SQLite), as deleting a field in Salesforce deletes its data and a new field starts
        empty.
        """
        records = self.records[obj.name]
        if purge:
            touched = [r for r in records.values() if name in r]
            for record in touched:
                del record[name]
            self.persist(obj.name, touched)
        fld = obj.fields.get(name)
        if fld is not None and (fld.external_id or fld.unique):
            index: dict[str, list[str]] = {}
            for record in records.values():
                value = record.get(name)
                if not record.get("IsDeleted") and value is not None and value != "":
                    index.setdefault(self.match_key(fld, value), []).append(record["Id"])
            self.ext[obj.name][name] = index
        else:
            self.ext[obj.name].pop(name, None)

    def erase(self, obj: SObject, record: dict[str, Any]) -> None:
        """Remove a record for good (memory and SQLite), as emptying the recycle bin does."""
        if not record.get("IsDeleted"):
            self._unindex(obj.name, record)
        self.records[obj.name].pop(record["Id"], None)
        self.db.execute("DELETE FROM records WHERE id = ?", (record["Id"],))

    # -- validation --------------------------------------------------------------------------
    def coerce(self, field: Field, value: Any, source: str) -> Any:
        """Turn a JSON value or a CSV cell into the stored value for this field, or raise."""
        if value is None:
            return False if field.type == "boolean" else None
        convert = _CONVERTERS.get(field.type)
        if convert is None:
            return value
        try:
            return convert(field, value)
        except (ValueError, TypeError, OverflowError):
            pass
        if source == "json":
            shown = json.dumps(value)[:100]
            raise RequestError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {field.type} from value {shown} or request may "
                f"be missing a required field ({field.name})",
            )
        raise SalesforceError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{field.label}: value not of required type: {value}",
            [field.name],
        )

    def check_value(self, obj: SObject, field: Field, value: Any) -> None:
        """Length, format and picklist rules of one stored value."""
        if value is None:
            if field.restricted and not field.nillable:
                raise SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{field.label}: bad value for restricted picklist field: null",
                    [field.name],
                )
            return
        if field.type in STRING_TYPES:
            if field.length and sf_length(value) > field.length:
                shown = value if len(value) <= 100 else value[:100] + "..."
                raise SalesforceError(
                    "STRING_TOO_LONG",
                    f"{field.label}: data value too large: {shown} (max length={field.length})",
                    [field.name],
                )
            if field.type == "email" and value and not EMAIL_RE.match(value):
                raise SalesforceError(
                    "INVALID_EMAIL_ADDRESS",
                    f"{field.label}: invalid email address: {value}",
                    [field.name],
                )
            if field.restricted and value not in field.picklist:
                raise SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{field.label}: bad value for restricted picklist field: {value}",
                    [field.name],
                )
        elif field.type == "reference":
            self.check_reference(obj, field, value)

    def check_reference(self, obj: SObject, field: Field, value: str) -> str:
        """Validate an id put into a reference field; answer the canonical 18-character id."""
        rid = normalize(value)
        if rid is None:
            raise SalesforceError(
                "MALFORMED_ID", f"{field.label}: id value of incorrect type: {value}", [field.name]
            )
        target = self.by_prefix.get(rid[:3])
        found = self.records[target.name].get(rid) if target else None
        if target is None or target.name not in field.reference_to or found is None:
            if len(field.reference_to) > 1 or found is None:
                raise SalesforceError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field.name]
                )
            raise SalesforceError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{field.label}: id value of incorrect type: {value}",
                [field.name],
            )
        if found.get("IsDeleted"):
            raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", [field.name])
        if target.name == "Lead" and found.get("IsConverted") and obj.name != "Lead":
            raise SalesforceError(
                "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [field.name]
            )
        return rid

    def resolve_relationship(self, obj: SObject, ref: Field, spec: Any) -> str | None:
        """Turn ``{"Intercom_Company_ID__c": "c1"}`` (or with attributes.type) into an id."""
        if spec is None:
            return None
        if not isinstance(spec, dict):
            raise RequestError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize {ref.relationship_name}: expected an object with an "
                "external id field",
            )
        target_name = None
        attrs = spec.get("attributes")
        if isinstance(attrs, dict) and attrs.get("type"):
            target_name = str(attrs["type"])
        elif len(ref.reference_to) == 1:
            target_name = ref.reference_to[0]
        if target_name is None:
            raise SalesforceError(
                "INVALID_FIELD",
                f"The polymorphic foreign key {ref.relationship_name} needs attributes.type to "
                "say which object the external id belongs to",
                [ref.name],
            )
        target = self.obj(target_name)
        if target is None or target.name not in ref.reference_to:
            raise SalesforceError(
                "INVALID_FIELD",
                f"Invalid foreign key relationship name {ref.relationship_name}.{target_name}",
                [ref.name],
            )
        keys = [k for k in spec if k != "attributes"]
        if len(keys) != 1:
            raise SalesforceError(
                "INVALID_FIELD",
                f"Foreign key external ID for {ref.relationship_name} must name exactly one "
                "external id field",
                [ref.name],
            )
        ext_field = target.field(keys[0])
        value = spec[keys[0]]
        if ext_field is None or not (ext_field.external_id or ext_field.name == "Id"):
            raise SalesforceError(
                "INVALID_FIELD",
                f"Field name provided, {keys[0]} is not an External ID or indexed field for "
                f"{target.name}",
                [ref.name],
            )
        if ext_field.name == "Id":
            return self.check_reference(obj, ref, str(value))
        ids = self.find_by_ext(target, ext_field, value)
        if not ids:
            raise SalesforceError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {ext_field.name} in "
                f"entity {target.name}",
                [ref.name],
            )
        if len(ids) > 1:
            raise SalesforceError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} found multiple times for field "
                f"{ext_field.name} in entity {target.name}",
                [ref.name],
            )
        return self.check_reference(obj, ref, ids[0])

    def prepare(
        self,
        obj: SObject,
        values: dict[str, Any],
        existing: dict[str, Any] | None,
        source: str = "json",
    ) -> dict[str, Any]:
        """Validate a create (existing is None) or an update; answer the field changes."""
        if existing is not None:
            if existing.get("IsDeleted"):
                raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", status=404)
            if obj.name == "Lead" and existing.get("IsConverted"):
                raise SalesforceError(
                    "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"
                )
        changes: dict[str, Any] = {}
        refs: list[tuple[Field, Any]] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            field = obj.by_lower.get(key.lower())
            if field is None:
                refs.append((self._relationship(obj, key, value), value))
                continue
            changes[field.name] = self._stored(obj, field, value, existing is None, source)
        for ref, spec in refs:
            changes[ref.name] = self.resolve_relationship(obj, ref, spec)
        if existing is None:
            missing = [
                f.name
                for f in obj.fields.values()
                if f.required and changes.get(f.name) in (None, "")
            ]
        else:
            missing = [
                name
                for name, value in changes.items()
                if value in (None, "") and obj.fields[name].required
            ]
        if missing:
            raise SalesforceError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._check_rules(obj, changes, existing)
        return changes

    def _relationship(self, obj: SObject, key: str, value: Any) -> Field:
        """The reference field a relationship key (``Account: {...}``) sets, or INVALID_FIELD."""
        ref = obj.relationships.get(key.lower())
        if ref is not None and (isinstance(value, dict) or value is None):
            return ref
        raise SalesforceError(
            "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
        )

    def _stored(self, obj: SObject, field: Field, value: Any, create: bool, source: str) -> Any:
        """The value to store for one field of a create or update, checked."""
        if not (field.createable if create else field.updateable):
            raise SalesforceError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {field.name}. Please check the security "
                "settings of this field and verify that it is read/write for your profile "
                "or permission set.",
                [field.name],
            )
        stored = self.coerce(field, value, source)
        if stored == "" and field.type in STRING_TYPES:
            stored = None  # Salesforce stores an empty string as null
        if field.type == "picklist" and stored is not None and not field.restricted:
            stored = field.picklist_lower.get(stored.lower(), stored)
        self.check_value(obj, field, stored)
        if field.type == "reference" and stored is not None:
            stored = normalize(stored)
        return stored

    def _check_rules(
        self, obj: SObject, changes: dict[str, Any], existing: dict[str, Any] | None
    ) -> None:
        """Unique fields and cross-field rules."""
        own_id = existing["Id"] if existing else None
        for fname in self.ext[obj.name]:
            value = changes.get(fname)
            if value is None or value == "":
                continue
            field = obj.fields[fname]
            if not field.unique:
                continue
            for other in self.find_by_ext(obj, field, value):
                if other != own_id:
                    raise SalesforceError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fname} duplicates value on record with id: "
                        f"{other}",
                        [],
                    )
        if obj.name == "Task":
            who = changes.get("WhoId", existing.get("WhoId") if existing else None)
            what = changes.get("WhatId", existing.get("WhatId") if existing else None)
            if who and what and who.startswith("00Q"):
                raise SalesforceError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Related To ID: a task whose Name is a Lead cannot be related to a record",
                    ["WhatId"],
                )

    # -- writes --------------------------------------------------------------------------------
    def apply(
        self,
        obj: SObject,
        changes: dict[str, Any],
        existing: dict[str, Any] | None,
        stamp: str | None = None,
    ) -> dict[str, Any]:
        """Apply validated changes in memory (the caller persists); answer the record."""
        stamp = stamp or now_iso()
        if existing is None:
            record: dict[str, Any] = {"Id": self.ids.new(obj.key_prefix), "IsDeleted": False}
            for field in obj.fields.values():
                if field.defaulted and field.default is not None:
                    record[field.name] = field.default
            if "OwnerId" in obj.fields:
                record["OwnerId"] = USER_ID
            record["CreatedDate"] = stamp
            record["CreatedById"] = USER_ID
        else:
            record = existing
            self._unindex(obj.name, record)
        journal = JOURNAL.get()
        if journal is not None:
            journal.append((obj.name, record["Id"], None if existing is None else dict(record)))
        self.writes[f"{obj.name} {'created' if existing is None else 'updated'}"] += 1
        for name, value in changes.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        record["LastModifiedDate"] = stamp
        record["LastModifiedById"] = USER_ID
        record["SystemModstamp"] = stamp
        self._derive(obj, record, stamp)
        self.records[obj.name][record["Id"]] = record
        self._index(obj.name, record)
        return record

    def _derive(self, obj: SObject, record: dict[str, Any], stamp: str) -> None:
        """Computed fields."""
        for fld in obj.fields.values():
            if fld.type == "address":
                self._derive_address(obj, record, fld.name)
        if obj.name in {"Lead", "Contact", "User"}:
            record["Name"] = " ".join(
                p for p in (record.get("FirstName"), record.get("LastName")) if p
            )
        elif obj.name == "Task":
            closed = record.get("Status") == "Completed"
            record["IsClosed"] = closed
            record["IsHighPriority"] = record.get("Priority") == "High"
            if closed and not record.get("CompletedDateTime"):
                record["CompletedDateTime"] = stamp
            account = None
            what = record.get("WhatId")
            who = record.get("WhoId")
            if what and what.startswith("001"):
                account = what
            elif who and who.startswith("003"):
                account = self.records["Contact"].get(who, {}).get("AccountId")
            if account:
                record["AccountId"] = account
            else:
                record.pop("AccountId", None)
        elif obj.name == "Opportunity":
            stage = record.get("StageName")
            record["IsClosed"] = stage in {"Closed Won", "Closed Lost"}
            record["IsWon"] = stage == "Closed Won"

    @staticmethod
    def _derive_address(obj: SObject, record: dict[str, Any], name: str) -> None:
        """The compound address value from its components, as the REST API shows it.

        ``{"city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode",
        "state", "street"}`` (plus the codes when the org has them), or null when all are
        empty.
        """
        prefix = name[: -len("Address")]
        value = {
            key: record.get(prefix + part)
            for key, part in ADDRESS_PARTS
            if prefix + part in obj.fields
        }
        if any(v is not None for v in value.values()):
            record[name] = dict(sorted(value.items()))
        else:
            record.pop(name, None)

    def delete(
        self, obj: SObject, record: dict[str, Any], counted: bool = True, stamp: str | None = None
    ) -> None:
        """Soft-delete (the record stays visible to queryAll).

        ``counted=False`` for deletions by hand (admin calls), which are not client writes;
        ``stamp`` backdates one (the deletion time ``sobjects/{o}/deleted`` reports).
        """
        if record.get("IsDeleted"):
            raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        journal = JOURNAL.get()
        if journal is not None:
            journal.append((obj.name, record["Id"], dict(record)))
        self._unindex(obj.name, record)
        if counted:
            self.writes[f"{obj.name} deleted"] += 1
        stamp = stamp or now_iso()
        record["IsDeleted"] = True
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def rollback(self, journal: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Undo journalled writes, newest first, in memory and in SQLite."""
        restored: dict[tuple[str, str], dict[str, Any] | None] = {}
        for sobject, rid, before in reversed(journal):
            record = self.records[sobject].get(rid)
            if record is not None:
                self._unindex(sobject, record)
            if before is None:
                self.records[sobject].pop(rid, None)
                restored[(sobject, rid)] = None
                continue
            if record is None:
                record = self.records[sobject][rid] = {}
            record.clear()
            record.update(before)
            if not record.get("IsDeleted"):
                self._index(sobject, record)
            restored[(sobject, rid)] = record
        gone = [rid for (_, rid), record in restored.items() if record is None]
        if gone:
            self.db.executemany("DELETE FROM records WHERE id = ?", [(rid,) for rid in gone])
        by_obj: dict[str, list[dict[str, Any]]] = {}
        for (sobject, _), record in restored.items():
            if record is not None:
                by_obj.setdefault(sobject, []).append(record)
        for sobject, records in by_obj.items():
            self.persist(sobject, records)

    def convert_lead(
        self, lead_id: str, account_id: str | None = None, contact_id: str | None = None
    ) -> tuple[str, str]:
        """Convert a Lead into an Account and a Contact, as the LeadConvert operation does."""
        found = self.lookup(lead_id)
        if found is None or found[0].name != "Lead" or found[1].get("IsDeleted"):
            raise SalesforceError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", status=404
            )
        lead = found[1]
        if lead.get("IsConverted"):
            raise SalesforceError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        stamp = now_iso()
        acc_obj, con_obj = self.objects["Account"], self.objects["Contact"]
        if account_id:
            got = self.lookup(account_id)
            if got is None or got[0].name != "Account":
                raise SalesforceError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            account = got[1]
        else:
            account = self.apply(
                acc_obj, {"Name": lead.get("Company") or lead["LastName"]}, None, stamp
            )
        copied = {
            name: lead[name]
            for name in lead
            if name in con_obj.fields
            and con_obj.fields[name].createable
            and name not in {"OwnerId"}
            and lead[name] is not None
        }
        copied["AccountId"] = account["Id"]
        contact_existing = None
        if contact_id:
            got = self.lookup(contact_id)
            if got is None or got[0].name != "Contact":
                raise SalesforceError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            contact_existing = got[1]
            copied = {k: v for k, v in copied.items() if contact_existing.get(k) is None}
        self._check_rules(con_obj, copied, contact_existing)
        self._unindex("Lead", lead)
        contact = self.apply(con_obj, copied, contact_existing, stamp)
        lead.update(
            {
                "IsConverted": True,
                "ConvertedContactId": contact["Id"],
                "ConvertedAccountId": account["Id"],
                "ConvertedDate": stamp[:10],
                "Status": "Closed - Converted",
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        )
        self._index("Lead", lead)
        self.persist("Account", [account])
        self.persist("Contact", [contact])
        self.persist("Lead", [lead])
        return contact["Id"], account["Id"]
