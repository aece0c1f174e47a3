"""The share of the org's daily API requests a run may spend."""

from __future__ import annotations

import re
import threading

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
        return (
            f"the run's API budget is spent ({self.spent} of {self.allowance} calls allowed, "
            f"api_budget={self.share:g}; the org has {self.remaining} of {self.maximum} daily "
            "requests left)"
        )
