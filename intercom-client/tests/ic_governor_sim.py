"""An in-process Intercom rate limiter on a fake clock, driving a RateGovernor (no real waits).

The plugin's ``workers`` threads are modelled as the governor's ``book`` / ``release`` pair that its
``acquire`` is made of: each free worker books its turn at once (so turns are booked ahead, as the
threads do), at its turn sends the request, which reaches the server ``out`` seconds later, where
it is counted in the 10-second window of the server's clock (local clock + ``skew``); its answer
comes back ``back`` seconds after that, and the worker books its next turn.
"""

from __future__ import annotations

import email.utils
import heapq
import math
from collections import defaultdict

import requests
from intercom_client.governor import RateGovernor

WINDOW = 10


class LimitedServer:
    """Counts calls per window like Intercom; ``per_minute_header`` sends the per-minute figure
    as X-RateLimit-Limit (what the emulator did before), else the window's budget."""

    def __init__(
        self, budget: int, *, per_minute_header: bool = False, others_per_window: int = 0
    ) -> None:
        self.budget = budget
        self.per_minute_header = per_minute_header
        #: Calls another client of the app makes at the start of each window.
        self.others_per_window = others_per_window
        self.window: int | None = None
        self.used = 0
        self.counted: dict[int, int] = defaultdict(int)  # our calls per window
        self.refused = 0

    def answer(self, server_time: float) -> requests.Response:
        window = math.floor(server_time / WINDOW)
        if window != self.window:
            self.window, self.used = window, min(self.others_per_window, self.budget)
        allowed = self.used < self.budget
        if allowed:
            self.used += 1
            self.counted[window] += 1
        else:
            self.refused += 1
        response = requests.Response()
        response.status_code = 200 if allowed else 429
        limit = self.budget * 6 if self.per_minute_header else self.budget
        response.headers.update(
            {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(self.budget - self.used),
                "X-RateLimit-Reset": str((window + 1) * WINDOW),
                "Date": email.utils.formatdate(server_time, usegmt=True),
            }
        )
        return response


_TURN, _ARRIVAL, _ANSWER = 0, 1, 2


class Simulation:
    def __init__(
        self,
        server: LimitedServer,
        *,
        share: float = 1.0,
        out: float = 0.1,
        back: float = 0.05,
        skew: float = 0.0,
        workers: int = 20,
        start_wall: float = 1_000_003.7,
    ) -> None:
        self.server = server
        self.out, self.back, self.skew, self.workers = out, back, skew, workers
        self.now = 0.0
        self.start_wall = start_wall
        self.events: list[tuple[float, int, int, object]] = []
        self.order = 0
        self.governor = RateGovernor(share, clock=self.clock, wall=self.wall, sleep=self.sleep)

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.start_wall + self.now

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the simulation books turns; nothing may sleep")

    def _push(self, when: float, kind: int, payload: object) -> None:
        self.order += 1
        heapq.heappush(self.events, (when, kind, self.order, payload))

    def _book(self) -> None:
        start, seq = self.governor.book()
        self._push(start, _TURN, seq)

    def run(self, seconds: float) -> None:
        """Keep ``workers`` workers busy for ``seconds`` of fake time, then let the answers in."""
        for _ in range(self.workers):
            self._book()
        while self.events:
            when, kind, _, payload = heapq.heappop(self.events)
            self.now = max(self.now, when)
            if kind == _TURN:
                if self.now >= seconds:
                    continue  # the worker stops
                ticket = self.governor.release(payload)  # type: ignore[arg-type]
                if ticket is None:
                    self._book()
                else:
                    self._push(self.now + self.out, _ARRIVAL, ticket)
            elif kind == _ARRIVAL:
                answer = self.server.answer(self.wall() + self.skew)
                self._push(self.now + self.back, _ANSWER, (payload, answer))
            else:
                ticket, answer = payload  # type: ignore[misc]
                self.governor.observe(answer, ticket)
                self._book()

    def full_windows(self) -> list[int]:
        """Our calls in each window wholly inside the run (first and last left out)."""
        windows = sorted(self.server.counted)
        return [self.server.counted[w] for w in windows[1:-1]]
