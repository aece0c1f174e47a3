"""A Singer message writer for the hot path: stdlib JSON, no flush per RECORD."""

from __future__ import annotations

import datetime
import decimal
import json
import sys
import typing as t

from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, SimpleSingerWriter
from typing_extensions import override


def _default(value: t.Any) -> t.Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep="T")
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


_encode = json.JSONEncoder(separators=(",", ":"), default=_default).encode


#: Records held back before one write to stdout (bytes of JSON, roughly).
_BATCH_CHARS = 1 << 20


class LeanSingerWriter(SimpleSingerWriter):
    """Writes the same messages as the SDK's writer, faster.

    Records are gathered and written in large blocks (one system call, and one release of
    the GIL, per block rather than per record); every other message (STATE above all) writes
    and flushes what is pending first, so a consumer never sees a STATE before the records it
    covers, and a killed tap loses only records that no STATE has vouched for.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[str] = []
        self._pending_chars = 0
        self._writing = False
        self._after_write: t.Callable[[], None] | None = None
        #: Records written, per stream (for the tap's summary).
        self.records: dict[str, int] = {}

    def when_idle(self, action: t.Callable[[], None]) -> None:
        """Run ``action`` now, or right after the write in progress (a signal handler that
        writes a STATE and exits must neither repeat nor cut the lines being written).
        """
        if self._writing:
            self._after_write = action
        else:
            action()

    @override
    def serialize_message(self, message: Message) -> str:
        """One line of JSON."""
        return _encode(message.to_dict())

    @override
    def write_message(self, message: Message) -> None:
        """Queue a record; write out the queue with any other message."""
        line = _encode(message.to_dict())
        if message.__class__ is RecordMessage:
            stream = message.stream
            self.records[stream] = self.records.get(stream, 0) + 1
        pending = self._pending
        pending.append(line)
        self._pending_chars += len(line)
        if message.__class__ is not RecordMessage or self._pending_chars > _BATCH_CHARS:
            self._writing = True
            try:
                pending.append("")
                sys.stdout.write("\n".join(pending))
                pending.clear()
                self._pending_chars = 0
                if message.__class__ is not RecordMessage:
                    sys.stdout.flush()
            finally:
                self._writing = False
            action, self._after_write = self._after_write, None
            if action is not None:
                action()
