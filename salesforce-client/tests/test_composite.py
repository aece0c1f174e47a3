"""sObject Collections writes: 200 records per request, 5 requests per Composite call."""

from __future__ import annotations

import typing as t

import pytest
from emulators.testing import EmulatorProcess
from salesforce_client.client import SalesforceClient
from salesforce_client.composite import CHUNK, Write, _chunks, write_collections, write_many
from salesforce_client.retry import RetryPolicy


class Outcomes:
    """Collects on_result calls by token."""

    def __init__(self) -> None:
        self.by_token: dict[t.Any, tuple[bool, bool, str | None, str]] = {}

    def __call__(self, token, ok, created, record_id, code, message) -> None:
        assert token not in self.by_token, f"{token} reported twice"
        self.by_token[token] = (ok, created, record_id, code)


def _leads(n: int, start: int = 0, **extra: t.Any) -> list[tuple[str, dict[str, t.Any]]]:
    return [
        (
            f"ic_{i}",
            {"Intercom_Contact_ID__c": f"ic_{i}", "LastName": f"P {i}", "Company": "Acme", **extra},
        )
        for i in range(start, start + n)
    ]


def _client(settings, sleeps, **overrides) -> SalesforceClient:
    cfg = settings(**overrides)
    client = SalesforceClient(cfg, retry=RetryPolicy.from_config(cfg, sleep=sleeps))
    client.limits()
    return client


def test_chunks_are_read_lazily_200_at_a_time() -> None:
    taken: list[int] = []

    def items() -> t.Iterator[tuple[int, dict[str, t.Any]]]:
        for i in range(450):
            taken.append(i)
            yield i, {}

    chunks = _chunks([Write("Lead", "upsert", "Ext__c", items(), lambda *a: None)])
    first = next(chunks)
    assert len(first[1]) == CHUNK and len(taken) == CHUNK
    assert [len(c) for _, c in chunks] == [200, 50]


def test_write_paths_and_bodies() -> None:
    upsert = Write("Lead", "upsert", "Intercom_Contact_ID__c", [], lambda *a: None)
    update = Write("Lead", "update", "Id", [], lambda *a: None)
    assert upsert.path == "composite/sobjects/Lead/Intercom_Contact_ID__c"
    assert update.path == "composite/sobjects"
    assert upsert.body([(1, {"LastName": "X"})]) == {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Lead"}, "LastName": "X"}],
    }


def test_1001_records_cost_two_calls(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps)
    org.reset_stats()
    outcomes = Outcomes()
    write_collections(client, "Lead", "upsert", "Intercom_Contact_ID__c", _leads(1001), outcomes)
    assert len(outcomes.by_token) == 1001
    assert all(ok and created and rid for ok, created, rid, _ in outcomes.by_token.values())
    stats = org.stats()
    assert stats["api_calls"] == 2  # 5 chunks in one /composite, the lone 1001st alone
    assert stats["by_endpoint"]["POST /composite"] == 1
    assert stats["record_writes"]["Lead created"] == 1001


def test_two_sobjects_share_composite_calls(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps)
    org.reset_stats()
    leads, contacts = Outcomes(), Outcomes()
    contact_items = [
        (f"c{i}", {"Intercom_Contact_ID__c": f"c{i}", "LastName": f"C {i}"}) for i in range(300)
    ]
    write_many(
        client,
        [
            Write("Lead", "upsert", "Intercom_Contact_ID__c", _leads(500), leads),
            Write("Contact", "upsert", "Intercom_Contact_ID__c", contact_items, contacts),
        ],
    )
    assert len(leads.by_token) == 500 and len(contacts.by_token) == 300
    assert org.stats()["api_calls"] == 1  # 3 + 2 chunks: one Composite call


def test_per_record_failures_keep_the_others(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps)
    items = _leads(399) + [
        (
            "bad",
            {
                "Intercom_Contact_ID__c": "bad",
                "LastName": "B",
                "Company": "A",
                "Email": "not-an-email",
            },
        )
    ]
    outcomes = Outcomes()
    write_collections(client, "Lead", "upsert", "Intercom_Contact_ID__c", items, outcomes)
    assert outcomes.by_token["bad"][0] is False
    assert outcomes.by_token["bad"][3] == "INVALID_EMAIL_ADDRESS"
    assert sum(1 for ok, *_ in outcomes.by_token.values() if ok) == 399


def test_row_locks_are_retried_with_the_policy(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps)
    org.admin("POST", "faults", {"kind": "lock_row", "count": 3})
    outcomes = Outcomes()
    write_collections(client, "Lead", "upsert", "Intercom_Contact_ID__c", _leads(600), outcomes)
    assert all(ok for ok, *_ in outcomes.by_token.values()) and len(outcomes.by_token) == 600
    assert len(sleeps.calls) == 1  # one resend of the locked records, after one backoff


def test_row_locks_that_never_clear_are_reported(settings, org: EmulatorProcess, sleeps) -> None:
    client = _client(settings, sleeps, max_retries=2)
    org.admin("POST", "faults", {"kind": "lock_row", "count": 1000})
    outcomes = Outcomes()
    write_collections(client, "Lead", "upsert", "Intercom_Contact_ID__c", _leads(3), outcomes)
    assert {code for _, _, _, code in outcomes.by_token.values()} == {"UNABLE_TO_LOCK_ROW"}
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize("use_composite", [True, False])
def test_without_composite_each_chunk_is_a_call(
    settings, org: EmulatorProcess, sleeps, use_composite: bool
) -> None:
    client = _client(settings, sleeps, use_composite=use_composite)
    org.reset_stats()
    outcomes = Outcomes()
    write_collections(client, "Lead", "upsert", "Intercom_Contact_ID__c", _leads(1000), outcomes)
    assert len(outcomes.by_token) == 1000
    assert org.stats()["api_calls"] == (1 if use_composite else 5)
