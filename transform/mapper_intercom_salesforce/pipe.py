"""Standard input and output as a pipe: output is flushed whenever the mapper would wait.

Under load a flush per record costs a system call each; in a long-lived job a record left in
stdout's buffer waits for the next message. Flushing before every blocking read of the input
does both: one flush per block of input read while the tap is fast, and every emitted message
delivered as soon as the input goes quiet.
"""

from __future__ import annotations

import io
import os
import sys
import typing as t

from singer_sdk.singerlib import Message, RecordMessage
from singer_sdk.singerlib.encoding.simple import SimpleSingerReader, SimpleSingerWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BLOCK = 1 << 16


def lines_flushing_when_idle(stream: t.IO[str], flush: Callable[[], None]) -> Iterator[str]:
    """The lines of ``stream``, calling ``flush`` before each read that may block.

    Reads the file descriptor directly (``os.read`` returns what the pipe holds, without
    waiting for a full block); a stream without one (``io.StringIO``) is iterated as it is,
    with a flush at its end.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield from stream
        flush()
        return
    partial: list[bytes] = []
    while True:
        flush()
        chunk = os.read(fd, BLOCK)
        if not chunk:
            break
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start : end + 1]
            if partial:
                partial.append(piece)
                piece = b"".join(partial)
                partial = []
            # A line ends at b"\n", which no multi-byte UTF-8 sequence contains.
            yield piece.decode("utf-8")
            start = end + 1
        if start < len(chunk):
            partial.append(chunk[start:])
    if partial:
        yield b"".join(partial).decode("utf-8")


class IdleFlushReader(SimpleSingerReader):
    """The SDK's reader, flushing standard output before each read that may block."""

    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        lines = lines_flushing_when_idle(file_input or sys.stdin, sys.stdout.flush)
        return super().process_lines(t.cast("t.IO[str]", lines), callbacks)


class BufferedWriter(SimpleSingerWriter):
    """Leaves RECORD lines in stdout's buffer (the reader flushes it before waiting for input);
    any other message is flushed at once.

    Flushing before STATE keeps the promise that the target has every record a state covers.
    """

    def write_message(self, message: Message) -> None:
        """Write one message, flushing unless it is a record."""
        sys.stdout.write(self.format_message(message) + "\n")
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


__all__ = ["BufferedWriter", "IdleFlushReader", "lines_flushing_when_idle"]
