"""The REST stream every Intercom stream derives from: the SDK glue around intercom_client.

Host, version, errors, pacing and retries are :mod:`intercom_client`'s; this module plugs them
into the Singer SDK's ``RESTStream`` hooks and adds the tap's progress and parsing.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import urlparse

from intercom_client import paging, regions, versions
from intercom_client.errors import Advice, check_response, error_code
from intercom_client.paging import response_json
from intercom_client.retry import Retrier
from singer_sdk import RESTStream, metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_intercom_events.logs import quiet_per_parent_lines
from tap_intercom_events.progress import Meter
from tap_intercom_events.sdk_hooks import CountingRecordCounter, DeferredState, LeanRecordMessages
from tap_intercom_events.timestamps import Plan, build_plan, convert

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    import requests
    from singer_sdk.helpers.types import Context

#: The tap's words in intercom_client's error messages.
ADVICE = Advice(
    token="TAP_INTERCOM_EVENTS_ACCESS_TOKEN (or the access_token setting)",
    skip="deselect the stream",
    rerun="Run the sync again later (it resumes from the last state)",
    runs="other runs of this tap",
    plugin="tap",
    unit="stream",
)


class IntercomStream(LeanRecordMessages, DeferredState, RESTStream[t.Any]):
    """Base class: one Intercom list endpoint whose items are records."""

    #: The key of the answer that holds the list of items.
    records_key: str = "data"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    #: The records keep Intercom's JSON types and the stream converts the timestamps itself,
    #: so the SDK's per-property conformance pass (most of the per-record cost) is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @property
    @override
    def url_base(self) -> str:
        """Host of the workspace's region, or ``api_url``."""
        return regions.base_url(self.config.get("region"), self.config.get("api_url"))

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        """Version and content headers sent with every request."""
        return versions.request_headers(self.config.get("intercom_version"))

    @cached_property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        """Bearer token auth; the token only ever travels in the Authorization header."""
        return BearerTokenAuthenticator(token=self.config["access_token"])

    @property
    @override
    def requests_session(self) -> requests.Session:
        """This thread's session, paced by the tap's shared rate governor."""
        return self._tap.session()  # type: ignore[attr-defined]

    @property
    @override
    def timeout(self) -> int:
        """Seconds to wait for one answer."""
        return int(self.config.get("request_timeout") or 60)

    @cached_property
    def timestamp_plan(self) -> Plan:
        """Where the unix timestamps are in this stream's records."""
        return build_plan(self.schema)

    @property
    def page_size(self) -> int:
        """Items per page (Intercom allows at most 150)."""
        return paging.page_size(self.config.get("page_size"))

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        if self.parent_stream_type is not None:
            # One sync per parent record: the SDK's lines about each only at debug level.
            quiet_per_parent_lines(self.logger)

    # Progress.

    @property
    def progress_meter(self) -> Meter:
        """This stream's progress meter (records read, total when known)."""
        return self._tap.progress.meter(self.name)  # type: ignore[attr-defined]

    def note_total(self, payload: t.Any) -> None:
        """Take the total Intercom gives (``total_count``) for this stream's progress."""
        total = payload.get("total_count") if isinstance(payload, dict) else None
        if total.__class__ is int and self.parent_stream_type is None:
            self.progress_meter.total = total

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """The SDK's record counter, also feeding this stream's progress lines."""
        if self.parent_stream_type is None:
            # A top-level stream begins: the streams before it are done (the SDK syncs one
            # top-level stream at a time, with its children).
            family = [self.name, *(child.name for child in self.child_streams)]
            self._tap.progress.begin(family)  # type: ignore[attr-defined]
        tags: dict[str, t.Any] = {metrics.Tag.STREAM: self.name}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        return CountingRecordCounter(
            self.progress_meter, metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval
        )

    # Parsing.

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Yield the items of one page with their timestamps as RFC 3339 strings."""
        plan = self.timestamp_plan
        payload = response_json(response)
        self.note_total(payload)
        for item in payload.get(self.records_key) or ():
            yield convert(item, plan)

    @override
    def get_new_paginator(self) -> t.Any:
        """Single page unless a stream says otherwise."""
        return None

    # Errors and retries (intercom_client's, through the SDK's hooks).

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort answers into success, retry and fatal, with messages a person can act on.

        Raises:
            intercom_client.errors.TransientError: 429 or 5xx (retried).
            intercom_client.errors.FatalError: Any other answer of 400 or more.
        """
        check_response(response, ADVICE)

    @cached_property
    def retrier(self) -> Retrier:
        """Retries within ``max_retries`` and ``max_retry_seconds``, paced by the governor."""
        tap = self._tap
        return Retrier(tap.governor, tap.retry_policy, ADVICE, self.logger)  # type: ignore[attr-defined]

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Waits between attempts (intercom_client's retry policy).

        After a 429 until the governor lets calls go again (the window's reset), after a 5xx
        or a dropped connection exponential with jitter.
        """
        return self.retrier.waits()

    @override
    def backoff_max_tries(self) -> int:
        """Attempts per request after 5xx answers and dropped connections (429s not counted)."""
        return self.retrier.policy.max_tries

    @override
    def backoff_handler(self, details: t.Any) -> None:
        """Log each retry without anything secret (no headers, no bodies)."""
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        what = f"status {response.status_code}" if response is not None else type(exc).__name__
        self.logger.warning(
            "Retrying %s after %s (attempt %d, waiting %.1f s)",
            self.name,
            what,
            details.get("tries", 0),
            details.get("wait") or 0.0,
        )

    @override
    def request_decorator(self, func: Callable) -> Callable:
        """Retry transient failures within bounds, then fail with a message saying why.

        A 429 is waited out (until the window resets) for as long as ``max_retry_seconds``
        allows, however many come; ``max_retries`` bounds only the other failures.
        """

        def call(prepared_request: requests.PreparedRequest, context: Context | None) -> t.Any:
            return self.retrier.call(
                lambda: func(prepared_request, context),
                prepared_request,
                waits=self.backoff_wait_generator(),
                max_tries=self.backoff_max_tries(),
                on_attempt=lambda: self._tap.sync_summary.add_call(self.name),  # type: ignore[attr-defined]
                on_retry=self.backoff_handler,
            )

        return call

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Status, Intercom error code and path; never headers or query strings."""
        code, detail = error_code(response)
        return f"{response.status_code} {code} {detail} for path {urlparse(response.url).path}"

    # Direct calls outside of a stream's own pagination.

    def call_api(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        body: t.Any = None,
        context: Context | None = None,
    ) -> t.Any:
        """One request through the same auth, pacing, validation and retries; returns JSON."""
        return response_json(
            self.call_api_response(method, path, params=params, body=body, context=context)
        )

    def call_api_response(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        body: t.Any = None,
        context: Context | None = None,
    ) -> requests.Response:
        """Like :meth:`call_api`, answering the response itself."""
        prepared = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}{path}",
            params=params or {},
            headers=self.http_headers,
            json=body,
        )
        return self.request_decorator(self._request)(prepared, context)
