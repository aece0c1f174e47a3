"""The one retry policy, with an injected sleep and jitter: no real waits."""

from __future__ import annotations

import pytest
from salesforce_client.retry import RetryPolicy


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=8, backoff_base=1.0, random=lambda: 1.0)  # top of the jitter
    assert [policy.delay(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.5), (0.5, 0.75), (0.999, 0.9995)])
def test_jitter_scales_a_delay_into_half_to_full(draw: float, factor: float) -> None:
    policy = RetryPolicy(backoff_base=2.0, random=lambda: draw)
    assert policy.delay(2) == pytest.approx(8.0 * factor)


def test_wait_sleeps_the_delay_and_counts_it() -> None:
    slept: list[float] = []
    policy = RetryPolicy(backoff_base=0.5, sleep=slept.append, random=lambda: 0.0)
    policy.wait(0)
    policy.wait(3)
    assert slept == [0.25, 2.0]
    assert policy.waited == pytest.approx(2.25)


def test_gives_up_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert [policy.gives_up(n) for n in range(4)] == [False, False, True, True]
    assert RetryPolicy(max_retries=0).gives_up(0)


def test_from_config_reads_the_settings() -> None:
    policy = RetryPolicy.from_config({"max_retries": "3", "retry_backoff_seconds": "0.2"})
    assert (policy.max_retries, policy.backoff_base, policy.cap) == (3, 0.2, 30.0)
    default = RetryPolicy.from_config({})
    assert (default.max_retries, default.backoff_base) == (5, 1.0)
