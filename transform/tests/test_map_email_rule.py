"""The mapping files' is_email is Salesforce's Email field rule (salesforce_client.emails)."""

from __future__ import annotations

import pytest
from mapper_intercom_salesforce.functions import build_functions


@pytest.fixture
def is_email():
    return build_functions({})["is_email"]


@pytest.mark.parametrize(
    "value", ["ada@example.com", "o'brien@example.ie", "u@xn--80ak6aa92e.xn--p1ai"]
)
def test_addresses_salesforce_stores(is_email, value: str) -> None:
    assert is_email(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "ada..lovelace@example.com",
        "ada@example.com\n",  # the former rule let a trailing newline through
    ],
)
def test_addresses_salesforce_refuses(is_email, value: str | None) -> None:
    assert not is_email(value)
