"""Which contacts become Leads: the default filter and every filter kind."""

from __future__ import annotations

import pytest

from .map_helpers import contact, record, schema, state, write_mapping


def _contacts(*contacts: dict) -> list[dict]:
    return [schema("contacts"), *(record("contacts", c) for c in contacts), state({"b": 1})]


def test_default_filter_takes_qualified_or_tagged_contacts(run_mapper):
    run = run_mapper(
        _contacts(
            contact("c1", "a@acme.com", qualification="hand_to_sales"),
            contact("c2", "b@acme.com", qualification=None, tags=["Sales-Qualified"]),
            contact("c3", "c@acme.com", qualification="nurture", tags=["newsletter"]),
            contact("c4", "d@acme.com", qualification=None, role="lead"),
        )
    )
    assert run.returncode == 0, run.stderr
    assert sorted(run.leads()) == ["c1", "c2"]
    filtered = run.rejected("filtered")
    assert sorted(filtered) == ["c3", "c4"]
    assert filtered["c3"]["stream"] == "Lead"
    assert filtered["c3"]["source_stream"] == "contacts"
    assert "filter" in filtered["c3"]["reason"]
    assert filtered["c3"]["record"]["email"] == "c@acme.com"
    assert not run.rejected("rejected")


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"everyone": True}, ["c1", "c2", "c3", "c4"]),
        ({"role": "lead"}, ["c3"]),
        ({"tag": ["vip", "trial"]}, ["c2", "c4"]),
        ({"custom_attribute": "plan", "in": ["pro", "team"]}, ["c1", "c4"]),
        ({"custom_attribute": "plan", "present": False}, ["c3"]),
        ({"path": "location.country", "equals": "Germany"}, ["c2"]),
        ({"not": {"tag": "vip"}}, ["c1", "c3", "c4"]),
        ({"all": [{"tag": "trial"}, {"custom_attribute": "plan", "equals": "pro"}]}, ["c4"]),
        ({"expr": "len(tags) >= 2 or contact.custom_attributes.seats > 10"}, ["c1", "c4"]),
    ],
)
def test_filter_kinds(run_mapper, tmp_path, filter_, expected):
    def change(doc):
        doc["filter"] = filter_

    lead_file = write_mapping(tmp_path, "lead", change)
    run = run_mapper(
        _contacts(
            contact("c1", "a@acme.com", custom_attributes={"plan": "pro", "seats": 50}),
            contact(
                "c2",
                "b@acme.com",
                tags=["VIP"],
                custom_attributes={"plan": "free"},
                location={"country": "Germany"},
            ),
            contact("c3", "c@acme.com", role="lead"),
            contact("c4", "d@acme.com", tags=["trial", "x"], custom_attributes={"plan": "pro"}),
        ),
        {"lead_mapping": str(lead_file)},
    )
    assert run.returncode == 0, run.stderr
    assert sorted(run.leads()) == expected
    assert sorted(run.rejected("filtered")) == sorted({"c1", "c2", "c3", "c4"} - set(expected))


def test_filtered_contacts_are_not_checked_for_email(run_mapper):
    """A contact that does not qualify is 'filtered', even when it could not be written."""
    run = run_mapper(_contacts(contact("c1", None, qualification="nurture")))
    assert run.rejected()["c1"]["kind"] == "filtered"
