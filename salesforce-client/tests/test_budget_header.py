"""Reading Sforce-Limit-Info, whatever follows the usage, and the allowance it implies."""

from __future__ import annotations

import pytest
from salesforce_client.budget import ApiBudget, BudgetExhausted, parse_limit_info


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=25/15000", (25, 15000)),
        ("api-usage=25/15000; api-bursts=3/100", (25, 15000)),
        ("api-usage=7/100000;per-app-api-usage=2/500(appName=x)", (7, 100000)),
        ("per-app-api-usage=2/500(appName=x); api-usage=9/1000", (9, 1000)),
        ("API-USAGE = 1 / 2", (1, 2)),
        ("", None),
        (None, None),
        ("api-bursts=3/100", None),
    ],
)
def test_parse_limit_info(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_limit_info(header) == expected


def test_allowance_is_a_share_of_what_remains_and_respects_others() -> None:
    budget = ApiBudget(0.5)
    budget.charge(1)
    budget.observe(used=91, maximum=100)  # 9 left after our first call: 10 at start
    assert budget.allowance == 5
    for _ in range(4):
        budget.charge(1)
    with pytest.raises(BudgetExhausted):
        budget.charge(1)
    other = ApiBudget(0.5)
    other.charge(1)
    other.observe(used=1, maximum=101)  # 101 at start: 50 for us, 51 kept for others
    other.observe(used=60, maximum=101)  # someone else spent 59 meanwhile
    assert other.left() == 0  # the org is below what this run promised to leave
    assert not other.can_spend(1)
