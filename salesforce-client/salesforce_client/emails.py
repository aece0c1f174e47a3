"""What Salesforce's Email fields accept: the one email rule of the project.

An Email field holds at most 80 characters (salesforce-facts: Lead ``Email (email, 80)``) of an
address with an ASCII dot-atom local part of at most 64 characters, one ``@``, and a domain of at
least two dot-separated labels (letters, digits and inner hyphens, 63 at most each) ending in an
alphabetic or punycode top-level domain. Anything else Salesforce refuses with
``INVALID_EMAIL_ADDRESS`` (or ``STRING_TOO_LONG`` past 80 characters).
"""

from __future__ import annotations

import re
import typing as t

MAX_LENGTH = 80
MAX_LOCAL_LENGTH = 64

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def is_email(value: t.Any) -> bool:
    """Tell whether ``value`` is an address Salesforce's Email fields accept (see the module)."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL_PART.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return bool(_TLD.fullmatch(labels[-1]))
