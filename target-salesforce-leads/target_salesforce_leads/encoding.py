"""How a record is encoded on its way through the target, done once per record at C speed.

A record is kept as its *canonical line*: JSON with sorted keys, no spaces, UTF-8 (what the
content hash is computed over, so it must never change for the same record). msgspec produces
the same bytes as ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
default=str)`` for the values JSON decoding gives (dict, list, str, int, Decimal, bool, None),
about ten times faster; anything else (a float or a date from a stream map, a value the SDK's
fallback decoder made) goes through ``json.dumps`` itself, so the bytes stay the same.

Cheap checks on the whole line replace walks over every value where a line can prove that no
value needs the walk (see :func:`needs_cleaning` and :func:`bulk_plain`).
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import typing as t

import msgspec
from singer_kit.pipe import read_lines
from singer_sdk.io_base import SingerReader

_DECODER = msgspec.json.Decoder()
_MESSAGE_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)
_ENCODER = msgspec.json.Encoder(order="sorted", decimal_format="string", enc_hook=str)

# In a canonical line (a str, before UTF-8 encoding): the characters clean_text removes appear
# raw (DEL, C1, lone surrogates) or as JSON escapes (other C0 controls: \b, \f, \u00XX; TAB, LF
# and CR, which are kept, appear as \t, \n, \r). An escaped backslash before "b", "f" or "u00"
# matches too: that only costs the full walk.
_SUSPECT_JSON = re.compile("[\x7f-\x9f\ud800-\udfff]|\\\\(?:[bf]|u00[01])")
# The same in UTF-8 bytes: DEL, C1 controls (U+0080-U+009F: C2 80-C2 9F) and escapes.
_SUSPECT_JSON_BYTES = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\\(?:[bf]|u00[01])")
# Bulk CSV reads a cell "#N/A" (any case, edge spaces) as null, and JSON writes non-finite
# floats as these tokens: a line holding none of them has no such value.
_BULK_SUSPECT = re.compile(rb"#[nN]/[aA]|NaN|Infinity")
# Below this many bytes no field can exceed Bulk's 32,000 characters a field, nor the record
# its 400,000 characters (a value's characters never outnumber its bytes in the line).
_BULK_PLAIN_MAX_BYTES = 32_000


def conform(value: t.Any) -> t.Any:
    """A date, time or date-time in the form Salesforce's JSON uses; other values as they are.

    Date-times are written in UTC with milliseconds (``2026-11-24T10:00:00.000Z``); a naive one
    is taken as UTC.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        value = value.astimezone(datetime.timezone.utc)
        if value.year >= 1000:  # isoformat pads years to 4 digits, strftime does not
            return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # drop "+00:00"
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def conform_all(value: t.Any) -> t.Any:
    """:func:`conform` applied to every value, nested ones included (dicts and lists copied)."""
    if isinstance(value, dict):
        return {k: conform_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [conform_all(v) for v in value]
    return conform(value)


def canonical_text(record: t.Mapping[str, t.Any]) -> str:
    """The canonical JSON of a record whose values are any Python objects (the exact form)."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def canonical_line(record: t.Mapping[str, t.Any], native: bool) -> bytes | None:
    """The canonical line of ``record``, or None when a value may need cleaning first.

    Args:
        record: The record, date-like values already conformed.
        native: True when every value is of a type JSON decoding produces (so msgspec's bytes
            equal ``json.dumps``'s); False for anything else.
    """
    if native:
        try:
            line = _ENCODER.encode(record)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            line = None  # e.g. a lone surrogate, which UTF-8 cannot carry
        if line is not None:
            return None if _SUSPECT_JSON_BYTES.search(line) else line
    text = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )
    if _SUSPECT_JSON.search(text):
        return None
    return text.encode()


def _default(value: t.Any) -> t.Any:
    # What json.dumps(default=str) makes of a value conform_all left alone, or of one it would
    # have conformed.
    out = conform(value)
    return str(out) if out is value else out


def loads(line: bytes | str) -> t.Any:
    """Decode JSON: msgspec, or the standard library for what msgspec refuses (NaN, ...)."""
    try:
        return _DECODER.decode(line)
    except ValueError:  # msgspec.DecodeError, or UnicodeError for a lone surrogate
        return json.loads(line)


def dumps(value: t.Any, plain: bool) -> bytes:
    """Compact JSON for the target's own use (not hashed); ``plain``: no non-finite floats."""
    if plain:
        try:
            return _ENCODER.encode(value)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            pass
    return json.dumps(value, default=str).encode()


def bulk_plain(line: bytes) -> bool:
    """True when no value of the record in ``line`` can be refused or misread by Bulk CSV.

    A sound shortcut for ``not bulk_unsafe(record, empty_strings=False)``: it holds for the
    record and for any record made of a subset of its values plus Salesforce Ids. False only
    means "check each value".
    """
    return len(line) <= _BULK_PLAIN_MAX_BYTES and _BULK_SUSPECT.search(line) is None


class MessageReader(SingerReader):
    """The SDK's reader, decoding with msgspec.

    Numbers with a fraction or exponent become Decimal, as the SDK's own decoder does; a line
    msgspec refuses (NaN, a lone surrogate, invalid JSON) goes to the SDK's decoder, which gives
    its values and its errors.
    """

    native = False  # whether the message being processed was decoded by msgspec
    # Set by the target: the longest wait for input before on_quiet is called (None: forever).
    wait_limit: t.Callable[[], float | None] | None = None
    on_quiet: t.Callable[[], None] | None = None

    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        """The SDK's line processing; with a wait limit, quiet input writes the pending batch."""
        if self.wait_limit is None or self.on_quiet is None:
            return super().process_lines(file_input, callbacks)
        lines = read_lines(file_input or self.default_input, self.wait_limit, self.on_quiet)
        return super().process_lines(t.cast("t.IO[str]", lines), callbacks)

    def deserialize_json(self, line: str) -> dict:
        """One message, by msgspec when it can (``native`` says whether it did)."""
        try:
            message = _MESSAGE_DECODER.decode(line)
        except ValueError:  # msgspec.DecodeError, or UnicodeError for a lone surrogate
            self.native = False
            return super().deserialize_json(line)
        self.native = True
        return message
