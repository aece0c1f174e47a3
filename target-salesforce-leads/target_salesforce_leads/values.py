"""Pure helpers for string values: what is removed before writing, and what Bulk CSV cannot carry.

Salesforce stores control characters it is sent (a terminal colour code pasted into an Intercom
note ends up in a Task's Comments as ``ESC[31m``), so string values are cleaned first:
C0 controls except TAB, LF and CR, DEL, C1 controls and ANSI escape sequences are removed.
Emoji, ZWJ sequences, variation selectors and every other printable or format character are kept.

Bulk API 2.0 CSV reads some values differently from the JSON of sObject Collections, so a record
holding one is written through Collections, where it is stored as sent (see :func:`bulk_unsafe`).
"""

from __future__ import annotations

import math
import re
import typing as t

# Anything clean_text may remove starts with one of these; most strings have none (fast path).
# Surrogate code points can only be lone ones in a Python str (a JSON "\ud83d" without its pair):
# they cannot be encoded as UTF-8, so a request carrying one could not be sent at all.
_SUSPECT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# ANSI / ECMA-48 escape sequences in their 7-bit form. C1 introducers (U+009B for CSI, ...) are
# not treated as sequence starts: in text they are far more often mis-decoded Windows-1252
# punctuation ("\x9b" is "›") than terminal codes, so they are removed as single characters and
# the text after them is kept.
_ANSI = re.compile(
    r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI: ESC [ params intermediates final
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\)"  # OSC, DCS, SOS, PM, APC ... ended by BEL or ST
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]",  # every other escape sequence (ESC ( B, ESC 7, ESC c, ...)
    re.DOTALL,
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Bulk API 2.0 ingest limits (Salesforce's "Bulk API and Bulk API 2.0 Limits and Allocations").
BULK_NULL = "#N/A"
BULK_MAX_FIELD_CHARS = 32_000
BULK_MAX_RECORD_CHARS = 400_000


def clean_text(value: str) -> str:
    r"""Remove the characters Salesforce would store but nobody wants in a field.

    Removed: ANSI escape sequences (CSI ``ESC [ ... final``, OSC/DCS/SOS/PM/APC strings ended by
    BEL or ``ESC \\``, and two- or three-byte escapes such as ``ESC ( B``), then C0 controls
    except TAB, LF and CR, DEL (U+007F), C1 controls (U+0080-U+009F) and lone surrogates.
    An escape sequence that is cut off (no final byte or terminator) loses only its ``ESC`` and
    introducer; the text after it is kept.

    Args:
        value: Any string.

    Returns:
        The cleaned string (``value`` itself when nothing had to be removed).
    """
    if not _SUSPECT.search(value):
        return value
    return _CONTROL.sub("", _ANSI.sub("", value))


def clean_record(rec: t.Mapping[str, t.Any]) -> tuple[dict[str, t.Any], list[str]]:
    """Apply :func:`clean_text` to every string value of a record, nested ones included.

    Args:
        rec: A record (relationship objects and lists are walked too; keys are not changed).

    Returns:
        ``(cleaned, changed)``: the cleaned record and the paths of the values that changed,
        e.g. ``["Description", "Who.Intercom_Contact_ID__c", "Tags[2]"]``. When nothing changed,
        ``cleaned`` is ``rec`` itself and ``changed`` is empty.
    """
    changed: list[str] = []
    cleaned = _clean(rec, "", changed)
    if not changed:
        return t.cast(dict, rec), changed
    return cleaned, changed


def _clean(value: t.Any, path: str, changed: list[str]) -> t.Any:
    if isinstance(value, str):
        text = clean_text(value)
        if text is not value:
            changed.append(path)
        return text
    if isinstance(value, t.Mapping):
        return {k: _clean(v, f"{path}.{k}" if path else str(k), changed) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, f"{path}[{i}]", changed) for i, v in enumerate(value)]
    return value


def bulk_unsafe(rec: t.Mapping[str, t.Any], *, empty_strings: bool = True) -> bool:
    """True when a value of ``rec`` would not survive Bulk API 2.0 CSV as sent.

    Such a record goes through sObject Collections (JSON), where it is stored as sent.
    See :func:`bulk_unsafe_reason` for the rules.
    """
    return bulk_unsafe_reason(rec, empty_strings=empty_strings) is not None


def bulk_unsafe_reason(rec: t.Mapping[str, t.Any], *, empty_strings: bool = True) -> str | None:
    """Why ``rec`` cannot go through Bulk API 2.0 CSV unchanged, or None when it can.

    The rules come from Salesforce's Bulk CSV format and limits:

    - a string equal to ``#N/A`` (Bulk's null marker; compared ignoring case and edge spaces)
      would set the field to null instead of storing the text;
    - an empty string: Bulk ignores empty cells (the field is left as it was), while
      Collections stores ``""`` as null, i.e. clears the field (``empty_strings=False`` skips
      this rule, for a CSV writer that sends ``""`` as ``#N/A``);
    - a string longer than 32,000 characters (Bulk's per-field limit; Long Text Area fields
      hold up to 131,072 through the REST API) fails that row;
    - more than 400,000 characters in the record (Bulk's per-record limit) fails that row;
    - a number that is NaN or infinite cannot be written as a CSV number.

    Nested values (relationship objects such as ``Who``) are checked too.
    """
    total = 0
    stack: list[tuple[str, t.Any]] = list(rec.items())
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            if not value:
                if not empty_strings:
                    continue
                return (
                    f"{name} is an empty string: Bulk CSV would leave the field unchanged "
                    "where Collections clears it"
                )
            if len(value) <= 16 and value.strip().upper() == BULK_NULL:
                return f"{name} is the text {value!r}, which Bulk CSV reads as null"
            if len(value) > BULK_MAX_FIELD_CHARS:
                return (
                    f"{name} holds {len(value)} characters, more than Bulk's "
                    f"{BULK_MAX_FIELD_CHARS} per field"
                )
            total += len(value)
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{name} is {value!r}, which is not a number Salesforce accepts"
        elif isinstance(value, t.Mapping):
            stack.extend((f"{name}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{name}[{i}]", v) for i, v in enumerate(value))
        elif value is not None:
            total += len(str(value))
    if total > BULK_MAX_RECORD_CHARS:
        return (
            f"the record holds {total} characters, more than Bulk's "
            f"{BULK_MAX_RECORD_CHARS} per record"
        )
    return None
