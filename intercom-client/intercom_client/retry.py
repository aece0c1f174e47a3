"""Bounded retries of one request: 429s waited out by the governor, other failures backed off.

A 429 is waited out (until the window resets: the :class:`~intercom_client.governor.RateGovernor`
holds every thread until then) for as long as ``max_seconds`` allows, however many come;
``max_retries`` bounds only the other failures (5xx answers, timeouts, dropped connections),
which wait exponentially longer with jitter. The clock, the sleep and the jitter are injectable,
so the policy can be exercised without waiting.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import typing as t

import requests

from intercom_client.errors import (
    Advice,
    RetriesExhaustedError,
    TransientError,
    describe,
    failure_message,
    is_rate_limited,
    path_of,
    rate_limit_message,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from intercom_client.governor import RateGovernor

_T = t.TypeVar("_T")

#: Seconds between log lines while one request keeps meeting the rate limit.
RATE_LIMIT_LOG_SECONDS = 30.0
#: Longest wait between two attempts after a failure that is not a 429.
MAX_BACKOFF_SECONDS = 30.0

#: Exceptions worth another attempt: transient server answers and broken connections.
RETRIABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    TransientError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long and how often one request is tried.

    Attributes:
        max_retries: Retries after failures other than 429 (5xx, timeouts, dropped connections).
        max_seconds: Longest time spent on one request, waiting out 429s included.
        clock: Monotonic seconds.
        sleep: Waits the given seconds.
        jitter: Draws a factor between its two arguments.
    """

    max_retries: int = 8
    max_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], **clock: t.Any) -> RetryPolicy:
        """The policy of the ``max_retries`` and ``max_retry_seconds`` settings."""
        retries = config.get("max_retries")
        return cls(
            max_retries=8 if retries is None else int(retries),
            max_seconds=float(config.get("max_retry_seconds") or 300),
            **clock,
        )

    @property
    def max_tries(self) -> int:
        """Attempts per request after failures other than 429 (the first one included)."""
        return self.max_retries + 1

    def waits(self, governor: RateGovernor) -> Generator[float, BaseException | None, None]:
        """Seconds to wait before the next attempt, sent each failure in turn.

        After a 429 until the governor lets calls go again (the window's reset); after a 5xx
        or a dropped connection exponentially longer, with jitter. Prime it with ``next()``.
        """
        attempt = 0
        exc = yield 0.0
        while True:
            if is_rate_limited(exc):
                wait = governor.hold_seconds()
            else:
                attempt += 1
                wait = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt) * self.jitter(0.5, 1.0)
            exc = yield wait


class _Attempts:
    """The failures of one request so far, and what to do about the next one."""

    def __init__(
        self,
        retrier: Retrier,
        request: requests.PreparedRequest,
        waits: Generator[float, BaseException | None, None],
        max_tries: int,
        on_retry: Callable[[dict[str, t.Any]], None],
    ) -> None:
        self.retrier = retrier
        self.policy = retrier.policy
        self.request = request
        self.waits = waits
        self.max_tries = max_tries
        self.on_retry = on_retry
        self.started = self.policy.clock()
        self.failures = 0
        self.throttled = 0
        self.reported = 0.0

    def failed(self, exc: BaseException) -> None:
        """Wait before the next attempt, or raise when the bounds are reached.

        Raises:
            RetriesExhaustedError: Another attempt would pass ``max_retries`` or ``max_seconds``.
        """
        spent = self.policy.clock() - self.started
        wait = self.waits.send(exc)
        max_time = self.policy.max_seconds
        advice = self.retrier.advice
        if not is_rate_limited(exc):
            self.failures += 1
            if self.failures >= self.max_tries or spent >= max_time:
                msg = failure_message(self.request, exc, self.failures, spent, advice)
                raise RetriesExhaustedError(msg) from exc
            wait = min(wait, max_time - spent)
            self.on_retry({"exception": exc, "tries": self.failures, "wait": wait})
            self.policy.sleep(wait)
            return
        self.throttled += 1
        if spent + wait > max_time:
            msg = rate_limit_message(self.request, self.throttled, spent, wait, max_time, advice)
            raise RetriesExhaustedError(msg) from exc
        if self.throttled == 1 or spent - self.reported >= RATE_LIMIT_LOG_SECONDS:
            self.reported = spent
            self.retrier.logger.warning(
                "Intercom's rate limit refused %s %s (429 number %d in a row, "
                "%.0f s waited so far); waiting %.1f s for the window to reset",
                self.request.method,
                path_of(self.request.url),
                self.throttled,
                spent,
                wait,
            )
        # No sleep here: the governor holds this thread (and every other) until then.

    def succeeded(self) -> None:
        """Say so when the request got through after 429s."""
        if self.throttled:
            self.retrier.logger.info(
                "%s %s went through after %d answers 429 and %.1f s of waiting",
                self.request.method,
                path_of(self.request.url),
                self.throttled,
                self.policy.clock() - self.started,
            )


class Retrier:
    """Sends one request again and again within a :class:`RetryPolicy`, then says why not.

    Args:
        governor: The governor that paces the requests (its hold after a 429 is the wait).
        policy: The bounds, and the clock they are measured on.
        advice: The plugin's words in the message of :class:`RetriesExhaustedError`.
        log: Where the rate-limit lines go.
    """

    def __init__(
        self,
        governor: RateGovernor,
        policy: RetryPolicy | None = None,
        advice: Advice | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.governor = governor
        self.policy = policy or RetryPolicy()
        self.advice = advice or Advice()
        self.logger = log or logger

    def waits(self) -> Generator[float, BaseException | None, None]:
        """The policy's waits for this governor (see :meth:`RetryPolicy.waits`)."""
        return self.policy.waits(self.governor)

    def call(
        self,
        send: Callable[[], _T],
        request: requests.PreparedRequest,
        *,
        waits: Generator[float, BaseException | None, None] | None = None,
        max_tries: int | None = None,
        on_attempt: Callable[[], None] | None = None,
        on_retry: Callable[[dict[str, t.Any]], None] | None = None,
    ) -> _T:
        """Answer ``send()``, retrying it after the failures in :data:`RETRIABLE_EXCEPTIONS`.

        Args:
            send: Sends ``request`` once (raising :class:`TransientError` for a 429 or 5xx).
            request: What ``send`` sends, for the messages.
            waits: Replaces the policy's waits (primed here).
            max_tries: Replaces the policy's attempts after failures other than 429.
            on_attempt: Called before each attempt (e.g. to count calls).
            on_retry: Called before waiting after a failure other than 429, with
                ``exception``, ``tries`` and ``wait`` (the Singer SDK's backoff details).

        Raises:
            RetriesExhaustedError: The failures outlasted ``max_retries`` or ``max_seconds``.
        """
        waits = waits or self.waits()
        next(waits)
        attempts = _Attempts(
            self,
            request,
            waits,
            self.policy.max_tries if max_tries is None else max_tries,
            on_retry or self._log_retry,
        )
        while True:
            if on_attempt is not None:
                on_attempt()
            try:
                result = send()
            except RETRIABLE_EXCEPTIONS as exc:
                attempts.failed(exc)
                continue
            attempts.succeeded()
            return result

    def _log_retry(self, details: dict[str, t.Any]) -> None:
        self.logger.warning(
            "Retrying after %s (attempt %d, waiting %.1f s)",
            describe(details["exception"]),
            details["tries"],
            details["wait"],
        )
