"""The Salesforce sink: one per stream, upserting into one sObject by an external id.

A sink spools its stream's records (the last one per external id winning); each batch is then
written by :class:`~target_salesforce_leads.batch.Batch` (plan, look up, route, write). A batch
that fails halts writing; its records not accounted for wait for the next run.
"""

from __future__ import annotations

import typing as t

from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted
from salesforce_client.bulk import BulkJobFailed
from salesforce_client.errors import RetriesExhausted, SalesforceError
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_salesforce_leads.batch import Batch
from target_salesforce_leads.encoding import (
    canonical_line,
    canonical_text,
    conform_all,
)
from target_salesforce_leads.record_schema import FastJSONSchemaValidator, schema_rejection
from target_salesforce_leads.rows import (
    MISSING,
    Item,
)
from target_salesforce_leads.sdk_hooks import SalesforceDates
from target_salesforce_leads.spool import Spool
from target_salesforce_leads.values import clean_record
from target_salesforce_leads.waiting import Entry, StreamInfo

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_salesforce_leads.roles import SinkTarget

# Errors whose message says what to do: no traceback (the run's last lines say it).
_EXPLAINED = (BudgetExhausted, RetriesExhausted, SalesforceError, BulkJobFailed, AuthError)


class SalesforceSink(SalesforceDates, BatchSink):
    """Spools a stream's records, then validates, matches and writes them per batch."""

    MAX_SIZE_DEFAULT = 100_000

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """A sink for ``stream_name``, writing to its sObject (stream_settings) by its key."""
        self._target = t.cast("SinkTarget", target)
        self.connector = self._target.connector
        self.ledger = self._target.ledger
        self.hashes = self._target.hashes
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
    def target(self) -> SinkTarget:
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
        routed = Spool()
        progress = self.target.progress
        progress.writing(self.stream_name, len(pending))
        try:
            self._process(pending, Batch(self, spool, routed))
        finally:
            progress.wrote(self.stream_name)
            spool.close()
            routed.close()

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

    def _process(self, pending: dict[str, int], batch: Batch) -> None:
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
                batch.write(pending, items)
        except Exception as exc:  # noqa: BLE001 - whatever failed, account for every record
            left = sum(1 for it in items if not it.done) + (len(pending) if not items else 0)
            target.halt.record(exc, left, target.logger)
            self._held_back(left)
            if not isinstance(exc, _EXPLAINED):
                # The traceback only at debug level: the run's last lines say what to do.
                self.logger.debug(
                    "Traceback of the error writing %s:", self.stream_name, exc_info=True
                )
