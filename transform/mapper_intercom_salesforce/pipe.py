"""Standard input read so that the mapper's output is delivered whenever it would wait.

Under load a flush per record costs a system call each; in a long-lived job a record left in
the writer's buffer waits for the next message. Writing out the buffer before every read of
the input that may block does both: one write per block of input while the tap is fast, and
every emitted message delivered as soon as the input goes quiet.
"""

from __future__ import annotations

import sys
import typing as t

from singer_kit.pipe import read_lines
from singer_sdk.singerlib.encoding.simple import SimpleSingerReader


class IdleFlushReader(SimpleSingerReader):
    """The SDK's reader, calling :attr:`before_read` before each read that may block."""

    #: Set by the mapper to its writer's ``flush``; unset, standard output is flushed.
    before_read: t.Callable[[], None] | None = None

    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        """Process the input's messages, delivering the output before each wait for more."""
        lines = read_lines(file_input or sys.stdin, before_read=self.before_read or _flush_stdout)
        return super().process_lines(t.cast("t.IO[str]", lines), callbacks)


def _flush_stdout() -> None:
    sys.stdout.flush()
