"""The one email rule (target validation and the mapper's is_email both use it)."""

from __future__ import annotations

import pytest
from salesforce_client.emails import MAX_LENGTH, is_email

GOOD: list[str] = [
    "ada@example.com",
    "Ada.Lovelace+crm@mail.example.co.uk",
    "o'brien@example.ie",
    "x_y-z!#$%&*=?^`{|}~@sub-domain.example.org",
    "user@xn--80ak6aa92e.xn--p1ai",  # punycode domain and TLD
    "a" * 64 + "@example.com",
    "u@" + "d" * 63 + ".com",
]
BAD = [
    None,
    42,
    "",
    "not-an-email",
    "@@",
    "@example.com",
    "ada@",
    "ada@localhost",  # no dot in the domain
    "ada@@example.com",
    "ada@b@example.com",
    "ada lovelace@example.com",
    "ada@exa mple.com",
    ".ada@example.com",
    "ada.@example.com",
    "ada..lovelace@example.com",  # accepted by the old target rule, refused by Salesforce
    "ada@-example.com",
    "ada@example-.com",
    "ada@example..com",
    "ada@example.com.",
    "ada@example.c",  # one-letter TLD
    "ada@example.123",  # numeric TLD
    "ada@example.com\n",  # the old regexes' `$` let a trailing newline through
    "jörg@example.de",  # the local part is ASCII
    "a" * 65 + "@example.com",
    "u@" + "d" * 64 + ".com",
]


@pytest.mark.parametrize("value", GOOD)
def test_accepted(value: str) -> None:
    assert is_email(value)


@pytest.mark.parametrize("value", BAD)
def test_refused(value: object) -> None:
    assert not is_email(value)


def test_the_length_is_the_fields_not_the_rules() -> None:
    """Past 80 characters Salesforce answers STRING_TOO_LONG: callers check the length."""
    long_address = "a@" + "b" * 60 + "." + "c" * (MAX_LENGTH - 66) + ".com"
    assert len(long_address) == MAX_LENGTH + 1
    assert is_email(long_address)
