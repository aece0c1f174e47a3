"""The client over real sockets against the Salesforce emulator: retries, renewal, Composite
queries, the describe cache and the budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulators.testing import EmulatorProcess
from salesforce_client.budget import ApiBudget, BudgetExhausted
from salesforce_client.client import SalesforceClient
from salesforce_client.errors import RetriesExhausted, SalesforceError
from salesforce_client.retry import RetryPolicy


def _client(settings, sleeps, tmp: Path | None = None, **overrides) -> SalesforceClient:
    cfg = settings(**overrides)
    return SalesforceClient(
        cfg,
        retry=RetryPolicy.from_config(cfg, sleep=sleeps),
        describe_dir=tmp,
        user_agent="sfclient-tests",
    )


def _seed(org: EmulatorProcess, n: int) -> None:
    records = [
        {"LastName": f"Person {i}", "Company": "Acme", "Intercom_Contact_ID__c": f"ic_{i}"}
        for i in range(n)
    ]
    org.admin("POST", "records/Lead", {"records": records})


def test_a_transient_503_is_retried_by_the_policy(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps, max_retries=3)
    client.limits()  # logged in, figures known
    org.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 2, "path": "/services/data"}
    )
    assert client.request("GET", "limits", kind="limits").status_code == 200
    assert len(sleeps.calls) == 2
    assert 0.5 <= sleeps.calls[0] < 1.0 and 1.0 <= sleeps.calls[1] < 2.0
    assert client.calls_by_kind["limits"] == 4  # 1 + (2 refused + 1 answered)


def test_retries_run_out(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps, max_retries=2)
    client.limits()
    org.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 9, "path": "/services/data"}
    )
    with pytest.raises(RetriesExhausted, match="kept failing with 503 .* after 3 attempts"):
        client.request("GET", "limits")
    assert len(sleeps.calls) == 2


def test_a_client_error_is_not_retried(settings, sleeps) -> None:
    client = _client(settings, sleeps)
    with pytest.raises(SalesforceError) as info:
        list(client.query("SELECT Nope__c FROM Lead"))
    assert info.value.status == 400 and info.value.code
    assert sleeps.calls == []


def test_an_expired_session_is_renewed_once(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps)
    client.limits()
    assert client.auth.token_requests == 1
    org.admin("POST", "tokens/expire")
    client.limits()
    assert client.auth.token_requests == 2
    assert sleeps.calls == []


def test_query_many_packs_five_queries_per_composite_call(
    settings, org: EmulatorProcess, sleeps
) -> None:
    _seed(org, 7)
    client = _client(settings, sleeps)
    client.limits()
    org.reset_stats()
    soqls = [f"SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_{i}'" for i in range(7)]
    soqls.append("SELECT Nope__c FROM Lead")
    results = client.query_many(soqls)
    assert [len(r) for r in results[:7] if isinstance(r, list)] == [1] * 7
    assert isinstance(results[7], SalesforceError) and results[7].status == 400
    stats = org.stats()
    assert stats["by_endpoint"].get("POST /composite") == 2 and stats["api_calls"] == 2
    assert client.composite_calls(8) == 2


def test_query_many_without_composite_goes_one_by_one(
    settings, org: EmulatorProcess, sleeps
) -> None:
    _seed(org, 3)
    client = _client(settings, sleeps, use_composite=False)
    client.limits()
    org.reset_stats()
    results = client.query_many(
        [f"SELECT Id FROM Lead WHERE Intercom_Contact_ID__c = 'ic_{i}'" for i in range(3)]
    )
    assert [len(r) for r in results if isinstance(r, list)] == [1, 1, 1]
    assert org.stats()["api_calls"] == 3 and client.composite_calls(3) == 3


def test_the_describe_is_cached_on_disk_between_clients(
    settings, org: EmulatorProcess, sleeps, tmp_path: Path
) -> None:
    first = _client(settings, sleeps, tmp_path)
    body, cached = first.describe("Lead")
    assert not cached and body["name"] == "Lead"
    assert first.describe("Lead") == (body, False)  # in memory: no second call
    assert first.calls_by_kind["describe"] == 1
    second = _client(settings, sleeps, tmp_path)
    again, cached = second.describe("Lead")
    assert cached and again == body and "describe" not in second.calls_by_kind
    second.forget_describe("Lead")
    third = _client(settings, sleeps, tmp_path)
    assert third.describe("Lead")[1] is False and third.calls_by_kind["describe"] == 1


def test_no_folder_or_no_ttl_means_no_disk(settings, sleeps, tmp_path: Path) -> None:
    _client(settings, sleeps, tmp_path, describe_cache_seconds=0).describe("Lead")
    _client(settings, sleeps, None).describe("Lead")
    assert list(tmp_path.iterdir()) == []


def test_the_budget_stops_calls_past_the_allowance(settings, org: EmulatorProcess, sleeps) -> None:
    org.admin("POST", "limits", {"daily_api_limit": 100, "used": 90})
    cfg = settings()
    client = SalesforceClient(
        cfg, budget=ApiBudget(0.5), retry=RetryPolicy.from_config(cfg, sleep=sleeps)
    )
    client.limits()  # 10 requests remained before this first call: the run may spend 5
    assert client.budget.allowance == 5
    for _ in range(4):
        client.limits()
    with pytest.raises(BudgetExhausted, match="5 of 5 calls allowed"):
        client.limits()
    assert client.api_calls == 5 and org.stats()["api_calls"] == 5
