"""Lead/Contact routing, in process: LeadMatcher's decisions from a batch's People."""

from __future__ import annotations

import typing as t

import pytest
from target_salesforce_leads.lead_matcher import LeadMatcher
from target_salesforce_leads.lead_people import People
from target_salesforce_leads.validation import ObjectSchema

KEY = "Ext__c"


def _describe(name: str, required: tuple[str, ...] = ()) -> ObjectSchema:
    fields = [
        {"name": n, "type": "string", "length": 255, "createable": True, "updateable": True}
        for n in ("Id", KEY, "Email", "LastName", "Company", "Title", "IsConverted")
    ]
    for f in fields:
        f["nillable"] = f["name"] not in required
        f["defaultedOnCreate"] = False
    fields.append(
        {
            "name": "ConvertedContactId",
            "type": "reference",
            "createable": False,
            "updateable": False,
        }
    )
    return ObjectSchema.from_describe({"name": name, "fields": fields})


LEAD = _describe("Lead", required=("LastName", "Company"))
CONTACT = _describe("Contact")


def matcher(
    leads: list[dict[str, t.Any]] = (),  # type: ignore[assignment]
    contacts: list[dict[str, t.Any]] = (),  # type: ignore[assignment]
    exts: t.Iterable[str] = (),
    contact_schema: ObjectSchema | None = CONTACT,
) -> LeadMatcher:
    people = People.of(KEY, list(leads), list(contacts))
    return LeadMatcher(people, LEAD, lambda: contact_schema, exts)


def rec(ext: str, email: str = "", **extra: t.Any) -> dict[str, t.Any]:
    return {KEY: ext, "Email": email or None, "LastName": "L", "Company": "C", **extra}


def test_a_record_goes_to_the_lead_holding_its_external_id() -> None:
    m = matcher(leads=[{"Id": "00Q1", KEY: "A", "Email": "a@x.io", "IsConverted": False}])
    routed = m.route(rec("a", "a@x.io"), "a")
    assert routed.rejection is None
    assert routed.route is not None
    assert (routed.route.sobject, routed.route.operation, routed.route.key_field) == (
        "Lead",
        "upsert",
        KEY,
    )
    assert routed.route.created is False


def test_a_converted_lead_sends_its_record_to_the_contact() -> None:
    lead = {"Id": "00Q1", KEY: "a", "IsConverted": True, "ConvertedContactId": "003C"}
    routed = matcher(leads=[lead]).route(rec("a", Title="CTO", Unknown__c=1), "a")
    assert routed.route is not None and routed.route.sobject == "Contact"
    assert routed.route.operation == "update" and routed.route.key_field == "Id"
    assert routed.record["Id"] == "003C" and routed.record["Title"] == "CTO"
    assert "Unknown__c" not in routed.record  # only the Contact's updateable fields go


def test_a_lead_converted_without_a_contact_is_refused() -> None:
    lead = {"Id": "00Q1", KEY: "a", "IsConverted": True, "ConvertedContactId": None}
    routed = matcher(leads=[lead]).route(rec("a"), "a")
    assert routed.route is None and routed.rejection is not None
    assert routed.rejection.code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert "00Q1" in routed.rejection.message


def test_a_contact_with_the_email_and_no_external_id_is_updated() -> None:
    routed = matcher(contacts=[{"Id": "003C", "Email": "a@x.io"}]).route(rec("a", "A@x.io"), "a")
    assert routed.route is not None and routed.route.sobject == "Contact"
    assert routed.record["Id"] == "003C"


def test_a_contact_of_another_person_with_the_email_refuses_a_new_lead() -> None:
    routed = matcher(contacts=[{"Id": "003C", "Email": "a@x.io", KEY: "other"}]).route(
        rec("a", "a@x.io"), "a"
    )
    assert routed.rejection is not None and routed.rejection.code == "DUPLICATES_DETECTED"
    assert "003C" in routed.rejection.message and "other" in routed.rejection.message


def test_an_open_lead_of_another_person_with_the_email_is_a_duplicate() -> None:
    lead = {"Id": "00Q1", KEY: "other", "Email": "a@x.io", "IsConverted": False}
    routed = matcher(leads=[lead]).route(rec("a", "a@x.io"), "a")
    assert routed.rejection is not None and routed.rejection.code == "DUPLICATES_DETECTED"
    assert "00Q1" in routed.rejection.message


def test_adopt_by_email_takes_the_lead_over_and_tells_its_old_owner() -> None:
    lead = {"Id": "00Q1", KEY: "old", "Email": "a@x.io", "IsConverted": False}
    m = matcher(leads=[lead], exts=["a"])
    routed = m.route(rec("a", "a@x.io", _adopt_by_email=True), "a")
    assert routed.route is not None and routed.route.operation == "update"
    assert routed.record["Id"] == "00Q1"
    assert [(x.old, x.lead_id, x.email, x.new) for x in m.taken_over] == [
        ("old", "00Q1", "a@x.io", "a")
    ]


def test_a_lead_taken_over_earlier_in_the_batch_refuses_its_old_owner() -> None:
    lead = {"Id": "00Q1", KEY: "old", "Email": "a@x.io", "IsConverted": False}
    m = matcher(leads=[lead], exts=["a", "old"])
    assert m.route(rec("a", "a@x.io", _adopt_by_email=True), "a").route is not None
    assert m.taken_over == []  # the old owner is in this batch: refused when routed
    routed = m.route(rec("old", "a@x.io"), "old")
    assert routed.rejection is not None and routed.rejection.code == "LEAD_TAKEN_OVER"
    assert m.taken_in_batch == ["old"]


def test_an_open_lead_without_external_id_is_adopted_once() -> None:
    lead = {"Id": "00Q1", KEY: None, "Email": "a@x.io", "IsConverted": False}
    m = matcher(leads=[lead])
    first = m.route(rec("a", "a@x.io"), "a")
    assert first.route is not None and first.record["Id"] == "00Q1"
    second = m.route(rec("b", "a@x.io"), "b")
    assert second.record.get("Id") != "00Q1"  # claimed by a: not b's to adopt


def test_two_new_leads_with_one_email_in_a_batch_keep_the_first() -> None:
    m = matcher()
    assert m.route(rec("a", "a@x.io"), "a").route is not None
    routed = m.route(rec("b", "A@X.IO"), "b")
    assert routed.rejection is not None and routed.rejection.code == "DUPLICATES_DETECTED"
    assert "= a " in routed.rejection.message


def test_one_contact_cannot_take_two_people() -> None:
    m = matcher(contacts=[{"Id": "003C", "Email": "a@x.io"}])
    assert m.route(rec("a", "a@x.io"), "a").route is not None
    routed = m.route(rec("b", "a@x.io"), "b")
    assert routed.rejection is not None and routed.rejection.code == "DUPLICATE_VALUE"


def test_a_new_lead_without_its_required_fields_is_refused() -> None:
    routed = matcher().route({KEY: "a", "Email": "a@x.io", "LastName": "L"}, "a")
    assert routed.rejection is not None and routed.rejection.code == "REQUIRED_FIELD_MISSING"
    assert "Company" in routed.rejection.message


def test_without_a_contact_object_a_contact_route_is_refused() -> None:
    m = matcher(contacts=[{"Id": "003C", KEY: "a"}], contact_schema=None)
    routed = m.route(rec("a"), "a")
    assert routed.rejection is not None and routed.rejection.code == "INVALID_TYPE"


@pytest.mark.parametrize("ext", ["A", "a"])
def test_external_ids_match_whatever_their_case(ext: str) -> None:
    m = matcher(leads=[{"Id": "00Q1", KEY: "a", "IsConverted": False}])
    routed = m.route(rec(ext), ext)
    assert routed.route is not None and routed.route.created is False
