"""What Salesforce's Email fields accept: the one email rule of the project.

An address has an ASCII dot-atom local part of at most 64 characters, one ``@``, and a domain of
at least two dot-separated labels (letters, digits and inner hyphens, 63 at most each) ending in
an alphabetic or punycode top-level domain; anything else Salesforce refuses with
``INVALID_EMAIL_ADDRESS``. The length is the field's, not the address's: an Email field holds
:data:`MAX_LENGTH` characters (salesforce-facts: Lead ``Email (email, 80)``) and a longer value
fails with ``STRING_TOO_LONG``, so callers check it as a length, with that reason.
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
    """Tell whether ``value`` is an address Salesforce's Email fields accept (length aside)."""
    if not isinstance(value, str) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL_PART.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return bool(_TLD.fullmatch(labels[-1]))
