"""Fidelity gaps found by running clients written against the real API (issue 14, items 8,
10-13): Collections retrieve, replication resources and record counts, Sforce-Limit-Info
suffixes, compound fields in describe, and lengths counted in UTF-16 code units."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from emulators.testing import EmulatorProcess

from .conftest import Api, assert_error


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _z(moment: dt.datetime) -> str:
    """For admin calls' query strings: no '+' to encode."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)


def _seed(
    api: Api, sobject: str, records: list[dict[str, Any]], stamp: str | None = None
) -> list[str]:
    body: dict[str, Any] = {"records": records}
    if stamp:
        body["stamp"] = stamp
    return api.sf.admin("POST", f"records/{sobject}", body)["ids"]


# -- item 8: sObject Collections retrieve -----------------------------------------------------
def test_collections_retrieve_get_answers_in_id_order_with_nulls(api: Api) -> None:
    a = api.call("POST", "/sobjects/Lead", json=api.lead(1, FirstName="Ada")).json()["id"]
    b = api.call("POST", "/sobjects/Lead", json=api.lead(2)).json()["id"]
    gone = api.call("POST", "/sobjects/Lead", json=api.lead(3)).json()["id"]
    api.call("DELETE", f"/sobjects/Lead/{gone}")
    account = api.call("POST", "/sobjects/Account", json={"Name": "Acme"}).json()["id"]
    ids = [b, "00Q000000000000", a[:15], gone, account, "not-an-id"]
    answer = api.call(
        "GET",
        "/composite/sobjects/Lead",
        params={"ids": ",".join(ids), "fields": "firstname,LastName"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body) == len(ids)
    assert body[1] is None and body[3] is None and body[4] is None and body[5] is None
    assert body[0] == {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{b}"},
        "Id": b,
        "FirstName": None,
        "LastName": "Last2",
    }
    assert body[2]["Id"] == a and body[2]["FirstName"] == "Ada"  # a 15-character id works


def test_collections_retrieve_post_reads_and_post_without_sobject_still_creates(api: Api) -> None:
    created = api.call(
        "POST",
        "/composite/sobjects",
        json={"records": [{"attributes": {"type": "Lead"}, **api.lead(i)} for i in range(3)]},
    )
    assert created.status_code == 200 and all(r["success"] for r in created.json())
    ids = [r["id"] for r in created.json()]
    answer = api.call(
        "POST",
        "/composite/sobjects/Lead",
        json={"ids": list(reversed(ids)), "fields": ["Intercom_Contact_ID__c"]},
    )
    assert answer.status_code == 200, answer.text
    assert [r["Intercom_Contact_ID__c"] for r in answer.json()] == ["ic-2", "ic-1", "ic-0"]
    assert api.sf.admin("GET", "stats")["records"]["Lead"] == 3  # nothing created


def test_collections_retrieve_errors(api: Api) -> None:
    rid = api.call("POST", "/sobjects/Lead", json=api.lead(1)).json()["id"]
    bad = api.call("GET", "/composite/sobjects/Lead", params={"ids": rid, "fields": "Nope__c"})
    error = assert_error(bad, 400, "INVALID_FIELD")
    assert "No such column 'Nope__c' on entity 'Lead'" in error["message"]
    assert_error(
        api.call("GET", "/composite/sobjects/Nope__c", params={"ids": rid, "fields": "Id"}),
        404,
        "NOT_FOUND",
    )
    assert_error(
        api.call("GET", "/composite/sobjects/Lead", params={"ids": rid}), 400, "MISSING_ARGUMENT"
    )
    too_many = api.call(
        "POST", "/composite/sobjects/Lead", json={"ids": [rid] * 2001, "fields": ["Id"]}
    )
    assert_error(too_many, 400, "EXCEEDED_ID_LIMIT")
    ok = api.call("POST", "/composite/sobjects/Lead", json={"ids": [rid] * 2000, "fields": ["Id"]})
    assert ok.status_code == 200 and len(ok.json()) == 2000


def test_collections_retrieve_inside_composite(api: Api) -> None:
    rid = api.call("POST", "/sobjects/Lead", json=api.lead(1)).json()["id"]
    answer = api.call(
        "POST",
        "/composite",
        json={
            "compositeRequest": [
                {
                    "method": "GET",
                    "referenceId": "r",
                    "url": (
                        f"/services/data/v62.0/composite/sobjects/Lead?ids={rid}&fields=LastName"
                    ),
                }
            ]
        },
    )
    entry = answer.json()["compositeResponse"][0]
    assert entry["httpStatusCode"] == 200 and entry["body"][0]["LastName"] == "Last1"


# -- item 10: replication resources and record counts -----------------------------------------
def test_get_updated_lists_changes_in_the_window(api: Api) -> None:
    old, recent = (
        _seed(api, "Lead", [api.lead(1)], _iso(_ago(120)))[0],
        _seed(api, "Lead", [api.lead(2)], _iso(_ago(10)))[0],
    )
    gone = _seed(api, "Lead", [api.lead(3)], _iso(_ago(10)))[0]
    api.sf.admin("DELETE", f"records/Lead/{gone}?stamp={_z(_ago(5))}")
    end = _ago(0)
    answer = api.call(
        "GET", "/sobjects/Lead/updated/", params={"start": _iso(_ago(60)), "end": _iso(end)}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"ids", "latestDateCovered"}
    assert body["ids"] == [recent]  # not the older one, not the deleted one
    assert old not in body["ids"]
    # Seconds are ignored: latestDateCovered is a whole minute, at or before end.
    assert body["latestDateCovered"].endswith(":00.000+0000")
    assert body["latestDateCovered"] <= end.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_get_deleted_lists_deletions_with_their_dates(api: Api) -> None:
    ids = _seed(api, "Lead", [api.lead(1), api.lead(2)], _iso(_ago(30)))
    when = _ago(7).replace(microsecond=0)
    api.sf.admin("DELETE", f"records/Lead/{ids[0]}?stamp={_z(when)}")
    answer = api.call(
        "GET", "/sobjects/Lead/deleted/", params={"start": _iso(_ago(60)), "end": _iso(_ago(0))}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    assert body["deletedRecords"] == [
        {"id": ids[0], "deletedDate": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
    ]
    assert body["earliestDateAvailable"].endswith(":00.000+0000")


def test_replication_rules(api: Api) -> None:
    now = _ago(0)
    same_minute = api.call(
        "GET",
        "/sobjects/Lead/updated",
        params={"start": _iso(now.replace(second=1)), "end": _iso(now.replace(second=50))},
    )
    assert_error(same_minute, 400, "INVALID_REPLICATION_DATE")
    backwards = api.call(
        "GET", "/sobjects/Lead/updated", params={"start": _iso(now), "end": _iso(_ago(10))}
    )
    assert "precede" in assert_error(backwards, 400, "INVALID_REPLICATION_DATE")["message"]
    too_old = api.call(
        "GET",
        "/sobjects/Lead/updated",
        params={"start": _iso(_ago(31 * 24 * 60)), "end": _iso(now)},
    )
    assert "30 days" in assert_error(too_old, 400, "INVALID_REPLICATION_DATE")["message"]
    deleted_old = api.call(
        "GET",
        "/sobjects/Lead/deleted",
        params={"start": _iso(_ago(16 * 24 * 60)), "end": _iso(now)},
    )
    assert "15 days" in assert_error(deleted_old, 400, "INVALID_REPLICATION_DATE")["message"]
    assert_error(
        api.call("GET", "/sobjects/Lead/updated", params={"end": _iso(now)}),
        400,
        "MISSING_ARGUMENT",
    )
    assert_error(
        api.call("GET", "/sobjects/Lead/updated", params={"start": "yesterday", "end": _iso(now)}),
        400,
        "INVALID_REPLICATION_DATE",
    )
    unknown = api.call(
        "GET", "/sobjects/Nope__c/updated", params={"start": _iso(_ago(60)), "end": _iso(now)}
    )
    assert "external ID" not in assert_error(unknown, 404, "NOT_FOUND")["message"]


def test_replication_id_limit(api: Api) -> None:
    _seed(api, "Lead", [api.lead(i) for i in range(3)], _iso(_ago(10)))
    api.sf.admin("POST", "config", {"replication_id_limit": 2})
    try:
        answer = api.call(
            "GET", "/sobjects/Lead/updated", params={"start": _iso(_ago(60)), "end": _iso(_ago(0))}
        )
        assert_error(answer, 400, "EXCEEDED_ID_LIMIT")
    finally:
        api.sf.admin("POST", "config", {"replication_id_limit": None})


def test_record_count(api: Api) -> None:
    api.call("POST", "/sobjects/Lead", json=api.lead(1))
    gone = api.call("POST", "/sobjects/Lead", json=api.lead(2)).json()["id"]
    api.call("DELETE", f"/sobjects/Lead/{gone}")
    api.call("POST", "/sobjects/Account", json={"Name": "Acme"})
    answer = api.call("GET", "/limits/recordCount", params={"sObjects": "Lead,Contact,Account"})
    assert answer.status_code == 200, answer.text
    counts = {e["name"]: e["count"] for e in answer.json()["sObjects"]}
    assert counts == {"Lead": 1, "Contact": 0, "Account": 1}  # deleted records not counted
    every = api.call("GET", "/limits/recordCount").json()["sObjects"]
    assert {"Lead", "Task", "User"} <= {e["name"] for e in every}
    assert all(set(e) == {"count", "name"} for e in every)


# -- item 11: Sforce-Limit-Info suffixes --------------------------------------------------------
def test_limit_info_default_and_configured_suffix(api: Api) -> None:
    first = api.call("GET", "/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    template = "api-usage={used}/{max}; per-app-api-usage={used}/250(appName=sample-app)"
    api.sf.admin("POST", "config", {"limit_info_format": template})
    try:
        second = api.call("GET", "/limits")
        assert (
            second.headers["Sforce-Limit-Info"]
            == "api-usage=2/100000; per-app-api-usage=2/250(appName=sample-app)"
        )
        bad = api.session.post(
            f"{api.sf.url}/_emulator/config", json={"limit_info_format": "api-usage={nope}"}
        )
        assert_error(bad, 400, "INVALID_CONFIG")
    finally:
        api.sf.admin("POST", "config", {"limit_info_format": None})
    assert api.call("GET", "/limits").headers["Sforce-Limit-Info"] == "api-usage=3/100000"


def test_limit_info_format_flag(tmp_path) -> None:
    flag = ["--limit-info-format", "api-usage={used}/{max}; api-bursts=0/750"]
    with EmulatorProcess("salesforce", tmp_path / "sf", args=flag) as sf:
        api = Api(sf)
        assert (
            api.call("GET", "/limits").headers["Sforce-Limit-Info"]
            == "api-usage=1/100000; api-bursts=0/750"
        )


# -- item 12: compound fields and polymorphic owners in describe ---------------------------------
def _fields(api: Api, sobject: str) -> dict[str, dict[str, Any]]:
    answer = api.call("GET", f"/sobjects/{sobject}/describe")
    assert answer.status_code == 200
    return {f["name"]: f for f in answer.json()["fields"]}


def test_describe_has_compound_address_name_and_geolocation(api: Api) -> None:
    lead = _fields(api, "Lead")
    address = lead["Address"]
    assert address["type"] == "address" and address["soapType"] == "urn:address"
    assert not address["createable"] and not address["updateable"] and address["nillable"]
    for part in (
        "Street",
        "City",
        "State",
        "PostalCode",
        "Country",
        "Latitude",
        "Longitude",
        "GeocodeAccuracy",
    ):
        assert lead[part]["compoundFieldName"] == "Address", part
    assert lead["Latitude"]["type"] == "double" and lead["Latitude"]["scale"] == 15
    assert lead["GeocodeAccuracy"]["type"] == "picklist"
    for part in ("FirstName", "LastName", "Salutation"):
        assert lead[part]["compoundFieldName"] == "Name"
    assert lead["Name"]["compoundFieldName"] is None and lead["Email"]["compoundFieldName"] is None
    assert lead["OwnerId"]["referenceTo"] == ["Group", "User"]
    assert lead["OwnerId"]["polymorphicForeignKey"] is True
    contact = _fields(api, "Contact")
    assert contact["MailingAddress"]["type"] == "address"
    assert contact["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert contact["OwnerId"]["referenceTo"] == ["User"]


def test_compound_fields_are_read_only_and_derived(api: Api) -> None:
    refused = api.call("POST", "/sobjects/Lead", json=api.lead(1, Address={"city": "Berlin"}))
    assert_error(refused, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
    rid = api.call(
        "POST", "/sobjects/Lead", json=api.lead(2, City="Berlin", Country="DE", Latitude=52.52)
    ).json()["id"]
    record = api.call("GET", f"/sobjects/Lead/{rid}").json()
    assert record["Address"] == {
        "city": "Berlin",
        "country": "DE",
        "geocodeAccuracy": None,
        "latitude": 52.52,
        "longitude": None,
        "postalCode": None,
        "state": None,
        "street": None,
    }
    # A polymorphic owner still resolves in SOQL.
    rows = api.query(f"SELECT Owner.Name FROM Lead WHERE Id = '{rid}'")["records"]
    assert rows[0]["Owner"]["Name"] == "Emulator Integration"


# -- item 13: lengths in UTF-16 code units ---------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "ok"),
    [
        ("a" * 38 + "\U0001f600", True),  # 39 code points, 40 UTF-16 units
        ("a" * 39 + "\U0001f600", False),  # 40 code points, 41 UTF-16 units
        ("é" * 40, True),  # BMP characters count one each
    ],
)
def test_string_length_counts_utf16_code_units(api: Api, first: str, ok: bool) -> None:
    answer = api.call("POST", "/sobjects/Lead", json=api.lead(1, FirstName=first))
    if ok:
        assert answer.status_code == 201, answer.text
    else:
        error = assert_error(answer, 400, "STRING_TOO_LONG")
        assert error["fields"] == ["FirstName"] and "max length=40" in error["message"]
