"""The one retry policy for every Salesforce call: REST, Composite, Collections and login.

Attempt ``n`` (0-based) waits ``min(cap, backoff_base * 2**n)``, scaled by a jitter factor in
``[0.5, 1)`` so that parallel writers do not retry in step; after ``max_retries`` retries the
caller gives up. The clock (``sleep``) and the jitter (``random``) are injectable for tests.
"""

from __future__ import annotations

import random as _random
import time
import typing as t
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    Attributes:
        max_retries: Retries after the first attempt (``max_retries`` setting).
        backoff_base: First delay in seconds; doubles per retry (``retry_backoff_seconds``).
        cap: Longest single delay in seconds.
        sleep: Waits the given seconds (``time.sleep``; a fake in tests).
        random: Returns a float in ``[0, 1)`` for the jitter (``random.random``).
        waited: Seconds slept so far through this policy.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    cap: float = 30.0
    sleep: t.Callable[[float], None] = field(default=time.sleep, repr=False)
    random: t.Callable[[], float] = field(default=_random.random, repr=False)
    waited: float = 0.0

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], **kwargs: t.Any) -> RetryPolicy:
        """The policy the ``max_retries`` and ``retry_backoff_seconds`` settings ask for."""
        return cls(
            max_retries=int(config.get("max_retries", 5)),
            backoff_base=float(config.get("retry_backoff_seconds", 1.0)),
            **kwargs,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (jitter included)."""
        return min(self.cap, self.backoff_base * (2**attempt)) * (0.5 + self.random() / 2)

    def gives_up(self, attempt: int) -> bool:
        """True when attempt ``attempt`` (0-based) failed and no retry is left."""
        return attempt >= self.max_retries

    def wait(self, attempt: int) -> None:
        """Sleep before retrying after failed attempt ``attempt`` (0-based)."""
        seconds = self.delay(attempt)
        self.waited += seconds
        self.sleep(seconds)
