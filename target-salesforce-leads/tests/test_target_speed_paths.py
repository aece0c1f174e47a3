"""The per-batch shortcuts of the record path give exactly what the per-value work gave.

Pure, in-process tests: each shortcut is compared with the slow form it replaces (kept here as
the reference), on values chosen to sit on every edge of the shortcut.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import random
import typing as t
from urllib.parse import quote_plus

import pytest
from salesforce_client.bulk import BulkUpload, csv_cell
from simple_salesforce.format import quote_soql_value
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_salesforce_leads.encoding import (
    MessageReader,
    bulk_plain,
    canonical_line,
    canonical_text,
    conform_all,
    dumps,
    loads,
)
from target_salesforce_leads.lookups import soql_string, url_length
from target_salesforce_leads.spool import Spool
from target_salesforce_leads.values import bulk_unsafe, clean_record

D = decimal.Decimal

# Strings on the edges of cleaning, quoting, Bulk's null marker and JSON escaping.
AWKWARD = [
    "",
    " ",
    "plain",
    "Ada Lovelace",
    "a,b",
    'say "hi"',
    "line\nbreak",
    "cr\rhere",
    "tab\there",
    " lead",
    "trail ",
    "#N/A",
    "#n/a",
    " #N/a ",
    "x#N/Ay",
    "NaN",
    "Infinity",
    "é ü ß",
    "😀👍🏽",
    "ZWJ 👩‍💻",
    "\u2028\u2029",
    "back\\slash",
    "back\\bslash",
    "\\u0001 literal",
    "/slash/",
    "bell\x07",
    "esc\x1b[31mred\x1b[0m",
    "nul\x00",
    "del\x7f",
    "c1\x85",
    "\x9b",
    "\x0b\x0c",
    "\ud83d lone",
    "_underscore",
    'key"quote',
    "a" * 40,
    "'quote'",
]


def old_canonical(record: dict[str, t.Any]) -> bytes:
    """The canonical line as process_record built it before the shortcuts."""
    rec, _ = clean_record(conform_all(record))
    return canonical_text(rec).encode()


def records() -> list[dict[str, t.Any]]:
    rnd = random.Random(15)
    out: list[dict[str, t.Any]] = [
        {"Name": s, "N": i, "Ok": True, "None": None} for i, s in enumerate(AWKWARD)
    ]
    out += [
        {"Amount": D("1.5"), "Big": 10**30, "Exp": D("1E+5"), "Neg": D("-0.0"), "Z": 0},
        {"Who": {"Intercom_Contact_ID__c": "abc", "attributes": {"type": "Lead"}}},
        {"Tags": ["a", "b\x01", {"x": "y"}], "Nested": {"b": 1, "a": [None, False]}},
        {"zeta": 1, "Alpha": 2, "_adopt_by_email": True, "élan": 3, "😀": 4},
        {"Description": "x" * 40_000},
    ]
    for _ in range(300):
        out.append(
            {
                rnd.choice(["A", "b", "C_c", "_d", "é"]) + str(n): rnd.choice(AWKWARD)
                for n in range(rnd.randint(0, 6))
            }
        )
    return out


@pytest.mark.parametrize("native", [True, False])
def test_canonical_line_is_the_old_line_or_none(native: bool) -> None:
    fast = 0
    for rec in records():
        line = canonical_line(rec, native)
        if line is None:
            continue  # the caller takes the old path
        fast += 1
        assert line == old_canonical(rec), rec
        assert clean_record(rec)[1] == [], rec  # None means "may need cleaning": never missed
    assert fast > 100  # the shortcut is taken for ordinary records


def test_every_record_needing_cleaning_takes_the_old_path() -> None:
    for rec in records():
        if clean_record(rec)[1]:
            assert canonical_line(rec, True) is None, rec
            assert canonical_line(rec, False) is None, rec


def test_canonical_line_of_non_json_values_is_the_old_line() -> None:
    """Dates (from a stream map or anywhere) and other objects as json.dumps(default=str) had
    them after conforming."""
    rec = {
        "When": datetime.datetime(
            2026, 11, 24, 10, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "Naive": datetime.datetime(2026, 1, 1, 0, 0),
        "Day": datetime.date(2026, 2, 3),
        "At": datetime.time(4, 5, 6),
        "Nested": {"d": datetime.date(2026, 2, 3)},
        "List": [datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)],
        "Other": D("2.50"),
        "Float": 1.25,
        "Weird": 1e16,
    }
    line = canonical_line(rec, False)
    assert line == old_canonical(rec)
    assert json.loads(line)["When"] == "2026-11-24T08:00:00.123Z"


def test_bulk_plain_never_hides_a_bulk_unsafe_value() -> None:
    checked = 0
    for rec in records():
        line = old_canonical(rec)
        clean = loads(line)
        if bulk_plain(line):
            checked += 1
            assert not bulk_unsafe(clean, empty_strings=False), clean
            # Routing keeps a subset of the values and may add Ids: still plain.
            sub = {k: v for i, (k, v) in enumerate(clean.items()) if i % 2}
            assert not bulk_unsafe({**sub, "Id": "00Q000000000001AAA"}, empty_strings=False)
    assert checked > 100
    assert not bulk_plain(old_canonical({"Title": "#n/A"}))
    assert not bulk_plain(old_canonical({"Title": "x" * 32_001}))
    assert not bulk_plain(canonical_text({"Score": float("nan")}).encode())


def test_only_ascii_letters_upper_to_the_bulk_null_marker() -> None:
    """bulk_plain looks for "#N/A" in any ASCII case: no other character upper-cases to one
    of its characters alone, so a value equal to it after upper() always shows in the line."""
    others = [
        c
        for c in range(0x110000)
        if chr(c).upper() in ("#", "N", "/", "A")
        and chr(c) not in "#nN/aA"
        and not 0xD800 <= c <= 0xDFFF
    ]
    assert others == []


OLD_NEEDS_QUOTES = (",", '"', "\n", "\r")


def old_csv_cell(value: t.Any) -> str:
    """csv_cell before its fast paths."""
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value) if value != int(value) or abs(value) >= 1e15 else str(int(value))
        if "e" in text:
            text = format(value, "f")
    else:
        text = str(value)
    if not text:
        return "#N/A"
    if any(ch in text for ch in OLD_NEEDS_QUOTES) or text[0] == " " or text[-1] == " ":
        return '"' + text.replace('"', '""') + '"'
    return text


@pytest.mark.parametrize(
    "value",
    [
        *AWKWARD,
        "ends\n",
        " \n",
        "\n ",
        0,
        -5,
        10**20,
        True,
        False,
        None,
        1.5,
        2.0,
        1e16,
        1e-7,
        D("3.10"),
    ],
)
def test_csv_cell_is_the_old_cell(value: t.Any) -> None:
    assert csv_cell(value) == old_csv_cell(value)


def test_bulk_row_is_the_old_row() -> None:
    upload = BulkUpload("Lead", "upsert", "Ext__c", ["Ext__c", "A", "B", "C", "D"])
    try:
        upload.add(1, {"Ext__c": "k1", "A": "x,y", "B": None, "D": 7})
        upload.add(2, {"Ext__c": "k2", "C": True, "D": " pad "})
        upload.close()
        with open(upload.path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    finally:
        upload.discard()
    assert text == 'Ext__c,A,B,C,D\nk1,"x,y",#N/A,,7\nk2,,,true," pad "\n'


@pytest.mark.parametrize("value", AWKWARD[:30] + ["100% & more=1+1", "~_.-", "a b"])
def test_soql_quoting_and_url_length(value: str) -> None:
    assert soql_string(value) == quote_soql_value(value)
    assert url_length(soql_string(value)) == len(quote_plus(soql_string(value)))


def test_spool_reader_reads_what_read_reads() -> None:
    spool = Spool()
    try:
        lines = [(f'{{"n":{i},"pad":"{"x" * (i % 97)}"}}').encode() for i in range(3000)]
        handles = [spool.append(line) for line in lines]
        read = spool.reader(block=4096)
        assert [read(h) for h in handles] == lines  # in order: block by block
        order = list(range(len(handles)))
        random.Random(3).shuffle(order)
        read = spool.reader(block=4096)
        assert [read(handles[i]) for i in order] == [lines[i] for i in order]
        assert spool.read(handles[17]) == lines[17]
    finally:
        spool.close()


MESSAGES = [
    '{"type":"RECORD","stream":"Lead","record":{"a":1.5,"b":1e5,"c":12345678901234567890123,'
    '"d":-0.0,"e":"é\\u00e9\\ud83d\\ude00","f":[true,null,{"g":"h"}]}}',
    '{"type":"STATE","value":{"bookmarks":{"x":{"updated_at":"2026-01-01T00:00:00Z"}}}}',
    '{"type":"RECORD","stream":"Lead","record":{"a":1,"a":2}}',
]


@pytest.mark.parametrize("line", MESSAGES)
def test_message_reader_decodes_as_the_sdk(line: str) -> None:
    ours, sdk = MessageReader(), SingerReader()
    got = ours.deserialize_json(line)
    assert got == sdk.deserialize_json(line)
    assert json.dumps(got, default=repr) == json.dumps(sdk.deserialize_json(line), default=repr)
    assert ours.native


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"RECORD","stream":"L","record":{"x":NaN}}',
        '{"type":"RECORD","stream":"L","record":{"x":"\\ud800"}}',
    ],
)
def test_message_reader_leaves_what_msgspec_refuses_to_the_sdk(line: str) -> None:
    ours = MessageReader()
    got = ours.deserialize_json(line)
    assert not ours.native
    assert repr(got) == repr(SingerReader().deserialize_json(line))


def test_message_reader_refuses_bad_json_as_the_sdk_does() -> None:
    with pytest.raises(InvalidInputLine):
        MessageReader().deserialize_json("{not json")


def test_message_reader_processes_lines() -> None:
    seen: list[dict[str, t.Any]] = []
    stats = MessageReader().process_lines(
        io.StringIO("\n".join(MESSAGES) + "\n"), {"RECORD": seen.append, "STATE": seen.append}
    )
    assert stats == {"RECORD": 2, "STATE": 1}
    assert seen[0]["record"]["a"] == D("1.5")


def test_internal_dumps_round_trips() -> None:
    for rec in records():
        clean = loads(old_canonical(rec))
        assert loads(dumps(clean, True)) == clean
        assert loads(dumps(clean, False)) == clean
    nan = {"x": float("nan")}
    assert "NaN" in dumps(nan, False).decode()


def test_spool_appends_after_reads_land_at_the_end() -> None:
    spool = Spool()
    try:
        first = [spool.append(b"a" * n) for n in range(1, 50)]
        assert spool.read(first[3]) == b"aaaa"
        read = spool.reader(block=64)
        assert read(first[10]) == b"a" * 11
        later = spool.append(b"tail")  # after reads moved the file position
        assert spool.read(later) == b"tail"
        assert [spool.read(h) for h in first] == [b"a" * n for n in range(1, 50)]
    finally:
        spool.close()


def old_conform_datetime(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    value = value.astimezone(datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def test_conform_datetime_is_the_old_form() -> None:
    rnd = random.Random(7)
    zones = [
        None,
        datetime.timezone.utc,
        datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
        datetime.timezone(datetime.timedelta(hours=-11)),
    ]
    for _ in range(5000):
        value = datetime.datetime(
            rnd.choice([1, 999, 1000, 1970, 2026, 9998]),
            rnd.randint(1, 12),
            rnd.randint(1, 28),
            rnd.randint(0, 23),
            rnd.randint(0, 59),
            rnd.randint(0, 59),
            rnd.choice([0, 999, 1000, 999_999]),
            tzinfo=rnd.choice(zones),
        )
        try:
            expected = old_conform_datetime(value)
        except OverflowError:
            continue
        assert conform_all({"d": value})["d"] == expected, value
