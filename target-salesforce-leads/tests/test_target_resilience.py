"""Failures over real sockets: token expiry, 5xx, row locks, failed Bulk jobs, budget."""

from __future__ import annotations

from .target_sf_testlib import Harness, lead, lead_messages


def _token_calls(harness: Harness) -> int:
    return sum(n for ep, n in harness.sf.stats()["by_endpoint"].items() if "oauth2/token" in ep)


def test_token_expiring_in_the_middle_of_a_bulk_job(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "expire_tokens_after", "requests": 5})
    records = [lead(i) for i in range(50)]
    result = harness.run(lead_messages(records, {"s": 1}), transport="bulk")
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 50, result.summary
    result.assert_accounted("Lead", 50)
    assert _token_calls(harness) >= 2
    assert result.states == [{"s": 1}]
    assert len(harness.query("SELECT Id FROM Lead")) == 50


def test_5xx_bursts_are_retried(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "status", "status": 503, "count": 3})
    result = harness.run(lead_messages([lead(i) for i in range(20)], {"s": 1}))
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 20
    assert harness.sf.stats()["status_counts"].get("503") == 3
    assert result.states == [{"s": 1}]


def test_row_locks_are_retried(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "lock_row", "count": 2})
    result = harness.run(lead_messages([lead(i) for i in range(10)]))
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 10, result.summary
    assert len(harness.query("SELECT Id FROM Lead")) == 10


def test_failed_bulk_job_is_retried_once(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "bulk_fail", "count": 1})
    result = harness.run(lead_messages([lead(i) for i in range(30)]), transport="bulk")
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 30, result.summary
    result.assert_accounted("Lead", 30)


def test_bulk_job_failing_twice_leaves_its_records_waiting(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "bulk_fail", "count": 2})
    result = harness.run(lead_messages([lead(i) for i in range(30)], {"s": 1}), transport="bulk")
    assert result.returncode == 0, result.stderr
    s = result.stream("Lead")
    result.assert_accounted("Lead", 30)
    assert s["waiting"] == 30 and s["rejected"] == 0, s
    assert result.summary["status"] == "warning"
    waiting = result.waiting()
    assert {e.code for e in waiting.entries.values()} == {"BULK_JOB_FAILED"}
    # The waiting records are in the state, so the state may advance.
    assert result.states == [{"s": 1}]
    # The next run writes them, though the tap does not send them again.
    again = harness.run([{"type": "STATE", "value": {"s": 2}}], transport="bulk")
    assert again.returncode == 0, again.stderr
    assert again.stream("Lead")["retried"] == 30 and again.stream("Lead")["created"] == 30
    assert again.section()["waiting_count"] == 0
    assert len(harness.query("SELECT Id FROM Lead")) == 30


def test_budget_exhaustion_defers_and_withholds_state(harness: Harness) -> None:
    harness.sf.admin("POST", "limits", {"daily_api_limit": 1000, "used": 990})
    records = [lead(i) for i in range(600)]
    result = harness.run(
        lead_messages(records, {"s": 1}), api_budget=0.5, transport="rest", use_composite=False
    )
    assert result.returncode == 0, result.stderr  # a warning, not a failure
    s = result.stream("Lead")
    result.assert_accounted("Lead", 600)
    assert s["waiting"] > 0
    assert s["created"] + s["waiting"] == 600
    assert result.summary["status"] == "warning"
    assert result.summary["waiting_by_reason"][0]["code"] == "BUDGET_EXHAUSTED"
    assert result.states == []  # the tap must send the waiting records again
    assert "budget" in result.stderr
    limits = harness.sf.admin("POST", "query", {"q": "SELECT Id FROM Lead"})
    assert limits["totalSize"] == s["created"]
    # Next day: the rest is written (no state was kept, so the rest is sent again too).
    harness.sf.admin("POST", "limits", {"daily_api_limit": 100000, "used": 0})
    again = harness.run(lead_messages(records, {"s": 2}))
    assert again.stream("Lead")["created"] == s["waiting"]
    assert again.stream("Lead")["updated"] == s["created"]
    assert again.states == [{"s": 2}]
    assert len(harness.query("SELECT Id FROM Lead")) == 600


def test_retries_exhausted_defer_fail_the_run_and_withhold_state(harness: Harness) -> None:
    harness.sf.admin(
        "POST", "faults", {"kind": "status", "status": 503, "count": 1000, "path": "/services/data"}
    )
    result = harness.run(lead_messages([lead(i) for i in range(5)], {"s": 1}), max_retries=2)
    # The describe at start-up already fails: the run stops before any record, state untouched.
    assert result.returncode == 1
    assert result.summary["status"] == "failed"
    assert "Check Salesforce's status" in result.stderr
    assert result.states == []
    assert "emulator-secret" not in result.stderr
    assert "emulator-refresh-token" not in result.stderr


def test_salesforce_failing_mid_run_leaves_records_waiting_and_withholds_state(
    harness: Harness,
) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {"kind": "status", "status": 503, "count": 1000, "path": "/services/data/v62.0/composite"},
    )
    result = harness.run(lead_messages([lead(i) for i in range(5)], {"s": 1}), max_retries=2)
    assert result.returncode == 1
    result.assert_accounted("Lead", 5)
    assert result.stream("Lead")["waiting"] == 5
    assert result.summary["waiting_by_reason"][0]["code"] == "SALESFORCE_UNAVAILABLE"
    assert result.states == []  # the tap sends the five again
    harness.sf.admin("DELETE", "faults")
    again = harness.run(lead_messages([lead(i) for i in range(5)], {"s": 1}))
    assert again.returncode == 0 and again.stream("Lead")["created"] == 5


def test_revoked_refresh_token_fails_with_clear_message(harness: Harness) -> None:
    harness.sf.admin("POST", "tokens/revoke", {"refresh_token": "emulator-refresh-token"})
    result = harness.run(lead_messages([lead(1)], {"s": 1}))
    assert result.returncode == 2
    assert "refresh token" in result.stderr
    assert "emulator-refresh-token" not in result.stderr
    assert result.states == []


def test_budget_too_small_for_a_bulk_job_does_not_start_one(harness: Harness) -> None:
    harness.sf.admin("POST", "limits", {"daily_api_limit": 1000, "used": 990})
    result = harness.run(
        lead_messages([lead(i) for i in range(40)], {"s": 1}), transport="bulk", api_budget=0.5
    )
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", 40)
    assert result.stream("Lead")["waiting"] == 40
    assert not any("jobs/ingest" in ep for ep in harness.sf.stats()["by_endpoint"])
    assert result.states == []


def test_a_refused_collections_request_is_halved_until_the_culprit_is_alone(
    harness: Harness,
) -> None:
    harness.sf.admin(
        "POST",
        "faults",
        {
            "kind": "status",
            "status": 400,
            "count": 1,
            "path": "/services/data/v62.0/composite/sobjects",
        },
    )
    result = harness.run(lead_messages([lead(i) for i in range(20)], {"s": 1}))
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 20, result.summary
    # One refused call for 20 records, then the two halves.
    assert result.summary["api_calls_by_kind"]["collections"] == 3
    assert result.states == [{"s": 1}]


def test_dropped_connections_are_retried(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "drop", "count": 2})
    result = harness.run(lead_messages([lead(i) for i in range(10)], {"s": 1}))
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == 10
    assert harness.sf.stats()["status_counts"].get("dropped") == 2
    assert result.states == [{"s": 1}]


def test_row_locks_that_never_clear_lose_nothing(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "lock_row", "count": 1000})
    result = harness.run(lead_messages([lead(i) for i in range(6)], {"s": 1}), max_retries=1)
    result.assert_accounted("Lead", 6)
    s = result.stream("Lead")
    assert s["created"] == 0 and s["waiting"] == 6 and result.rejects == []
    assert {e.code for e in result.waiting().entries.values()} == {"UNABLE_TO_LOCK_ROW"}
    assert not harness.query("SELECT Id FROM Lead")
    harness.sf.admin("DELETE", "faults")
    again = harness.run([{"type": "STATE", "value": {"s": 2}}])
    assert again.stream("Lead")["created"] == 6, again.summary
    assert len(harness.query("SELECT Id FROM Lead")) == 6


def test_row_locks_on_bulk_rows_wait_and_are_written_next_run(harness: Harness) -> None:
    harness.sf.admin("POST", "faults", {"kind": "lock_row", "count": 4})
    result = harness.run(lead_messages([lead(i) for i in range(40)], {"s": 1}), transport="bulk")
    assert result.returncode == 0, result.stderr
    s = result.stream("Lead")
    assert (s["created"], s["waiting"], s["rejected"]) == (36, 4, 0), s
    assert {e.code for e in result.waiting().entries.values()} == {"UNABLE_TO_LOCK_ROW"}
    assert result.states == [{"s": 1}]
    again = harness.run([{"type": "STATE", "value": {"s": 2}}], transport="bulk")
    assert again.stream("Lead")["created"] == 4 and again.section()["waiting_count"] == 0
    assert len(harness.query("SELECT Id FROM Lead")) == 40
