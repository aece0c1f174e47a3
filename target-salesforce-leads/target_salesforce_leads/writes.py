"""The write stage of a batch: routed rows to Salesforce by Bulk API 2.0 or sObject Collections.

Every Collections write of a batch goes together (up to 5 chunks of 200 records, of any of its
sObjects, per Composite call); a Bulk group large enough goes as one or more Bulk jobs, a job
that fails before processing its records retried once. Each record's outcome goes through
:class:`Outcomes` to the report, the waiting list, the hash store and the id cache.
"""

from __future__ import annotations

import csv
import typing as t

from salesforce_client.budget import BudgetExhausted
from salesforce_client.bulk import BulkJobFailed, BulkUpload, run_bulk_job
from salesforce_client.composite import Write, write_many

from target_salesforce_leads.encoding import loads
from target_salesforce_leads.rows import Group, GroupKey, Item, Result, Routing, Row
from target_salesforce_leads.validation import Rejection

if t.TYPE_CHECKING:
    from target_salesforce_leads.roles import WriteOwner

BULK_JOB_CALLS = 8
DRY_RUN_ID = "(dry run: not written)"


class Outcomes:
    """The per-record result callback of writes to one sObject.

    Successes are tallied here and handed to the report and the waiting list by ``flush``, once
    per write rather than once per record (the caller flushes, also when the write raised).
    """

    def __init__(
        self, batch: WriteOwner, sobject: str, items: list[Item], written: list[tuple[str, str]]
    ) -> None:
        """Outcomes of ``items`` written to ``sobject``; ``written`` gets (key, digest) pairs."""
        self.batch = batch
        self.sobject = sobject
        self.items = items
        self.written = written
        self.created = 0
        self.updated = 0
        self.settled: list[str] = []

    def __call__(
        self, idx: int, ok: bool, created: bool, rid: str | None, code: str, message: str
    ) -> None:
        """The client's ``on_result(token, ok, created, record_id, error_code, message)``."""
        self.take(Result(idx, ok, created, rid, code, message))

    def fail(self, idx: int, code: str, message: str) -> None:
        """Record ``idx`` was not written, for ``code``: ``message``."""
        self.take(Result(idx, False, False, None, code, message))

    def take(self, result: Result) -> None:
        """Account for one record's outcome."""
        item = self.items[result.idx]
        item.done = True
        batch = self.batch
        if not result.ok:
            if result.code in ("INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"):
                batch.connector.forget_describe(self.sobject)
            batch.reject(item, item.ext, Rejection(result.code, result.message), self.sobject)
            return
        if result.created:
            self.created += 1
        else:
            self.updated += 1
        key = item.ext.lower()
        self.written.append((key, item.digest))
        self.settled.append(key)
        if result.record_id:
            batch.connector.remember_id(
                self.sobject, batch.key_field or "", item.ext, result.record_id
            )

    def flush(self) -> None:
        """Hand the tallied successes to the report and the waiting list."""
        batch = self.batch
        report = batch.ledger.report
        report.count(batch.stream_name, self.sobject, "created", self.created)
        report.count(batch.stream_name, self.sobject, "updated", self.updated)
        batch.ledger.settled_many(batch.stream_name, self.settled)
        self.created = self.updated = 0
        self.settled = []


class BatchWriter:
    """Writes one batch's routed rows (``read`` gives a row's JSON) and accounts for each."""

    def __init__(
        self, batch: WriteOwner, items: list[Item], read: t.Callable[[int], bytes]
    ) -> None:
        """Rows refer to ``items`` by index."""
        self.batch = batch
        self.items = items
        self.read = read
        self.connector = batch.connector

    def write(self, routing: Routing, dry_run: bool) -> None:
        """Every group of ``routing``; a dry run only counts what would be written."""
        rest: list[Group] = []
        for gkey, rows in routing.groups.items():
            if dry_run:
                self._pretend(gkey, rows)
            elif not gkey.rest_only and self.connector.use_bulk(len(rows)):
                self._bulk_group(
                    Group(gkey.sobject, gkey.operation, gkey.key_field, rows),
                    sorted(routing.columns[gkey]),
                )
            else:
                rest.append(Group(gkey.sobject, gkey.operation, gkey.key_field, rows))
        if rest:
            self._collections(rest)

    def _pretend(self, gkey: GroupKey, rows: list[Row]) -> None:
        batch = self.batch
        for row in rows:
            outcome = "created" if row.created else "updated"
            batch.ledger.report.count(batch.stream_name, gkey.sobject, outcome)
            self.items[row.idx].done = True
            # Children later in this dry run may point at this record: let them.
            self.connector.remember_id(
                gkey.sobject, str(batch.key_field), self.items[row.idx].ext, DRY_RUN_ID
            )

    def _keep_hashes(self, written: list[tuple[str, str]]) -> None:
        if written:
            self.batch.hashes.put_many(self.batch.sobject, written)

    def _collections(self, groups: list[Group]) -> None:
        written: list[tuple[str, str]] = []
        read = self.read
        outcomes = [Outcomes(self.batch, g.sobject, self.items, written) for g in groups]
        writes = [
            Write(
                g.sobject,
                g.operation,
                g.key_field,
                ((row.idx, loads(read(row.ref))) for row in g.rows),
                on_result,
            )
            for g, on_result in zip(groups, outcomes, strict=True)
        ]
        try:
            write_many(self.connector.client, writes)
        finally:
            for on_result in outcomes:
                on_result.flush()
            self._keep_hashes(written)

    def _bulk_group(self, group: Group, columns: list[str]) -> None:
        written: list[tuple[str, str]] = []
        on_result = Outcomes(self.batch, group.sobject, self.items, written)
        try:
            self._bulk(group, columns, on_result)
        finally:
            on_result.flush()
            self._keep_hashes(written)

    def _bulk(self, group: Group, columns: list[str], on_result: Outcomes) -> None:
        limit = self.connector.bulk_max_bytes
        upload: BulkUpload | None = None
        jobs: list[BulkUpload] = []
        read = self.read
        for row in group.rows:
            rec = loads(read(row.ref))
            if upload is None or upload.size > limit:
                upload = BulkUpload(group.sobject, group.operation, group.key_field, columns)
                jobs.append(upload)
            upload.add(row.idx, rec)
        budget = self.connector.client.budget
        for job in jobs:
            # A job is create + upload + close + polls + results: start it only if the budget
            # can carry it, rather than leave it half done.
            if not budget.can_spend(BULK_JOB_CALLS):
                for other in jobs:
                    other.discard()
                raise BudgetExhausted(budget.describe())
            self._run_job(job, on_result)

    def _try_job(self, upload: BulkUpload, on_result: Outcomes) -> str | None:
        """Run one Bulk job; None when it ran, else why it failed."""
        try:
            run_bulk_job(
                self.connector.client, upload, on_result, self.connector.bulk_poll_max_seconds
            )
        except BulkJobFailed as exc:
            return str(exc)
        return None

    def _run_job(self, upload: BulkUpload, on_result: Outcomes) -> None:
        try:
            error = self._try_job(upload, on_result)
            if upload.tokens and error is not None:
                self._retry_job(upload, error, on_result)
            else:
                for idx in list(upload.tokens.values()):
                    on_result.fail(
                        idx,
                        "UNKNOWN_OUTCOME",
                        "Salesforce reported no result for this record in the Bulk job.",
                    )
            upload.tokens.clear()
        finally:
            upload.discard()

    def _retry_job(self, upload: BulkUpload, error: str, on_result: Outcomes) -> None:
        """The job failed before processing these records: retry them once in a new job."""
        self.batch.logger.warning(
            "Bulk job for %s failed (%s); retrying %d records once.",
            upload.sobject,
            error,
            len(upload.tokens),
        )
        retry = BulkUpload(upload.sobject, upload.operation, upload.key_field, upload.columns)
        try:
            copy_rows(upload, retry, upload.tokens)
            again = self._try_job(retry, on_result)
            for idx in list(retry.tokens.values()):
                on_result.fail(idx, "BULK_JOB_FAILED", f"The Bulk API job failed twice: {again}")
            retry.tokens.clear()
        finally:
            retry.discard()


def copy_rows(src: BulkUpload, dst: BulkUpload, tokens: dict[str, t.Any]) -> None:
    """Copy the CSV rows of ``tokens`` from a finished upload into a new one."""
    with open(src.path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        key_i = header.index(src.key_field)
        for row in reader:
            token = tokens.get(row[key_i])
            if token is not None:
                dst.add_raw(token, row)
