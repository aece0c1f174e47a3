"""Every local validation rejection, with Salesforce's code and no API call for the record."""

from __future__ import annotations

import json

from .target_sf_testlib import Harness, lead, lead_messages

CASES = [
    ("REQUIRED_FIELD_MISSING", {"LastName": None}),
    ("REQUIRED_FIELD_MISSING", {"Company": ""}),
    ("STRING_TOO_LONG", {"LastName": "x" * 81}),
    ("INVALID_EMAIL_ADDRESS", {"Email": "not-an-email"}),
    ("NUMBER_OUTSIDE_VALID_RANGE", {"Intercom_Engagement_Score__c": 1000}),
]


def test_each_invalid_record_is_rejected_locally(harness: Harness) -> None:
    msgs = lead_messages([])
    for i, (_code, change) in enumerate(CASES):
        rec = lead(i)
        rec.update(change)
        msgs.append({"type": "RECORD", "stream": "Lead", "record": rec})
    msgs.append({"type": "RECORD", "stream": "Lead", "record": lead(99)})
    # A value the org's restricted picklist lacks: the org may gain it, so the record waits.
    msgs.append({"type": "RECORD", "stream": "Lead", "record": lead(98, Status="Sleeping")})
    msgs.append({"type": "STATE", "value": {"s": 1}})
    result = harness.run(msgs)
    # The org lacks a picklist value: a configuration problem, exit 2, the record kept waiting.
    assert result.returncode == 2, result.stderr
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in result.stderr
    result.assert_accounted("Lead", len(CASES) + 2)
    assert result.stream("Lead")["rejected"] == len(CASES)
    assert result.stream("Lead")["waiting"] == 1
    assert result.stream("Lead")["created"] == 1
    assert [(e.external_id, e.code) for e in result.waiting().entries.values()] == [
        ("ic_98", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    ]
    assert result.states == [{"s": 1}]
    by_ext = {r["external_id"]: r for r in result.rejects}
    for i, (code, _change) in enumerate(CASES):
        rej = by_ext[f"ic_{i}"]
        assert rej["error_code"] == code, rej
        assert rej["message"]
        assert rej["stream"] == "Lead" and rej["sobject"] == "Lead"
        assert rej["record"]["Intercom_Contact_ID__c"] == f"ic_{i}"
        assert {
            "time",
            "run_id",
            "stream",
            "sobject",
            "external_id",
            "error_code",
            "message",
            "record",
        } <= set(rej)
        assert rej["run_id"] == result.summary["run_id"]
    for text in (
        result.stderr,
        (harness.tmp / "rejects.jsonl").read_text(),
        json.dumps(result.summary),
    ):
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


def test_unknown_sobject_stops_before_any_record(harness: Harness) -> None:
    msgs = [
        {
            "type": "SCHEMA",
            "stream": "Nonsense__c",
            "key_properties": ["k"],
            "schema": {"type": "object", "properties": {"k": {"type": "string"}}},
        },
        {"type": "RECORD", "stream": "Nonsense__c", "record": {"k": "1"}},
        {"type": "STATE", "value": {"s": 1}},
    ]
    result = harness.run(msgs)
    assert result.returncode == 2, result.stderr
    assert "Nonsense__c" in result.stderr and "does not exist" in result.stderr
    assert result.raw_states == [] and result.summary["status"] == "failed"


def test_unknown_field_stops_before_any_record(harness: Harness) -> None:
    msgs = lead_messages([lead(1, Favourite_Colour__c="blue"), lead(2)], {"s": 1})
    msgs[0]["schema"]["properties"]["Favourite_Colour__c"] = {"type": ["string", "null"]}
    result = harness.run(msgs)
    assert result.returncode == 2, result.stderr
    # What is wrong and the Setup step that fixes it, before any record was handled.
    assert "Lead.Favourite_Colour__c" in result.stderr and "Setup > Object Manager" in result.stderr
    assert result.raw_states == []  # bookmarks stay: the records come again after the fix
    assert harness.query("SELECT Id FROM Lead") == []
    assert harness.write_calls() == 0


def test_bad_datetime_is_rejected_locally(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(1, Intercom_Last_Seen__c="yesterday"), lead(2)]))
    result.assert_accounted("Lead", 2)
    assert [r["error_code"] for r in result.rejects] == ["INVALID_TYPE_ON_FIELD_IN_RECORD"]
    assert harness.write_calls(composite=False) == 1  # the lookups went by Composite
