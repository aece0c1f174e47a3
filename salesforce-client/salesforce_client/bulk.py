"""A thin Bulk API 2.0 ingest client with per-record outcomes.

simple-salesforce's Bulk 2.0 helpers write None as an empty cell (which Salesforce ignores), take
columns from an unordered set, never renew an expired session and return only counts. This client
writes CSV with a fixed header, ``#N/A`` for null and quoting that survives any value, sends every
request through :meth:`SalesforceClient.request` (budget, session renewal, retries), and joins
the result files back to the records by their key column, since result order is not input order.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import tempfile
import time
import typing as t

from salesforce_client.client import SalesforceClient
from salesforce_client.composite import ResultFn

NULL = "#N/A"
# A cell that must be quoted: a comma, quote or line break anywhere, or a space at an edge.
_QUOTE = re.compile(r'[,"\n\r]|^ | $')


def _str_cell(text: str) -> str:
    if not text:
        # Bulk leaves an empty cell's field as it was; Collections stores "" as null: clear it
        # here too, so both transports give the same result.
        return NULL
    if _QUOTE.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _int_cell(value: int) -> str:
    return str(value)  # digits and a sign: never quoted


# Cells of the most common types without the general path (exact types: bool is an int).
_FAST_CELLS: dict[type, t.Callable[[t.Any], str]] = {str: _str_cell, int: _int_cell}


def csv_cell(value: t.Any) -> str:
    """Encode one value for a Bulk 2.0 CSV cell (``#N/A`` sets null; so does "")."""
    fast = _FAST_CELLS.get(type(value))
    if fast is not None:
        return fast(value)
    if value is None:
        return NULL
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value) if value != int(value) or abs(value) >= 1e15 else str(int(value))
        if "e" in text:
            text = format(value, "f")
    else:
        text = str(value)
    return _str_cell(text)


_ABSENT = object()


class BulkJobFailed(Exception):
    """A Bulk job ended Failed or Aborted."""


class BulkUpload:
    """Records of one job, streamed to a temporary CSV file."""

    def __init__(self, sobject: str, operation: str, key_field: str, columns: list[str]) -> None:
        self.sobject = sobject
        self.operation = operation
        self.key_field = key_field
        self.columns = [key_field, *[c for c in columns if c != key_field]]
        fd, self.path = tempfile.mkstemp(prefix=f"sf-bulk-{sobject}-", suffix=".csv")
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._fh.write(",".join(self.columns) + "\n")
        self.tokens: dict[str, t.Any] = {}
        self.size = 0

    def add(self, token: t.Any, fields: dict[str, t.Any]) -> None:
        """Add a record's row; ``token`` comes back with its result."""
        key = str(fields[self.key_field])
        self.tokens[key] = token
        missing = _ABSENT
        cells = [
            ""
            if (v := fields.get(c, missing)) is missing  # absent: leave the field untouched
            else (f(v) if (f := _FAST_CELLS.get(type(v))) is not None else csv_cell(v))
            for c in self.columns
        ]
        line = ",".join(cells) + "\n"
        self.size += len(line)
        self._fh.write(line)

    def add_raw(self, token: t.Any, cells: list[str]) -> None:
        """Add a row read back from another upload of the same columns."""
        self.tokens[cells[0]] = token
        line = ",".join(c if c in ("", NULL) else csv_cell(c) for c in cells) + "\n"
        self.size += len(line)
        self._fh.write(line)

    def close(self) -> None:
        """Finish the CSV file (before it is uploaded)."""
        if not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        """Close and delete the CSV file."""
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def run_bulk_job(
    client: SalesforceClient,
    upload: BulkUpload,
    on_result: ResultFn,
    poll_max_seconds: float = 3600.0,
) -> None:
    """Run one ingest job and report each record's outcome.

    Records that Salesforce reports neither as successful nor as failed stay pending: the caller
    sees them as the keys left in ``upload.tokens`` after this returns or raises.

    Raises:
        BulkJobFailed: If the job ends Failed/Aborted (after per-record results were reported).
    """
    upload.close()
    spec: dict[str, t.Any] = {
        "object": upload.sobject,
        "operation": upload.operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if upload.operation == "upsert":
        spec["externalIdFieldName"] = upload.key_field
    job = client.request("POST", "jobs/ingest", json=spec, kind="bulk").json()
    job_id = job["id"]
    with open(upload.path, "rb") as fh:
        client.request(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            data=fh,
            kind="bulk",
            headers={"Content-Type": "text/csv"},
            expect=(200, 201),
        )
    client.request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"}, kind="bulk")
    info = _wait(client, job_id, upload, poll_max_seconds)
    state = info.get("state")
    _collect(client, job_id, "successfulResults", upload, on_result)
    if info.get("numberRecordsFailed") or state != "JobComplete":
        _collect(client, job_id, "failedResults", upload, on_result)
    if state != "JobComplete":
        raise BulkJobFailed(str(info.get("errorMessage") or f"job {job_id} ended {state}"))


def _wait(
    client: SalesforceClient, job_id: str, upload: BulkUpload, poll_max_seconds: float
) -> dict[str, t.Any]:
    # Each poll is an API call: start after an estimate of the processing time and back off.
    delay = min(5.0, 0.5 + len(upload.tokens) / 50_000)
    deadline = time.monotonic() + poll_max_seconds
    while True:
        time.sleep(delay)
        client.bulk_wait_seconds += delay
        info = client.request("GET", f"jobs/ingest/{job_id}", kind="bulk").json()
        if info.get("state") in {"JobComplete", "Failed", "Aborted"}:
            return info
        if time.monotonic() > deadline:
            raise BulkJobFailed(
                f"Bulk job {job_id} was still {info.get('state')} after {poll_max_seconds:.0f}s"
            )
        delay = min(10.0, delay * 1.5)


def _collect(
    client: SalesforceClient, job_id: str, which: str, upload: BulkUpload, on_result: ResultFn
) -> None:
    resp = client.request("GET", f"jobs/ingest/{job_id}/{which}", kind="bulk", stream=True)
    fd, path = tempfile.mkstemp(prefix="sf-bulk-result-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in resp.iter_content(1 << 16):
                out.write(chunk)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                return
            idx = {name: i for i, name in enumerate(header)}
            key_i = idx.get(upload.key_field)
            if key_i is None:
                raise BulkJobFailed(f"{which} of job {job_id} lack the {upload.key_field} column")
            tokens = upload.tokens
            created_i, id_i = idx.get("sf__Created"), idx.get("sf__Id")
            error_i = idx.get("sf__Error")
            success = which == "successfulResults"
            for row in reader:
                if len(row) <= key_i:
                    continue
                token = tokens.pop(row[key_i], None)
                if token is None:
                    continue
                if success:
                    created = row[created_i].lower() == "true" if created_i is not None else False
                    rid = row[id_i] if id_i is not None else None
                    on_result(token, True, created, rid, "", "")
                else:
                    err = row[error_i] if error_i is not None else "UNKNOWN:failed"
                    code, _, message = err.partition(":")
                    on_result(token, False, False, None, code.strip() or "UNKNOWN", message.strip())
    finally:
        os.unlink(path)
