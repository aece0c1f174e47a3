"""A fake clock for the governor and the retry policy, and hand-made Intercom answers."""

from __future__ import annotations

import typing as t

import requests

#: Local unix time at fake time 0 (half a second into a whole second, as clocks usually are).
START_WALL = 1_000_000.5


class FakeClock:
    """Monotonic and wall seconds that move only when something sleeps.

    ``during_sleep`` holds callables run (once each) at the next sleep, before time moves:
    what other threads do meanwhile.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.during_sleep: list[t.Callable[[], None]] = []
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return START_WALL + self.now

    def sleep(self, seconds: float) -> None:
        while self.during_sleep:
            self.during_sleep.pop(0)()
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


def answer(
    status: int, *, url: str = "https://api.intercom.io/admins", method: str = "GET", **headers: str
) -> requests.Response:
    """A response with ``headers`` (underscores for dashes) to ``method url``."""
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    response.request = requests.Request(method, url).prepare()
    return response


def refused(clock: FakeClock, reset_in: float, **headers: str) -> requests.Response:
    """A 429 whose window resets ``reset_in`` seconds from the clock's now."""
    return answer(
        429,
        X_RateLimit_Limit="1000",
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(int(clock.wall() + reset_in)),
        **headers,
    )
