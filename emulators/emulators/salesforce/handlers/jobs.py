"""Bulk API 2.0 ingest jobs over REST (the processing is :mod:`emulators.salesforce.bulk`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.handlers.common import read_json
from emulators.salesforce.responses import JSON_TYPE, json_response
from emulators.salesforce.store import now_iso

if TYPE_CHECKING:
    from emulators.salesforce.backend import Emulator


async def job_create(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``POST /jobs/ingest``."""
    job = emulator.bulk.create(await read_json(request), version)
    return json_response(job.public(full=False))


async def job_list(emulator: Emulator, request: Request, version: str) -> Response:
    """Answer ``GET /jobs/ingest``."""
    jobs = sorted(emulator.bulk.jobs.values(), key=lambda j: j.info["createdDate"])
    return json_response(
        {"done": True, "records": [j.public(full=False) for j in jobs], "nextRecordsUrl": None}
    )


async def job_get(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    """Answer ``GET /jobs/ingest/{job}``."""
    return json_response(emulator.bulk.get(job).public())


async def job_patch(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    """Answer ``PATCH /jobs/ingest/{job}``."""
    found = emulator.bulk.get(job)
    body = await read_json(request)
    return json_response(emulator.bulk.set_state(found, body).public(full=False))


async def job_delete(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    """Answer ``DELETE /jobs/ingest/{job}``."""
    emulator.bulk.delete(emulator.bulk.get(job))
    return Response(status_code=204)


async def job_upload(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    """Answer ``PUT /jobs/ingest/{job}/batches``."""
    found = emulator.bulk.get(job)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise SalesforceError(
            "INVALIDCONTENTTYPE",
            f"Content-Type {content_type or '(none)'} is not supported; upload text/csv",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > emulator.bulk.max_upload_bytes:
        raise SalesforceError(
            "BULK_API_ERROR",
            f"Request body of {declared} bytes exceeds the maximum upload size of "
            f"{emulator.bulk.max_upload_bytes} bytes; split the data into several jobs",
            status=413,
        )
    emulator.bulk.upload(found, await request.body())
    return Response(status_code=201)


async def job_results(emulator: Emulator, request: Request, version: str, job: str) -> Response:
    """Answer ``GET /jobs/ingest/{job}/`` successfulResults, failedResults, unprocessedrecords."""
    kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    data = emulator.bulk.results(emulator.bulk.get(job), kind)
    return Response(data, media_type="text/csv", headers={"Sforce-Locator": "null"})


__all__ = ["JSON_TYPE", "now_iso"]
