"""The share of the org's daily API requests a run may spend."""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
import typing as t

_USAGE = re.compile(r"api-usage\s*=\s*(\d+)\s*/\s*(\d+)", re.IGNORECASE)


class BudgetExhausted(Exception):
    """The run's share of the daily API limit is spent; what remains is left to the next run."""


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """Read ``(used, max)`` from a ``Sforce-Limit-Info`` header.

    The header may carry other parts after the usage, e.g. ``api-usage=10/15000;
    api-bursts=...`` or ``per-app-api-usage=...``; only the org-wide usage matters here.

    Args:
        header: Raw header value, or None.

    Returns:
        ``(used, max)``, or None when the header has no org-wide usage.
    """
    if not header:
        return None
    for part in header.split(";"):
        part = part.strip()
        if part.lower().startswith("per-app"):
            continue
        match = _USAGE.search(part)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


class ApiBudget:
    """Tracks calls spent by this run against ``share`` of the requests remaining at start.

    The allowance is fixed from the first figures seen (``/limits`` or the first response's
    header). Later headers may show other integrations spending too; the run then also stops
    before the org's remaining requests fall below what it promised to leave to others.
    """

    def __init__(self, share: float) -> None:
        self.share = max(0.0, min(1.0, float(share)))
        self._lock = threading.Lock()
        self.spent = 0
        self.allowance: int | None = None
        self.reserve: int | None = None
        self.remaining: int | None = None
        self.maximum: int | None = None

    def observe(self, used: int, maximum: int) -> None:
        """Record the org's usage as reported by Salesforce."""
        with self._lock:
            self.maximum = maximum
            self.remaining = max(0, maximum - used)
            if self.allowance is None:
                # The call that carried this header is already spent and counted.
                start = self.remaining + self.spent
                self.allowance = int(start * self.share)
                self.reserve = start - self.allowance

    def observe_header(self, header: str | None) -> None:
        """Record usage from a ``Sforce-Limit-Info`` header when it has one."""
        parsed = parse_limit_info(header)
        if parsed:
            self.observe(*parsed)

    def has_figures(self) -> bool:
        """True once Salesforce's usage figures are known."""
        return self.allowance is not None

    def left(self) -> int | None:
        """Calls this run may still spend, or None before any figures are known."""
        with self._lock:
            if self.allowance is None:
                return None
            left = self.allowance - self.spent
            if self.remaining is not None and self.reserve is not None:
                left = min(left, self.remaining - self.reserve)
            return max(0, left)

    def can_spend(self, calls: int = 1) -> bool:
        """True when ``calls`` more calls fit the budget (or no figures are known yet)."""
        left = self.left()
        return left is None or left >= calls

    def charge(self, calls: int = 1) -> None:
        """Count calls about to be made; raise when they would exceed the allowance."""
        with self._lock:
            if self.allowance is not None:
                left = self.allowance - self.spent
                if self.remaining is not None and self.reserve is not None:
                    left = min(left, self.remaining - self.reserve)
                if left < calls:
                    raise BudgetExhausted(self.describe())
            self.spent += calls
            if self.remaining is not None:
                self.remaining -= calls

    def describe(self) -> str:
        """Why the budget stops the run, with its figures."""
        return (
            f"the run's API budget is spent ({self.spent} of {self.allowance} calls allowed, "
            f"api_budget={self.share:g}; the org has {self.remaining} of {self.maximum} daily "
            "requests left)"
        )


class RollingApiBudget(ApiBudget):
    """A budget over any 24 hours, for a process that runs for days; it pauses, never stops.

    Over any 24 hours it spends at most ``share`` of the requests the org has that others do
    not use.

    Salesforce counts the daily limit over a rolling 24 hours, and so does this budget: every
    call is timestamped (by the minute, so memory stays bounded), and the calls this process
    made more than 24 hours ago no longer count. From the latest ``Sforce-Limit-Info`` (or
    ``/limits``) figures, others' usage is the org's minus this process's own over the window;
    this process may then hold ``share`` of the rest, which leaves ``1 - share`` of it to the
    others, as the run budget does with the requests remaining at its start.

    When the allowance is spent ``charge`` waits (logging why) until own calls leave the window;
    when only others' usage is in the way, it lets one call through every ``probe_seconds`` to
    read fresh figures. Records meanwhile stay pending and no STATE is emitted, so nothing is
    lost.
    """

    WINDOW = 86_400.0
    BUCKET = 60.0

    def __init__(
        self,
        share: float,
        clock: t.Callable[[], float] = time.time,
        sleep: t.Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        probe_seconds: float = 900.0,
    ) -> None:
        super().__init__(share)
        self._clock = clock
        self._sleep = sleep
        self._logger = logger or logging.getLogger(__name__)
        self.probe_seconds = probe_seconds
        self._buckets: collections.deque[list[float]] = collections.deque()  # [start, calls]
        self._in_window = 0
        self.others: int | None = None  # the org's usage by others, at the latest figures
        self._figures_at = 0.0
        self.paused_seconds = 0.0

    def _expire(self, now: float) -> None:
        edge = now - self.WINDOW
        while self._buckets and self._buckets[0][0] + self.BUCKET <= edge:
            self._in_window -= int(self._buckets.popleft()[1])

    def spent_in_window(self) -> int:
        """Calls this process made in the last 24 hours."""
        with self._lock:
            self._expire(self._clock())
            return self._in_window

    def observe(self, used: int, maximum: int) -> None:
        """Record the org's usage; others' usage is the org's less this process's own."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            self.maximum = maximum
            self.remaining = max(0, maximum - used)
            self.others = max(0, used - self._in_window)
            self.allowance = int(self.share * (maximum - self.others))
            self.reserve = maximum - self.others - self.allowance
            self._figures_at = now

    def _left(self, now: float) -> int | None:
        if self.maximum is None or self.others is None:
            return None
        self._expire(now)
        return max(0, int(self.share * (self.maximum - self.others)) - self._in_window)

    def left(self) -> int | None:
        """Calls this process may spend now, or None before any figures are known."""
        with self._lock:
            return self._left(self._clock())

    def can_spend(self, calls: int = 1) -> bool:
        """Always: when the allowance is spent ``charge`` waits rather than fails."""
        return True

    def _wait_for(self, calls: int, now: float) -> float:
        """Seconds until enough own calls leave the window, at most until the next probe."""
        need = calls - (self._left(now) or 0)
        freed = 0
        for start, count in self._buckets:
            freed += int(count)
            if freed >= need:
                return max(
                    0.0,
                    min(
                        start + self.BUCKET + self.WINDOW - now,
                        self._figures_at + self.probe_seconds - now,
                    ),
                )
        return max(0.0, self._figures_at + self.probe_seconds - now)

    def charge(self, calls: int = 1) -> None:
        """Count calls about to be made, first waiting while they would exceed the allowance."""
        warned = False
        while True:
            with self._lock:
                now = self._clock()
                left = self._left(now)
                probe = now - self._figures_at >= self.probe_seconds
                if left is None or left >= calls or probe:
                    if probe and left is not None and left < calls:
                        self._figures_at = now  # one call through, for fresh figures
                    start = now - now % self.BUCKET
                    if self._buckets and self._buckets[-1][0] == start:
                        self._buckets[-1][1] += calls
                    else:
                        self._buckets.append([start, calls])
                    self._in_window += calls
                    if self.remaining is not None:
                        self.remaining -= calls
                    return
                wait = self._wait_for(calls, now)
            if not warned:
                self._logger.warning(
                    "Pausing: %s. Writing resumes in %.0f s at the latest, when calls leave "
                    "the 24-hour window; records wait meanwhile and no state is emitted.",
                    self.describe(),
                    wait,
                )
                warned = True
            self._sleep(max(wait, 0.01))
            self.paused_seconds += max(wait, 0.01)

    def describe(self) -> str:
        """Why the budget pauses the process, with its figures."""
        return (
            f"the API budget for 24 hours is spent ({self._in_window} calls in the last 24 h "
            f"of {self.allowance} allowed, api_budget={self.share:g} of the {self.maximum} "
            f"daily requests less {self.others} used by others)"
        )


def budget_for(config: t.Mapping[str, t.Any], logger: logging.Logger | None = None) -> ApiBudget:
    """The budget that api_budget_window asks for: per run (default) or rolling 24 hours."""
    share = float(config.get("api_budget", 0.5))
    if config.get("api_budget_window") == "24h":
        return RollingApiBudget(share, logger=logger)
    return ApiBudget(share)
