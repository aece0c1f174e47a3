"""The budget is read from Sforce-Limit-Info whatever suffixes the org adds (real sockets).

Real orgs add ``; per-app-api-usage=N/M(appName=...)`` or ``; api-bursts=N/M`` after the
org-wide usage (Salesforce's "Limit Info Header" page), and a strict parser that misses the
usage silently falls back to ``/limits`` or, worse, paces by the per-app figures.
"""

from __future__ import annotations

import pytest

from .target_sf_testlib import Harness, lead, lead_messages

TEMPLATES = [
    "api-usage={used}/{max}; per-app-api-usage={used}/250(appName=sample-connected-app)",
    "api-usage={used}/{max}; api-bursts=1/750",
    # The per-app part first, with generous figures that must not be taken for the org's.
    "per-app-api-usage=1/5000(appName=sample-connected-app); api-usage={used}/{max}",
]


@pytest.mark.parametrize("template", TEMPLATES, ids=["per-app", "api-bursts", "per-app-first"])
def test_budget_comes_from_the_header_with_a_suffix(harness: Harness, template: str) -> None:
    harness.sf.admin("POST", "config", {"limit_info_format": template})
    harness.sf.admin("POST", "limits", {"daily_api_limit": 1000, "used": 996})
    harness.sf.admin("POST", "stats/reset")
    records = [lead(i) for i in range(600)]
    result = harness.run(
        lead_messages(records, {"s": 1}), api_budget=0.5, transport="rest", use_composite=False
    )
    assert result.returncode == 0, result.stderr
    s = result.stream("Lead")
    result.assert_accounted("Lead", 600)
    # 4 requests were left at the start, half of them for this run: 2 calls (the describe and
    # one Collections upsert of 200), so the rest waits for tomorrow. Per-app figures taken
    # for the org's would have let the run write all 600.
    assert harness.api_calls() <= 2
    assert s["created"] <= 200 and s["waiting"] == 600 - s["created"], s
    assert result.summary["waiting_by_reason"][0]["code"] == "BUDGET_EXHAUSTED"
    # The figures came from the header: the run never needed GET /limits.
    assert "GET /limits" not in harness.sf.stats()["by_endpoint"]
