"""The retry policy on a fake clock: 429s waited out by the governor, other failures bounded."""

from __future__ import annotations

import logging
import typing as t

import pytest
import requests
from intercom_client.errors import (
    Advice,
    AuthError,
    RetriesExhaustedError,
    check_response,
)
from intercom_client.governor import RateGovernor
from intercom_client.retry import Retrier, RetryPolicy

from .ic_fakes import FakeClock, answer, refused

REQUEST = requests.Request("GET", "https://api.intercom.io/admins?x=secret").prepare()


class ScriptedIntercom:
    """Answers one scripted reply per request, through the governor (as GovernedSession does).

    A script item is a response, an exception to raise, or a callable making either from the
    clock; the last item repeats.
    """

    def __init__(self, clock: FakeClock, governor: RateGovernor, script: list[t.Any]) -> None:
        self.clock = clock
        self.governor = governor
        self.script = script
        self.sent_at: list[float] = []

    def send(self) -> requests.Response:
        ticket = self.governor.acquire()
        self.sent_at.append(self.clock.now)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if callable(item):
            item = item(self.clock)
        if isinstance(item, BaseException):
            raise item
        self.governor.observe(item, ticket)
        check_response(item)
        return item


def setup(script: list[t.Any], **policy: t.Any) -> tuple[FakeClock, Retrier, ScriptedIntercom]:
    clock = FakeClock()
    governor = RateGovernor(clock=clock.monotonic, wall=clock.wall, sleep=clock.sleep)
    retrier = Retrier(
        governor,
        RetryPolicy(
            clock=clock.monotonic, sleep=clock.sleep, jitter=lambda low, high: high, **policy
        ),
        Advice(runs="other runs of this tap", rerun="Run the sync again later"),
    )
    return clock, retrier, ScriptedIntercom(clock, governor, script)


def ok(clock: FakeClock) -> requests.Response:
    return answer(
        200,
        X_RateLimit_Limit="167",
        X_RateLimit_Remaining="150",
        X_RateLimit_Reset=str(int(clock.wall()) + 10),
    )


def test_300_rate_limited_answers_in_a_row_are_waited_out(caplog: pytest.LogCaptureFixture) -> None:
    # Far more 429s than max_retries; their reset is already due.
    script = [lambda c: refused(c, -1)] * 300 + [ok]
    clock, retrier, intercom = setup(script, max_retries=2)
    with caplog.at_level(logging.INFO):
        response = retrier.call(intercom.send, REQUEST)
    assert response.status_code == 200
    assert len(intercom.sent_at) == 301
    assert "GET /admins went through after 300 answers 429" in caplog.text
    assert "secret" not in caplog.text
    # The pauses after due resets grow, but 300 of them cost seconds, not minutes.
    assert 3 < clock.now < 15


def test_a_429_waits_for_the_reset_and_for_retry_after() -> None:
    clock, retrier, intercom = setup([lambda c: refused(c, 2), ok])
    retrier.call(intercom.send, REQUEST)
    # X-RateLimit-Reset was int(now) + 2: 1.5 s away, and 0.1 s is kept after it.
    assert intercom.sent_at[1] - intercom.sent_at[0] == pytest.approx(1.6)
    clock, retrier, intercom = setup([lambda c: refused(c, 0, Retry_After="2"), ok])
    retrier.call(intercom.send, REQUEST)
    assert intercom.sent_at[1] - intercom.sent_at[0] == pytest.approx(2.1)


def test_rate_limit_stops_after_max_seconds_with_what_to_do() -> None:
    clock, retrier, intercom = setup([lambda c: refused(c, -1)], max_seconds=3, max_retries=2)
    with pytest.raises(RetriesExhaustedError) as raised:
        retrier.call(intercom.send, REQUEST)
    message = str(raised.value)
    assert message.startswith("Intercom's rate limit refused GET /admins ")
    assert "max_retry_seconds (3 s)" in message
    assert "rate_limit_share" in message and "same access token" in message
    assert "other runs of this tap" in message and "Run the sync again later" in message
    assert "having trouble" not in message
    assert len(intercom.sent_at) > 3  # stopped by time, not by max_retries
    assert clock.now <= 3


def test_max_retries_bounds_server_errors_with_backoff() -> None:
    clock, retrier, intercom = setup([answer(503)], max_retries=2, max_seconds=120)
    with pytest.raises(RetriesExhaustedError) as raised:
        retrier.call(intercom.send, REQUEST)
    assert len(intercom.sent_at) == 3
    assert "kept failing on GET /admins (last answer 503)" in str(raised.value)
    assert "after 3 failed attempts" in str(raised.value)
    # Exponential waits (jitter at its top here): 1 s, then 2 s.
    assert clock.slept == [1.0, 2.0]


def test_max_seconds_bounds_the_backoff_too() -> None:
    clock, retrier, intercom = setup([answer(500)], max_retries=20, max_seconds=10)
    with pytest.raises(RetriesExhaustedError, match="over 10 s"):
        retrier.call(intercom.send, REQUEST)
    assert clock.now == pytest.approx(10)
    assert max(clock.slept) <= 30


def test_dropped_connections_are_retried() -> None:
    drop = requests.exceptions.ConnectionError("reset by peer")
    clock, retrier, intercom = setup([drop, drop, ok])
    retries: list[dict] = []
    response = retrier.call(intercom.send, REQUEST, on_retry=retries.append)
    assert response.status_code == 200
    assert [r["tries"] for r in retries] == [1, 2]
    assert [r["wait"] for r in retries] == [1.0, 2.0]


def test_a_fatal_answer_is_not_retried() -> None:
    clock, retrier, intercom = setup([answer(401)])
    with pytest.raises(AuthError):
        retrier.call(intercom.send, REQUEST)
    assert len(intercom.sent_at) == 1 and clock.now == 0


def test_each_attempt_is_counted() -> None:
    calls: list[int] = []
    clock, retrier, intercom = setup([answer(502), ok])
    retrier.call(intercom.send, REQUEST, on_attempt=lambda: calls.append(1))
    assert len(calls) == 2


def test_the_policy_reads_the_settings() -> None:
    policy = RetryPolicy.from_config({"max_retries": 0, "max_retry_seconds": 5})
    assert (policy.max_tries, policy.max_seconds) == (1, 5.0)
    policy = RetryPolicy.from_config({})
    assert (policy.max_tries, policy.max_seconds) == (9, 300.0)
