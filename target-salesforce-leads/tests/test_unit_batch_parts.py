"""The batch's pure parts, in process: look-up packing, spools, validation, ledger, halt, caches."""

from __future__ import annotations

import logging
import re
import typing as t
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from salesforce_client.budget import BudgetExhausted
from salesforce_client.errors import RetriesExhausted
from target_salesforce_leads.connector import ID_CACHE_SIZE, SalesforceConnector
from target_salesforce_leads.halting import Halt
from target_salesforce_leads.ledger import NotWritten, RunLedger
from target_salesforce_leads.lookups import plan_queries
from target_salesforce_leads.report import RunReport
from target_salesforce_leads.runstate import RunState
from target_salesforce_leads.spool import SAME, Spool, routed_reader
from target_salesforce_leads.validation import ObjectSchema, Rejection, validate
from target_salesforce_leads.waiting import StreamInfo

LOG = logging.getLogger("test")

# -- look-up packing -------------------------------------------------------------------------


def _values_in(query: str) -> list[str]:
    return re.findall(r"'((?:[^'\\]|\\.)*)'", query)


@pytest.mark.parametrize("max_length", [600, 2000, 15000])
def test_lookups_pack_every_value_once_within_the_url_limit(max_length: int) -> None:
    exts = [f"ext-{i:05d}-{'x' * (i % 17)}" for i in range(700)]
    emails = {f"p{i}@example.com" for i in range(300)}
    queries = plan_queries(
        "Lead", ["Email"], {"Ext__c": exts, "Email": emails}, max_length=max_length
    )
    assert queries and all(
        q.startswith("SELECT Id, Email, Ext__c FROM Lead WHERE ") for q in queries
    )
    # A GET request line holds the URL-encoded query: each one fits the limit.
    assert max(len(quote_plus(q)) for q in queries) <= max_length
    found = [v for q in queries for v in _values_in(q)]
    assert sorted(found) == sorted([e.lower() for e in exts] + sorted(emails))
    if max_length == 15000:
        assert len(queries) <= 3  # packed, not one query per value


def test_lookups_escape_quotes_and_drop_empty_values() -> None:
    (query,) = plan_queries("Lead", [], {"Email": ["o'neil@x.io", "", None, "A@X.IO"]})
    assert "'o\\'neil@x.io'" in query and "'a@x.io'" in query
    assert plan_queries("Lead", [], {"Email": ["", None]}) == []


# -- spools ----------------------------------------------------------------------------------


def test_a_spool_reads_back_each_line_by_handle_in_any_order() -> None:
    spool = Spool()
    try:
        lines = [f'{{"n": {i}, "pad": "{"y" * (i * 37 % 500)}"}}\n'.encode() for i in range(400)]
        handles = [spool.append(line) for line in lines]
        assert [spool.read(h) for h in reversed(handles)] == lines[::-1]
        spool.append(b"after a read\n")  # appends still go to the end
        read = spool.reader(block=1024)
        assert [read(h) for h in handles] == lines
    finally:
        spool.close()


def test_a_routed_reference_reads_the_copy_or_the_batch_line() -> None:
    batch, routed = Spool(), Spool()
    try:
        original = batch.append(b'{"a": 1}')
        copy = routed.append(b'{"a": 1, "WhoId": "00Q"}')
        read = routed_reader(routed, batch)
        assert read(original | SAME) == b'{"a": 1}'
        assert read(copy) == b'{"a": 1, "WhoId": "00Q"}'
    finally:
        batch.close()
        routed.close()


# -- validation by field type ----------------------------------------------------------------

ACCOUNT = ObjectSchema.from_describe(
    {
        "name": "Account",
        "fields": [
            {"name": "Name", "type": "string", "length": 5, "createable": True, "nillable": False},
            {"name": "Email__c", "type": "email", "length": 80, "createable": True},
            {
                "name": "Tier__c",
                "type": "picklist",
                "restrictedPicklist": True,
                "createable": True,
                "picklistValues": [{"value": "Gold"}, {"value": "Old", "active": False}],
            },
            {"name": "Seats__c", "type": "double", "precision": 4, "scale": 1, "createable": True},
            {"name": "Since__c", "type": "date", "createable": True},
            {"name": "Seen__c", "type": "datetime", "createable": True},
            {"name": "Vip__c", "type": "boolean", "createable": True},
            {"name": "Formula__c", "type": "string", "createable": False, "updateable": False},
        ],
    }
)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"Name": "Acme"}, None),
        ({"Name": "Ac🙂me"}, "STRING_TOO_LONG"),  # UTF-16: the emoji counts twice
        ({"Name": None}, "REQUIRED_FIELD_MISSING"),
        ({"Nope__c": 1}, "INVALID_FIELD"),
        ({"Formula__c": "x"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Email__c": "not an email"}, "INVALID_EMAIL_ADDRESS"),
        ({"Tier__c": "Gold"}, None),
        ({"Tier__c": "Old"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Seats__c": 999.94}, None),
        ({"Seats__c": 1000}, "NUMBER_OUTSIDE_VALID_RANGE"),
        ({"Seats__c": "many"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"Since__c": "2026-12-02"}, None),
        ({"Since__c": "02/12/2026"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"Seen__c": "2026-12-02T10:00:00Z"}, None),
        ({"Seen__c": "2026-12-02"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"Vip__c": True}, None),
        ({"Vip__c": "yes"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"_adopt_by_email": True}, None),  # control properties are never written
    ],
)
def test_validation_gives_salesforces_code(record: dict[str, t.Any], code: str | None) -> None:
    rej = validate(record, ACCOUNT)
    assert (rej.code if rej else None) == code


def test_validation_of_an_insert_names_every_missing_required_field() -> None:
    rej = validate({"Email__c": "a@x.io"}, ACCOUNT, creating=True)
    assert rej == Rejection("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]")


# -- the ledger ------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> t.Iterator[RunLedger]:
    report = RunReport(
        str(tmp_path / "rejects.jsonl"),
        str(tmp_path / "summary.json"),
        str(tmp_path / "waiting.jsonl"),
        "run-1",
        str(tmp_path / "problems.jsonl"),
    )
    runstate = RunState("org")
    yield RunLedger(report, {"on_unwritable": "stop"}, "run-1", lambda: runstate)
    report.close()


INFO = StreamInfo({"type": "object", "properties": {}}, ["Ext__c"])


def _nw(key: str | None, code: str) -> NotWritten:
    return NotWritten("Lead", key, key, "Lead", Rejection(code, "why"), {"Ext__c": key})


def test_a_record_whose_cause_can_go_away_waits_and_leaves_once_written(
    ledger: RunLedger,
) -> None:
    ledger.not_written(_nw("a", "INVALID_CROSS_REFERENCE_KEY"), lambda: INFO)
    assert len(ledger.waiting) == 1 and ledger.report.totals()["waiting"] == 1
    ledger.settled_many("Lead", ["a"])
    assert len(ledger.waiting) == 0


def test_a_record_without_key_or_with_a_final_cause_is_rejected(ledger: RunLedger) -> None:
    ledger.not_written(_nw(None, "INVALID_CROSS_REFERENCE_KEY"), lambda: INFO)
    ledger.not_written(_nw("b", "DUPLICATES_DETECTED"), lambda: INFO)
    assert len(ledger.waiting) == 0 and ledger.report.totals()["rejected"] == 2


def test_a_configuration_problem_waits_and_is_named_once(ledger: RunLedger) -> None:
    for key in ("a", "b"):
        ledger.not_written(_nw(key, "INVALID_FIELD"), lambda: INFO)
    assert len(ledger.waiting) == 2
    assert ledger.report.config_problems == ["Lead: INVALID_FIELD: why"]


def test_the_waiting_list_is_bounded_by_max_waiting_records(ledger: RunLedger) -> None:
    ledger.config = {"max_waiting_records": 2}
    for key in ("a", "b", "c"):
        ledger.not_written(_nw(key, "UNABLE_TO_LOCK_ROW"), lambda: INFO)
    blob = ledger.bound_waiting()
    assert blob and len(ledger.waiting) == 2
    assert ledger.report.totals()["rejected"] == 1  # the oldest, WAITING_EXPIRED


def test_the_reject_share_counts_from_ten_rejects(ledger: RunLedger) -> None:
    ledger.report.received("Lead", 12)
    for i in range(9):
        ledger.not_written(_nw(f"r{i}", "DUPLICATES_DETECTED"), lambda: INFO)
    assert not ledger.reject_share_exceeded()  # 9 of 12: fewer than 10
    ledger.not_written(_nw("r9", "DUPLICATES_DETECTED"), lambda: INFO)
    assert ledger.reject_share_exceeded()


# -- halting ---------------------------------------------------------------------------------


def test_the_first_halt_reason_stays_and_failures_are_errors() -> None:
    halt = Halt()
    halt.record(BudgetExhausted("the budget is spent"), 5, LOG)
    assert halt.code == "BUDGET_EXHAUSTED" and not halt.is_error and halt.paragraph is None
    halt.record(RetriesExhausted("503 five times"), 3, LOG)
    assert halt.code == "BUDGET_EXHAUSTED" and halt.reason is not None
    assert "the budget is spent" in halt.reason
    assert halt.is_error and halt.paragraph is not None and "503 five times" in halt.paragraph


# -- the connector's caches (no call made) ----------------------------------------------------


def test_ids_written_are_known_case_insensitively_and_bounded() -> None:
    connector = SalesforceConnector({}, LOG, "test")
    connector.remember_id("Lead", "Ext__c", "A", "00Qa")
    todo = {"a": "A", "b": "b"}
    assert connector.known_ids("Lead", "EXT__C", todo) == {"a": "00Qa"}
    assert todo == {"b": "b"}
    for i in range(ID_CACHE_SIZE):
        connector.remember_id("Lead", "Ext__c", f"x{i}", "id")
    assert connector.known_ids("Lead", "Ext__c", {"a": "A"}) == {}  # the oldest went first
    assert connector.used_client is None  # nothing was sent


@pytest.mark.parametrize(
    ("config", "count", "bulk"),
    [
        ({}, 1999, False),
        ({}, 2000, True),
        ({"bulk_threshold": 10}, 10, True),
        ({"transport": "bulk"}, 1, True),
        ({"transport": "rest"}, 10**6, False),
    ],
)
def test_transport_by_count_and_setting(config: dict[str, t.Any], count: int, bulk: bool) -> None:
    assert SalesforceConnector(config, LOG, "test").use_bulk(count) is bulk
