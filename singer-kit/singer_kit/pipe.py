"""Standard input read line by line, doing what must be done before a read may wait.

The SDK's reader iterates its input, which blocks in a read until a line or a full block
arrives. A plugin in a long-lived pipeline must act while its input is quiet: the mapper
delivers what it has written (a record left in a buffer would wait for the next message), the
target writes a batch that is due. :func:`read_lines` reads the file descriptor directly
(``os.read`` returns what the pipe holds without waiting for a full block) and, before each
read that may block, calls ``before_read``, and waits at most ``wait_limit()`` seconds,
calling ``on_quiet`` each time that passed with nothing to read.
"""

from __future__ import annotations

import io
import os
import select
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Most bytes taken from the pipe at once.
BLOCK = 1 << 16


def read_lines(
    stream: t.IO[str],
    wait_limit: Callable[[], float | None] | None = None,
    on_quiet: Callable[[], None] | None = None,
    before_read: Callable[[], None] | None = None,
) -> Iterator[str]:
    """The lines of ``stream``, as its iteration would give them.

    Args:
        stream: The input (standard input, or any text stream).
        wait_limit: Before each read that may block, the longest wait in seconds (None: no
            limit). Not given: reads wait as long as it takes.
        on_quiet: Called each time ``wait_limit()`` seconds passed with nothing to read.
        before_read: Called before each read that may block (and, for a stream without a
            file descriptor such as ``io.StringIO``, which is iterated as it is, at its end).

    Yields:
        Each line with its line break; the last one without it if the input has none.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield from stream
        if before_read is not None:
            before_read()
        return
    partial: list[bytes] = []
    while chunk := _next_chunk(fd, wait_limit, on_quiet, before_read):
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


def _next_chunk(
    fd: int,
    wait_limit: Callable[[], float | None] | None,
    on_quiet: Callable[[], None] | None,
    before_read: Callable[[], None] | None,
) -> bytes:
    """What the pipe holds next (b"" at its end), after the waits :func:`read_lines` names."""
    if before_read is not None:
        before_read()
    limit = wait_limit() if wait_limit is not None else None
    while limit is not None and wait_limit is not None:
        ready, _, _ = select.select([fd], [], [], max(0.0, limit))
        if ready:
            break
        if on_quiet is not None:
            on_quiet()
        limit = wait_limit()
    return os.read(fd, BLOCK)
