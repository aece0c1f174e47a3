"""The governor's reading of 429 answers (pure logic, in process; the tests against the emulator
are in test_tap_rate_limit.py)."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
from tap_intercom_events.governor import RateGovernor


def answer(status: int, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return response


def refused(reset_in: float, **headers: str) -> requests.Response:
    return answer(429, X_RateLimit_Limit="1000", X_RateLimit_Remaining="0",
                  X_RateLimit_Reset=str(int(time.time() + reset_in)), **headers)


def test_a_429_holds_until_the_reset() -> None:
    governor = RateGovernor()
    governor.observe(refused(6))
    assert 4.5 < governor.hold_seconds() <= 6.2


def test_retry_after_wins_over_the_reset() -> None:
    governor = RateGovernor()
    governor.observe(refused(9, Retry_After="2"))
    assert 1.5 < governor.hold_seconds() <= 2.2
    later = email.utils.formatdate(time.time() + 4, usegmt=True)
    governor = RateGovernor()
    governor.observe(refused(0, Retry_After=later))
    assert 2.5 < governor.hold_seconds() <= 4.2


def test_a_reset_already_due_gives_a_short_pause_that_grows_until_an_answer_gets_through() -> None:
    governor = RateGovernor()
    pauses = []
    for _ in range(300):
        governor._blocked_until = 0.0  # noqa: SLF001 - look at each pause on its own
        governor.observe(refused(-1))
        pauses.append(governor.hold_seconds())
    assert 0 < pauses[0] < 0.05
    assert pauses[::50] == sorted(pauses[::50]) and pauses[-1] > 2 * pauses[0]
    assert sum(pauses) < 15  # 300 of them in a row cost seconds, not minutes
    governor.observe(answer(200, X_RateLimit_Limit="1000", X_RateLimit_Remaining="150",
                            X_RateLimit_Reset=str(int(time.time()) + 5)))
    governor._blocked_until = 0.0  # noqa: SLF001
    governor.observe(refused(-1))
    assert governor.hold_seconds() == pytest.approx(pauses[0], abs=0.01)


def test_no_header_at_all_is_a_due_reset() -> None:
    governor = RateGovernor()
    governor.observe(answer(429))
    assert 0 < governor.hold_seconds() < 0.05


def test_a_429_does_not_teach_the_window_budget() -> None:
    governor = RateGovernor()
    governor.observe(refused(-1))
    # Remaining 0 on a refusal says nothing of the window's size: no pacing from it.
    assert governor.stats()["window_limit"] is None
    assert governor.stats()["throttled"] == 1
