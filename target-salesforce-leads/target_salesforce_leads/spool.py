"""The batch spool: records kept as JSON lines in a temporary file, referred to by int handles."""

from __future__ import annotations

import tempfile
import typing as t

# A routed record that is its canonical record unchanged points into the batch's spool rather
# than into a copy: this bit of the reference says so.
SAME = 1 << 62


class Spool:
    """Append-only temporary file of JSON lines; records are referred to by an int handle.

    Keeping a batch's records on disk rather than as Python objects bounds the target's memory
    however large ``batch_size`` is.
    """

    def __init__(self) -> None:
        # Open for the spool's life, closed by close() (no with block can span it).
        self._fh = tempfile.TemporaryFile(prefix="target-sf-spool-")  # noqa: SIM115
        self._end = 0
        self._at_end = True  # the file position is the end: appends need no seek (a seek
        # flushes the write buffer, i.e. costs a system call per record)

    def append(self, line: bytes) -> int:
        """Append ``line``; answer its handle."""
        if not self._at_end:
            self._fh.seek(self._end)
            self._at_end = True
        self._fh.write(line)
        handle = (self._end << 32) | len(line)
        self._end += len(line)
        return handle

    def read(self, handle: int) -> bytes:
        """The line of ``handle``."""
        self._at_end = False
        self._fh.seek(handle >> 32)
        return self._fh.read(handle & 0xFFFFFFFF)

    def reader(self, block: int = 1 << 20) -> t.Callable[[int], bytes]:
        """A ``read`` for handles taken mostly in the order they were appended.

        It reads the file a block at a time (one system call per block rather than per record).

        Only for a spool that is not appended to while the reader is in use.
        """
        buf = b""
        start = 0

        def read(handle: int) -> bytes:
            nonlocal buf, start
            off, size = handle >> 32, handle & 0xFFFFFFFF
            rel = off - start
            if rel < 0 or rel + size > len(buf):
                self._at_end = False
                self._fh.seek(off)
                buf = self._fh.read(max(size, block))
                start, rel = off, 0
            return buf[rel : rel + size]

        return read

    def close(self) -> None:
        """Remove the spool file."""
        self._fh.close()


def routed_reader(routed: Spool, batch: Spool) -> t.Callable[[int], bytes]:
    """Read a routed record: a copy in ``routed``, or (``SAME`` set) its line in ``batch``."""
    own, same = routed.reader(), batch.reader()

    def read(ref: int) -> bytes:
        return same(ref & ~SAME) if ref & SAME else own(ref)

    return read
