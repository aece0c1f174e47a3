"""One rate governor for every request the tap makes, from every stream and thread.

Intercom counts calls per app in short windows (10 seconds) and reports, on every answer,
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (unix seconds when the
window ends). The governor spreads the calls this tap may still make over the rest of the window,
so a sync normally never meets a 429, and when one happens anyway (another client of the same app
spent the budget) it holds every thread until the window resets: until ``Retry-After`` when the
answer has one, else until ``X-RateLimit-Reset``. A 429 whose reset is already due (clocks that
disagree, a proxy) is followed by a short pause that grows with each such 429 in a row.
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
#: Upper bound on a believable Retry-After.
_MAX_RETRY_AFTER_SECONDS = 3600.0
#: Kept after a reset before the next call: the headers have whole seconds.
_RESET_MARGIN_SECONDS = 0.1
#: Pause after a 429 whose reset is already due: starts short, grows 0.5 % with each such 429 in
#: a row, up to a second (300 in a row cost about 7 s; a second is reached after about 900).
_DUE_PAUSE_SECONDS = 0.01
_DUE_PAUSE_GROWTH = 1.005
_DUE_PAUSE_MAX_SECONDS = 1.0


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
        self._due_streak = 0  # 429s in a row whose reset was already due
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
            # A 429 says when to try again, not what a window holds (its Remaining is 0).
            if remaining is not None and reset is not None and response.status_code != 429:
                self._learn_window(now, remaining, reset, limit)
            if response.status_code == 429:
                self.throttled += 1
                hold = self._hold_after_429(headers, reset)
                self._blocked_until = max(self._blocked_until, now + hold)
                # Nothing left until then; after it, pace steadily until an answer describes
                # the new window (rather than wait for the end of the window known before).
                self._remaining = 0
                self._window_end = now + hold
            else:
                self._due_streak = 0

    def _hold_after_429(self, headers: t.Mapping[str, str], reset: int | None) -> float:
        """Seconds every thread waits after a 429 (lock held)."""
        left: float | None = None
        retry_after = _retry_after_seconds(headers.get("Retry-After"), self._skew)
        if retry_after is not None:
            left = min(retry_after, _MAX_RETRY_AFTER_SECONDS)
        elif reset is not None:
            left = min(reset - (time.time() + self._skew), _MAX_WINDOW_SECONDS)
        if left is not None and left > 0:
            self._due_streak = 0
            return left + _RESET_MARGIN_SECONDS
        # No reset, or one already due: the window should have turned over; try again soon,
        # a little later each time so a stuck reset does not become a busy loop.
        pause = min(_DUE_PAUSE_SECONDS * _DUE_PAUSE_GROWTH**self._due_streak,
                    _DUE_PAUSE_MAX_SECONDS)
        self._due_streak += 1
        return pause

    def hold_seconds(self) -> float:
        """Seconds until the governor lets requests go again after a 429 (0 when it does)."""
        with self._lock:
            return max(self._blocked_until - time.monotonic(), 0.0)

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


def _retry_after_seconds(value: str | None, skew: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (server clock)."""
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return when - (time.time() + skew)


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
