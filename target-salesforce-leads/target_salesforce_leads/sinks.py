"""The Salesforce sink: one per stream, upserting into one sObject by an external id.

A sink spools its stream's records (the last one per external id winning); a batch is then
written in four steps: plan (skip unchanged records, validate, collect what look-ups need),
look up (parents, Leads and Contacts, existing records), route (each record to its sObject and
operation) and write (:mod:`~target_salesforce_leads.writes`). Every record ends written,
waiting or rejected (:mod:`~target_salesforce_leads.ledger`).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted
from salesforce_client.bulk import BulkJobFailed
from salesforce_client.errors import RetriesExhausted, SalesforceError
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_salesforce_leads import references
from target_salesforce_leads.encoding import (
    bulk_plain,
    canonical_line,
    canonical_text,
    conform_all,
    dumps,
    loads,
)
from target_salesforce_leads.hashes import content_hash
from target_salesforce_leads.lead_matcher import LeadMatcher, missing_rejection, taken_over
from target_salesforce_leads.lead_people import PeopleLookup
from target_salesforce_leads.ledger import NotWritten
from target_salesforce_leads.record_schema import FastJSONSchemaValidator, schema_rejection
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
from target_salesforce_leads.sdk_hooks import SalesforceDates
from target_salesforce_leads.spool import SAME, Spool, routed_reader
from target_salesforce_leads.validation import ObjectSchema, Rejection, missing_on_create, validate
from target_salesforce_leads.values import bulk_unsafe, clean_record
from target_salesforce_leads.waiting import Entry, StreamInfo
from target_salesforce_leads.writes import BatchWriter

if t.TYPE_CHECKING:
    from target_salesforce_leads.target import TargetSalesforceLeads

# Local rejections that depend on the describe, worth a fresh describe when it came from cache.
_DESCRIBE_CODES = {
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "STRING_TOO_LONG",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "NUMBER_OUTSIDE_VALID_RANGE",
    "REQUIRED_FIELD_MISSING",
}
# Errors whose message says what to do: no traceback (the run's last lines say it).
_EXPLAINED = (BudgetExhausted, RetriesExhausted, SalesforceError, BulkJobFailed, AuthError)


@dataclass
class _Lookups:
    """What the look-ups of a batch found."""

    resolved: dict[RefKey, dict[str, str | None]]
    matcher: LeadMatcher | None
    existing: set[str]  # lower external ids of records found in Salesforce
    wanted_create: set[str]  # external ids whose existence was looked up


class SalesforceSink(SalesforceDates, BatchSink):
    """Spools a stream's records, then validates, matches and writes them per batch."""

    MAX_SIZE_DEFAULT = 100_000

    def __init__(
        self,
        target: TargetSalesforceLeads,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """A sink for ``stream_name``, writing to its sObject (stream_settings) by its key."""
        self._target = target
        self.connector = target.connector
        self.ledger = target.ledger
        self.hashes = target.hashes
        # Set by the validator and the date parsing, read by process_record.
        self._invalid: str | None = None
        super().__init__(target, stream_name, schema, key_properties)
        settings = (self.config.get("stream_settings") or {}).get(stream_name) or {}
        self.sobject: str = settings.get("sobject") or stream_name
        keys = list(key_properties or [])
        self.key_field: str | None = settings.get("external_id_field") or (
            keys[0] if len(keys) == 1 else None
        )
        self._pending: dict[str, int] = {}
        self._spool = Spool()
        self._draining = self._spool
        self._routed = self._spool
        self._missing = 0
        self.lead_smarts = self.sobject == "Lead" and bool(
            self.config.get("match_contacts_by_email", True)
        )
        # Without stream maps a record holds only what JSON decoding makes (and our conformed
        # dates), which msgspec encodes byte for byte as json.dumps does.
        self._maps_free = not (
            self.config.get("stream_maps") or self.config.get("flattening_enabled")
        )

    @property
    def target(self) -> TargetSalesforceLeads:
        """The target this sink writes for."""
        return self._target

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """The stream's JSON schema check: an invalid record is rejected, not fatal."""
        if not self.validate_schema:
            return None
        return FastJSONSchemaValidator(self.schema, on_invalid=self._note_invalid)

    def _note_invalid(self, message: str) -> None:
        self._invalid = message

    @property
    def max_size(self) -> int:
        """Records spooled before a batch is written (batch_size)."""
        return int(self.config.get("batch_size") or self.MAX_SIZE_DEFAULT)

    def stream_info(self) -> StreamInfo:
        """The stream's schema and keys, as a waiting record keeps them."""
        return StreamInfo(self.original_schema, list(self.key_properties or []))

    # -- spooling ---------------------------------------------------------------------------

    def process_record(self, record: dict, context: dict) -> None:
        """Keep the record's canonical JSON, the last one per external id winning."""
        line = None
        if self._invalid is None:
            line = canonical_line(record, self._maps_free and self.target.native_message)
        if line is not None:
            rec = record  # nothing to clean (the line proves it)
        else:
            # Control characters Salesforce would store as they are (NUL, BEL, ANSI escapes) go.
            rec, _ = clean_record(conform_all(record))
            line = canonical_text(rec).encode()
        ext = rec.get(self.key_field) if self.key_field else None
        report = self.ledger.report
        report.received(self.stream_name)
        if self._invalid is not None:
            # The record breaks its stream's schema: reject it rather than stop the run.
            rej = schema_rejection(ext, self.key_field, self._invalid)
            self._invalid = None
            report.reject(self.stream_name, self.sobject, ext, rej.code, rej.message, rec)
            return
        if ext in (None, ""):
            self._missing += 1
            key = f"{MISSING}{self._missing}"
        else:
            key = str(ext).lower()
        if key in self._pending:
            del self._pending[key]  # last record wins, at its own position
            report.merged(self.stream_name)
        self._pending[key] = self._spool.append(line)

    def adopt_waiting(self, entries: t.Iterable[Entry]) -> int:
        """Queue records that waited in an earlier run; a record the tap sent in this run wins.

        Returns how many were queued.
        """
        queued = 0
        for entry in entries:
            if entry.key in self._pending:
                continue
            line = canonical_text(entry.record).encode()
            self._pending[entry.key] = self._spool.append(line)
            self.tally_record_read()
            self.ledger.report.retried(self.stream_name)
            queued += 1
        return queued

    def clean_up(self) -> None:
        """Remove the spool."""
        self._spool.close()
        super().clean_up()

    @property
    def has_pending(self) -> bool:
        """Whether records wait in the spool for the next batch."""
        return bool(self._pending)

    # -- batch ------------------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        """Write the spooled records; never lets a record go unaccounted for."""
        pending, self._pending = self._pending, {}
        spool, self._spool = self._spool, Spool()
        self._draining = spool
        self._routed = Spool()
        progress = self.target.progress
        progress.writing(self.stream_name, len(pending))
        try:
            self._process(pending)
        finally:
            progress.wrote(self.stream_name)
            spool.close()
            self._routed.close()

    def _held_back(self, count: int) -> None:
        """Records not attempted because writing stopped; the tap sends them again."""
        halt = self.target.halt
        self.ledger.report.wait(
            self.stream_name,
            self.sobject,
            halt.code or "HALTED",
            halt.reason or "writing stopped",
            count,
        )

    def _process(self, pending: dict[str, int]) -> None:
        if not pending:
            return
        target = self.target
        if target.halt.reason:
            self._held_back(len(pending))
            return
        items: list[Item] = []
        try:
            target.drain_dependencies(self)
            if target.halt.reason:
                self._held_back(len(pending))
                return
            with target.lead_lock(self):
                self._write(pending, items)
        except Exception as exc:  # noqa: BLE001 - whatever failed, account for every record
            left = sum(1 for it in items if not it.done) + (len(pending) if not items else 0)
            target.halt.record(exc, left, target.logger)
            self._held_back(left)
            if not isinstance(exc, _EXPLAINED):
                # The traceback only at debug level: the run's last lines say what to do.
                self.logger.debug(
                    "Traceback of the error writing %s:", self.stream_name, exc_info=True
                )

    def reject(
        self, item_or_line: Item | int, ext: t.Any, rej: Rejection, sobject: str | None = None
    ) -> None:
        """Account for a record that was not written: waiting when the cause can go away
        (it is kept in the state and retried on later runs), else rejected.
        """
        handle = item_or_line.line if isinstance(item_or_line, Item) else item_or_line
        record = loads(self._draining.read(handle))
        key = None if ext in (None, "") else str(ext).lower()
        nw = NotWritten(self.stream_name, key, ext, sobject or self.sobject, rej, record)
        self.ledger.not_written(nw, self.stream_info)
        if isinstance(item_or_line, Item):
            item_or_line.done = True

    def _reject_all(
        self, pending: dict[str, int], rej: Rejection, ext_of: t.Literal["none", "keyed", "all"]
    ) -> None:
        """Every pending record is not written, for ``rej``; ``ext_of`` says which records'
        external ids are read from their line (``keyed``: those that have one).
        """
        for key, handle in pending.items():
            ext = None
            if ext_of == "all" or (ext_of == "keyed" and not key.startswith(MISSING)):
                ext = loads(self._draining.read(handle)).get(self.key_field)
            self.reject(handle, ext, rej)

    def _write(self, pending: dict[str, int], items: list[Item]) -> None:
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
        """Settle (and drop from ``pending``) the records unchanged since their last write;
        whether any record is left.
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
        """``validate``; a rejection a cached describe may explain is judged again by a fresh one."""
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
        """Put a routed record in its write; ``original`` is its spooled ``line`` as decoded,
        if unchanged since (a record that is still it needs no copy).
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
        if rec is original:
            ref = item.line | SAME  # the record as spooled: no copy needed
        else:
            ref = self._routed.append(dumps(rec, item.plain))
        routing.add(gkey, row._replace(ref=ref), rec)

    def _account_taken_over(self, taken: list[TakenOver], in_batch: list[str]) -> None:
        """The people whose Lead another record takes over (one Lead per email) are not left
        silent: each gets a reject line saying where its Lead went (those of this batch got
        theirs when routed), and its hash is forgotten so that, sent again, it is judged again
        (then refused as a duplicate) and not skipped as unchanged.
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
                {self.key_field: x.old, "Email": x.email},
            )
