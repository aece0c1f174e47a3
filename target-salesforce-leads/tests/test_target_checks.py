"""checks.py: what a stream will write compared with a describe, each problem with its fix."""

from __future__ import annotations

import typing as t

import pytest
from target_salesforce_leads.checks import (
    ERROR,
    WARNING,
    Problem,
    blocking,
    check_stream,
    missing_object,
    properties_of,
    stream_target,
    suggest_type,
)
from target_salesforce_leads.validation import ObjectSchema

NULLABLE_STR = {"type": ["string", "null"]}


def fld(name: str, type_: str = "string", **kw: t.Any) -> dict[str, t.Any]:
    f = {
        "name": name,
        "type": type_,
        "label": kw.pop("label", name),
        "length": 0,
        "createable": True,
        "updateable": True,
        "nillable": True,
        "custom": name.endswith("__c"),
        "externalId": False,
        "unique": False,
        "picklistValues": [],
        "restrictedPicklist": False,
    }
    if type_ == "string":
        f["length"] = 255
    f.update(kw)
    return f


def picklist(
    name: str, values: list[str], restricted: bool, label: str | None = None
) -> dict[str, t.Any]:
    return fld(
        name,
        "picklist",
        label=label or name,
        length=255,
        restrictedPicklist=restricted,
        picklistValues=[{"value": v, "label": v, "active": True} for v in values],
    )


def obj(name: str, *fields: dict[str, t.Any]) -> ObjectSchema:
    return ObjectSchema.from_describe(
        {"name": name, "fields": [fld("Id", "id", createable=False, updateable=False), *fields]}
    )


LEAD = obj(
    "Lead",
    fld("Intercom_Contact_ID__c", externalId=True, unique=True),
    fld("LastName", length=80, nillable=False),
    fld("Company", nillable=False),
    fld("Email", "email", length=80),
    fld("Title", length=128),
    fld("Company_Size__c", "double", precision=18, scale=0),
    fld("Intercom_Last_Seen__c", "datetime"),
    fld("Opt_In__c", "boolean", nillable=False, defaultedOnCreate=True),
    fld("Visit_Date__c", "date"),
    fld("Name", createable=False, updateable=False, calculated=False, custom=False),
    picklist("LeadSource", ["Web", "Other"], restricted=True, label="Lead Source"),
    picklist("Rating", ["Hot", "Cold"], restricted=False),
    fld("Status", "picklist", nillable=False, defaultedOnCreate=True),
)
BASE = {
    "Intercom_Contact_ID__c": {"type": "string"},
    "LastName": NULLABLE_STR,
    "Company": NULLABLE_STR,
}


def lead_check(**props: t.Any) -> list[Problem]:
    return check_stream("Lead", {**BASE, **props}, "Intercom_Contact_ID__c", LEAD)


def only(problems: list[Problem], field: str) -> Problem:
    found = [p for p in problems if p.field == field]
    assert len(found) == 1, problems
    return found[0]


def test_a_matching_stream_has_no_problems() -> None:
    problems = lead_check(
        Email={"type": ["string", "null"], "maxLength": 80},
        Company_Size__c={"type": ["integer", "null"]},
        Intercom_Last_Seen__c={"type": ["string", "null"], "format": "date-time"},
        Visit_Date__c={"type": ["string", "null"], "format": "date"},
        Opt_In__c={"type": ["boolean", "null"]},
        LeadSource={"type": ["string", "null"], "enum": ["Web", None]},
        _adopt_by_email={"type": "boolean"},  # control property: never written, not checked
    )
    assert problems == []


def test_missing_custom_field_fix_suggests_type_from_schema() -> None:
    p = only(
        lead_check(Intercom_Qualification__c={"type": ["string", "null"], "maxLength": 255}),
        "Intercom_Qualification__c",
    )
    assert (p.code, p.severity, p.blocking) == ("INVALID_FIELD", ERROR, True)
    assert p.fix.startswith(
        "Setup > Object Manager > Lead > Fields & Relationships > New: "
        "Text(255) 'Intercom_Qualification__c'"
    )


@pytest.mark.parametrize(
    ("spec", "suggested"),
    [
        ({"type": ["string", "null"], "maxLength": 40}, "Text(40)"),
        ({"type": ["string", "null"]}, "Text(255)"),
        ({"type": ["string", "null"], "maxLength": 32000}, "Long Text Area(32000)"),
        ({"type": ["integer", "null"]}, "Number(18, 0)"),
        ({"type": ["number", "null"]}, "Number(16, 2)"),
        ({"type": ["string", "null"], "format": "date-time"}, "Date/Time"),
        ({"type": ["string", "null"], "format": "date"}, "Date"),
        ({"type": ["boolean", "null"]}, "Checkbox"),
        ({"type": ["string", "null"], "format": "uri"}, "URL(255)"),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, "Date/Time"),
        ({"type": "string", "enum": ["A", "B"]}, "Picklist (values: A, B)"),
    ],
)
def test_suggested_types(spec: dict, suggested: str) -> None:
    assert suggest_type(spec) == suggested
    p = only(lead_check(New__c=spec), "New__c")
    assert f"New: {suggested} 'New__c'" in p.fix


def test_misspelt_and_unknown_standard_fields() -> None:
    p = only(lead_check(email=NULLABLE_STR), "email")
    assert p.code == "INVALID_FIELD" and "Email" in p.fix
    p = only(lead_check(Nickname=NULLABLE_STR), "Nickname")
    assert p.code == "INVALID_FIELD" and "__c" in p.message


def test_read_only_fields() -> None:
    p = only(lead_check(Name=NULLABLE_STR), "Name")
    assert (p.code, p.severity) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ERROR)
    schema = obj(
        "Lead",
        fld("Intercom_Contact_ID__c", externalId=True, unique=True),
        fld("Secret__c", createable=False, updateable=False),
        fld("Once__c", updateable=False),
    )
    problems = check_stream(
        "Lead",
        {"Secret__c": NULLABLE_STR, "Once__c": NULLABLE_STR},
        "Intercom_Contact_ID__c",
        schema,
    )
    secret = only(problems, "Secret__c")
    assert secret.code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert "Field-Level Security" in secret.fix
    once = only(problems, "Once__c")
    assert once.blocking and "insert only" in once.message


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("Company_Size__c", {"type": ["string", "null"]}),  # a JSON string into a Number
        ("Company_Size__c", {"type": ["boolean", "null"]}),
        ("Visit_Date__c", {"type": ["string", "null"], "format": "date-time"}),
        ("Intercom_Last_Seen__c", {"type": ["string", "null"], "format": "date"}),
        ("Intercom_Last_Seen__c", {"type": ["integer", "null"]}),
        ("Opt_In__c", {"type": ["string", "null"]}),
        ("Title", {"type": ["object", "null"]}),
        ("Title", {"type": "array"}),
    ],
)
def test_incompatible_types(field: str, spec: dict) -> None:
    p = only(lead_check(**{field: spec}), field)
    assert (p.code, p.severity) == ("INVALID_TYPE_ON_FIELD_IN_RECORD", ERROR)


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("Title", {"type": ["integer", "null"]}),  # Salesforce takes numbers into text fields
        ("Company_Size__c", {"type": ["number", "null"]}),
        ("Visit_Date__c", {"type": ["string", "null"]}),  # no format: cannot tell
        ("Title", {}),  # no type at all
    ],
)
def test_compatible_types(field: str, spec: dict) -> None:
    assert lead_check(**{field: spec}) == []


def test_declared_length_above_the_field_is_a_warning() -> None:
    p = only(lead_check(Title={"type": ["string", "null"], "maxLength": 255}), "Title")
    assert (p.code, p.severity, p.blocking) == ("STRING_TOO_LONG", WARNING, False)
    assert "set Length to 255" in p.fix and "max_length" in p.fix
    assert lead_check(Title={"type": ["string", "null"], "maxLength": 128}) == []


def test_enum_value_missing_from_restricted_picklist() -> None:
    p = only(
        lead_check(LeadSource={"type": ["string", "null"], "enum": ["Intercom"]}), "LeadSource"
    )
    assert (p.code, p.severity) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ERROR)
    assert p.fix == (
        "Setup > Object Manager > Lead > Fields & Relationships > Lead Source > "
        "Values > New: Intercom"
    )


def test_const_and_unrestricted_picklists() -> None:
    assert only(
        lead_check(LeadSource={"type": "string", "const": "Intercom"}), "LeadSource"
    ).blocking
    p = only(lead_check(Rating={"type": "string", "enum": ["Warm", "Hot"]}), "Rating")
    assert (p.code, p.severity) == ("PICKLIST_VALUE_MISSING", WARNING)
    assert p.fix.endswith("Values > New: Warm")


def test_inactive_values_do_not_count() -> None:
    schema = obj(
        "Lead",
        fld("Intercom_Contact_ID__c", externalId=True, unique=True),
        fld(
            "LeadSource",
            "picklist",
            restrictedPicklist=True,
            picklistValues=[
                {"value": "Intercom", "active": False},
                {"value": "Web", "active": True},
            ],
        ),
    )
    problems = check_stream(
        "Lead", {"LeadSource": {"enum": ["Intercom"]}}, "Intercom_Contact_ID__c", schema
    )
    assert only(problems, "LeadSource").blocking


def test_key_problems() -> None:
    props = dict(BASE)
    missing = check_stream("Lead", props, "Nope__c", LEAD)
    p = only(missing, "Nope__c")
    assert p.code == "INVALID_FIELD" and p.blocking
    assert "tick 'Unique' and 'External ID'" in p.fix
    not_ext = only(check_stream("Lead", props, "Email", LEAD), "Email")
    assert not_ext.code == "INVALID_FIELD" and "not marked External ID" in not_ext.message
    assert not_ext.fix.endswith("Edit: tick 'External ID' and 'Unique'.")
    schema = obj("Lead", fld("Ext__c", externalId=True, unique=False))
    w = only(check_stream("Lead", {}, "Ext__c", schema), "Ext__c")
    assert w.severity == WARNING


def test_required_fields_the_stream_does_not_send_are_warnings() -> None:
    problems = check_stream(
        "Lead", {"Intercom_Contact_ID__c": {"type": "string"}}, "Intercom_Contact_ID__c", LEAD
    )
    assert {p.field for p in problems} == {"LastName", "Company"}
    assert all(p.code == "REQUIRED_FIELD_MISSING" and not p.blocking for p in problems)
    # Unknown properties (no SCHEMA): only the key is checked.
    assert check_stream("Lead", None, "Intercom_Contact_ID__c", LEAD) == []


# -- relationships -------------------------------------------------------------------------------

TASK = obj(
    "Task",
    fld("Intercom_Conversation_ID__c", externalId=True, unique=True),
    fld("WhoId", "reference", referenceTo=["Contact", "Lead"], relationshipName="Who"),
    fld("WhatId", "reference", referenceTo=["Account"], relationshipName="What"),
    fld("Subject", "combobox"),
)
CONTACT = obj("Contact", fld("Intercom_Contact_ID__c", externalId=True, unique=True))
ACCOUNT = obj("Account", fld("Name"))
WHO = {"type": ["object", "null"], "properties": {"Intercom_Contact_ID__c": {"type": "string"}}}


def task_check(lookup: dict[str, ObjectSchema], **props: t.Any) -> list[Problem]:
    return check_stream(
        "Task",
        {"Intercom_Conversation_ID__c": {"type": "string"}, **props},
        "Intercom_Conversation_ID__c",
        TASK,
        lookup=lookup.get,
    )


def test_reference_by_external_id_on_every_parent_type() -> None:
    assert task_check({"Lead": LEAD, "Contact": CONTACT}, Who=WHO) == []


def test_reference_without_the_field_on_any_parent_is_an_error() -> None:
    bare = obj("Contact", fld("LastName"))
    problems = task_check({"Lead": obj("Lead", fld("LastName")), "Contact": bare}, Who=WHO)
    assert {(p.sobject, p.field, p.code, p.severity) for p in problems} == {
        ("Lead", "Intercom_Contact_ID__c", "INVALID_FIELD", ERROR),
        ("Contact", "Intercom_Contact_ID__c", "INVALID_FIELD", ERROR),
    }
    assert all("New: Text(255) 'Intercom_Contact_ID__c'" in p.fix for p in problems)


def test_polymorphic_reference_lacking_on_one_type_is_a_warning() -> None:
    problems = task_check({"Lead": LEAD, "Contact": obj("Contact", fld("LastName"))}, Who=WHO)
    p = only(problems, "Intercom_Contact_ID__c")
    assert (p.sobject, p.severity) == ("Contact", WARNING)
    assert "Setup > Object Manager > Contact" in p.fix


def test_parent_field_not_external_id() -> None:
    account = obj("Account", fld("Intercom_Company_ID__c"))
    what = {"type": "object", "properties": {"Intercom_Company_ID__c": {"type": "string"}}}
    p = only(task_check({"Account": account}, What=what), "Intercom_Company_ID__c")
    assert p.blocking and "not marked External ID" in p.message
    assert p.fix.endswith("Edit: tick 'External ID' and 'Unique'.")


def test_pinned_type_checks_only_that_parent() -> None:
    who = {
        "type": "object",
        "properties": {
            "attributes": {"type": "object", "properties": {"type": {"enum": ["Lead"]}}},
            "Intercom_Contact_ID__c": {"type": "string"},
        },
    }
    assert task_check({"Lead": LEAD, "Contact": obj("Contact", fld("LastName"))}, Who=who) == []


def test_unknown_relationship_and_inaccessible_parent() -> None:
    p = only(task_check({}, Owner2=WHO), "Owner2")
    assert p.code == "INVALID_FIELD"
    problems = task_check({}, What={"type": "object", "properties": {"Ext__c": {"type": "string"}}})
    assert problems[0].code == "INVALID_TYPE" and problems[0].sobject == "Account"
    # Without a lookup only the relationship is checked.
    assert check_stream("Task", {"Who": WHO}, "Intercom_Conversation_ID__c", TASK) == []


def test_relationship_sent_as_a_string() -> None:
    p = only(task_check({}, Who={"type": ["string", "null"]}), "Who")
    assert p.code == "INVALID_FIELD" and "WhoId" in p.fix


def test_custom_fields_of_tasks_live_on_activity() -> None:
    p = only(
        task_check({}, Intercom_URL__c={"type": ["string", "null"], "format": "uri"}),
        "Intercom_URL__c",
    )
    assert p.fix.startswith(
        "Setup > Object Manager > Activity > Fields & Relationships > New: "
        "URL(255) 'Intercom_URL__c'"
    )


# -- helpers -------------------------------------------------------------------------------------


def test_helpers() -> None:
    assert properties_of({"properties": {"A": {}}}) == {"A": {}}
    assert properties_of(None) == {}
    cfg = {"stream_settings": {"people": {"sobject": "Lead", "external_id_field": "X__c"}}}
    assert stream_target("people", ["id"], cfg) == ("Lead", "X__c")
    assert stream_target("Task", ["Intercom_Conversation_ID__c"], {}) == (
        "Task",
        "Intercom_Conversation_ID__c",
    )
    assert stream_target("Task", ["a", "b"], {}) == ("Task", None)
    m = missing_object("Deal__c", "NOT_FOUND")
    assert m.code == "INVALID_TYPE" and "Custom Object" in m.fix and m.blocking
    problems = lead_check(Title={"maxLength": 999}, Nope__c={})
    assert [p.field for p in blocking(problems)] == ["Nope__c"]
    assert problems[0].line().startswith("Lead.")
