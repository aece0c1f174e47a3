"""The Composite API: a batch's lookups in one call, up to 1,000 records written in one call."""

from __future__ import annotations

from .target_sf_testlib import Harness, lead, lead_messages, record_msg, schema_msg


def test_500_leads_with_matching_cost_two_calls(harness: Harness) -> None:
    [_, cid] = harness.insert(
        "Contact",
        [
            {"LastName": "Warm", "Email": "warm@example.com"},
            {"LastName": "Known", "Email": "person7@example.com"},
        ],
    )
    # Lead ic_0 exists; the Lead and Contact describes are cached.
    harness.run(lead_messages([lead(0), lead("w", Email="warm@example.com")]))
    harness.sf.reset_stats()
    records = [lead(i, Title="New") for i in range(500)]
    result = harness.run(lead_messages(records, {"s": 1}))
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", 500)
    stats = harness.sf.stats()
    assert stats["api_calls"] == 2, stats["by_endpoint"]
    assert stats["by_endpoint"].get("POST /composite") == 2, stats["by_endpoint"]
    assert result.summary["objects"]["Lead"] == {
        "created": 498,
        "updated": 1,
        "unchanged": 0,
        "rejected": 0,
        "waiting": 0,
    }
    assert result.summary["objects"]["Contact"]["updated"] == 1
    contact = harness.query(f"SELECT Intercom_Contact_ID__c, Title FROM Contact WHERE Id = '{cid}'")
    assert (contact[0]["Intercom_Contact_ID__c"], contact[0]["Title"]) == ("ic_7", "New")
    assert len(harness.query("SELECT Id FROM Lead")) == 499
    assert result.states == [{"s": 1}]


def test_failures_inside_a_composite_call_keep_the_others_outcomes(harness: Harness) -> None:
    harness.run(lead_messages([lead(1000)]))  # cache the describe
    harness.sf.reset_stats()
    # The first 3 record writes fail server-side (row locks) and are not retried here.
    harness.sf.admin("POST", "faults", {"kind": "lock_row", "count": 3})
    result = harness.run(lead_messages([lead(i) for i in range(450)], {"s": 1}), max_retries=0)
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", 450)
    s = result.stream("Lead")
    assert (s["created"], s["waiting"], s["rejected"]) == (447, 3, 0), s
    assert {e.code for e in result.waiting().entries.values()} == {"UNABLE_TO_LOCK_ROW"}
    assert harness.sf.stats()["api_calls"] == 2, harness.sf.stats()["by_endpoint"]
    assert len(harness.query("SELECT Id FROM Lead")) == 448
    # With retries, row locks inside a Composite call are retried per record.
    harness.sf.admin("POST", "faults", {"kind": "lock_row", "count": 2})
    again = harness.run(lead_messages([lead(i) for i in range(450, 900)]))
    # ... and the three that waited are written too, without being sent again.
    assert again.stream("Lead")["retried"] == 3, again.summary
    assert again.stream("Lead")["created"] == 453, again.summary
    assert len(harness.query("SELECT Id FROM Lead")) == 901
    assert again.rejects == []


def test_a_refused_composite_request_falls_back_to_separate_calls(harness: Harness) -> None:
    # The lookups' Composite request is refused as a whole: they go as separate queries.
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 400, "count": 1, "path": "/services/data/v62.0/composite"},
    )
    result = harness.run(lead_messages([lead(i) for i in range(450)], {"s": 1}))
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 450, result.summary
    assert result.summary["api_calls_by_kind"]["query"] >= 2
    assert result.states == [{"s": 1}]


def test_use_composite_false_uses_separate_calls(harness: Harness) -> None:
    harness.run(lead_messages([lead(0)]))
    harness.sf.reset_stats()
    result = harness.run(lead_messages([lead(i) for i in range(1, 501)]), use_composite=False)
    result.assert_accounted("Lead", 500)
    assert result.stream("Lead")["created"] == 500
    by_endpoint = harness.sf.stats()["by_endpoint"]
    assert "POST /composite" not in by_endpoint
    kinds = result.summary["api_calls_by_kind"]
    assert kinds["collections"] == 3 and "composite" not in kinds, kinds


def test_a_server_without_composite_falls_back_once(harness: Harness) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 404, "count": 1, "path": "/services/data/v62.0/composite"},
    )
    leads = [record_msg("Lead", lead(i)) for i in range(450)]
    result = harness.run([schema_msg("Lead"), *leads])
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", 450)
    assert result.stream("Lead")["created"] == 450
    kinds = result.summary["api_calls_by_kind"]
    assert kinds["composite"] == 1 and kinds["collections"] == 3 and kinds["query"] >= 2, kinds
    assert result.stderr.count("/composite (an older org or a proxy?)") == 1
