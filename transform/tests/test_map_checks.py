"""Mapping files checked against the input schemas before any record is mapped."""

from __future__ import annotations

import pytest
from mapper_intercom_salesforce.mapper import IntercomSalesforceMapper
from mapper_intercom_salesforce.mapping import MappingError

from .map_helpers import (
    companies_schema,
    contact,
    contacts_schema,
    conversation,
    conversations_schema,
    record,
    run_inline,
    schema,
    state,
    write_mapping,
)

CONTACTS = [contacts_schema(), record("contacts", contact("c1", "pat@acme.com")), state({})]


def _field(name: str, definition: dict) -> object:
    return lambda doc: doc["fields"].update({name: definition})


def test_typo_stops_the_cli_before_any_record(run_mapper, tmp_path):
    lead_file = write_mapping(tmp_path, "lead", _field("City", {"expr": "contact.locaton.city"}))
    run = run_mapper(CONTACTS, {"lead_mapping": str(lead_file)})
    assert run.returncode == 1
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    assert not run.rejects
    assert (
        f"Mapping file {lead_file}, field 'City': contact.locaton does not exist in the schema "
        "of the contacts stream (in 'contact.locaton.city'); did you mean contact.location?"
    ) in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("kind", "change", "wrong", "right"),
    [
        ("lead", _field("City", {"path": "locaton.city"}), "contact.locaton", "contact.location"),
        (
            "lead",
            _field("City", {"expr": 'get(contact, "location.citty")'}),
            "contact.location.citty",
            "contact.location.city",
        ),  # noqa: E501
        (
            "lead",
            _field("City", {"expr": 'record["locaton"]["city"]'}),
            "record['locaton']",
            "record.location",
        ),  # noqa: E501
        (
            "lead",
            _field("Tag", {"expr": "contact.tags.data[0].nmae"}),
            "contact.tags.data[0].nmae",
            "contact.tags.data[0].name",
        ),  # noqa: E501
        (
            "lead",
            _field("Company", {"expr": "company.nmae if company else None"}),
            "company.nmae",
            "company.name",
        ),  # noqa: E501
        (
            "lead",
            lambda doc: doc["variables"].update(mail="trim(contact.emial)"),
            "contact.emial",
            "contact.email",
        ),  # noqa: E501
        (
            "lead",
            lambda doc: doc.update(filter={"path": "rol", "equals": "user"}),
            "contact.rol",
            "contact.role",
        ),  # noqa: E501
        (
            "task",
            _field("Type", {"expr": "conversation.sorce.type"}),
            "conversation.sorce",
            "conversation.source",
        ),  # noqa: E501
    ],
)
def test_typo_names_the_wrong_path_and_the_closest_valid_one(tmp_path, kind, change, wrong, right):
    mapping_file = write_mapping(tmp_path, kind, change)
    messages = [
        companies_schema(),
        contacts_schema(),
        conversations_schema(),
        record("contacts", contact("c1")),
        record("conversations", conversation("v1")),
    ]
    with pytest.raises(MappingError) as caught:
        run_inline(messages, {f"{kind}_mapping": str(mapping_file)}, tmp_path)
    message = caught.value.errors[0]
    assert message.startswith(f"Mapping file {mapping_file}, ")
    assert f" {wrong} does not exist in the schema of the " in message
    assert f"did you mean {right}?" in message


def test_every_typo_is_listed_at_once(tmp_path):
    def change(doc):
        doc["fields"]["City"] = {"expr": "contact.locaton.city"}
        doc["fields"]["Phone"] = {"path": "phnoe"}

    lead_file = write_mapping(tmp_path, "lead", change)
    with pytest.raises(MappingError) as caught:
        run_inline(CONTACTS, {"lead_mapping": str(lead_file)}, tmp_path)
    summary, *lines = caught.value.errors
    assert "reads 2 attributes that the contacts stream does not have" in summary
    assert any(
        "field 'Phone': contact.phnoe" in line and "contact.phone?" in line for line in lines
    )


def test_open_objects_take_any_key_and_the_shipped_files_pass(tmp_path):
    def change(doc):
        doc["fields"]["Plan__c"] = {"expr": "contact.custom_attributes.any_new_attribute"}
        doc["fields"]["Seats__c"] = {"path": "custom_attributes.seats.total"}
        doc["filter"] = {"custom_attribute": "whatever_is_set"}

    lead_file = write_mapping(tmp_path, "lead", change)
    qualified = contact("c1", custom_attributes={"whatever_is_set": "yes", "seats": {"total": 3}})
    messages = [
        companies_schema(),
        contacts_schema(),
        record("contacts", qualified),
        conversations_schema(),
        record("conversations", conversation("v1")),
        state({}),
    ]
    run = run_inline(messages, {"lead_mapping": str(lead_file)}, tmp_path)
    assert run.returncode == 0
    assert run.leads()["c1"]["Seats__c"] == "3"
    assert list(run.tasks()) == ["v1"]


def test_a_map_schema_takes_any_key_with_its_value_schema(tmp_path):
    lead_file = write_mapping(tmp_path, "lead", _field("X__c", {"expr": "contact.labels.any.text"}))
    contacts = contacts_schema()
    contacts["schema"]["properties"]["labels"] = {
        "type": ["object", "null"],
        "properties": {"fixed": {"type": "string"}},
        "additionalProperties": {"type": "object", "properties": {"text": {"type": "string"}}},
    }
    run = run_inline([contacts, state({})], {"lead_mapping": str(lead_file)}, tmp_path)
    assert run.returncode == 0
    wrong = write_mapping(tmp_path, "lead", _field("X__c", {"expr": "contact.labels.any.txt"}))
    with pytest.raises(MappingError, match=r"contact\.labels\.any\.txt does not exist"):
        run_inline([contacts, state({})], {"lead_mapping": str(wrong)}, tmp_path)


def test_settings_typo_stops_the_mapper_at_start_up(tmp_path):
    lead_file = write_mapping(
        tmp_path, "lead", _field("LeadSource", {"expr": "settings.lead_sorce"})
    )
    with pytest.raises(MappingError) as caught:
        IntercomSalesforceMapper(config={"lead_mapping": str(lead_file)})
    assert any(
        "field 'LeadSource': settings.lead_sorce does not exist in the mapper's settings" in line
        and "did you mean settings.lead_source?" in line
        for line in caught.value.errors
    ), caught.value.errors
    # A key set in the config beyond the declared settings is readable.
    custom = write_mapping(tmp_path, "lead", _field("Region__c", {"expr": "settings.region"}))
    IntercomSalesforceMapper(config={"lead_mapping": str(custom), "region": "EMEA"})


def test_null_step_error_names_the_null_attribute(tmp_path):
    lead_file = write_mapping(tmp_path, "lead", _field("City", {"expr": "contact.location.city"}))
    run = run_inline(
        [record("contacts", contact("c1", location=None)), state({})],
        {"lead_mapping": str(lead_file)},
        tmp_path,
    )
    reason = run.rejected("rejected")["c1"]["reason"]
    assert "contact.location is null here" in reason and "'city' cannot be read" in reason
    assert run.returncode == 2


def test_data_rejections_keep_state_and_exit_0(tmp_path):
    messages = [
        record("contacts", contact("c1", None)),
        record("contacts", contact("c2", "not-an-email")),
        record("contacts", contact("c3", qualification=None)),
        state({"bookmarks": {"contacts": "A"}}),
    ]
    run = run_inline(messages, None, tmp_path)
    assert run.returncode == 0
    assert {k: r["kind"] for k, r in run.rejected().items()} == {
        "c1": "rejected",
        "c2": "rejected",
        "c3": "filtered",
    }
    assert [m["value"]["bookmarks"] for m in run.messages if m["type"] == "STATE"] == [
        {"contacts": "A"}
    ]


def test_a_value_that_does_not_fit_its_type_is_a_mapping_failure(tmp_path):
    lead_file = write_mapping(
        tmp_path, "lead", _field("Who__c", {"path": "email", "type": "object"})
    )
    run = run_inline(CONTACTS, {"lead_mapping": str(lead_file)}, tmp_path)
    assert run.returncode == 2
    assert "field 'Who__c': expected an object" in run.rejected("rejected")["c1"]["reason"]
    assert not [m for m in run.messages if m["type"] == "STATE"]


def test_schema_without_properties_is_not_checked(tmp_path):
    # A stream whose schema declares nothing (as some taps send) cannot be checked.
    lead_file = write_mapping(tmp_path, "lead", _field("City", {"expr": "contact.locaton"}))
    run = run_inline([schema("contacts"), state({})], {"lead_mapping": str(lead_file)}, tmp_path)
    assert run.returncode == 0
