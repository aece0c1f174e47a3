"""The rolling 24-hour API budget of a long-lived target, with a fake clock."""

from __future__ import annotations

import logging

import pytest
from salesforce_client.budget import ApiBudget, RollingApiBudget, budget_for

DAY = 86_400.0


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def rolling(clock: FakeClock, share: float = 0.5, **kw) -> RollingApiBudget:
    return RollingApiBudget(share, clock=clock, sleep=clock.sleep, **kw)


def test_allowance_is_a_share_of_what_others_leave(clock):
    budget = rolling(clock)
    assert budget.left() is None  # no figures yet: calls go through
    budget.charge(1)
    # The header of that call: 1,001 used of 10,000, one of them ours.
    budget.observe(1001, 10_000)
    assert budget.others == 1000
    assert budget.left() == int(0.5 * 9000) - 1
    # Others spend more: this process's share of what is left shrinks with it.
    budget.observe(7001, 10_000)
    assert budget.left() == int(0.5 * 3000) - 1


def test_own_calls_stop_counting_after_24_hours(clock):
    budget = rolling(clock)
    budget.observe(0, 10_000)
    budget.charge(3000)
    clock.now += 3600
    budget.charge(2000)
    assert budget.left() == 0
    assert budget.spent_in_window() == 5000
    clock.now += DAY - 3600 + 60  # the first calls are now older than 24 h
    assert budget.spent_in_window() == 2000
    assert budget.left() == 3000
    clock.now += 3600
    assert budget.left() == 5000


def test_a_spent_budget_pauses_until_own_calls_leave_the_window(clock, caplog):
    budget = rolling(clock, probe_seconds=10 * DAY)
    budget.observe(0, 1000)
    budget.charge(500)
    start = clock.now
    clock.now += 600
    with caplog.at_level(logging.WARNING):
        budget.charge(1)
    # Waited until the minute of the first 500 calls was older than 24 h, not much longer.
    assert DAY <= clock.now - start <= DAY + 60
    assert budget.spent_in_window() == 1
    assert "Pausing" in caplog.text and "24 hours is spent" in caplog.text


def test_when_others_use_everything_one_call_probes_for_fresh_figures(clock):
    budget = rolling(clock, probe_seconds=900)
    budget.observe(9990, 10_000)  # others leave 10; half of that is ours
    budget.charge(5)
    assert budget.left() == 0
    waited = clock.now
    budget.charge(1)  # no own call leaves the window soon: a probe after 900 s
    assert clock.now - waited == pytest.approx(900)
    # Its answer shows others stopped: the allowance is back.
    budget.observe(6, 10_000)
    assert budget.left() == int(0.5 * 10_000) - 6


def test_the_run_budget_stays_as_it_was():
    """A scheduled run: allowance fixed from the first figures; spent means stop."""
    assert type(budget_for({"api_budget": 0.5})) is ApiBudget
    assert type(budget_for({"api_budget_window": "24h"})) is RollingApiBudget
    budget = budget_for({"api_budget": 0.5})
    budget.observe(0, 100)
    budget.charge(50)
    assert not budget.can_spend(1)
    from salesforce_client.budget import BudgetExhausted

    with pytest.raises(BudgetExhausted):
        budget.charge(1)
