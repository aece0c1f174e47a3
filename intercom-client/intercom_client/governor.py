"""One rate governor for every request a process makes to Intercom, from every thread.

Intercom counts calls per app in 10-second windows and reports, on every answer,
``X-RateLimit-Limit`` (the window's budget: 167 for a limit of 1000 a minute),
``X-RateLimit-Remaining`` (what the window has left) and ``X-RateLimit-Reset`` (unix seconds when
the window ends). The governor spreads the calls this process may still make over the rest of the
window, so a sync runs at the rate limit and normally never meets a 429. When one happens anyway
(another client of the same app spent the budget) it holds every thread until the window resets:
until ``Retry-After`` when the answer has one, else until ``X-RateLimit-Reset``. A 429 whose reset
is already due (clocks that disagree, a proxy) is followed by a short pause that grows with each
such 429 in a row.

Each request the governor lets go gets a ticket with a sequence number. An answer's Remaining
counts the calls the server had seen when it answered, not those still in flight or waiting for
their turn; the ticket says how many were let go after the answered one, so the governor's
estimate of what the window still admits is "answered ticket + Remaining" minus the tickets
issued since, never Remaining alone.

Servers that send the per-minute figure as ``X-RateLimit-Limit`` (six times the window's budget)
are told apart: a window never shows more than ``ceil(Limit / 6)`` calls left if Limit is
per-minute, so the Limit is taken as the window's budget only once an answer showed more;
until then the budget is the largest one the answers showed, capped by the Limit.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
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
#: Kept after a reset before the next call once a 429 came: the headers have whole seconds.
_RESET_MARGIN_SECONDS = 0.1
#: Kept after the end of a window whose budget is spent, before the next window's first call.
_EDGE_MARGIN_SECONDS = 0.02
#: A per-minute limit is enforced as ceil(limit / 6) calls per 10-second window.
_WINDOWS_PER_MINUTE = 6
#: Pause after a 429 whose reset is already due: starts short, grows 0.5 % with each such 429 in
#: a row, up to a second (300 in a row cost about 7 s; a second is reached after about 900).
_DUE_PAUSE_SECONDS = 0.01
_DUE_PAUSE_GROWTH = 1.005
_DUE_PAUSE_MAX_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Ticket:
    """One request the governor let go: its place in the order and when (local wall clock)."""

    seq: int
    sent: float


class RateGovernor:
    """Paces requests from Intercom's rate-limit headers; thread safe.

    Args:
        share: Fraction of the app's rate limit this process may use (0 < share <= 1).
        clock: Monotonic seconds (injectable for tests).
        wall: Unix seconds of the local clock (injectable for tests).
        sleep: Waits the given seconds (injectable for tests).
    """

    def __init__(
        self,
        share: float = 1.0,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        wall: t.Callable[[], float] = time.time,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.share = min(max(share, 0.01), 1.0)
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = 0.0  # monotonic time before which no request starts
        self._blocked_until = 0.0  # monotonic time; set after a 429
        self._tickets = 0  # sequence number of the last ticket issued
        self._window_reset: int | None = None  # server's X-RateLimit-Reset of the known window
        self._window_seconds = 10.0
        self._window_base = 0  # tickets issued before the known window's first answered one
        self._admits_through: int | None = None  # last ticket the known window admits
        self._ended_at: float | None = None  # monotonic; after a 429: the window is over then
        self._stale_through = 0  # answers to tickets up to this one no longer describe it
        self._limit: int | None = None  # last X-RateLimit-Limit of an answer that was not 429
        self._limit_is_window = False  # an answer proved the Limit is not a per-minute figure
        self._seen_budget = 0  # the largest window budget the answers showed
        self._date_skew = 0.0  # server clock minus local clock from the Date header
        self._skew_low = -math.inf  # bounds on that difference from the windows' turnovers
        self._skew_high = math.inf
        self._due_streak = 0  # 429s in a row whose reset was already due
        #: Counters for logs and benchmarks.
        self.requests = 0
        self.throttled = 0
        self.waited_seconds = 0.0
        self._min_remaining = math.inf  # the fewest calls a window had left, in any answer

    def acquire(self) -> Ticket:
        """Block until this thread may send one request; answers its ticket for :meth:`observe`."""
        while True:
            start, seq = self.book()
            now = self._clock()
            if start > now:
                self._sleep(start - now)
            if ticket := self.release(seq):
                return ticket
            # A 429 came while this thread waited for its turn: take a turn after the hold
            # (the abandoned turn only makes the estimate of this window one call lower).

    def book(self) -> tuple[float, int]:
        """Reserve the next turn: (monotonic time it starts, its sequence number)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start, self._blocked_until)
            self._tickets += 1
            seq = self._tickets
            self._next_start = start + self._interval(start, seq)
            if start > now:
                self.waited_seconds += start - now
            return start, seq

    def release(self, seq: int) -> Ticket | None:
        """The ticket of a turn whose time has come.

        None when a 429 came meanwhile and holds every thread (book another turn).
        """
        with self._lock:
            if self._blocked_until > self._clock():
                return None
            self.requests += 1
            return Ticket(seq, self._wall())

    def _budget(self) -> int | None:
        """Calls the app may make per window, as far as the answers tell (lock held)."""
        if self._limit is not None and self._limit > 0:
            if self._limit_is_window:
                return self._limit
            return min(self._limit, self._seen_budget) if self._seen_budget else None
        return self._seen_budget or None

    def _window_end(self, now: float) -> float:
        """Monotonic time the known window ends (lock held, a window known)."""
        assert self._window_reset is not None
        left = self._window_reset - (self._wall() + self._skew())
        end = now + min(left, _MAX_WINDOW_SECONDS)
        if self._ended_at is not None:
            end = min(end, self._ended_at)
        return end

    def _interval(self, start: float, seq: int) -> float:
        """Seconds to keep free after ticket ``seq`` starting at ``start`` (lock held)."""
        budget = self._budget()
        if self._window_reset is None or budget is None or self._admits_through is None:
            return 0.0  # nothing known yet: the first answer tells us the budget
        ours = max(self.share * budget, 1.0)
        left = self._window_end(self._clock()) - start
        if left <= 0:
            # The window we know has ended; until an answer describes the new one, pace at
            # the steady rate that budget allows.
            return self._window_seconds / max(ours - _RESERVE, 1.0)
        admits = min(self._admits_through, self._window_base + math.floor(ours))
        usable = admits - seq - _RESERVE
        if usable < 1:
            # Budget spent: the next call waits for the window to turn over.
            return left + _EDGE_MARGIN_SECONDS
        return left / usable

    def observe(self, response: requests.Response, ticket: Ticket | None = None) -> None:
        """Learn the budget from an answer's headers; hold everyone after a 429.

        ``ticket`` is the one :meth:`acquire` gave for the request; without it the answer is
        taken as that of the last request let go.
        """
        headers = response.headers
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset = _int_header(headers, "X-RateLimit-Reset")
        limit = _int_header(headers, "X-RateLimit-Limit")
        now = self._clock()
        received = self._wall()
        with self._lock:
            if ticket is None:
                ticket = Ticket(self._tickets, received)
            if date := headers.get("Date"):
                self._learn_date(date, received)
            # A 429 says when to try again, not what a window holds (its Remaining is 0).
            if remaining is not None and reset is not None and response.status_code != 429:
                self._learn_window(ticket, received, remaining, reset, limit)
                self._min_remaining = min(self._min_remaining, remaining)
            if response.status_code == 429:
                self.throttled += 1
                hold = self._hold_after_429(headers, reset)
                self._blocked_until = max(self._blocked_until, now + hold)
                # Nothing left until then; after it, pace steadily until an answer to a later
                # request describes the window (rather than wait for the end of the one known).
                self._admits_through = ticket.seq
                self._ended_at = self._blocked_until
                self._stale_through = max(self._stale_through, ticket.seq)
            else:
                self._due_streak = 0

    def _learn_window(
        self, ticket: Ticket, received: float, remaining: int, reset: int, limit: int | None
    ) -> None:
        """Lock held; the answer to ``ticket`` was not a 429."""
        if limit is not None and limit > 0:
            self._limit = limit
            if remaining + 1 > math.ceil(limit / _WINDOWS_PER_MINUTE):
                self._limit_is_window = True
        self._seen_budget = max(self._seen_budget, remaining + 1)
        # The call was counted before its window's end, so the server's clock was behind
        # ``reset`` when the request left: an upper bound on the skew.
        self._learn_skew_bound(high=reset - ticket.sent)
        if ticket.seq <= self._stale_through:
            return  # sent before a 429 that came since: says nothing of the window now
        known = self._window_reset
        if known is None or reset > known or self._ended_at is not None:
            if known is not None and reset > known:
                if reset - known <= _MAX_WINDOW_SECONDS:
                    self._window_seconds = float(reset - known)
                # Counted after the known window ended: a lower bound on the skew.
                self._learn_skew_bound(low=known - received)
            elif known is None:
                left = reset - (received + self._skew())
                if 0 < left <= _MAX_WINDOW_SECONDS:
                    self._window_seconds = max(self._window_seconds, left)
            self._window_reset = reset
            self._window_base = ticket.seq - 1
            self._admits_through = ticket.seq + remaining
            self._ended_at = None
            return
        if reset == known and self._admits_through is not None:
            self._admits_through = min(self._admits_through, ticket.seq + remaining)

    def hold_seconds(self) -> float:
        """Seconds until the governor lets requests go again after a 429 (0 when it does)."""
        with self._lock:
            return max(self._blocked_until - self._clock(), 0.0)

    def _hold_after_429(self, headers: t.Mapping[str, str], reset: int | None) -> float:
        """Seconds every thread waits after a 429 (lock held)."""
        left: float | None = None
        retry_after = _retry_after_seconds(headers.get("Retry-After"), self._skew(), self._wall())
        if retry_after is not None:
            left = min(retry_after, _MAX_RETRY_AFTER_SECONDS)
        elif reset is not None:
            left = min(reset - (self._wall() + self._skew()), _MAX_WINDOW_SECONDS)
        if left is not None and left > 0:
            self._due_streak = 0
            return left + _RESET_MARGIN_SECONDS
        # No reset, or one already due: the window should have turned over; try again soon,
        # a little later each time so a stuck reset does not become a busy loop.
        pause = min(
            _DUE_PAUSE_SECONDS * _DUE_PAUSE_GROWTH**self._due_streak, _DUE_PAUSE_MAX_SECONDS
        )
        self._due_streak += 1
        return pause

    def _skew(self) -> float:
        """Server clock minus local clock (lock held).

        The Date header's figure, within the bounds the windows' turnovers set.
        """
        return min(max(self._date_skew, self._skew_low), self._skew_high)

    def _learn_skew_bound(self, low: float = -math.inf, high: float = math.inf) -> None:
        self._skew_low = max(self._skew_low, low)
        self._skew_high = min(self._skew_high, high)
        if self._skew_low > self._skew_high:
            # Bounds that contradict each other (a clock jumped): keep only the newest.
            self._skew_low, self._skew_high = low, high

    def _learn_date(self, date: str, received: float) -> None:
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        skew = server - received
        # The Date header has whole seconds: ignore differences it cannot resolve.
        self._date_skew = skew if abs(skew) > 2 else 0.0

    def stats(self) -> dict[str, t.Any]:
        """Counters for logs and benchmarks."""
        with self._lock:
            budget = self._budget()
            peak = None
            if self.throttled:
                peak = 1.0  # a window was spent (by this process or other clients of the app)
            elif budget and self._min_remaining != math.inf:
                peak = round(min(max((budget - self._min_remaining) / budget, 0.0), 1.0), 3)
            return {
                "requests": self.requests,
                "throttled": self.throttled,
                "waited_seconds": round(self.waited_seconds, 3),
                "window_limit": budget,
                "limit_is_window": self._limit_is_window,
                "peak_share_used": peak,
            }


def _retry_after_seconds(value: str | None, skew: float, now: float) -> float | None:
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
    return when - (now + skew)


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
        ticket = self.governor.acquire()
        response = super().send(request, **kwargs)
        self.governor.observe(response, ticket)
        return response
