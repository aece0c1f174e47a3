"""A Singer message writer for the hot path: the SDK's output, written in blocks.

The SDK's writer flushes standard output after every message and encodes with simplejson.
This one writes the same bytes, faster:

- records are gathered and written in large blocks (one system call, and one release of the
  GIL, per block rather than per record);
- every other message (STATE above all) writes and flushes what is pending first, so a
  consumer never sees a STATE before the records it covers, and a killed plugin loses only
  records that no STATE has vouched for;
- :meth:`LeanSingerWriter.flush` writes what is pending, for a plugin about to wait for its
  own input (the mapper: see :mod:`singer_kit.pipe`);
- messages are encoded with the standard library's C encoder, which is twice as fast; one it
  would write differently from the SDK (a ``Decimal``, which it cannot write exactly, or a
  NaN, which the SDK writes as null) is encoded by the SDK's own function;
- a message becomes a dict without the deep copy of ``Message.to_dict`` (``dataclasses.asdict``
  copies every nested value, which for a STATE carrying the target's waiting records is most
  of the cost of writing it); the encoder only reads the values, and writes the same line.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import sys
import typing as t

from singer_sdk.singerlib.encoding.simple import (
    Message,
    RecordMessage,
    SimpleSingerWriter,
    exclude_null_dict,
)
from singer_sdk.singerlib.json import serialize_json

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

#: Records held back before one write to stdout (characters of JSON, roughly).
BATCH_CHARS = 1 << 20


class _NotPlain(Exception):
    """A value the standard library's encoder would not write as the SDK does."""


def _default(value: t.Any) -> t.Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep="T")
    if isinstance(value, decimal.Decimal):
        raise _NotPlain
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # As ``Message.to_dict`` turns a dataclass nested in a message (null fields left out).
        return dataclasses.asdict(value, dict_factory=exclude_null_dict)
    return str(value)


_encode_plain = json.JSONEncoder(separators=(",", ":"), default=_default, allow_nan=False).encode


def encode(message: dict[str, t.Any]) -> str:
    """One line of JSON, the same as the SDK's ``serialize_json`` writes."""
    try:
        return _encode_plain(message)
    except (_NotPlain, ValueError):  # a Decimal; a NaN or infinity
        return serialize_json(message)


_FIELDS: dict[type, tuple[str, ...]] = {}


def as_dict(message: Message) -> dict[str, t.Any]:
    """``message.to_dict()`` without copying the values.

    The fields in their order, nulls left out; the values are the message's own objects (read
    them, do not change them).
    """
    cls = message.__class__
    if cls is RecordMessage:
        return message.to_dict()  # the SDK's own, which copies nothing
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(message))
    out = {}
    for name in names:
        value = getattr(message, name)
        if value is not None:
            out[name] = value
    return out


class LeanSingerWriter(SimpleSingerWriter):
    """Writes the same messages as the SDK's writer, in blocks (see the module docstring)."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[str] = []
        self._pending_chars = 0
        self._writing = False
        self._after_write: t.Callable[[], None] | None = None
        #: Records written, per stream.
        self.records: dict[str, int] = {}

    def when_idle(self, action: t.Callable[[], None]) -> None:
        """Run ``action`` now, or right after the write in progress.

        For a signal handler that writes a STATE and exits: it must neither repeat nor cut
        the lines being written.
        """
        if self._writing:
            self._after_write = action
        else:
            action()

    @override
    def serialize_message(self, message: Message) -> str:
        """One line of JSON."""
        return encode(as_dict(message))

    @override
    def write_message(self, message: Message) -> None:
        """Queue a record; write out the queue with any other message."""
        line = encode(as_dict(message))
        is_record = message.__class__ is RecordMessage
        if is_record:
            stream = message.stream  # type: ignore[attr-defined]
            self.records[stream] = self.records.get(stream, 0) + 1
        self._pending.append(line)
        self._pending_chars += len(line)
        if not is_record:
            self.flush()
        elif self._pending_chars > BATCH_CHARS:
            self._write_pending(flush=False)

    def flush(self) -> None:
        """Write every pending record to standard output and flush it."""
        self._write_pending(flush=True)

    def _write_pending(self, *, flush: bool) -> None:
        self._writing = True
        try:
            pending = self._pending
            if pending:
                pending.append("")
                sys.stdout.write("\n".join(pending))
                pending.clear()
                self._pending_chars = 0
            if flush:
                sys.stdout.flush()
        finally:
            self._writing = False
        action, self._after_write = self._after_write, None
        if action is not None:
            action()
