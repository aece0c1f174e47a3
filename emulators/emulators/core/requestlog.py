"""The counters and the log of public API requests that ``GET /_emulator/stats`` reports."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any


class RequestLog:
    """Counts of public requests by endpoint and status, and the last requests themselves.

    Admin calls never pass through it. ``stamp`` makes the ``time`` of an entry (each emulator
    keeps its own format); ``reset_clears_log`` says whether ``POST stats/reset`` also forgets
    the logged requests (``POST reset`` always does).
    """

    def __init__(
        self, *, maxlen: int, stamp: Callable[[], Any], reset_clears_log: bool = True
    ) -> None:
        """Start empty."""
        self.lock = threading.Lock()
        self.entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._stamp = stamp
        self._reset_clears_log = reset_clears_log
        self.api_calls = 0
        self.requests = 0
        self.by_endpoint: Counter[str] = Counter()
        self.status_counts: Counter[str] = Counter()

    def reset(self) -> None:
        """Zero the counters (``POST stats/reset``)."""
        with self.lock:
            self.api_calls = 0
            self.requests = 0
            self.by_endpoint.clear()
            self.status_counts.clear()
            if self._reset_clears_log:
                self.entries.clear()

    def forget(self) -> None:
        """Zero the counters and forget every logged request (``POST reset``)."""
        self.reset()
        with self.lock:
            self.entries.clear()

    def count_request(self, endpoint: str | None) -> None:
        """Count one public request, under its endpoint key when it has one."""
        with self.lock:
            self.requests += 1
            if endpoint is not None:
                self.by_endpoint[endpoint] += 1

    def count_api_call(self) -> None:
        """Count one billed API call."""
        with self.lock:
            self.api_calls += 1

    def record(
        self, method: str, path: str, status: int, ms: float, status_key: str | None = None
    ) -> None:
        """Log one answered (or dropped: status 0) request and count its status."""
        entry = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(ms, 2),
            "time": self._stamp(),
        }
        with self.lock:
            self.status_counts[status_key or str(status)] += 1
            self.entries.append(entry)

    def last(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` logged requests, oldest first (none for a limit of 0 or less)."""
        with self.lock:
            return list(self.entries)[-limit:] if limit > 0 else []

    def counters(self) -> dict[str, Any]:
        """``api_calls``, ``by_endpoint`` and ``status_counts`` as plain JSON values."""
        with self.lock:
            return {
                "api_calls": self.api_calls,
                "by_endpoint": dict(self.by_endpoint),
                "status_counts": dict(self.status_counts),
            }
