"""Every local validation rejection, with Salesforce's code and no API call for the record."""

from __future__ import annotations

import json

import pytest
from target_sf_testlib import Harness, lead, lead_messages

CASES = [
    ("REQUIRED_FIELD_MISSING", {"LastName": None}),
    ("REQUIRED_FIELD_MISSING", {"Company": ""}),
    ("STRING_TOO_LONG", {"LastName": "x" * 81}),
    ("INVALID_EMAIL_ADDRESS", {"Email": "not-an-email"}),
    ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", {"Status": "Sleeping"}),
    ("INVALID_FIELD", {"Favourite_Colour__c": "blue"}),
    ("NUMBER_OUTSIDE_VALID_RANGE", {"Intercom_Engagement_Score__c": 1000}),
]


@pytest.fixture
def lead_schema_with_extra() -> list[dict]:
    msgs = lead_messages([])
    msgs[0]["schema"]["properties"]["Favourite_Colour__c"] = {"type": ["string", "null"]}
    return msgs


def test_each_invalid_record_is_rejected_locally(harness: Harness,
                                                 lead_schema_with_extra: list[dict]) -> None:
    msgs = list(lead_schema_with_extra)
    for i, (_code, change) in enumerate(CASES):
        rec = lead(i)
        rec.update(change)
        msgs.append({"type": "RECORD", "stream": "Lead", "record": rec})
    msgs.append({"type": "RECORD", "stream": "Lead", "record": lead(99)})
    result = harness.run(msgs)
    assert result.returncode == 0, result.stderr
    result.assert_accounted("Lead", len(CASES) + 1)
    assert result.stream("Lead")["rejected"] == len(CASES)
    assert result.stream("Lead")["created"] == 1
    by_ext = {r["external_id"]: r for r in result.rejects}
    for i, (code, _change) in enumerate(CASES):
        rej = by_ext[f"ic_{i}"]
        assert rej["error_code"] == code, rej
        assert rej["message"]
        assert rej["stream"] == "Lead" and rej["sobject"] == "Lead"
        assert rej["record"]["Intercom_Contact_ID__c"] == f"ic_{i}"
        assert {"time", "stream", "sobject", "external_id", "error_code", "message",
                "record"} <= set(rej)
    for text in (result.stderr, (harness.tmp / "rejects.jsonl").read_text(),
                 json.dumps(result.summary)):
        for secret in ("emulator-secret", "emulator-refresh-token", "Bearer "):
            assert secret not in text
    # The emulator never saw the invalid records: one Lead exists and one write call was made.
    assert len(harness.query("SELECT Id FROM Lead")) == 1
    assert harness.write_calls(composite=False) == 1  # the lookups went by Composite


def test_only_invalid_records_cost_no_write(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1, Email="@@"), lead(2, LastName=None)]))
    assert result.stream("Lead")["rejected"] == 2
    assert harness.write_calls() == 0


def test_record_without_external_id_value_is_rejected(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1, Intercom_Contact_ID__c=None), lead(2)]))
    result.assert_accounted("Lead", 2)
    assert result.rejects[0]["error_code"] == "REQUIRED_FIELD_MISSING"


def test_unknown_sobject_rejects_with_clear_reason(harness: Harness) -> None:
    msgs = [{"type": "SCHEMA", "stream": "Nonsense__c", "key_properties": ["k"],
             "schema": {"type": "object", "properties": {"k": {"type": "string"}}}},
            {"type": "RECORD", "stream": "Nonsense__c", "record": {"k": "1"}}]
    result = harness.run(msgs)
    assert result.returncode == 0, result.stderr
    assert result.rejects[0]["error_code"] == "INVALID_TYPE"
    assert "Nonsense__c" in result.rejects[0]["message"]


def test_bad_datetime_is_rejected_locally(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1, Intercom_Last_Seen__c="yesterday"), lead(2)]))
    result.assert_accounted("Lead", 2)
    assert [r["error_code"] for r in result.rejects] == ["INVALID_TYPE_ON_FIELD_IN_RECORD"]
    assert harness.write_calls(composite=False) == 1  # the lookups went by Composite
