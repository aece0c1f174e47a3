"""Reference resolution: relationship objects (``{"Who": {"Ext__c": "x"}}``) to parent Ids.

A batch collects the values its records point at (:func:`collect`), resolves them in batched
look-ups (:func:`resolve`; a converted Lead resolves to its Contact), then replaces each
relationship object with the parent's Id (:func:`apply`). :func:`parent_objects` tells which
sObjects a stream points at, so their pending records are written first.
"""

from __future__ import annotations

import typing as t

from salesforce_client.client import COMPOSITE_HEAVY

from target_salesforce_leads.lookups import merge_results, plan_queries
from target_salesforce_leads.rows import RefKey
from target_salesforce_leads.validation import ObjectSchema, Rejection

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector

# A person's Lead may have become a Contact: when resolving a polymorphic reference, try the
# Lead first (following conversion), then the other types it may point to.
_PREFERRED = ("Lead", "Contact")
_CONVERSION = ["IsConverted", "ConvertedContactId"]


def candidate_types(ref_field: dict[str, t.Any]) -> list[str]:
    """The sObjects a reference field may point to, Lead first, then Contact, then the rest."""
    refs = list(ref_field.get("referenceTo") or [])
    return sorted(refs, key=lambda r: _PREFERRED.index(r) if r in _PREFERRED else 99)


def collect(
    rec: t.Mapping[str, t.Any], relationships: t.Mapping[str, t.Any], into: dict[RefKey, set[str]]
) -> None:
    """Add the values ``rec``'s relationship objects point at to ``into``, by shape."""
    for name in relationships.keys() & rec.keys():
        value = rec[name]
        if isinstance(value, dict):
            typ = (value.get("attributes") or {}).get("type")
            for fld, v in value.items():
                if fld != "attributes" and v not in (None, ""):
                    into.setdefault(RefKey(name, fld, typ), set()).add(str(v))


def parent_objects(schema: ObjectSchema, properties: t.Iterable[str]) -> set[str]:
    """The sObjects a stream with ``properties`` points at.

    Lead too when it points at Contact: Lead records may be written to Contacts.
    """
    props = set(properties)
    refs: set[str] = set()
    for name, f in schema.relationships.items():
        if name in props:
            refs.update(f.get("referenceTo") or [])
    if "Contact" in refs:
        refs.add("Lead")
    return refs


class _Candidate(t.NamedTuple):
    sobject: str
    select: list[str]
    follow: bool  # a Lead: a converted one resolves to its Contact


def _candidates(connector: SalesforceConnector, types: list[str], field: str) -> list[_Candidate]:
    usable = []
    for cand in types:
        cs = connector.object_schema(cand)
        if isinstance(cs, Rejection) or not cs.has_field(field):
            continue
        follow = cand == "Lead" and cs.has_field("ConvertedContactId")
        usable.append(_Candidate(cand, [field, *_CONVERSION] if follow else [field], follow))
    return usable


def resolve(
    connector: SalesforceConnector, schema: ObjectSchema, key: RefKey, values: set[str]
) -> dict[str, str | None]:
    """Map each lower-cased external id value of a relationship to the Id to link.

    Batched look-ups (one Composite call for every candidate object when they fit); values
    written earlier in this run need none. A Lead that was converted resolves to its
    ConvertedContactId.
    """
    ref = schema.relationships[key.relationship]
    types = [key.type] if key.type else candidate_types(ref)
    result: dict[str, str | None] = {}
    todo = {v.lower(): v for v in values}
    if (
        len(types) > 1
        and connector.client.use_composite
        and _resolve_together(connector, types, key.field, todo, result)
    ):
        return result
    for cand in types:
        if not todo:
            break
        cs = connector.object_schema(cand)
        if isinstance(cs, Rejection) or not cs.has_field(key.field):
            continue
        result.update(connector.known_ids(cand, key.field, todo))
        if not todo:
            break
        follow = cand == "Lead" and cs.has_field("ConvertedContactId")
        select = [key.field, *_CONVERSION] if follow else [key.field]
        records = connector.find(cand, select, {key.field: list(todo.values())})
        take_ids(records, key.field, follow, todo, result)
    return result


def _resolve_together(
    connector: SalesforceConnector,
    types: list[str],
    field: str,
    todo: dict[str, str],
    result: dict[str, str | None],
) -> bool:
    """Look a polymorphic reference up in every candidate object at once.

    One Composite call, keeping the first candidate that holds each value, into ``result``.

    Values known from this run's writes move from ``todo`` to ``result`` first; returns False
    when the rest does not fit one call (``todo`` then holds what is left to look up).
    """
    usable = _candidates(connector, types, field)
    for cand in usable:
        result.update(connector.known_ids(cand.sobject, field, todo))
    if not todo:
        return True
    limit = connector.soql_max_length
    plans = [plan_queries(c.sobject, c.select, {field: list(todo.values())}, limit) for c in usable]
    if sum(len(p) for p in plans) > COMPOSITE_HEAVY:
        return False
    answers = connector.client.query_many([q for p in plans for q in p])
    start = 0
    for cand, plan in zip(usable, plans, strict=True):
        records = merge_results(answers[start : start + len(plan)])
        start += len(plan)
        take_ids(records, field, cand.follow, todo, result)
    return True


def take_ids(
    records: list[dict[str, t.Any]],
    field: str,
    follow: bool,
    todo: dict[str, str],
    result: dict[str, str | None],
) -> None:
    """Move each looked-up value from ``todo`` to ``result`` with the Id it resolves to.

    A converted Lead (``follow``) resolves to its Contact; one converted without a Contact
    resolves to nothing, so the next candidate object is tried.
    """
    for rec in records:
        low = str(rec.get(field)).lower()
        if low not in todo:
            continue
        if follow and rec.get("IsConverted"):
            if not rec.get("ConvertedContactId"):
                continue
            result[low] = rec["ConvertedContactId"]
        else:
            result[low] = rec["Id"]
        del todo[low]


def apply(
    rec: dict[str, t.Any],
    schema: ObjectSchema,
    resolved: t.Mapping[RefKey, t.Mapping[str, str | None]],
    sobject: str,
) -> Rejection | None:
    """Replace ``rec``'s relationship objects with the parent's Id (in place), or say why not."""
    for name in [k for k in rec if k in schema.relationships]:
        value = rec.pop(name)
        id_field = schema.relationships[name]["name"]
        if value is None:
            rec[id_field] = None
            continue
        if not isinstance(value, dict):
            return Rejection(
                "INVALID_FIELD", f'{name} must be an object like {{"ExternalIdField": value}}'
            )
        typ = (value.get("attributes") or {}).get("type")
        pairs = [(f, v) for f, v in value.items() if f != "attributes" and v not in (None, "")]
        if not pairs:
            rec[id_field] = None
            continue
        fld, v = pairs[0]
        parent = resolved.get(RefKey(name, fld, typ), {}).get(str(v).lower())
        if not parent:
            types = typ or " or ".join(candidate_types(schema.relationships[name]))
            return Rejection(
                "INVALID_CROSS_REFERENCE_KEY",
                f"No {types} has {fld} = {v}, so the {name} of this {sobject} cannot be "
                f"set; the record was not written. Sync that record first; it is retried "
                "when sent again.",
            )
        rec[id_field] = parent
    return None
