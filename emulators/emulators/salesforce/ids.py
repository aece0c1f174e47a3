"""Salesforce-style record ids: 15 case-sensitive characters plus a 3-character case-safe suffix."""

from __future__ import annotations

import itertools
import threading

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# The two "pod" characters and the reserved one that follow the key prefix in real ids.
POD = "5E0"
_SPREAD = 7919
_MODULUS = 62**9
_UNSPREAD = pow(_SPREAD, -1, _MODULUS)


def case_safe_suffix(id15: str) -> str:
    """Compute the 3 characters Salesforce appends so that an id survives case folding.

    Each 5-character chunk contributes one character: bit i is set when character i of the chunk
    is an upper-case letter, and the 5-bit number indexes ``A-Z0-5``.
    """
    out = []
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out.append(SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(id15: str) -> str:
    """Return the 18-character form of a 15-character id."""
    return id15 + case_safe_suffix(id15)


def normalize(record_id: str) -> str | None:
    """Return the canonical 18-character id for a 15- or 18-character id, else None."""
    if len(record_id) == 15 and all(c in BASE62 for c in record_id):
        return to18(record_id)
    if len(record_id) == 18 and all(c in BASE62 for c in record_id):
        head = record_id[:15]
        if case_safe_suffix(head) == record_id[15:]:
            return record_id
        # An 18-character id whose case was changed: recover the case from the suffix.
        return None
    return None


def encode62(number: int, width: int) -> str:
    """Encode a non-negative integer in base 62, left padded with zeros."""
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars)).rjust(width, "0")


def decode62(text: str) -> int:
    """Decode a base-62 string."""
    value = 0
    for char in text:
        value = value * 62 + BASE62.index(char)
    return value


class IdFactory:
    """Hands out increasing ids per key prefix; thread safe."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def seen(self, record_id: str) -> None:
        """Make sure ids handed out later are above one loaded from storage."""
        prefix = record_id[:3]
        try:
            number = decode62(record_id[6:15]) * _UNSPREAD % _MODULUS
        except ValueError:
            return
        with self._lock:
            current = self._counters.get(prefix)
            start = next(current) if current else 1
            self._counters[prefix] = itertools.count(max(start, number + 1))

    def new(self, prefix: str) -> str:
        """Return a fresh 18-character id with the given key prefix."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            number = next(counter)
        # Spread consecutive numbers so ids look less sequential, while staying unique.
        return to18(prefix + POD + encode62(number * _SPREAD % _MODULUS, 9))
