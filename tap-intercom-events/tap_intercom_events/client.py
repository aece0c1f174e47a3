"""The REST stream every Intercom stream derives from: host, auth, version, pacing, errors."""

from __future__ import annotations

import functools
import logging
import random
import time
import typing as t
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlparse

import requests
from singer_sdk import RESTStream, metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_intercom_events.logs import quiet_per_parent_lines
from tap_intercom_events.pagination import response_json
from tap_intercom_events.progress import CountingRecordCounter, Meter
from tap_intercom_events.timestamps import Plan, build_plan, convert

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Mapping

    from singer_sdk.helpers.types import Context

REGION_HOSTS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}

AUTH_MESSAGE = (
    "Intercom refused the access token (401 unauthorized). "
    "The token was revoked, or the app was reinstalled or removed from the workspace "
    "(or the token belongs to a workspace in another region). "
    "Regenerate the token in Intercom's Developer Hub (your app > Authentication) and update "
    "TAP_INTERCOM_EVENTS_ACCESS_TOKEN (or the access_token setting), and check `region`."
)
PLAN_MESSAGE = (
    "Intercom refused the request to {path} (403 api_plan_restricted: {detail}). "
    "The workspace's subscription does not include API access to this resource. "
    "Ask the workspace owner to enable the plan that includes it, or deselect the stream."
)
FORBIDDEN_MESSAGE = (
    "Intercom refused the request to {path} (403 {code}: {detail}). "
    "The access token lacks the permission this stream needs. "
    "Grant the scope in the app's settings in Intercom's Developer Hub, or deselect the stream."
)

#: Seconds between log lines while one request keeps meeting the rate limit.
RATE_LIMIT_LOG_SECONDS = 30.0

#: Exceptions worth another attempt: transient server answers and broken connections.
RETRIABLE_EXCEPTIONS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class NotFoundError(FatalAPIError):
    """A 404: the object was deleted between listing it and reading it."""


class RetriesExhaustedError(FatalAPIError):
    """A request kept failing (rate limit, 5xx, network) beyond the retry bounds."""


def resolve_api_url(config: Mapping[str, t.Any]) -> str:
    """The API base URL: ``api_url`` when set, else the host of ``region``."""
    if url := config.get("api_url"):
        return str(url).rstrip("/")
    region = str(config.get("region") or "us").lower()
    try:
        return REGION_HOSTS[region]
    except KeyError:
        choices = ", ".join(REGION_HOSTS)
        msg = (
            f"Unknown Intercom region {region!r}: the tap cannot tell which host serves your "
            f"workspace. Set `region` to one of {choices} (or set `api_url`)."
        )
        raise ValueError(msg) from None


def intercom_errors(response: requests.Response) -> tuple[str, str]:
    """The first error code and message of an Intercom ``error.list`` body."""
    try:
        body = response.json()
    except ValueError:
        return "", response.reason or ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors and isinstance(errors, list) and isinstance(errors[0], dict):
        return str(errors[0].get("code") or ""), str(errors[0].get("message") or "")
    return "", response.reason or ""


class IntercomStream(RESTStream[t.Any]):
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
        return resolve_api_url(self.config)

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        """Version and content headers sent with every request."""
        return {
            "Intercom-Version": str(self.config.get("intercom_version") or "2.14"),
            "Accept": "application/json",
        }

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
        return max(1, min(int(self.config.get("page_size") or 150), 150))

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

    @cached_property
    def _everything_selected(self) -> bool:
        return all(self.mask.values())

    @cached_property
    def _schema_keys(self) -> frozenset[str]:
        return frozenset(self.schema.get("properties") or ())

    @cached_property
    def _reported_fields(self) -> set[str]:
        return set()

    @override
    def _generate_record_messages(self, record: dict) -> Generator[RecordMessage, None, None]:
        # Hot path: when no property is deselected, skip the SDK's walk over the selection
        # mask for every record (the records already match the schema).
        if not self._everything_selected:
            yield from super()._generate_record_messages(record)
            return
        extra = record.keys() - self._schema_keys
        if extra:
            # Fields newer than the schema: dropped (as the SDK would), reported once.
            for key in extra:
                del record[key]
            log_once(
                self.logger,
                self._reported_fields,
                ",".join(sorted(extra)),
                "%s: dropping fields not in the schema: %s",
                self.name,
                sorted(extra),
            )
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @override
    def _write_state_message(self) -> None:
        # Inbox mode writes one STATE per batch, after all of its records (see inbox_mode).
        if self._tap.defer_state:  # type: ignore[attr-defined]
            return
        super()._write_state_message()

    # Errors and retries.

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort answers into success, retry and fatal, with messages a person can act on."""
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return
        path = urlparse(response.url).path
        code, detail = intercom_errors(response)
        if status == HTTPStatus.UNAUTHORIZED:
            raise FatalAPIError(AUTH_MESSAGE)
        if status == HTTPStatus.FORBIDDEN:
            template = PLAN_MESSAGE if code == "api_plan_restricted" else FORBIDDEN_MESSAGE
            raise FatalAPIError(template.format(path=path, code=code, detail=detail))
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"{status} {code or response.reason} on {response.request.method} {path}"
            raise RetriableAPIError(msg, response)
        if status == HTTPStatus.NOT_FOUND:
            raise NotFoundError(f"404 {code}: {detail} ({path})")
        msg = (
            f"Intercom rejected {response.request.method} {path} ({status} {code}: {detail}). "
            "The request does not fit the API version the tap asked for. "
            "Check the `intercom_version` setting; if it is right, report this to the tap's "
            "maintainers with the message above."
        )
        raise FatalAPIError(msg)

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Waits between attempts: after a 429 until the governor lets calls go again (the
        window's reset), after a 5xx or a dropped connection exponential with jitter.
        """
        attempt = 0
        exc = yield 0.0
        while True:
            if is_rate_limited(exc):
                wait = self._tap.governor.hold_seconds()  # type: ignore[attr-defined]
            else:
                attempt += 1
                wait = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
            exc = yield wait

    @override
    def backoff_max_tries(self) -> int:
        """Attempts per request after 5xx answers and dropped connections (429s not counted)."""
        retries = self.config.get("max_retries")
        return (8 if retries is None else int(retries)) + 1

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
        max_time = float(self.config.get("max_retry_seconds") or 300)

        @functools.wraps(func)
        def call(prepared_request: requests.PreparedRequest, context: Context | None) -> t.Any:
            started = time.monotonic()
            waits = self.backoff_wait_generator()
            next(waits)
            failures = throttled = 0
            reported = 0.0
            while True:
                self._tap.sync_summary.add_call(self.name)  # type: ignore[attr-defined]
                try:
                    response = func(prepared_request, context)
                except RETRIABLE_EXCEPTIONS as exc:
                    spent = time.monotonic() - started
                    wait = waits.send(exc)
                    if not is_rate_limited(exc):
                        failures += 1
                        if failures >= self.backoff_max_tries() or spent >= max_time:
                            raise RetriesExhaustedError(
                                _failure_message(prepared_request, exc, failures, spent)
                            ) from exc
                        wait = min(wait, max_time - spent)
                        self.backoff_handler({"exception": exc, "tries": failures, "wait": wait})
                        time.sleep(wait)
                        continue
                    throttled += 1
                    if spent + wait > max_time:
                        raise RetriesExhaustedError(
                            _rate_limit_message(prepared_request, throttled, spent, wait, max_time)
                        ) from exc
                    if throttled == 1 or spent - reported >= RATE_LIMIT_LOG_SECONDS:
                        reported = spent
                        self.logger.warning(
                            "Intercom's rate limit refused %s %s (429 number %d in a row, "
                            "%.0f s waited so far); waiting %.1f s for the window to reset",
                            prepared_request.method,
                            _path(prepared_request),
                            throttled,
                            spent,
                            wait,
                        )
                    # No sleep here: the governor holds this thread (and every other) until then.
                    continue
                if throttled:
                    self.logger.info(
                        "%s %s went through after %d answers 429 and %.1f s of waiting",
                        prepared_request.method,
                        _path(prepared_request),
                        throttled,
                        time.monotonic() - started,
                    )
                return response

        return call

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Status, Intercom error code and path; never headers or query strings."""
        code, detail = intercom_errors(response)
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


def is_rate_limited(exc: BaseException | None) -> bool:
    """Whether a failure is Intercom's rate limit (a 429 answer)."""
    response = getattr(exc, "response", None)
    return response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def _path(request: requests.PreparedRequest) -> str:
    """The path of a request, without its query string."""
    return urlparse(request.url or "").path


def _rate_limit_message(
    request: requests.PreparedRequest, answers: int, spent: float, wait: float, max_time: float
) -> str:
    later = f"; the next window opens in {wait:.0f} s" if wait >= 1 else ""
    return (
        f"Intercom's rate limit refused {request.method} {_path(request)} {answers} times in a "
        f"row (429 rate_limit_exceeded) over {spent:.0f} s of waiting; waiting longer would "
        f"pass max_retry_seconds ({max_time:.0f} s){later}. "
        "Something else is spending this Intercom app's rate limit: another app or "
        "integration using the same access token, or other runs of this tap. "
        "Run the sync again later (it resumes from the last state); to wait longer, raise "
        "max_retry_seconds; to leave room for other runs of this tap, lower their "
        "rate_limit_share; and give any other integration its own Intercom app and token."
    )


def _failure_message(
    request: requests.PreparedRequest, exc: BaseException, attempts: int, spent: float
) -> str:
    return (
        f"Intercom kept failing on {request.method} {_path(request)} ({_describe(exc)}) "
        f"after {attempts} failed attempts over {spent:.0f} s. "
        "Intercom or the network to it is having trouble. "
        "Run the sync again later (it resumes from the last state), and check "
        "Intercom's status page if it persists; max_retries and max_retry_seconds "
        "bound these retries."
    )


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        return f"last answer {response.status_code}"
    return f"last error {type(exc).__name__}"


def log_once(logger: logging.Logger, seen: set[str], key: str, msg: str, *args: t.Any) -> None:
    """Warn about ``key`` only the first time in a run."""
    if key not in seen:
        seen.add(key)
        logger.warning(msg, *args)
