"""The fast writer: the SDK's bytes, records in blocks, STATE never before its records, and a
signal handler's STATE in the middle of a write (in process: the handler is called from inside
stdout's write, as Python does when a signal interrupts a blocked write)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import io
import json

import pytest
from singer_kit.writer import LeanSingerWriter, as_dict, encode
from singer_sdk.singerlib import (
    ActivateVersionMessage,
    Message,
    RecordMessage,
    SchemaMessage,
    StateMessage,
)
from singer_sdk.singerlib.encoding.simple import SimpleSingerWriter


class _InterruptedStdout(io.StringIO):
    """stdout whose first write runs ``handler`` before it completes."""

    def __init__(self) -> None:
        super().__init__()
        self.handler = None

    def write(self, text: str) -> int:
        handler, self.handler = self.handler, None
        if handler is not None:
            handler()
        return super().write(text)


def test_a_state_written_by_the_signal_handler_comes_after_the_lines_being_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = LeanSingerWriter()
    stdout = _InterruptedStdout()
    monkeypatch.setattr("sys.stdout", stdout)
    for index in range(3):
        writer.write_message(RecordMessage(stream="contacts", record={"id": str(index)}))
    last = StateMessage(value={"inbox": {"offset": "3"}})
    stdout.handler = lambda: writer.when_idle(
        lambda: writer.write_message(StateMessage(value={"inbox": {"offset": "3"}, "x": 1}))
    )

    writer.write_message(last)

    lines = stdout.getvalue().split("\n")
    assert lines[-1] == ""  # every line complete
    messages = [json.loads(line) for line in lines[:-1]]  # no blank line, none cut
    assert [m.get("record", {}).get("id") for m in messages[:3]] == ["0", "1", "2"]
    assert [m["value"] for m in messages[3:]] == [
        {"inbox": {"offset": "3"}},
        {"inbox": {"offset": "3"}, "x": 1},
    ]


def test_when_idle_runs_at_once_between_writes() -> None:
    ran: list[int] = []
    LeanSingerWriter().when_idle(lambda: ran.append(1))
    assert ran == [1]


@pytest.mark.parametrize(
    "record",
    [
        {"id": "1", "name": "Chloé 山田", "n": 3, "x": 1.5, "ok": True, "none": None},
        {"amount": decimal.Decimal("1.10"), "big": decimal.Decimal("12345678901234567890.5")},
        {"nested": [{"d": decimal.Decimal("0.00001")}], "nan": float("nan")},
        {"inf": float("inf"), "when": datetime.datetime(2026, 1, 2, 3, 4, 5)},
        {"day": datetime.date(2026, 1, 2), "tuple": (1, 2), "text": "a\nb\u2028"},
    ],
)
def test_lines_are_the_sdks_own(record: dict) -> None:
    message = RecordMessage(
        stream="s",
        record=record,
        time_extracted=datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc),
    )
    assert LeanSingerWriter().serialize_message(message) == (
        SimpleSingerWriter().serialize_message(message)
    )
    assert encode(message.to_dict()) == SimpleSingerWriter().serialize_message(message)


def test_records_wait_for_a_state_or_a_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    writer = LeanSingerWriter()
    writer.write_message(SchemaMessage(stream="s", schema={}, key_properties=[]))
    shown = stdout.getvalue()
    assert json.loads(shown)["type"] == "SCHEMA"
    writer.write_message(RecordMessage(stream="s", record={"id": 1}))
    writer.write_message(RecordMessage(stream="s", record={"id": 2}))
    assert stdout.getvalue() == shown  # held back
    writer.flush()
    assert [json.loads(x)["record"]["id"] for x in stdout.getvalue().splitlines()[1:]] == [1, 2]
    writer.write_message(RecordMessage(stream="t", record={"id": 3}))
    writer.write_message(StateMessage(value={"b": 1}))
    lines = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert [m["type"] for m in lines] == ["SCHEMA", "RECORD", "RECORD", "RECORD", "STATE"]
    assert writer.records == {"s": 2, "t": 1}
    writer.flush()  # nothing pending: nothing more
    assert len(stdout.getvalue().splitlines()) == 5


def test_a_large_block_of_records_is_written_without_a_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    writer = LeanSingerWriter()
    record = {"text": "x" * 10_000}
    for _ in range(120):  # over a megabyte
        writer.write_message(RecordMessage(stream="s", record=record))
    written = stdout.getvalue().splitlines()
    assert 100 <= len(written) < 120
    assert all(json.loads(line)["record"] == record for line in written)


@pytest.mark.parametrize(
    "message",
    [
        StateMessage(value={"bookmarks": {"s": {"n": 1, "none": None}}, "k": [1, (2, 3)]}),
        StateMessage(value={"amount": decimal.Decimal("1.10"), "nan": float("nan")}),
        SchemaMessage(stream="s", schema={"type": "object"}, key_properties=["id"]),
        SchemaMessage(
            stream="s", schema={"properties": {}}, key_properties=[], bookmark_properties="u"
        ),
        ActivateVersionMessage(stream="s", version=3),
    ],
)
def test_other_messages_are_the_sdks_own_lines(message: Message) -> None:
    assert as_dict(message) == message.to_dict()
    assert LeanSingerWriter().serialize_message(message) == (
        SimpleSingerWriter().serialize_message(message)
    )


def test_a_state_is_written_without_copying_its_value() -> None:
    value = {"target": {"waiting": ["x"] * 3}}
    assert as_dict(StateMessage(value=value))["value"] is value


def test_a_dataclass_inside_a_message_is_written_as_the_sdk_writes_it() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int | None = None

    message = StateMessage(value={"point": Point(1), "points": [Point(2, 3)]})
    assert LeanSingerWriter().serialize_message(message) == (
        SimpleSingerWriter().serialize_message(message)
    )
