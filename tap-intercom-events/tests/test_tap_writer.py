"""The tap's writer when SIGTERM's handler writes a last STATE in the middle of a write
(pure logic, in process: the handler is called from inside stdout's write, as Python does
when a signal interrupts a blocked write)."""

from __future__ import annotations

import io
import json

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage
from tap_intercom_events.writer import LeanSingerWriter


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
