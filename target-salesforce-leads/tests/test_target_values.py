"""values.py: control characters and ANSI escapes removed; what Bulk CSV cannot carry."""

from __future__ import annotations

import pytest
from target_salesforce_leads.values import (
    BULK_MAX_FIELD_CHARS,
    bulk_unsafe,
    bulk_unsafe_reason,
    clean_record,
    clean_text,
)

ESC = "\x1b"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"{ESC}[31mred{ESC}[0m text", "red text"),  # SGR colours
        (f"a{ESC}[1;38;5;208mb", "ab"),  # 256-colour parameters
        (f"x{ESC}[2Ky{ESC}[?25lz", "xyz"),  # erase line, private mode (params 0x3F)
        (f"{ESC}]0;window title\x07after", "after"),  # OSC ended by BEL
        (f"{ESC}]8;;https://e.x/\x1b\\link{ESC}]8;;{ESC}\\", "link"),  # OSC 8 hyperlink, ST
        (f"{ESC}P1$r0m{ESC}\\ok", "ok"),  # DCS
        (f"{ESC}(Bplain{ESC}7{ESC}8", "plain"),  # charset designation, save/restore cursor
        ("nul\x00 bell\x07 bs\x08 vt\x0b ff\x0c so\x0e us\x1f", "nul bell bs vt ff so us"),
        ("del\x7f", "del"),
        ("c1 \x80\x85\x9b\x9f end", "c1  end"),  # C1 controls, incl. the 8-bit CSI alone
        ("\x9bA stays", "A stays"),  # an 8-bit CSI is not an introducer: the A is text
        (f"cut {ESC}[31", "cut 31"),  # unterminated CSI: only ESC [ removed
        (f"cut {ESC}]0;title", "cut 0;title"),  # unterminated OSC: the text is kept
        ("lone \ud83d surrogate", "lone  surrogate"),
    ],
)
def test_clean_text_removes(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        "tab\tlf\ncr\r\ncrlf",
        "👩‍👩‍👧‍👦 family (ZWJ sequence)",
        "🏳️‍🌈 flag with VS16 and ZWJ",
        "👍🏽 skin tone, 🇩🇪 flag, ❤️ heart",
        "zero\u200bwidth\u200cnon\u200djoiner \u2060word joiner \ufeffbom",
        "Ünïcödé, 中文, العربية, עברית \u200f rtl mark",
        "[31m brackets without ESC",
        "plain",
        "",
    ],
)
def test_clean_text_keeps(kept: str) -> None:
    assert clean_text(kept) == kept


def test_clean_text_returns_the_same_object_when_clean() -> None:
    text = "nothing to do 👍"
    assert clean_text(text) is text


def test_clean_record_reports_changed_paths_and_walks_nested_values() -> None:
    rec = {
        "Description": f"{ESC}[1mbold{ESC}[0m",
        "Subject": "fine",
        "Who": {"Intercom_Contact_ID__c": "ic\x00_1"},
        "Tags": ["ok", "bad\x7f"],
        "Count": 3,
        "Nothing": None,
    }
    cleaned, changed = clean_record(rec)
    assert cleaned == {
        "Description": "bold",
        "Subject": "fine",
        "Who": {"Intercom_Contact_ID__c": "ic_1"},
        "Tags": ["ok", "bad"],
        "Count": 3,
        "Nothing": None,
    }
    assert sorted(changed) == ["Description", "Tags[1]", "Who.Intercom_Contact_ID__c"]
    assert rec["Description"].startswith(ESC)  # the input is not modified


def test_clean_record_unchanged_is_the_input() -> None:
    rec = {"A": "x", "B": {"C": "👩‍💻"}}
    cleaned, changed = clean_record(rec)
    assert cleaned is rec
    assert changed == []


@pytest.mark.parametrize(
    "rec",
    [
        {"Title": "#N/A"},
        {"Title": "#n/a"},
        {"Title": " #N/A "},
        {"Who": {"Intercom_Contact_ID__c": "#N/A"}},
        {"Phone": ""},
        {"Description": "x" * (BULK_MAX_FIELD_CHARS + 1)},
        {f"F{i}": "y" * 30_000 for i in range(14)},  # 420,000 characters in the record
        {"Score__c": float("nan")},
        {"Score__c": float("inf")},
    ],
)
def test_bulk_unsafe(rec: dict) -> None:
    assert bulk_unsafe(rec)
    assert bulk_unsafe_reason(rec)


@pytest.mark.parametrize(
    "rec",
    [
        {"Title": "N/A"},
        {"Title": "#N/A and more"},
        {"Title": None},  # a null is sent as #N/A on purpose
        {"Description": "x" * BULK_MAX_FIELD_CHARS},
        {"Name": 'comma, "quote"\nnewline', "Edge": " spaces "},
        {"Count": 3, "Flag": False, "Score": 1.5},
        {"Emoji": "👩‍👩‍👧"},
    ],
)
def test_bulk_safe(rec: dict) -> None:
    assert not bulk_unsafe(rec), bulk_unsafe_reason(rec)


def test_empty_strings_rule_can_be_switched_off() -> None:
    assert bulk_unsafe({"Phone": ""})
    assert not bulk_unsafe({"Phone": ""}, empty_strings=False)
    assert bulk_unsafe({"Phone": "", "Title": "#N/A"}, empty_strings=False)


def test_reason_names_the_field() -> None:
    reason = bulk_unsafe_reason({"Ok": "a", "Title": "#N/A"})
    assert reason is not None and reason.startswith("Title")
