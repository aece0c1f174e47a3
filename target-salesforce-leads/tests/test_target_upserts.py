"""Upserts by external id: idempotence, nulls, dedup, both transports, skip unchanged."""

from __future__ import annotations

from .target_sf_testlib import Harness, lead, lead_messages


def test_same_input_twice_creates_once_and_second_run_writes_nothing(harness: Harness) -> None:
    records = [lead(i) for i in range(30)]
    first = harness.run(lead_messages(records, {"bookmark": 1}))
    assert first.returncode == 0, first.stderr
    assert first.stream("Lead")["created"] == 30
    first.assert_accounted("Lead", 30)
    assert first.states == [{"bookmark": 1}]
    assert len(harness.query("SELECT Id FROM Lead")) == 30

    harness.sf.reset_stats()
    second = harness.run(lead_messages(records, {"bookmark": 2}))
    assert second.returncode == 0, second.stderr
    assert second.stream("Lead")["unchanged"] == 30
    second.assert_accounted("Lead", 30)
    assert harness.write_calls() == 0
    stats = harness.sf.stats()
    assert stats["api_calls"] == 0, stats
    assert second.states == [{"bookmark": 2}]
    assert len(harness.query("SELECT Id FROM Lead")) == 30


def test_skip_unchanged_off_updates_without_duplicates(harness: Harness) -> None:
    records = [lead(i) for i in range(5)]
    assert harness.run(lead_messages(records)).returncode == 0
    again = harness.run(lead_messages(records), skip_unchanged=False)
    assert again.stream("Lead")["updated"] == 5
    assert len(harness.query("SELECT Id FROM Lead")) == 5


def test_changed_record_is_sent_and_null_clears_absent_keeps(harness: Harness) -> None:
    harness.run(lead_messages([lead(1, Title="CTO", Phone="+49 30 1")]))
    # Title present with null -> cleared; Phone absent -> untouched; LastName changed.
    changed = {"Intercom_Contact_ID__c": "ic_1", "LastName": "Renamed", "Title": None}
    result = harness.run(lead_messages([changed]))
    assert result.stream("Lead")["updated"] == 1, result.summary
    row = harness.query(
        "SELECT LastName, Title, Phone, Email FROM Lead WHERE Intercom_Contact_ID__c = 'ic_1'"
    )[0]
    assert row["LastName"] == "Renamed"
    assert row["Title"] is None
    assert row["Phone"] == "+49 30 1"
    assert row["Email"] == "person1@example.com"


def test_duplicates_in_a_batch_last_one_wins(harness: Harness) -> None:
    msgs = lead_messages([lead(7, LastName="First"), lead(8), lead(7, LastName="Last")])
    result = harness.run(msgs)
    assert result.stream("Lead")["created"] == 2
    assert result.stream("Lead")["merged"] == 1
    result.assert_accounted("Lead", 3)
    rows = harness.query("SELECT LastName FROM Lead WHERE Intercom_Contact_ID__c = 'ic_7'")
    assert [r["LastName"] for r in rows] == ["Last"]


AWKWARD = [
    "comma, inside",
    'quote " inside',
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\nend",
    " leading space",
    "trailing space ",
    "ünïcødé – ✓",
    "#N/A literal?",
    '""',
    "tab\tvalue",
]


def test_bulk_transport_round_trips_awkward_values_and_nulls(harness: Harness) -> None:
    records = [
        lead(
            i, Description=AWKWARD[i % len(AWKWARD)], Title=None, Phone="+1 555" if i % 2 else None
        )
        for i in range(len(AWKWARD) * 2)
    ]
    result = harness.run(lead_messages(records), transport="bulk")
    assert result.returncode == 0, result.stderr
    assert result.stream("Lead")["created"] == len(records), result.summary
    assert result.summary["api_calls_by_kind"].get("bulk", 0) >= 5
    assert result.summary["api_calls_by_kind"].get("collections", 0) == 0
    rows = {
        r["Intercom_Contact_ID__c"]: r
        for r in harness.query("SELECT Intercom_Contact_ID__c, Description, Title, Phone FROM Lead")
    }
    for rec in records:
        row = rows[rec["Intercom_Contact_ID__c"]]
        expected = rec["Description"]
        if expected == "#N/A literal?":
            assert row["Description"] == expected
        assert row["Description"] == expected, (rec, row)
        assert row["Title"] is None
        assert row["Phone"] == rec["Phone"]


def test_bulk_null_clears_existing_values(harness: Harness) -> None:
    harness.run(lead_messages([lead(i, Title="Boss") for i in range(4)]), transport="bulk")
    result = harness.run(lead_messages([lead(i, Title=None) for i in range(4)]), transport="bulk")
    assert result.stream("Lead")["updated"] == 4, result.summary
    assert all(r["Title"] is None for r in harness.query("SELECT Title FROM Lead"))


def test_auto_transport_switches_to_bulk_at_threshold(harness: Harness) -> None:
    small = harness.run(lead_messages([lead(i) for i in range(9)]), bulk_threshold=10)
    assert small.summary["api_calls_by_kind"].get("bulk", 0) == 0
    assert small.summary["api_calls_by_kind"]["collections"] == 1
    big = harness.run(lead_messages([lead(i) for i in range(100, 110)]), bulk_threshold=10)
    assert big.summary["api_calls_by_kind"].get("collections", 0) == 0
    assert big.stream("Lead")["created"] == 10


def test_collections_chunk_200_records_per_call(harness: Harness) -> None:
    result = harness.run(lead_messages([lead(i) for i in range(450)]), use_composite=False)
    assert result.stream("Lead")["created"] == 450
    assert result.summary["api_calls_by_kind"]["collections"] == 3


def test_dry_run_writes_nothing_and_predicts(harness: Harness) -> None:
    harness.run(lead_messages([lead(1)]))
    harness.sf.reset_stats()
    result = harness.run(
        lead_messages([lead(1, Title="New"), lead(2), lead(3, Email="bad@")]), dry_run=True
    )
    assert result.returncode == 0, result.stderr
    assert result.summary["dry_run"] is True
    s = result.stream("Lead")
    assert (s["created"], s["updated"], s["rejected"]) == (1, 1, 1)
    assert harness.write_calls(composite=False) == 0  # lookups may go by Composite
    assert set(result.summary["api_calls_by_kind"]) <= {"describe", "query", "composite"}
    assert len(harness.query("SELECT Id FROM Lead")) == 1
    # A dry run records no hashes: the real run still writes.
    real = harness.run(lead_messages([lead(1, Title="New"), lead(2)]))
    assert real.stream("Lead")["created"] == 1 and real.stream("Lead")["updated"] == 1


def test_stream_settings_map_a_stream_to_another_sobject(harness: Harness) -> None:
    msgs = [
        {
            "type": "SCHEMA",
            "stream": "people",
            "key_properties": ["pid"],
            "schema": {
                "type": "object",
                "properties": {
                    "pid": {"type": "string"},
                    "LastName": {"type": "string"},
                    "Intercom_Contact_ID__c": {"type": "string"},
                },
            },
        },
        {
            "type": "RECORD",
            "stream": "people",
            "record": {"pid": "x", "LastName": "Lovelace", "Intercom_Contact_ID__c": "ic_x"},
        },
    ]
    # The stream key is not a Contact field: the external id comes from stream_settings and the
    # unknown column stops the run before any record.
    result = harness.run(
        msgs,
        stream_settings={
            "people": {"sobject": "Contact", "external_id_field": "Intercom_Contact_ID__c"}
        },
    )
    assert result.returncode == 2 and "Contact.pid" in result.stderr, result.stderr
    msgs[0]["schema"]["properties"].pop("pid")
    msgs[1]["record"].pop("pid")
    msgs[0]["key_properties"] = ["Intercom_Contact_ID__c"]
    result = harness.run(msgs, stream_settings={"people": {"sobject": "Contact"}})
    assert result.stream("people")["created"] == 1, result.summary
    assert harness.query("SELECT LastName FROM Contact WHERE Intercom_Contact_ID__c = 'ic_x'")
