"""Reference resolution, in process: candidate order, collecting, taking Ids, applying them."""

from __future__ import annotations

import typing as t

from target_salesforce_leads import references
from target_salesforce_leads.rows import RefKey
from target_salesforce_leads.validation import ObjectSchema

TASK = ObjectSchema.from_describe(
    {
        "name": "Task",
        "fields": [
            {"name": "Subject", "type": "string", "createable": True, "updateable": True},
            {
                "name": "WhoId",
                "type": "reference",
                "relationshipName": "Who",
                "referenceTo": ["Contact", "Lead"],
                "createable": True,
                "updateable": True,
            },
            {
                "name": "WhatId",
                "type": "reference",
                "relationshipName": "What",
                "referenceTo": ["Opportunity", "Account"],
                "createable": True,
                "updateable": True,
            },
        ],
    }
)


def test_candidates_try_lead_then_contact_then_the_rest_in_order() -> None:
    ref = {"referenceTo": ["Account", "Contact", "Opportunity", "Lead"]}
    assert references.candidate_types(ref) == ["Lead", "Contact", "Account", "Opportunity"]
    assert references.candidate_types({}) == []


def test_collect_groups_values_by_relationship_field_and_type() -> None:
    into: dict[RefKey, set[str]] = {}
    references.collect({"Who": {"Ext__c": "a"}, "Subject": "x"}, TASK.relationships, into)
    typed = {"attributes": {"type": "Lead"}, "Ext__c": "b"}
    references.collect({"Who": typed}, TASK.relationships, into)
    references.collect({"Who": {"Ext__c": None}, "What": "not an object"}, TASK.relationships, into)
    references.collect({"Who": {"Ext__c": 7}}, TASK.relationships, into)
    assert into == {
        RefKey("Who", "Ext__c", None): {"a", "7"},
        RefKey("Who", "Ext__c", "Lead"): {"b"},
    }


def test_take_ids_follows_a_converted_lead_to_its_contact() -> None:
    todo = {"a": "A", "b": "b", "c": "c", "d": "d"}
    result: dict[str, str | None] = {}
    records: list[dict[str, t.Any]] = [
        {"Id": "00Qa", "Ext__c": "A", "IsConverted": False},
        {"Id": "00Qb", "Ext__c": "b", "IsConverted": True, "ConvertedContactId": "003b"},
        {"Id": "00Qc", "Ext__c": "c", "IsConverted": True, "ConvertedContactId": None},
        {"Id": "00Qz", "Ext__c": "z"},
    ]
    references.take_ids(records, "Ext__c", True, todo, result)
    assert result == {"a": "00Qa", "b": "003b"}
    # Converted without a Contact: left for the next candidate object; d was not found.
    assert todo == {"c": "c", "d": "d"}


def test_apply_replaces_relationship_objects_with_ids() -> None:
    resolved = {RefKey("Who", "Ext__c", None): {"a": "00Qa"}}
    rec: dict[str, t.Any] = {"Subject": "s", "Who": {"Ext__c": "A"}, "What": None}
    assert references.apply(rec, TASK, resolved, "Task") is None
    assert rec == {"Subject": "s", "WhoId": "00Qa", "WhatId": None}


def test_apply_refuses_an_unknown_parent_and_a_bad_shape() -> None:
    rec: dict[str, t.Any] = {"Who": {"Ext__c": "missing"}}
    rej = references.apply(rec, TASK, {}, "Task")
    assert rej is not None and rej.code == "INVALID_CROSS_REFERENCE_KEY"
    assert "No Lead or Contact has Ext__c = missing" in rej.message
    rej = references.apply({"Who": "00Q1"}, TASK, {}, "Task")
    assert rej is not None and rej.code == "INVALID_FIELD"
    empty: dict[str, t.Any] = {"Who": {"attributes": {"type": "Lead"}, "Ext__c": ""}}
    assert references.apply(empty, TASK, {}, "Task") is None and empty == {"WhoId": None}


def test_parents_of_a_stream_add_lead_where_contact_is_one() -> None:
    assert references.parent_objects(TASK, ["Subject", "Who"]) == {"Contact", "Lead"}
    assert references.parent_objects(TASK, ["What"]) == {"Opportunity", "Account"}
    assert references.parent_objects(TASK, ["Subject"]) == set()
