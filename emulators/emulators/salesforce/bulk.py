"""Bulk API 2.0 ingest jobs: lifecycle, CSV rules and the background worker that runs them.

One module (over 400 lines): the job's states, the CSV rules and the worker share the one
job record, whose state each of them moves.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.ids import normalize
from emulators.salesforce.store import USER_ID, now_iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.salesforce.store import Store

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
TERMINAL = {"JobComplete", "Failed", "Aborted"}
INTERNAL_BATCH = 10_000
# Records handled between two yields to the event loop, so REST calls stay responsive.
SLICE = 1_000


class Job:
    """One ingest job: its info (as the API shows it), uploaded data and results."""

    def __init__(self, info: dict[str, Any], folder: Path) -> None:
        self.info = info
        self.folder = folder

    @property
    def id(self) -> str:
        """The job id."""
        return self.info["id"]

    @property
    def state(self) -> str:
        """The job state (Open, UploadComplete, InProgress, JobComplete, Failed, Aborted)."""
        return self.info["state"]

    @property
    def data_path(self) -> Path:
        """Where the uploaded CSV is kept."""
        return self.folder / "data.csv"

    def result_path(self, kind: str) -> Path:
        """Where a kind of result CSV is kept."""
        return self.folder / f"{kind}.csv"

    def public(self, full: bool = True) -> dict[str, Any]:
        """The job info as the API answers it."""
        body = dict(self.info)
        if not full:
            for key in (
                "numberRecordsProcessed",
                "numberRecordsFailed",
                "retries",
                "totalProcessingTime",
                "apiActiveProcessingTime",
                "apexProcessingTime",
                "errorMessage",
            ):
                body.pop(key, None)
        elif body.get("errorMessage") is None:
            body.pop("errorMessage", None)
        return body


@dataclass
class _Run:
    """One job's rows while it runs, and the results they come to."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str
    newline: str
    started: float
    columns: Any = None
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    @classmethod
    def read(cls, job: Job, started: float) -> _Run:
        """The uploaded CSV of ``job``, blank lines left out."""
        delimiter = DELIMITERS[job.info["columnDelimiter"]]
        newline = "\r\n" if job.info["lineEnding"] == "CRLF" else "\n"
        raw = job.data_path.read_bytes() if job.data_path.exists() else b""
        text = raw.decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        rows = [r for r in rows if r and any(cell != "" for cell in r)]
        header, body_rows = (rows[0], rows[1:]) if rows else ([], [])
        return cls(header, body_rows, delimiter, newline, started)


class BulkEngine:
    """Holds the jobs and processes closed ones, one at a time (the store has a single writer)."""

    def __init__(self, store: Store, lock_fault: Callable[[], bool], root: Path) -> None:
        """Load the jobs kept in ``store``; ``lock_fault`` says when a row lock fault fires."""
        self.store = store
        self.lock_fault = lock_fault
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.queue: asyncio.Queue[str] | None = None
        self.fail_next = 0
        self.max_upload_bytes = 150 * 1024 * 1024
        self.rate: float | None = None
        # Jobs aborted while the worker runs them: it stops at the next slice and marks them.
        self.abort_requested: set[str] = set()
        self._load()

    def _load(self) -> None:
        store = self.store
        for (value,) in store.db.execute("SELECT value FROM meta WHERE key LIKE 'job:%'"):
            info = json.loads(value)
            self.jobs[info["id"]] = Job(info, self.root / info["id"])
            store.ids.seen(info["id"])

    def save(self, job: Job) -> None:
        """Keep the job info in the store."""
        job.info["systemModstamp"] = now_iso()
        self.store.meta_set("job:" + job.id, json.dumps(job.info))

    async def run(self) -> None:
        """The worker: picks up jobs whose upload completed, including ones left by a restart."""
        self.queue = asyncio.Queue()
        for waiting in sorted(self.jobs.values(), key=lambda j: j.info["createdDate"]):
            if waiting.state in {"UploadComplete", "InProgress"}:
                self.queue.put_nowait(waiting.id)
        while True:
            job_id = await self.queue.get()
            job = self.jobs.get(job_id)
            if job is None or job.state not in {"UploadComplete", "InProgress"}:
                continue
            try:
                await self.process(job)
            except Exception as exc:  # noqa: BLE001 - a job must end, whatever went wrong
                job.info["state"] = "Failed"
                job.info["errorMessage"] = f"InternalError : {type(exc).__name__}: {exc}"
                self.save(job)

    # -- API operations ------------------------------------------------------------------------
    def create(self, body: Any, version: str) -> Job:
        """A new Open job from a create-job body (``INVALIDJOB`` errors as Salesforce's)."""
        if not isinstance(body, dict):
            raise SalesforceError("INVALIDJOB", "The request body must be a JSON object")
        store = self.store
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise SalesforceError(
                "INVALIDJOB",
                f"InvalidJob : Invalid operation: {operation}; use one of "
                + ", ".join(sorted(OPERATIONS)),
            )
        obj = store.obj(str(body.get("object", "")))
        if obj is None:
            raise SalesforceError(
                "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}"
            )
        if body.get("contentType", "CSV") != "CSV":
            raise SalesforceError("INVALIDJOB", "InvalidJob : contentType must be CSV")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise SalesforceError(
                "INVALIDJOB", f"InvalidJob : Invalid columnDelimiter: {delimiter}"
            )
        line_ending = body.get("lineEnding", "LF")
        if line_ending not in {"LF", "CRLF"}:
            raise SalesforceError("INVALIDJOB", f"InvalidJob : Invalid lineEnding: {line_ending}")
        ext_name = body.get("externalIdFieldName")
        if operation == "upsert":
            if not ext_name:
                raise SalesforceError(
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank for {obj.name}. An External ID must be "
                    "specified for upsert.",
                )
            ext = obj.field(str(ext_name))
            if ext is None or not (ext.external_id or ext.name == "Id"):
                raise SalesforceError(
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext_name} is not an External ID or "
                    f"indexed field for {obj.name}",
                )
            ext_name = ext.name
        stamp = now_iso()
        job_id = store.ids.new("750")
        info = {
            "id": job_id,
            "operation": operation,
            "object": obj.name,
            "createdById": USER_ID,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "Open",
            "externalIdFieldName": ext_name if operation == "upsert" else None,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            "lineEnding": line_ending,
            "columnDelimiter": delimiter,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
            "errorMessage": None,
        }
        if operation != "upsert":
            info.pop("externalIdFieldName")
        job = Job(info, self.root / job_id)
        job.folder.mkdir(parents=True, exist_ok=True)
        self.jobs[job_id] = job
        self.save(job)
        return job

    def get(self, job_id: str) -> Job:
        """The job with that id (NOT_FOUND otherwise)."""
        job = self.jobs.get(normalize(job_id) or job_id)
        if job is None:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", status=404)
        return job

    def upload(self, job: Job, data: bytes) -> None:
        """Append uploaded CSV data to an Open job."""
        if job.state != "Open":
            raise SalesforceError(
                "INVALIDJOBSTATE",
                f"Job {job.id} is in state {job.state}; data can only be uploaded while it is Open",
                status=409,
            )
        if job.data_path.exists():
            raise SalesforceError(
                "BULK_API_ERROR",
                "Found multiple contents for job: <" + job.id + ">, please 'Close' / 'Abort' / "
                "'Delete' the current Job then create a new Job and make sure you only do 'PUT' "
                "once on a given Job.",
            )
        if len(data) > self.max_upload_bytes:
            raise SalesforceError(
                "BULK_API_ERROR",
                f"Request body of {len(data)} bytes exceeds the maximum upload size of "
                f"{self.max_upload_bytes} bytes; split the data into several jobs",
                status=413,
            )
        tmp = job.data_path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(job.data_path)

    def set_state(self, job: Job, body: Any) -> Job:
        """Close (UploadComplete) or abort a job."""
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            if job.state != "Open":
                raise SalesforceError(
                    "INVALIDJOBSTATE",
                    f"Job {job.id} is {job.state}; only an Open job can be closed",
                    status=409,
                )
            job.info["state"] = "UploadComplete"
            self.save(job)
            if self.queue is not None:
                self.queue.put_nowait(job.id)
        elif state == "Aborted":
            if job.state in TERMINAL:
                raise SalesforceError(
                    "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}", status=409
                )
            if job.state == "InProgress":
                # The worker stops at its next slice and then marks the job Aborted, so the
                # results files are complete by the time a client sees the final state.
                self.abort_requested.add(job.id)
                return Job(dict(job.info, state="Aborted"), job.folder)
            job.info["state"] = "Aborted"
            self.save(job)
        else:
            raise SalesforceError(
                "INVALIDJOBSTATE", f"Invalid state {state!r}: use UploadComplete or Aborted"
            )
        return job

    def delete(self, job: Job) -> None:
        """Delete a finished job and its files."""
        if job.state not in TERMINAL:
            raise SalesforceError(
                "INVALIDJOBSTATE",
                f"Job {job.id} is {job.state}; abort it before deleting it",
                status=409,
            )
        del self.jobs[job.id]
        self.store.db.execute("DELETE FROM meta WHERE key = ?", ("job:" + job.id,))
        for path in job.folder.glob("*"):
            path.unlink()
        job.folder.rmdir()

    def results(self, job: Job, kind: str) -> bytes:
        """A job's successful, failed or unprocessed records as CSV."""
        if kind != "unprocessedrecords" and job.state not in {"JobComplete", "Failed"}:
            raise SalesforceError(
                "INVALIDJOBSTATE",
                f"Job {job.id} is {job.state}; results are available once it is complete",
                status=409,
            )
        path = job.result_path(kind)
        if path.exists():
            return path.read_bytes()
        # Nothing processed yet: every uploaded row is unprocessed.
        if kind == "unprocessedrecords" and job.data_path.exists():
            return job.data_path.read_bytes()
        return b""

    # -- processing ----------------------------------------------------------------------------
    async def process(self, job: Job) -> None:
        """Run one closed job over the store, a slice at a time."""
        started = time.monotonic()
        job.info["state"] = "InProgress"
        self.save(job)
        run = _Run.read(job, started)
        problem = self._problem(job, run)
        if problem is not None:
            self._fail(job, problem, run.header, run.rows, run.delimiter, run.newline, started)
            return
        await self._rows(job, run)
        self._finish(job, run)

    def _problem(self, job: Job, run: _Run) -> str | None:
        """Why the whole job fails before any row (an injected fault, no header, bad columns)."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return (
                "InternalServerError : the job failed on the server "
                "(fault injected by the emulator); run it again"
            )
        if not run.header:
            return "InvalidBatch : Empty CSV file; upload a header line and at least one record"
        try:
            run.columns = self._columns(self.store.objects[job.info["object"]], job, run.header)
        except SalesforceError as exc:
            return exc.message
        return None

    async def _rows(self, job: Job, run: _Run) -> None:
        """Apply the rows in internal batches of slices, yielding between slices."""
        obj = self.store.objects[job.info["object"]]
        operation = job.info["operation"]
        ext_name = job.info.get("externalIdFieldName")
        body_rows = run.rows
        for batch_start in range(0, len(body_rows), INTERNAL_BATCH):
            batch = body_rows[batch_start : batch_start + INTERNAL_BATCH]
            duplicates = self._duplicates(obj, run.columns, batch, operation, ext_name)
            for slice_start in range(0, len(batch), SLICE):
                if job.id in self.abort_requested:
                    run.unprocessed.extend(body_rows[batch_start + slice_start :])
                    return
                part = batch[slice_start : slice_start + SLICE]
                self._slice(obj, job, run, part, duplicates)
                job.info["numberRecordsProcessed"] = len(run.successes) + len(run.failures)
                job.info["numberRecordsFailed"] = len(run.failures)
                await asyncio.sleep(len(part) / self.rate if self.rate else 0)

    def _slice(
        self, obj: Any, job: Job, run: _Run, part: list[list[str]], duplicates: dict[int, str]
    ) -> None:
        """Apply one slice of rows and persist what it changed."""
        store = self.store
        touched: list[dict[str, Any]] = []
        deleted: list[str] = []
        stamp = now_iso()
        for row in part:
            if len(row) != len(run.header):
                run.failures.append(
                    [
                        "",
                        "INVALID_FIELD:Wrong number of columns in this "
                        f"row: {len(row)} instead of {len(run.header)}:--",
                        *row,
                    ]
                )
                continue
            try:
                rid, created, record = self._row(obj, job, run, row, duplicates, stamp, deleted)
            except SalesforceError as exc:
                run.failures.append(["", exc.bulk_error(), *row])
                continue
            if record is not None:
                touched.append(record)
            run.successes.append([rid, "true" if created else "false", *row])
        store.persist(obj.name, touched)
        if deleted:
            store.db.executemany("DELETE FROM records WHERE id = ?", [(d,) for d in deleted])

    def _row(
        self,
        obj: Any,
        job: Job,
        run: _Run,
        row: list[str],
        duplicates: dict[int, str],
        stamp: str,
        deleted: list[str],
    ) -> tuple[str, bool, dict[str, Any] | None]:
        """Apply one row: (record id, created, the record to persist or None)."""
        ext_name = job.info.get("externalIdFieldName")
        if self.lock_fault():
            raise SalesforceError(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
            )
        key = duplicates.get(id(row))
        if key is not None:
            raise SalesforceError(
                "DUPLICATE_VALUE",
                f"Duplicate external id specified: {key}",
                [ext_name or "Id"],
            )
        return self._apply(obj, job.info["operation"], ext_name, run.columns, row, stamp, deleted)

    def _finish(self, job: Job, run: _Run) -> None:
        """Write the result files and close the job (Aborted or JobComplete)."""
        rng = random.Random(job.id)
        for rows_out in (run.successes, run.failures):
            rng.shuffle(rows_out)  # Salesforce gives no order guarantee; neither do we.
        header, delimiter, newline = run.header, run.delimiter, run.newline
        self._write(
            job,
            "successfulResults",
            ["sf__Id", "sf__Created", *header],
            run.successes,
            delimiter,
            newline,
        )
        self._write(
            job, "failedResults", ["sf__Id", "sf__Error", *header], run.failures, delimiter, newline
        )
        self._write(job, "unprocessedrecords", header, run.unprocessed, delimiter, newline)
        elapsed = int((time.monotonic() - run.started) * 1000)
        job.info.update(
            {
                "numberRecordsProcessed": len(run.successes) + len(run.failures),
                "numberRecordsFailed": len(run.failures),
                "totalProcessingTime": elapsed,
                "apiActiveProcessingTime": elapsed,
            }
        )
        if job.id in self.abort_requested:
            self.abort_requested.discard(job.id)
            job.info["state"] = "Aborted"
        else:
            job.info["state"] = "JobComplete"
        self.save(job)

    def _fail(
        self,
        job: Job,
        message: str,
        header: list[str],
        rows: list[list[str]],
        delimiter: str,
        newline: str,
        started: float,
    ) -> None:
        self._write(
            job, "successfulResults", ["sf__Id", "sf__Created", *header], [], delimiter, newline
        )
        self._write(job, "failedResults", ["sf__Id", "sf__Error", *header], [], delimiter, newline)
        self._write(job, "unprocessedrecords", header, rows, delimiter, newline)
        job.info.update(
            {
                "state": "Failed",
                "errorMessage": message,
                "numberRecordsProcessed": 0,
                "numberRecordsFailed": 0,
                "totalProcessingTime": int((time.monotonic() - started) * 1000),
            }
        )
        self.save(job)

    @staticmethod
    def _write(
        job: Job, kind: str, header: list[str], rows: list[list[str]], delimiter: str, newline: str
    ) -> None:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL
        )
        if header:
            writer.writerow(header)
        writer.writerows(rows)
        path = job.result_path(kind)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(path)

    def _columns(self, obj: Any, job: Job, header: list[str]) -> list[tuple[str, Any]]:
        """Map CSV headers to ('field', name) or ('rel', (relationship, type, ext field))."""
        store = self.store
        columns: list[tuple[str, Any]] = []
        operation = job.info["operation"]
        for name in header:
            parts = name.strip().split(".")
            if len(parts) == 1:
                field = obj.field(parts[0])
                if field is None:
                    raise SalesforceError(
                        "INVALIDBATCH", f"InvalidBatch : Field name not found : {name}"
                    )
                columns.append(("field", field.name))
                continue
            ref = obj.relationships.get(parts[0].lower())
            if ref is None or len(parts) > 3:
                raise SalesforceError(
                    "INVALIDBATCH", f"InvalidBatch : Field name not found : {name}"
                )
            if len(parts) == 3:
                target_name, ext = parts[1], parts[2]
            elif len(ref.reference_to) == 1:
                target_name, ext = ref.reference_to[0], parts[1]
            else:
                raise SalesforceError(
                    "INVALIDBATCH",
                    f"InvalidBatch : Field name not found : {name} (polymorphic relationship "
                    f"{ref.relationship_name} needs the object: {ref.relationship_name}."
                    f"{ref.reference_to[0]}.{parts[1]})",
                )
            target = store.obj(target_name)
            ext_field = target.field(ext) if target else None
            if (
                target is None
                or target.name not in ref.reference_to
                or ext_field is None
                or not (ext_field.external_id or ext_field.name == "Id")
            ):
                raise SalesforceError(
                    "INVALIDBATCH", f"InvalidBatch : Field name not found : {name}"
                )
            columns.append(("rel", (ref.relationship_name, target.name, ext_field.name)))
        names = [c[1] for c in columns if c[0] == "field"]
        if operation in {"update", "delete", "hardDelete"} and "Id" not in names:
            raise SalesforceError("INVALIDBATCH", "InvalidBatch : Field name not found : Id")
        if operation in {"delete", "hardDelete"} and len(columns) != 1:
            raise SalesforceError(
                "INVALIDBATCH", "InvalidBatch : The 'delete' batch must contain only 'Id'"
            )
        if operation == "upsert" and job.info["externalIdFieldName"] not in names:
            raise SalesforceError(
                "INVALIDBATCH",
                f"InvalidBatch : Field name not found : {job.info['externalIdFieldName']}",
            )
        return columns

    def _duplicates(
        self,
        obj: Any,
        columns: list[tuple[str, Any]],
        batch: list[list[str]],
        operation: str,
        ext_name: str | None,
    ) -> dict[int, str]:
        """Rows of one internal batch that share their key with another row of it."""
        key_name = ext_name if operation == "upsert" else "Id" if operation != "insert" else None
        if key_name is None:
            return {}
        index = next(i for i, c in enumerate(columns) if c == ("field", key_name))
        field = obj.fields[key_name]
        seen: dict[str, list[list[str]]] = {}
        for row in batch:
            if index < len(row) and row[index] not in ("", "#N/A"):
                value = row[index]
                key = value if field.case_sensitive or key_name == "Id" else value.lower()
                seen.setdefault(key, []).append(row)
        return {id(r): r[index] for rows in seen.values() if len(rows) > 1 for r in rows}

    def _apply(
        self,
        obj: Any,
        operation: str,
        ext_name: str | None,
        columns: list[tuple[str, Any]],
        row: list[str],
        stamp: str,
        deleted: list[str],
    ) -> tuple[str, bool, dict[str, Any] | None]:
        values = _row_values(columns, row)
        if operation in {"update", "delete", "hardDelete"}:
            return self._change(obj, operation, values, stamp, deleted)
        if operation == "insert":
            record = self.store.apply(
                obj, self.store.prepare(obj, values, None, "csv"), None, stamp
            )
            return record["Id"], True, record
        # upsert: the job was created with its external id field
        assert ext_name is not None
        return self._upsert(obj, ext_name, values, stamp)

    def _change(
        self, obj: Any, operation: str, values: dict[str, Any], stamp: str, deleted: list[str]
    ) -> tuple[str, bool, dict[str, Any] | None]:
        """Update, delete or hard-delete the record of the row's Id."""
        store = self.store
        rid = values.pop("Id", None)
        found = store.lookup(rid) if rid else None
        if rid is None:
            raise SalesforceError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if found is None or found[0].name != obj.name:
            if normalize(rid) is None:
                raise SalesforceError("MALFORMED_ID", f"bad id {rid}", ["Id"])
            raise SalesforceError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"]
            )
        record = found[1]
        if operation == "update":
            changes = store.prepare(obj, values, record, "csv")
            return record["Id"], False, store.apply(obj, changes, record, stamp)
        store.delete(obj, record)
        if operation == "hardDelete":
            del store.records[obj.name][record["Id"]]
            deleted.append(record["Id"])
            return record["Id"], False, None
        return record["Id"], False, record

    def _upsert(
        self, obj: Any, ext_name: str, values: dict[str, Any], stamp: str
    ) -> tuple[str, bool, dict[str, Any] | None]:
        """Update the one record whose external id is the row's, or insert one."""
        store = self.store
        key = values.get(ext_name)
        if key is None:
            raise SalesforceError("MISSING_ARGUMENT", f"{ext_name} not specified", [ext_name])
        if ext_name == "Id":
            found = store.lookup(key)
            matches = [found[1]["Id"]] if found and found[0].name == obj.name else []
        else:
            matches = store.find_by_ext(obj, obj.fields[ext_name], key)
        if len(matches) > 1:
            raise SalesforceError(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext_name}: more than one record found for external id field: "
                f"[{', '.join(matches)}]",
                [ext_name],
            )
        if matches:
            record = store.records[obj.name][matches[0]]
            values.pop(ext_name, None)
            changes = store.prepare(obj, values, record, "csv")
            return record["Id"], False, store.apply(obj, changes, record, stamp)
        if ext_name == "Id":
            raise SalesforceError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"]
            )
        changes = store.prepare(obj, values, None, "csv")
        record = store.apply(obj, changes, None, stamp)
        return record["Id"], True, record


def _row_values(columns: list[tuple[str, Any]], row: list[str]) -> dict[str, Any]:
    """The field values of one CSV row: an empty cell is left out, ``#N/A`` is null."""
    values: dict[str, Any] = {}
    for (kind, spec), cell in zip(columns, row, strict=True):
        if cell == "":
            continue  # an empty cell leaves the field as it is
        value = None if cell == "#N/A" else cell
        if kind == "field":
            values[spec] = value
        else:
            rel, target, ext = spec
            values[rel] = None if value is None else {"attributes": {"type": target}, ext: value}
    return values
