"""One rate governor for every request the tap makes, from every stream and thread.

Intercom counts calls per app in short windows (10 seconds) and reports, on every answer,
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (unix seconds when the
window ends). The governor spreads the calls this tap may still make over the rest of the window,
so a sync normally never meets a 429, and when one happens anyway (another client of the same app
spent the budget) it holds every thread until the window resets.
"""

from __future__ import annotations

import email.utils
import threading
import time
import typing as t

import requests

#: Calls kept back in each window for other clients of the app (and for clock jitter).
_RESERVE = 1
#: Upper bound on a believable window, whatever the headers say.
_MAX_WINDOW_SECONDS = 60.0


class RateGovernor:
    """Paces requests from Intercom's rate-limit headers; thread safe.

    Args:
        share: Fraction of the app's rate limit this tap may use (0 < share <= 1).
    """

    def __init__(self, share: float = 1.0) -> None:
        self.share = min(max(share, 0.01), 1.0)
        self._lock = threading.Lock()
        self._next_start = 0.0  # monotonic time before which no request starts
        self._blocked_until = 0.0  # monotonic time; set after a 429
        self._window_end: float | None = None  # monotonic time the current window ends
        self._window_reset: int | None = None  # server's X-RateLimit-Reset of that window
        self._window_limit: int | None = None  # calls the app may make per window
        self._window_seconds = 10.0
        self._remaining: float | None = None  # estimate, decremented as we send
        self._used = 0  # our calls in the current window
        self._skew = 0.0  # server clock minus local clock, seconds
        #: Counters for logs and benchmarks.
        self.requests = 0
        self.throttled = 0
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Block until this thread may send one request."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start, self._blocked_until)
            self._next_start = start + self._interval(start)
            if self._remaining is not None:
                self._remaining -= 1
            self._used += 1
            self.requests += 1
        if start > now:
            self.waited_seconds += start - now
            time.sleep(start - now)

    def _interval(self, start: float) -> float:
        """Seconds to keep free after a request starting at ``start`` (lock held)."""
        if self._window_end is None or self._window_limit is None:
            return 0.0  # nothing known yet: the first answer tells us the budget
        ours = self.share * self._window_limit
        if start >= self._window_end:
            # The window we know has ended; until an answer describes the new one, pace at
            # the steady rate that budget allows.
            return self._window_seconds / max(ours - _RESERVE, 1.0)
        usable = ours - self._used - _RESERVE
        if self._remaining is not None:
            usable = min(usable, self._remaining - _RESERVE)
        left = self._window_end - start
        if usable < 1:
            # Budget spent: the next call waits for the window to turn over.
            return left + 0.05
        return left / usable

    def observe(self, response: requests.Response) -> None:
        """Learn the budget from an answer's headers; hold everyone after a 429."""
        headers = response.headers
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset = _int_header(headers, "X-RateLimit-Reset")
        limit = _int_header(headers, "X-RateLimit-Limit")
        now = time.monotonic()
        with self._lock:
            if date := headers.get("Date"):
                self._learn_skew(date)
            if remaining is not None and reset is not None:
                self._learn_window(now, remaining, reset, limit)
            if response.status_code == 429:
                self.throttled += 1
                wait = self._window_end - now if self._window_end else 0.0
                wait = min(max(wait, 1.0), _MAX_WINDOW_SECONDS)
                self._blocked_until = max(self._blocked_until, now + wait)
                self._remaining = 0

    def _learn_skew(self, date: str) -> None:
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        skew = server - time.time()
        # The Date header has whole seconds: ignore differences it cannot resolve.
        self._skew = skew if abs(skew) > 2 else 0.0

    def _learn_window(self, now: float, remaining: int, reset: int, limit: int | None) -> None:
        left = reset - (time.time() + self._skew)
        left = min(max(left, 0.0), _MAX_WINDOW_SECONDS)
        if reset != self._window_reset:
            if self._window_reset is not None and 0 < reset - self._window_reset <= 60:
                self._window_seconds = float(reset - self._window_reset)
            elif left > 0:
                self._window_seconds = max(self._window_seconds, left)
            if self._window_reset is None or reset > self._window_reset:
                self._window_reset = reset
                self._window_end = now + left
                self._used = 1
                self._remaining = remaining
                # The first answer of a window shows (nearly) the whole window's budget;
                # X-RateLimit-Limit may be a per-minute figure, so it only caps the guess.
                seen = remaining + 1
                if limit is not None and limit > 0:
                    seen = min(seen, limit)
                self._window_limit = max(self._window_limit or 0, seen)
            return
        if self._remaining is None or remaining < self._remaining:
            self._remaining = remaining
        if self._window_limit is not None and remaining + 1 > self._window_limit:
            self._window_limit = remaining + 1

    def stats(self) -> dict[str, t.Any]:
        """Counters for logs and benchmarks."""
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "waited_seconds": round(self.waited_seconds, 3),
            "window_limit": self._window_limit,
        }


def _int_header(headers: t.Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class GovernedSession(requests.Session):
    """A ``requests`` session that asks the governor before each send."""

    def __init__(self, governor: RateGovernor) -> None:
        super().__init__()
        self.governor = governor

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Send after the governor allows it, and teach the governor from the answer."""
        self.governor.acquire()
        response = super().send(request, **kwargs)
        self.governor.observe(response)
        return response
