"""One batch of a stream, written in four steps: plan, look up, route, write.

Plan: skip records unchanged since their last write, validate the rest against the sObject's
describe and collect what the look-ups need. Look up: parents (references), the Leads and
Contacts a Lead record may be (lead_people), which records exist. Route: each record to its
sObject and operation (lead_matcher for Leads). Write: writes.BatchWriter. Every record ends
written, waiting or rejected (ledger).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_salesforce_leads import references
from target_salesforce_leads.encoding import bulk_plain, dumps, loads
from target_salesforce_leads.hashes import content_hash
from target_salesforce_leads.lead_matcher import LeadMatcher, missing_rejection, taken_over
from target_salesforce_leads.lead_people import PeopleLookup
from target_salesforce_leads.ledger import NotWritten
from target_salesforce_leads.rows import (
    MISSING,
    GroupKey,
    Item,
    Plan,
    RefKey,
    Route,
    Routed,
    Routing,
    Row,
    TakenOver,
)
from target_salesforce_leads.spool import SAME, Spool, routed_reader
from target_salesforce_leads.validation import ObjectSchema, Rejection, missing_on_create, validate
from target_salesforce_leads.values import bulk_unsafe
from target_salesforce_leads.writes import BatchWriter

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector
    from target_salesforce_leads.hashes import HashStore
    from target_salesforce_leads.ledger import RunLedger
    from target_salesforce_leads.roles import BatchOwner

# Local rejections that depend on the describe, worth a fresh describe when it came from cache.
_DESCRIBE_CODES = {
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "STRING_TOO_LONG",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "NUMBER_OUTSIDE_VALID_RANGE",
    "REQUIRED_FIELD_MISSING",
}


@dataclass
class _Lookups:
    """What the look-ups of a batch found."""

    resolved: dict[RefKey, dict[str, str | None]]
    matcher: LeadMatcher | None
    existing: set[str]  # lower external ids of records found in Salesforce
    wanted_create: set[str]  # external ids whose existence was looked up


class Batch:
    """One batch of ``sink``'s records: ``spool`` holds them, ``routed`` their routed copies."""

    def __init__(self, sink: BatchOwner, spool: Spool, routed: Spool) -> None:
        """The batch of ``sink`` whose records are in ``spool``."""
        self.sink = sink
        self.target = sink.target
        self.connector: SalesforceConnector = sink.connector
        self.ledger: RunLedger = sink.ledger
        self.hashes: HashStore = sink.hashes
        self.logger = sink.logger
        self.stream_name = sink.stream_name
        self.sobject = sink.sobject
        self.key_field = sink.key_field
        self.lead_smarts = sink.lead_smarts
        self._draining = spool
        self._routed = routed

    def reject(
        self, item_or_line: Item | int, ext: t.Any, rej: Rejection, sobject: str | None = None
    ) -> None:
        """Account for a record that was not written: waiting or rejected.

        Account for a record that was not written: waiting when the cause can go away (it is kept in
        the state and retried on later runs), else rejected.
        """
        handle = item_or_line.line if isinstance(item_or_line, Item) else item_or_line
        record = loads(self._draining.read(handle))
        key = None if ext in (None, "") else str(ext).lower()
        nw = NotWritten(self.stream_name, key, ext, sobject or self.sobject, rej, record)
        self.ledger.not_written(nw, self.sink.stream_info)
        if isinstance(item_or_line, Item):
            item_or_line.done = True

    def _reject_all(
        self, pending: dict[str, int], rej: Rejection, ext_of: t.Literal["none", "keyed", "all"]
    ) -> None:
        """Every pending record is not written, for ``rej``.

        ``ext_of`` says which records' external ids are read from their line (``keyed``: those that
        have one).
        """
        for key, handle in pending.items():
            ext = None
            if ext_of == "all" or (ext_of == "keyed" and not key.startswith(MISSING)):
                ext = loads(self._draining.read(handle)).get(self.key_field)
            self.reject(handle, ext, rej)

    def write(self, pending: dict[str, int], items: list[Item]) -> None:
        """Plan, look up, route and write one batch (``items`` tells what was accounted for)."""
        if self.key_field is None:
            self._reject_all(
                pending,
                Rejection(
                    "MISSING_ARGUMENT",
                    f"Stream {self.stream_name} has no single key property and no "
                    "external_id_field in stream_settings, so its records cannot be upserted; "
                    f"set stream_settings.{self.stream_name}.external_id_field.",
                ),
                "none",
            )
            return
        # Unchanged records first: a batch of only those costs no API call at all.
        self.target.ensure_hash_scope()
        if self.target.skip_unchanged and not self._skip_unchanged(pending):
            return
        schema = self._writable_schema(pending)
        if schema is None:
            return
        plan = Plan(items=items)
        schema = self._plan(pending, schema, plan)
        if not plan.items:
            return
        lookups = self._look_up(plan, schema)
        routing = self._route(plan, schema, lookups)
        if lookups.matcher is not None and not self.target.dry_run:
            self._account_taken_over(lookups.matcher.taken_over, lookups.matcher.taken_in_batch)
        read = routed_reader(self._routed, self._draining)
        BatchWriter(self, items, read).write(routing, self.target.dry_run)

    def _skip_unchanged(self, pending: dict[str, int]) -> bool:
        """Settle, and drop from ``pending``, the records unchanged since their last write.

        Settle (and drop from ``pending``) the records unchanged since their last write; whether any
        record is left.
        """
        digests = self.hashes.get_many(
            self.sobject, [k for k in pending if not k.startswith(MISSING)]
        )
        if digests:
            read = self._draining.reader()
            unchanged = [
                k
                for k, h in pending.items()
                if k in digests and digests[k] == content_hash(read(h))
            ]
            for k in unchanged:
                del pending[k]
            self.ledger.settled_many(self.stream_name, unchanged)
            self.ledger.report.count(self.stream_name, self.sobject, "unchanged", len(unchanged))
        return bool(pending)

    def _writable_schema(self, pending: dict[str, int]) -> ObjectSchema | None:
        """The sObject's describe, or None once every record was refused for its reason."""
        schema = self.connector.object_schema(self.sobject)
        if isinstance(schema, Rejection):
            self._reject_all(pending, schema, "keyed")
            return None
        if not schema.is_external_id(str(self.key_field)):
            self._reject_all(
                pending,
                Rejection(
                    "INVALID_FIELD",
                    f"{self.key_field} is not an External ID field "
                    f"on {self.sobject}; mark it External ID (and Unique) in Setup or "
                    "set stream_settings.external_id_field. Run --preflight.",
                ),
                "all",
            )
            return None
        return schema

    # -- plan -------------------------------------------------------------------------------

    def _plan(self, pending: dict[str, int], schema: ObjectSchema, plan: Plan) -> ObjectSchema:
        """Pass 1: validate each record and collect what the look-ups need, into ``plan``.

        Answers the describe judged by (fetched fresh when the cached one looked out of date).
        """
        read = self._draining.reader()
        for key, handle in pending.items():
            line = read(handle)
            rec = loads(line)
            ext = rec.get(self.key_field)
            if key.startswith(MISSING):
                self.reject(
                    handle,
                    ext,
                    Rejection(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{self.key_field}] (the external id)",
                    ),
                )
                continue
            schema, rej = self._validate(rec, schema)
            if rej:
                self.reject(handle, ext, rej)
                continue
            plan.items.append(
                Item(line=handle, ext=str(ext), digest=content_hash(line), plain=bulk_plain(line))
            )
            self._needs(rec, str(ext), schema, plan)
        return schema

    def _validate(
        self, rec: dict[str, t.Any], schema: ObjectSchema
    ) -> tuple[ObjectSchema, Rejection | None]:
        """``validate``; a rejection a cached describe may explain is judged by a fresh one."""
        rej = validate(rec, schema)
        if rej and rej.code in _DESCRIBE_CODES and self.sobject in self.connector.cached_schemas:
            fresh = self.connector.object_schema(self.sobject, fresh=True)
            if isinstance(fresh, ObjectSchema):
                return fresh, validate(rec, fresh)
        return schema, rej

    def _needs(self, rec: dict[str, t.Any], ext: str, schema: ObjectSchema, plan: Plan) -> None:
        """What the look-ups need for ``rec``: its email, parents, whether it exists."""
        if self.lead_smarts and rec.get("Email"):
            plan.email_of[ext.lower()] = str(rec["Email"]).lower()
        if schema.relationships:
            references.collect(rec, schema.relationships, plan.references)
        if not self.lead_smarts and (self.target.dry_run or missing_on_create(rec, schema)):
            # Whether it is an insert (and so needs its required fields) depends on whether
            # the record exists.
            plan.unknown_create.append(ext)

    # -- look up ----------------------------------------------------------------------------

    def _look_up(self, plan: Plan, schema: ObjectSchema) -> _Lookups:
        """The batched read-only look-ups: parents, Leads and Contacts, existing records."""
        connector = self.connector
        key_field = str(self.key_field)
        resolved = {
            k: references.resolve(connector, schema, k, v) for k, v in plan.references.items()
        }
        matcher = None
        if self.lead_smarts:
            exts = [it.ext for it in plan.items]
            people = PeopleLookup(connector, key_field, schema).people(exts, plan.email_of)
            matcher = LeadMatcher(people, schema, lambda: connector.schema_or_none("Contact"), exts)
        existing: set[str] = set()
        if plan.unknown_create:
            found = connector.find(self.sobject, [key_field], {key_field: plan.unknown_create})
            existing = {str(r.get(key_field)).lower() for r in found}
        return _Lookups(resolved, matcher, existing, set(plan.unknown_create))

    # -- route ------------------------------------------------------------------------------

    def _route(self, plan: Plan, schema: ObjectSchema, lookups: _Lookups) -> Routing:
        """Pass 2: every record to its write, or not written with the reason.

        Routed records are kept as JSON bytes, not dicts, to bound memory on big batches.
        """
        routing = Routing()
        relationships = schema.relationships
        read = self._draining.reader()
        for idx, item in enumerate(plan.items):
            line = read(item.line)
            rec = original = loads(line)
            # Relationship objects are replaced by Ids: the record is then no longer its line.
            refs = bool(relationships and not relationships.keys().isdisjoint(rec))
            rej = references.apply(rec, schema, lookups.resolved, self.sobject) if refs else None
            routed = (
                Routed.refused(rec, rej) if rej else self._route_one(rec, item, schema, lookups)
            )
            if routed.route is None:
                self.reject(item, item.ext, t.cast("Rejection", routed.rejection))
                continue
            same = None if refs else original
            self._add_row(routing, Row(idx, 0, routed.route.created), item, line, routed, same)
        return routing

    def _route_one(
        self, rec: dict[str, t.Any], item: Item, schema: ObjectSchema, lookups: _Lookups
    ) -> Routed:
        if lookups.matcher is not None:
            return lookups.matcher.route(rec, item.ext)
        dry_run = self.target.dry_run
        creating = (
            (item.ext.lower() not in lookups.existing)
            if (dry_run or item.ext in lookups.wanted_create)
            else None
        )
        rej = missing_rejection(rec, schema) if creating else None
        if rej:
            return Routed.refused(rec, rej)
        return Routed(Route(self.sobject, "upsert", str(self.key_field), creating), rec, None)

    def _add_row(
        self,
        routing: Routing,
        row: Row,
        item: Item,
        line: bytes,
        routed: Routed,
        original: dict[str, t.Any] | None,
    ) -> None:
        """Put a routed record in its write.

        ``original`` is its spooled ``line`` as decoded, if unchanged since (a record that is still
        it needs no copy).
        """
        route = t.cast("Route", routed.route)
        rec = routed.record
        item.route_sobject = route.sobject
        # Control properties ("_adopt_by_email") steer the target; Salesforce never sees them.
        if b'"_' in line:
            rec = {k: v for k, v in rec.items() if not k.startswith("_")}
        # A value Bulk CSV cannot carry as sent (its null marker "#N/A") goes by REST.
        rest_only = not item.plain and bulk_unsafe(rec, empty_strings=False)
        gkey = GroupKey(route.sobject, route.operation, route.key_field, rest_only)
        # The record as spooled needs no copy.
        ref = item.line | SAME if rec is original else self._routed.append(dumps(rec, item.plain))
        routing.add(gkey, row._replace(ref=ref), rec)

    def _account_taken_over(self, taken: list[TakenOver], in_batch: list[str]) -> None:
        """Account for the people whose Lead another record takes over.

        The people whose Lead another record takes over (one Lead per email) are not left silent:
        each gets a reject line saying where its Lead went (those of this batch got theirs when
        routed), and its hash is forgotten so that, sent again, it is judged again (then refused as
        a duplicate) and not skipped as unchanged.
        """
        forget = [x.old.lower() for x in taken] + in_batch
        if forget:
            self.hashes.forget_many(self.sobject, forget)
        for x in taken:
            rej = taken_over(str(self.key_field), x.lead_id, x.email, x.new)
            self.ledger.report.reject(
                self.stream_name,
                self.sobject,
                x.old,
                rej.code,
                rej.message,
                {str(self.key_field): x.old, "Email": x.email},
            )
