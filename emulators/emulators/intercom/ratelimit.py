"""Intercom's rate limit: calls per minute, enforced in 10-second windows."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

WINDOW = 10  # seconds; Intercom enforces the per-minute limit in 10-second windows


class RateLimiter:
    """Per-app calls per minute, enforced as ceil(limit/6) per 10-second window.

    The headers speak of the window, as Intercom's rate-limiting page shows ("a rate limit of
    1000 per minute, which is 167 per 10-second window": ``X-RateLimit-Limit: 167``,
    ``X-RateLimit-Remaining`` counting down from 167, ``X-RateLimit-Reset`` the window's end).
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.window_start = 0
        self.used = 0
        self.lock = threading.Lock()

    def forget(self) -> None:
        """Start a fresh window: nothing spent."""
        with self.lock:
            self.window_start, self.used = 0, 0

    @property
    def per_window(self) -> int:
        """Calls allowed in one 10-second window."""
        return max(1, math.ceil(self.per_minute / 6))

    def take(self) -> tuple[bool, dict[str, str], int]:
        """Spend one call: (allowed, rate-limit headers, calls per window)."""
        now = time.time()
        start = int(now // WINDOW * WINDOW)
        per_window = self.per_window
        with self.lock:
            if start != self.window_start:
                self.window_start, self.used = start, 0
            allowed = self.used < per_window
            if allowed:
                self.used += 1
            remaining = max(0, per_window - self.used)
        headers = {
            "X-RateLimit-Limit": str(per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(start + WINDOW),
        }
        return allowed, headers, per_window

    def refusal(self, fault: dict[str, Any] | None = None) -> tuple[dict[str, str], int]:
        """Headers of an injected 429, which spends nothing: no calls left until the reset.

        The reset is the current window's end, as Intercom answers, unless the fault names
        one (``reset_in`` seconds from now, 0 or less: already due); ``retry_after`` adds a
        ``Retry-After`` header.
        """
        now = time.time()
        per_window = self.per_window
        reset = int(now // WINDOW * WINDOW) + WINDOW
        fault = fault or {}
        if fault.get("reset_in") is not None:
            reset = int(now) + int(fault["reset_in"])
        headers = {
            "X-RateLimit-Limit": str(per_window),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(int(fault["retry_after"]))
        return headers, per_window
