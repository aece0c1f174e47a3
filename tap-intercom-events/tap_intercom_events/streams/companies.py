"""Companies through the scroll endpoint (the list endpoint stops at 10,000)."""

from __future__ import annotations

import time
import typing as t
from http import HTTPStatus
from urllib.parse import quote

from intercom_client.errors import NotFoundError, error_code
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_intercom_events import schemas
from tap_intercom_events.client import IntercomStream
from tap_intercom_events.pagination import ScrollPaginator
from tap_intercom_events.timestamps import convert

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

#: Intercom drops an unused scroll after one minute; wait a little longer than that.
SCROLL_EXPIRY_SECONDS = 75.0
MAX_RESTARTS = 5


class ScrollRestart(Exception):
    """Intercom lost the scroll (a 500 or an expired parameter): start it again."""


class ScrollBusy(Exception):
    """Another scroll is open for this app."""


class CompaniesStream(IntercomStream):
    """``GET /companies/scroll``: every company, one scroll per app at a time."""

    name = "companies"
    records_key = "data"
    schema = schemas.COMPANY_OBJECT.to_dict()

    #: Seconds between attempts while another scroll is open.
    busy_poll_seconds = 10.0
    #: Monotonic seconds and the wait between attempts (replaced in tests).
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    #: Inbox mode: when each company was last emitted (monotonic seconds), made on first use.
    _emitted: dict[str, float]

    @property
    def dry_run(self) -> bool:
        """Whether the sync stops after a few records (`--test`, the SDK's test suite).

        A scroll stopped early stays open for a minute, and Intercom allows one per app: the
        next sync would wait it out. A dry run reads the first page of ``GET /companies``.
        """
        return self.ABORT_AT_RECORD_COUNT is not None

    @property
    @override
    def path(self) -> str:  # type: ignore[override]  # the SDK's path is a plain attribute
        """The scroll; the first page of the list in a dry run."""
        return "/companies" if self.dry_run else "/companies/scroll"

    @override
    def get_new_paginator(self) -> ScrollPaginator | None:
        """Follow ``scroll_param`` until an empty page (one page in a dry run)."""
        return None if self.dry_run else ScrollPaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict:
        """The first page has no parameter; the rest carry ``scroll_param``."""
        if self.dry_run:
            return {"per_page": self.page_size}
        return {"scroll_param": next_page_token} if next_page_token else {}

    @override
    def validate_response(self, response: requests.Response) -> None:
        """A 500 or a stale scroll means start over; "scroll exists" means wait."""
        status = response.status_code
        if self.dry_run:
            super().validate_response(response)
            return
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            raise ScrollRestart("500 from the scroll endpoint")
        if HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR and status not in (
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.TOO_MANY_REQUESTS,
        ):
            code, detail = error_code(response)
            text = f"{code} {detail}".lower()
            if "scroll" in text and ("exist" in text or "already" in text or "open" in text):
                raise ScrollBusy(f"{status} {code}: {detail}")
            if "scroll" in text or status == HTTPStatus.NOT_FOUND:
                raise ScrollRestart(f"{status} {code}: {detail}")
        super().validate_response(response)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict]:
        """Scroll to the end, restarting when Intercom loses the scroll, without repeats."""
        if self.dry_run:
            yield from self.request_records(context)
            return
        emitted: set[str | None] = set()
        restarts = 0
        busy_since: float | None = None
        while True:
            try:
                for record in self.request_records(context):
                    busy_since = None
                    key = record.get("id")
                    if key in emitted:
                        continue
                    emitted.add(key)
                    yield record
                return
            except ScrollRestart as exc:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    msg = (
                        f"Intercom lost the companies scroll {restarts} times ({exc}). "
                        "Its scroll endpoint is failing repeatedly. "
                        "Run the sync again later; companies are read in full each run."
                    )
                    raise FatalAPIError(msg) from exc
                self.logger.warning(
                    "companies: Intercom lost the scroll (%s); restarting it (%d/%d), "
                    "skipping the %d companies already emitted",
                    exc,
                    restarts,
                    MAX_RESTARTS,
                    len(emitted),
                )
            except ScrollBusy as exc:
                now = self.clock()
                busy_since = busy_since or now
                if now - busy_since > SCROLL_EXPIRY_SECONDS:
                    msg = (
                        f"Intercom keeps refusing to open a companies scroll ({exc}): another "
                        "scroll is open for this app, from another sync or one interrupted "
                        "less than a minute ago, and it has not been released. Intercom allows "
                        "one scroll per app. Make sure no other sync of this app runs at the "
                        "same time, wait a minute, and run again."
                    )
                    raise FatalAPIError(msg) from exc
                self.logger.warning(
                    "companies: another scroll is open for this app (%s); waiting %.0f s for "
                    "Intercom to release it",
                    exc,
                    self.busy_poll_seconds,
                )
                self.sleep(self.busy_poll_seconds)

    # Inbox mode: the companies of re-read contacts, emitted before them (the mapper names a
    # Lead's company from the companies it has seen), each at most once per refresh period.

    #: Seconds a company emitted in inbox mode is not read again.
    refresh_seconds = 900.0

    def read_by_id(self, company_ids: Iterable[str]) -> list[dict]:
        """``GET /companies/{id}`` for those not emitted lately (runs in the pool's threads)."""
        found = []
        for company_id in company_ids:
            if self._emitted_lately(company_id):
                continue
            try:
                payload = self.call_api("GET", f"/companies/{quote(str(company_id), safe='')}")
            except NotFoundError:
                continue
            found.append(convert(payload, self.timestamp_plan))
        return found

    def emit_by_id(self, records: list[dict]) -> None:
        """Emit companies read by :meth:`read_by_id` (main thread), unless emitted meanwhile."""
        emitted = self._emitted_at()
        for record in records:
            company_id = str(record.get("id"))
            if self._emitted_lately(company_id):
                continue
            if not emitted:
                self._write_schema_message()
            row = self.post_process(record)
            if row is not None:
                self._write_record_message(row)
            emitted[company_id] = time.monotonic()
        if len(emitted) > 50_000:  # a long follow: forget the stale ones
            self._emitted = {k: v for k, v in emitted.items() if self._emitted_lately(k)}

    def _emitted_at(self) -> dict[str, float]:
        if not hasattr(self, "_emitted"):
            self._emitted = {}
        return self._emitted

    def _emitted_lately(self, company_id: str) -> bool:
        at = self._emitted_at().get(str(company_id))
        return at is not None and time.monotonic() - at < self.refresh_seconds
