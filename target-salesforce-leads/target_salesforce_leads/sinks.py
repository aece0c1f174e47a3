"""The Salesforce sink: one per stream, upserting into one sObject by an external id."""

from __future__ import annotations

import csv
import tempfile
import typing as t
from dataclasses import dataclass

from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted
from salesforce_client.bulk import BulkJobFailed, BulkUpload, run_bulk_job
from salesforce_client.client import COMPOSITE_HEAVY
from salesforce_client.composite import Write, write_many
from salesforce_client.errors import RetriesExhausted, SalesforceError
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.helpers._compat import (
    date_fromisoformat,
    datetime_fromisoformat,
    time_fromisoformat,
)
from singer_sdk.helpers._typing import (
    get_datelike_property_type,
    handle_invalid_timestamp_in_record,
)
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_salesforce_leads.encoding import (
    bulk_plain,
    canonical_line,
    canonical_text,
    conform,
    conform_all,
    dumps,
    loads,
)
from target_salesforce_leads.hashes import content_hash
from target_salesforce_leads.lookups import (
    find_records,
    merge_results,
    plan_queries,
    scan_if_cheaper,
)
from target_salesforce_leads.validation import (
    ObjectSchema,
    Rejection,
    missing_on_create,
    validate,
)
from target_salesforce_leads.values import bulk_unsafe, clean_record

if t.TYPE_CHECKING:
    from target_salesforce_leads.target import TargetSalesforceLeads

_MISSING = "\x00missing:"
BULK_JOB_CALLS = 8
DRY_RUN_ID = "(dry run: not written)"
# Local rejections that depend on the describe, worth a fresh describe when it came from cache.
_DESCRIBE_CODES = {
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "STRING_TOO_LONG",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "NUMBER_OUTSIDE_VALID_RANGE",
    "REQUIRED_FIELD_MISSING",
}
# A person's Lead may have become a Contact: when resolving a polymorphic reference, try the
# Lead first (following conversion), then the other types it may point to.
_PREFERRED = ("Lead", "Contact")


_PARSERS = {
    "time": time_fromisoformat,
    "date": date_fromisoformat,
    "date-time": datetime_fromisoformat,
}
# A routed record that is its canonical record unchanged points into the batch's spool rather
# than into a copy: this bit of the reference says so.
_SAME = 1 << 62


class FastJSONSchemaValidator(BaseJSONSchemaValidator):
    """Schema validation compiled with fastjsonschema.

    The SDK's default validator costs more per record than everything else the target does.
    An invalid record does not stop the run: the sink is told why, and rejects that record.
    """

    def __init__(
        self, schema: dict[str, t.Any], on_invalid: t.Callable[[str], None] | None = None
    ) -> None:
        super().__init__(schema)
        import fastjsonschema  # here, not at start-up: --about and --help do without it

        self._on_invalid = on_invalid
        self._value_error = fastjsonschema.JsonSchemaValueException
        try:
            self._validate = fastjsonschema.compile(
                schema, formats={"date-time": r"^.*$", "date": r"^.*$", "time": r"^.*$"}
            )
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc

    def validate(self, record: dict[str, t.Any]) -> None:
        try:
            self._validate(record)
        except self._value_error as exc:
            if self._on_invalid is None:
                raise InvalidRecord(
                    f"Record Message Validation Error: {exc.message}", record
                ) from exc
            self._on_invalid(exc.message)


class Spool:
    """Append-only temporary file of JSON lines; records are referred to by an int handle.

    Keeping a batch's records on disk rather than as Python objects bounds the target's memory
    however large ``batch_size`` is.
    """

    def __init__(self) -> None:
        self._fh = tempfile.TemporaryFile(prefix="target-sf-spool-")
        self._end = 0
        self._at_end = True  # the file position is the end: appends need no seek (a seek
        # flushes the write buffer, i.e. costs a system call per record)

    def append(self, line: bytes) -> int:
        if not self._at_end:
            self._fh.seek(self._end)
            self._at_end = True
        self._fh.write(line)
        handle = (self._end << 32) | len(line)
        self._end += len(line)
        return handle

    def read(self, handle: int) -> bytes:
        self._at_end = False
        self._fh.seek(handle >> 32)
        return self._fh.read(handle & 0xFFFFFFFF)

    def reader(self, block: int = 1 << 20) -> t.Callable[[int], bytes]:
        """A ``read`` for handles taken mostly in the order they were appended: it reads the
        file a block at a time (one system call per block rather than per record).

        Only for a spool that is not appended to while the reader is in use.
        """
        buf = b""
        start = 0

        def read(handle: int) -> bytes:
            nonlocal buf, start
            off, size = handle >> 32, handle & 0xFFFFFFFF
            rel = off - start
            if rel < 0 or rel + size > len(buf):
                self._at_end = False
                self._fh.seek(off)
                buf = self._fh.read(max(size, block))
                start, rel = off, 0
            return buf[rel : rel + size]

        return read

    def close(self) -> None:
        self._fh.close()


@dataclass(slots=True)
class _Item:
    """One surviving record of a batch; its canonical JSON stays in the batch's spool."""

    line: int
    ext: str
    digest: str
    done: bool = False
    route_sobject: str = ""
    plain: bool = False  # bulk_plain(line): no value needs Bulk CSV's per-value check


@dataclass
class _Route:
    sobject: str
    operation: str  # upsert | update
    key_field: str
    created: bool | None  # known outcome for dry runs; None when unknown


class SalesforceSink(BatchSink):
    """Spools a stream's records, then validates, matches and writes them per batch."""

    MAX_SIZE_DEFAULT = 100_000

    @property
    def target(self) -> TargetSalesforceLeads:
        return self._target

    def __init__(
        self,
        target: TargetSalesforceLeads,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self._target = target
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
        self._datelike: tuple[int, int, dict[str, str], frozenset[str]] | None = None

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        return FastJSONSchemaValidator(self.schema, on_invalid=self._note_invalid)

    def _note_invalid(self, message: str) -> None:
        self._invalid = message

    def _parse_timestamps_in_record(
        self, record: dict, schema: dict, treatment: DatetimeErrorTreatmentEnum
    ) -> None:
        """The SDK's parsing of date-like values, then straight into Salesforce's form.

        Looks only at the schema's date-like properties (worked out once per schema) rather
        than at every value. The SDK stops the whole run on one unparsable date (or silently
        nulls it): that record is rejected instead, like any other invalid record.
        """
        props = schema["properties"]
        cached = self._datelike
        if cached is None or cached[0] != id(schema) or cached[1] != len(props):
            datelike = {
                k: kind for k, p in props.items() if (kind := get_datelike_property_type(p))
            }
            cached = self._datelike = (id(schema), len(props), datelike, frozenset(props))
        _, _, datelike, names = cached
        if not names.issuperset(record):
            for key, value in record.items():
                if (
                    key not in names
                    and value is not None
                    and not schema.get("additionalProperties", False)
                    and key not in self._warned_missing_fields
                ):
                    self.logger.warning("No schema for record field '%s'", key)
                    self._warned_missing_fields.add(key)
        if not datelike:
            return
        # In the record's order, as the SDK does (the first bad date names the rejection).
        for key in [k for k in record if k in datelike]:
            value, kind = record[key], datelike[key]
            if value is None:
                continue
            try:
                record[key] = conform(_PARSERS.get(kind, datetime_fromisoformat)(value))
            except ValueError as ex:
                try:
                    handle_invalid_timestamp_in_record(
                        record,
                        [key],
                        value,
                        kind,
                        ex,
                        DatetimeErrorTreatmentEnum.ERROR,
                        self.logger,
                    )
                except ValueError as exc:
                    if self._invalid is None:
                        self._invalid = str(exc)
                return

    @property
    def max_size(self) -> int:
        return int(self.config.get("batch_size") or self.MAX_SIZE_DEFAULT)

    # -- spooling ---------------------------------------------------------------------------

    def process_record(self, record: dict, context: dict) -> None:
        """Keep the record's canonical JSON, the last one per external id winning."""
        line = None
        if self._invalid is None:
            line = canonical_line(record, self._maps_free and self.target.native_message)
        if line is not None:
            rec = record  # nothing to clean (the line proves it)
        else:
            # Control characters Salesforce would store as they are (NUL, BEL, ANSI escapes)
            # go.
            rec, _cleaned = clean_record(conform_all(record))
            line = canonical_text(rec).encode()
        ext = rec.get(self.key_field) if self.key_field else None
        if self._invalid is not None:
            # The record breaks its stream's schema: reject it rather than stop the run.
            message, self._invalid = self._invalid, None
            self.target.report.received(self.stream_name)
            if ext in (None, ""):
                rej = Rejection(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{self.key_field}] ({message})",
                )
            else:
                rej = Rejection(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"The record does not match its stream's schema: {message}",
                )
            self.target.report.reject(
                self.stream_name, self.sobject, ext, rej.code, rej.message, rec
            )
            return
        if ext in (None, ""):
            self._missing += 1
            key = f"{_MISSING}{self._missing}"
        else:
            key = str(ext).lower()
        self.target.report.received(self.stream_name)
        if key in self._pending:
            del self._pending[key]  # last record wins, at its own position
            self.target.report.merged(self.stream_name)
        self._pending[key] = self._spool.append(line)

    def adopt_waiting(self, entries: t.Iterable[t.Any]) -> int:
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
            self.target.report.retried(self.stream_name)
            queued += 1
        return queued

    def clean_up(self) -> None:
        self._spool.close()
        super().clean_up()

    @property
    def has_pending(self) -> bool:
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

    def _process(self, pending: dict[str, int]) -> None:
        if not pending:
            return
        target = self.target
        if target.halted:
            target.held_back(self, len(pending))
            return
        items: list[_Item] = []
        try:
            target.drain_dependencies(self)
            if target.halted:
                target.held_back(self, len(pending))
                return
            with target.lead_lock(self):
                self._write(pending, items)
        except Exception as exc:  # noqa: BLE001 - whatever failed, account for every record
            left = sum(1 for it in items if not it.done) + (len(pending) if not items else 0)
            target.halt(exc, left)
            target.held_back(self, left)
            if not isinstance(
                exc,
                BudgetExhausted | RetriesExhausted | SalesforceError | BulkJobFailed | AuthError,
            ):
                # The traceback only at debug level: the run's last lines say what to do.
                self.logger.debug(
                    "Traceback of the error writing %s:", self.stream_name, exc_info=True
                )

    def _reject(
        self, item_or_line: _Item | int, ext: t.Any, rej: Rejection, sobject: str | None = None
    ) -> None:
        """Account for a record that was not written: waiting when the cause can go away
        (it is kept in the state and retried on later runs), else rejected.
        """
        handle = item_or_line.line if isinstance(item_or_line, _Item) else item_or_line
        record = loads(self._draining.read(handle))
        key = None if ext in (None, "") else str(ext).lower()
        self.target.not_written(self, key, ext, sobject or self.sobject, rej, record)
        if isinstance(item_or_line, _Item):
            item_or_line.done = True

    def _write(self, pending: dict[str, int], items: list[_Item]) -> None:
        target = self.target
        report = target.report
        dry_run = target.dry_run
        if self.key_field is None:
            for line in pending.values():
                self._reject(
                    line,
                    None,
                    Rejection(
                        "MISSING_ARGUMENT",
                        f"Stream {self.stream_name} has no single key property and no "
                        "external_id_field in stream_settings, so its records cannot be upserted; "
                        "set stream_settings." + self.stream_name + ".external_id_field.",
                    ),
                )
            return
        # Unchanged records first: a batch of only those costs no API call at all.
        target.ensure_hash_scope()
        if target.skip_unchanged:
            digests = target.hashes.get_many(
                self.sobject, [k for k in pending if not k.startswith(_MISSING)]
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
                target.settled_many(self.stream_name, unchanged)
                report.count(self.stream_name, self.sobject, "unchanged", len(unchanged))
            if not pending:
                return
        schema = target.object_schema(self.sobject)
        if isinstance(schema, Rejection):
            for key, h in pending.items():
                self._reject(
                    h,
                    None
                    if key.startswith(_MISSING)
                    else loads(self._draining.read(h)).get(self.key_field),
                    schema,
                )
            return
        if not schema.is_external_id(self.key_field):
            rej = Rejection(
                "INVALID_FIELD",
                f"{self.key_field} is not an External ID field "
                f"on {self.sobject}; mark it External ID (and Unique) in Setup or "
                "set stream_settings.external_id_field. Run --preflight.",
            )
            for h in pending.values():
                self._reject(h, loads(self._draining.read(h)).get(self.key_field), rej)
            return

        # Pass 1: validate and collect what lookups need.
        rel_values: dict[tuple[str, str, str | None], set[str]] = {}
        email_of: dict[str, str] = {}
        unknown_create: list[str] = []
        relationships = schema.relationships
        read = self._draining.reader()
        for key, handle in pending.items():
            line = read(handle)
            rec = loads(line)
            ext = rec.get(self.key_field)
            if key.startswith(_MISSING):
                self._reject(
                    handle,
                    ext,
                    Rejection(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{self.key_field}] (the external id)",
                    ),
                )
                continue
            rej = validate(rec, schema)
            if rej and rej.code in _DESCRIBE_CODES and self.sobject in target.cached_schemas:
                # The cached describe may be out of date: fetch it and judge again.
                fresh = target.object_schema(self.sobject, fresh=True)
                if isinstance(fresh, ObjectSchema):
                    schema = fresh
                    rej = validate(rec, schema)
            if rej:
                self._reject(handle, ext, rej)
                continue
            digest = content_hash(line)
            items.append(_Item(line=handle, ext=str(ext), digest=digest, plain=bulk_plain(line)))
            if self.lead_smarts and rec.get("Email"):
                email_of[str(ext).lower()] = str(rec["Email"]).lower()
            for name in relationships.keys() & rec.keys() if relationships else ():
                value = rec[name]
                if isinstance(value, dict):
                    typ = (value.get("attributes") or {}).get("type")
                    for fld, v in value.items():
                        if fld != "attributes" and v not in (None, ""):
                            rel_values.setdefault((name, fld, typ), set()).add(str(v))
            if not self.lead_smarts and (dry_run or missing_on_create(rec, schema)):
                # Whether it is an insert (and so needs its required fields) depends on
                # whether the record exists.
                unknown_create.append(str(ext))
        if not items:
            return

        # Lookups (read-only, batched).
        resolved = {
            k: target.resolve_references(schema, k[0], k[1], k[2], v) for k, v in rel_values.items()
        }
        matcher = LeadMatcher(self, schema, items, email_of) if self.lead_smarts else None
        existing: set[str] = set()
        wanted_create = set(unknown_create)
        if unknown_create:
            existing = {
                str(r.get(self.key_field)).lower()
                for r in find_records(
                    target.client,
                    self.sobject,
                    [self.key_field],
                    {self.key_field: unknown_create},
                    target.soql_max_length,
                )
            }

        # Pass 2: route every record, then write per route.
        # Routed records are kept as JSON bytes, not dicts, to bound memory on big batches.
        groups: dict[tuple[str, str, str], list[tuple[int, int, bool | None]]] = {}
        columns: dict[tuple[str, str, str], set[str]] = {}
        read = self._draining.reader()
        for idx, item in enumerate(items):
            line = read(item.line)
            rec = original = loads(line)
            # Relationship objects are replaced by Ids: the record is then no longer its line.
            refs = bool(relationships and not relationships.keys().isdisjoint(rec))
            rej = self._apply_references(rec, schema, resolved) if refs else None
            if rej is None and matcher is not None:
                route, rec, rej = matcher.route(rec, item.ext)
            elif rej is None:
                creating = (
                    (item.ext.lower() not in existing)
                    if (dry_run or item.ext in wanted_create)
                    else None
                )
                route = _Route(self.sobject, "upsert", self.key_field, creating)
                if creating:
                    rej = _missing_rejection(rec, schema)
            if rej is not None:
                self._reject(item, item.ext, rej)
                continue
            item.route_sobject = route.sobject
            # Control properties ("_adopt_by_email") steer the target; Salesforce never sees them.
            if b'"_' in line:
                rec = {k: v for k, v in rec.items() if not k.startswith("_")}
            # A value Bulk CSV cannot carry as sent (its null marker "#N/A") goes by REST.
            rest_only = not item.plain and bulk_unsafe(rec, empty_strings=False)
            gkey = (route.sobject, route.operation, route.key_field, rest_only)
            if rec is original and not refs:
                routed = item.line | _SAME  # the record as spooled: no copy needed
            else:
                routed = self._routed.append(dumps(rec, item.plain))
            groups.setdefault(gkey, []).append((idx, routed, route.created))
            columns.setdefault(gkey, set()).update(rec)

        if matcher is not None and not dry_run:
            self._account_taken_over(matcher.taken_over, matcher.taken_in_batch)
        rest: list[tuple[str, str, str, list[tuple[int, int, bool | None]]]] = []
        for gkey, rows in groups.items():
            sobject, operation, key_field, rest_only = gkey
            if dry_run:
                for idx, _rec, created in rows:
                    outcome = "created" if created else "updated"
                    report.count(self.stream_name, sobject, outcome)
                    items[idx].done = True
                    # Children later in this dry run may point at this record: let them.
                    target.remember_id(sobject, self.key_field, items[idx].ext, DRY_RUN_ID)
                continue
            if not rest_only and target.use_bulk(len(rows)):
                self._send_bulk_group(
                    sobject, operation, key_field, rows, items, sorted(columns[gkey])
                )
            else:
                rest.append((sobject, operation, key_field, rows))
        if rest:
            # Every Collections write of the batch together: up to 5 chunks of 200 records (of
            # any of its sObjects) per Composite call.
            self._send_collections(rest, items)

    def _account_taken_over(
        self, taken: list[tuple[str, str, str, str]], in_batch: list[str]
    ) -> None:
        """The people whose Lead another record takes over (one Lead per email) are not left
        silent: each gets a reject line saying where its Lead went (those of this batch got
        theirs when routed), and its hash is forgotten so that, sent again, it is judged again
        (then refused as a duplicate) and not skipped as unchanged.
        """
        target = self.target
        forget = [old.lower() for old, *_ in taken] + in_batch
        if forget:
            target.hashes.forget_many(self.sobject, forget)
        for old, lead_id, email, new in taken:
            rej = taken_over(str(self.key_field), lead_id, email, new)
            target.report.reject(
                self.stream_name,
                self.sobject,
                old,
                rej.code,
                rej.message,
                {self.key_field: old, "Email": email},
            )

    def _apply_references(
        self,
        rec: dict[str, t.Any],
        schema: ObjectSchema,
        resolved: dict[tuple[str, str, str | None], dict[str, str | None]],
    ) -> Rejection | None:
        """Replace relationship objects (``{"Who": {"Ext__c": "x"}}``) with the parent's Id."""
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
            parent = resolved.get((name, fld, typ), {}).get(str(v).lower())
            if not parent:
                types = typ or " or ".join(_ordered(schema.relationships[name]))
                return Rejection(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"No {types} has {fld} = {v}, so the {name} of this {self.sobject} cannot be "
                    f"set; the record was not written. Sync that record first; it is retried "
                    "when sent again.",
                )
            rec[id_field] = parent
        return None

    def _outcomes(
        self, sobject: str, items: list[_Item], written: list[tuple[str, str]]
    ) -> _Outcomes:
        """The per-record result callback of writes to ``sobject`` (flush it after them)."""
        return _Outcomes(self, sobject, items, written)

    def _routed_reader(self) -> t.Callable[[int], bytes]:
        """Read a routed record: a copy in the routed spool, or (``_SAME``) its spooled line."""
        own, same = self._routed.reader(), self._draining.reader()

        def read(ref: int) -> bytes:
            return same(ref & ~_SAME) if ref & _SAME else own(ref)

        return read

    def _send_bulk_group(
        self,
        sobject: str,
        operation: str,
        key_field: str,
        rows: list[tuple[int, int, bool | None]],
        items: list[_Item],
        columns: list[str],
    ) -> None:
        target = self.target
        written: list[tuple[str, str]] = []
        on_result = self._outcomes(sobject, items, written)
        try:
            self._send_bulk(sobject, operation, key_field, rows, columns, on_result)
        finally:
            on_result.flush()
            if written and not target.dry_run:
                target.hashes.put_many(self.sobject, written)

    def _send_collections(
        self,
        groups: list[tuple[str, str, str, list[tuple[int, int, bool | None]]]],
        items: list[_Item],
    ) -> None:
        target = self.target
        written: list[tuple[str, str]] = []
        read = self._routed_reader()
        outcomes = [self._outcomes(sobject, items, written) for sobject, *_ in groups]
        writes = [
            Write(
                sobject,
                operation,
                key_field,
                ((idx, loads(read(h))) for idx, h, _ in rows),
                on_result,
            )
            for (sobject, operation, key_field, rows), on_result in zip(
                groups, outcomes, strict=True
            )
        ]
        try:
            write_many(target.client, writes)
        finally:
            for on_result in outcomes:
                on_result.flush()
            if written and not target.dry_run:
                target.hashes.put_many(self.sobject, written)

    def _send_bulk(
        self,
        sobject: str,
        operation: str,
        key_field: str,
        rows: list[tuple[int, int, bool | None]],
        columns: list[str],
        on_result: _Outcomes,
    ) -> None:
        limit = self.target.bulk_max_bytes
        upload: BulkUpload | None = None
        jobs: list[BulkUpload] = []
        read = self._routed_reader()
        for idx, h, _ in rows:
            rec = loads(read(h))
            if upload is None or upload.size > limit:
                upload = BulkUpload(sobject, operation, key_field, columns)
                jobs.append(upload)
            upload.add(idx, rec)
        for job in jobs:
            # A job is create + upload + close + polls + results: start it only if the budget
            # can carry it, rather than leave it half done.
            if not self.target.client.budget.can_spend(BULK_JOB_CALLS):
                for other in jobs:
                    other.discard()
                raise BudgetExhausted(self.target.client.budget.describe())
            self._run_job(job, on_result)

    def _run_job(self, upload: BulkUpload, on_result: t.Callable[..., None]) -> None:
        target = self.target
        try:
            try:
                run_bulk_job(target.client, upload, on_result, target.bulk_poll_max_seconds)
                error = None
            except BulkJobFailed as exc:
                error = str(exc)
            if upload.tokens and error is not None:
                # The job failed before processing these records: retry them once in a new job.
                self.logger.warning(
                    "Bulk job for %s failed (%s); retrying %d records once.",
                    upload.sobject,
                    error,
                    len(upload.tokens),
                )
                retry = BulkUpload(
                    upload.sobject, upload.operation, upload.key_field, upload.columns
                )
                try:
                    tokens = upload.tokens
                    self._copy_rows(upload, retry, tokens)
                    try:
                        run_bulk_job(target.client, retry, on_result, target.bulk_poll_max_seconds)
                        error = None
                    except BulkJobFailed as exc:
                        error = str(exc)
                    for _key, idx in list(retry.tokens.items()):
                        on_result(
                            idx,
                            False,
                            False,
                            None,
                            "BULK_JOB_FAILED",
                            f"The Bulk API job failed twice: {error}",
                        )
                    retry.tokens.clear()
                finally:
                    retry.discard()
                upload.tokens.clear()
            elif upload.tokens:
                for _key, idx in list(upload.tokens.items()):
                    on_result(
                        idx,
                        False,
                        False,
                        None,
                        "UNKNOWN_OUTCOME",
                        "Salesforce reported no result for this record in the Bulk job.",
                    )
                upload.tokens.clear()
        finally:
            upload.discard()

    @staticmethod
    def _copy_rows(src: BulkUpload, dst: BulkUpload, tokens: dict[str, t.Any]) -> None:
        """Copy the CSV rows of ``tokens`` from a finished upload into a new one."""
        with open(src.path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            key_i = header.index(src.key_field)
            for row in reader:
                token = tokens.get(row[key_i])
                if token is not None:
                    dst.add_raw(token, row)


class _Outcomes:
    """The per-record result callback of writes to one sObject.

    Successes are tallied here and handed to the report and the waiting list by ``flush``, once
    per write rather than once per record (the caller flushes, also when the write raised).
    """

    def __init__(
        self, sink: SalesforceSink, sobject: str, items: list[_Item], written: list[tuple[str, str]]
    ) -> None:
        self.sink = sink
        self.sobject = sobject
        self.items = items
        self.written = written
        self.created = 0
        self.updated = 0
        self.settled: list[str] = []

    def __call__(
        self, idx: int, ok: bool, created: bool, rid: str | None, code: str, message: str
    ) -> None:
        item = self.items[idx]
        item.done = True
        sink = self.sink
        if ok:
            if created:
                self.created += 1
            else:
                self.updated += 1
            key = item.ext.lower()
            self.written.append((key, item.digest))
            self.settled.append(key)
            if rid:
                sink.target.remember_id(self.sobject, sink.key_field or "", item.ext, rid)
        else:
            if code in ("INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"):
                sink.target.client.forget_describe(self.sobject)
            sink._reject(item, item.ext, Rejection(code, message), self.sobject)

    def flush(self) -> None:
        sink, target = self.sink, self.sink.target
        target.report.count(sink.stream_name, self.sobject, "created", self.created)
        target.report.count(sink.stream_name, self.sobject, "updated", self.updated)
        target.settled_many(sink.stream_name, self.settled)
        self.created = self.updated = 0
        self.settled = []


def _missing_rejection(rec: dict[str, t.Any], schema: ObjectSchema) -> Rejection | None:
    """REQUIRED_FIELD_MISSING for a record about to be inserted without a required field."""
    missing = missing_on_create(rec, schema)
    if missing:
        return Rejection(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]"
        )
    return None


def taken_over(key: str, lead_id: str, email: str, new: str) -> Rejection:
    """LEAD_TAKEN_OVER: the Lead of this person now belongs to ``key`` = ``new``."""
    return Rejection(
        "LEAD_TAKEN_OVER",
        f"Lead {lead_id} with the email {email} now belongs to {key} = {new}, a record the "
        "source marks as holding that email (e.g. Intercom merged this person into that one). "
        "One Lead per email, so this person has none of its own; if they are two people, give "
        "one of them another email in the source.",
    )


def _ordered(ref_field: dict[str, t.Any]) -> list[str]:
    refs = list(ref_field.get("referenceTo") or [])
    return sorted(refs, key=lambda r: _PREFERRED.index(r) if r in _PREFERRED else 99)


class LeadMatcher:
    """Decides where a Lead record goes: its Lead, a matching Contact, an adopted Lead, or new."""

    def __init__(
        self,
        sink: SalesforceSink,
        schema: ObjectSchema,
        items: list[_Item],
        email_of: dict[str, str],
    ) -> None:
        target = sink.target
        self.sink = sink
        self.target = target
        self.schema = schema
        self.key = str(sink.key_field)
        exts = [it.ext for it in items]
        # Query plans by (sobject, fields, criteria fields): the values are this batch's.
        self._plans: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
        lead_fields = [self.key, "Email", "IsConverted", "ConvertedContactId"]
        self.lead_fields = [f for f in lead_fields if schema.has_field(f)]
        emails = set(email_of.values())
        together = self._together(exts, emails)
        if together is not None:
            (leads, leads_complete), (contacts, contacts_complete) = together
        else:
            leads, leads_complete = self._stage("Lead", self.lead_fields, exts, emails)
            try:
                contacts, contacts_complete = self._stage(
                    "Contact", ["Email", self.key], exts, emails
                )
            except SalesforceError as exc:
                # Contact lacks the external id field: match Contacts by email only.
                if exc.code != "INVALID_FIELD":
                    raise
                contacts, contacts_complete = self._stage("Contact", ["Email"], [], emails)
        if not (leads_complete and contacts_complete):
            # Objects too big to scan were looked up by external id only; look up by email
            # just the people not found that way (in steady state most records are updates).
            found = {str(r.get(self.key)).lower() for r in (*leads, *contacts) if r.get(self.key)}
            rest = {e for x, e in email_of.items() if x not in found}
            if rest and not leads_complete:
                seen = {r["Id"] for r in leads}
                leads += [
                    r
                    for r in self._find("Lead", self.lead_fields, {"Email": rest})
                    if r["Id"] not in seen
                ]
            if rest and not contacts_complete:
                seen = {r["Id"] for r in contacts}
                contacts += [
                    r
                    for r in self._find("Contact", ["Email"], {"Email": rest})
                    if r["Id"] not in seen
                ]
        self.leads_by_ext: dict[str, dict[str, t.Any]] = {}
        self.leads_by_email: dict[str, list[dict[str, t.Any]]] = {}
        for lead in leads:
            if lead.get(self.key):
                self.leads_by_ext[str(lead[self.key]).lower()] = lead
            if lead.get("Email"):
                self.leads_by_email.setdefault(str(lead["Email"]).lower(), []).append(lead)
        self.contacts_by_ext: dict[str, dict[str, t.Any]] = {}
        self.contacts_by_email: dict[str, list[dict[str, t.Any]]] = {}
        for c in contacts:
            if c.get(self.key):
                self.contacts_by_ext[str(c[self.key]).lower()] = c
            if c.get("Email"):
                self.contacts_by_email.setdefault(str(c["Email"]).lower(), []).append(c)
        self.claimed: dict[str, str] = {}
        self.new_emails: dict[str, str] = {}  # email -> external id creating a Lead with it
        self._batch_exts = {x.lower() for x in exts}
        # Leads taken over from a person not in this batch: (old owner, Lead Id, email, new).
        self.taken_over: list[tuple[str, str, str, str]] = []
        # Records of this batch whose Lead another record of it takes over (rejected).
        self.taken_in_batch: list[str] = []

    def _together(
        self, exts: list[str], emails: set[str]
    ) -> tuple[tuple[list[dict[str, t.Any]], bool], tuple[list[dict[str, t.Any]], bool]] | None:
        """Leads and Contacts by external id or email in ONE Composite call, when their
        queries fit in one (at most 5); else None, for the staged lookups.
        """
        client = self.target.client
        if not client.use_composite:
            return None
        both: dict[str, t.Iterable[str]] = {"Email": emails, self.key: exts}
        lead_q = self._plan("Lead", self.lead_fields, both)
        contact_q = self._plan("Contact", ["Email", self.key], both)
        if not lead_q or not contact_q or len(lead_q) + len(contact_q) > COMPOSITE_HEAVY:
            return None
        results = client.query_many(lead_q + contact_q)
        leads = merge_results(results[: len(lead_q)])
        try:
            contacts = merge_results(results[len(lead_q) :])
        except SalesforceError as exc:
            # Contact lacks the external id field: match Contacts by email only.
            if exc.code != "INVALID_FIELD":
                raise
            contacts, _ = self._stage("Contact", ["Email"], [], emails)
        return (leads, True), (contacts, True)

    def _plan(
        self, sobject: str, fields: list[str], criteria: dict[str, t.Iterable[str]]
    ) -> list[str]:
        """``plan_queries`` for this batch's values, worked out once per shape."""
        key = (sobject, tuple(fields), tuple(criteria))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_queries(
                sobject, fields, criteria, self.target.soql_max_length
            )
        return plan

    def _find(
        self, sobject: str, fields: list[str], criteria: dict[str, t.Iterable[str]]
    ) -> list[dict[str, t.Any]]:
        return find_records(
            self.target.client,
            sobject,
            fields,
            criteria,
            self.target.soql_max_length,
            allow_scan=False,
        )

    def _stage(
        self, sobject: str, fields: list[str], exts: list[str], emails: set[str]
    ) -> tuple[list[dict[str, t.Any]], bool]:
        """Records matching by external id or email, and whether email was covered too.

        One query when both fit; else a paged scan when cheaper; else (a big object) chunked
        queries by external id only, leaving emails to a second, smaller stage.
        """
        client, limit = self.target.client, self.target.soql_max_length
        both: dict[str, t.Iterable[str]] = {"Email": emails}
        if exts:
            both[self.key] = exts
        calls = client.composite_calls(len(self._plan(sobject, fields, both)))
        if calls <= 1:
            return find_records(client, sobject, fields, both, limit, allow_scan=False), True
        scanned = scan_if_cheaper(client, sobject, fields, both, calls)
        if scanned is not None:
            return scanned, True
        if not exts:
            return self._find(sobject, fields, both), True
        return self._find(sobject, fields, {self.key: exts}), False

    def _to_contact(
        self, rec: dict[str, t.Any], contact_id: str, ext: str, why: str
    ) -> tuple[_Route | None, dict[str, t.Any], Rejection | None]:
        contact = self.target.object_schema("Contact")
        cs = contact if isinstance(contact, ObjectSchema) else None
        if cs is None:
            return None, rec, Rejection("INVALID_TYPE", "The Contact object is not available.")
        owner = self.claimed.get(contact_id)
        if owner is not None and owner != ext.lower():
            return (
                None,
                rec,
                Rejection(
                    "DUPLICATE_VALUE",
                    f"Contact {contact_id} ({why}) is already updated in this batch by the record "
                    f"with {self.key} = {owner}; two people cannot share one Contact.",
                ),
            )
        self.claimed[contact_id] = ext.lower()
        fields = {
            k: v
            for k, v in rec.items()
            if cs.has_field(k) and cs.fields[k].get("updateable") and k != "Id"
        }
        fields["Id"] = contact_id
        return _Route("Contact", "update", "Id", False), fields, None

    def _own_lead(
        self, rec: dict[str, t.Any], ext: str, lead: dict[str, t.Any]
    ) -> tuple[_Route | None, dict[str, t.Any], Rejection | None]:
        """Route a record to the Lead holding its external id (or that Lead's Contact)."""
        e = ext.lower()
        if lead.get("IsConverted"):
            if lead.get("ConvertedContactId"):
                return self._to_contact(
                    rec, lead["ConvertedContactId"], ext, f"converted from Lead {lead['Id']}"
                )
            return (
                None,
                rec,
                Rejection(
                    "CANNOT_UPDATE_CONVERTED_LEAD",
                    f"Lead {lead['Id']} was converted without a Contact; update it in Salesforce.",
                ),
            )
        owner = self.claimed.get(lead["Id"])
        if owner is not None and owner != e:
            # A record earlier in this batch takes this Lead over by email: upserting this
            # one by its external id would find no Lead (it now holds the other's) and
            # create a second Lead with the email.
            self.taken_in_batch.append(e)
            email = str(lead.get("Email") or rec.get("Email") or "")
            return None, rec, taken_over(self.key, lead["Id"], email, owner)
        self.claimed[lead["Id"]] = e
        return _Route("Lead", "upsert", self.key, False), rec, None

    def route(
        self, rec: dict[str, t.Any], ext: str
    ) -> tuple[_Route | None, dict[str, t.Any], Rejection | None]:
        e = ext.lower()
        lead = self.leads_by_ext.get(e)
        if lead is not None:
            return self._own_lead(rec, ext, lead)
        contact = self.contacts_by_ext.get(e)
        if contact is not None:
            return self._to_contact(rec, contact["Id"], ext, f"holding {self.key} = {ext}")
        email = str(rec.get("Email") or "").lower()
        if email:
            for c in self.contacts_by_email.get(email, []):
                other = c.get(self.key)
                if other and str(other).lower() != e:
                    continue
                return self._to_contact(rec, c["Id"], ext, f"email {email}")
            taken = [c for c in self.contacts_by_email.get(email, [])]
            candidates = self.leads_by_email.get(email, [])
            open_leads = [x for x in candidates if not x.get("IsConverted")]
            for lead in open_leads:
                other = lead.get(self.key)
                if other and str(other).lower() != e:
                    owner = self.claimed.get(lead["Id"])
                    if rec.get("_adopt_by_email") is True and owner in (None, e):
                        # The source says this record holds its email (e.g. Intercom merged the
                        # other person into this one): take that Lead over.
                        self.claimed[lead["Id"]] = e
                        if str(other).lower() not in self._batch_exts:
                            self.taken_over.append((str(other), lead["Id"], email, ext))
                        fields = dict(rec)
                        fields["Id"] = lead["Id"]
                        return _Route("Lead", "update", "Id", False), fields, None
                    return (
                        None,
                        rec,
                        Rejection(
                            "DUPLICATES_DETECTED",
                            f"Lead {lead['Id']} already holds the email {email} for {self.key} = "
                            f"{other}; a second Lead would be a duplicate. Merge the two people in "
                            "the source, or clear that Lead's external id to let this record adopt it.",
                        ),
                    )
            for lead in open_leads:
                if not lead.get(self.key):
                    owner = self.claimed.get(lead["Id"])
                    if owner is not None and owner != e:
                        continue
                    self.claimed[lead["Id"]] = e
                    fields = dict(rec)
                    fields["Id"] = lead["Id"]
                    return _Route("Lead", "update", "Id", False), fields, None
            for lead in candidates:
                if lead.get("IsConverted") and lead.get("ConvertedContactId"):
                    return self._to_contact(
                        rec,
                        lead["ConvertedContactId"],
                        ext,
                        f"converted Lead {lead['Id']} with email {email}",
                    )
            if taken:
                c = taken[0]
                return (
                    None,
                    rec,
                    Rejection(
                        "DUPLICATES_DETECTED",
                        f"Contact {c['Id']} already holds the email {email} for {self.key} = "
                        f"{c.get(self.key)}; a Lead would duplicate that person. Merge the two "
                        "people in the source or clear the Contact's external id.",
                    ),
                )
        rej = _missing_rejection(rec, self.schema)
        if rej:
            return None, rec, rej
        if email:
            first = self.new_emails.setdefault(email, e)
            if first != e:
                return (
                    None,
                    rec,
                    Rejection(
                        "DUPLICATES_DETECTED",
                        f"The record with {self.key} = {first} in this batch creates a Lead with the "
                        f"email {email}; a second Lead would be a duplicate. Merge the two people in "
                        "the source.",
                    ),
                )
        return _Route("Lead", "upsert", self.key, True), rec, None
