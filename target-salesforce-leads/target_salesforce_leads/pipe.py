"""Standard input read so that a pending batch can be written while no message arrives.

The SDK's reader blocks on its input: its age check (``_MAX_RECORD_AGE_IN_MINUTES``) runs only
when the next RECORD arrives, so in a long-lived job the last records before a quiet spell
would wait for the next message. Here each read that may block first waits at most as long as
the target says (``select``), and tells it when that time passed with nothing to read.
"""

from __future__ import annotations

import io
import os
import select
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BLOCK = 1 << 16


def lines_with_deadline(
    stream: t.IO[str], wait_limit: Callable[[], float | None], on_quiet: Callable[[], None]
) -> Iterator[str]:
    """The lines of ``stream``; before each read that may block, ``wait_limit()`` gives the
    longest wait in seconds (None: no limit), and ``on_quiet()`` is called when it passed.

    Reads the file descriptor directly (``os.read`` returns what the pipe holds); a stream
    without one (``io.StringIO``) is iterated as it is.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield from stream
        return
    partial: list[bytes] = []
    while True:
        limit = wait_limit()
        while limit is not None:
            ready, _, _ = select.select([fd], [], [], max(0.0, limit))
            if ready:
                break
            on_quiet()
            limit = wait_limit()
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
