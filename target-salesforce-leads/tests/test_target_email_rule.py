"""Local validation refuses what Salesforce's Email fields refuse (salesforce_client.emails)."""

from __future__ import annotations

import pytest
from target_salesforce_leads.validation import ObjectSchema, validate

SCHEMA = ObjectSchema.from_describe(
    {
        "name": "Lead",
        "fields": [
            {"name": "Email", "label": "Email", "type": "email", "length": 80, "createable": True}
        ],
    }
)


@pytest.mark.parametrize("value", ["ada@example.com", "a.b+c@mail.example.co.uk", "", None])
def test_a_good_or_empty_email_passes(value: str | None) -> None:
    assert validate({"Email": value}, SCHEMA) is None


@pytest.mark.parametrize(
    "value", ["ada..lovelace@example.com", "ada@example.com\n", "ada@example.c", "@@"]
)
def test_a_bad_email_is_refused_with_salesforces_code(value: str) -> None:
    refused = validate({"Email": value}, SCHEMA)
    assert refused is not None and refused.code == "INVALID_EMAIL_ADDRESS"
    assert value in refused.message


def test_an_email_past_the_field_length_is_too_long_not_invalid() -> None:
    refused = validate({"Email": "a@" + "b" * 80 + ".com"}, SCHEMA)
    assert refused is not None and refused.code == "STRING_TOO_LONG"
