"""One writer of Leads per org at a time, across the target processes of one machine.

Duplicate-email protection (``sinks.LeadMatcher``) looks Leads and Contacts up, then creates
the Leads it found none for. Two processes doing that at once for the same person (the batch
job and the real-time job) would both find nothing and both create a Lead. An exclusive
``flock`` on a file per org, held from the look-ups to the end of the writes of a Lead batch,
makes the second process look up after the first one's writes. The kernel releases the lock
when its holder exits, however it exits (kill -9 included), so no stale lock is ever left.

It does not cover writers on other machines (or containers not sharing the folder; on NFS
``flock`` may be local only), nor other integrations or people creating Leads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator


class OrgLock:
    """An exclusive lock on ``{folder}/lead-writes-{org id}.lock``."""

    def __init__(self, folder: str | Path, org_id: str, logger: logging.Logger) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", org_id) or "org"
        self.path = Path(folder) / f"lead-writes-{safe}.lock"
        self.logger = logger

    @contextlib.contextmanager
    def held(self) -> Iterator[float]:
        """Hold the lock for the block; yields the seconds spent waiting for it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waited = 0.0
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.logger.info(
                    "Another target process is writing Leads to this org (lock "
                    "%s); waiting for it to finish its batch.",
                    self.path,
                )
                start = time.monotonic()
                fcntl.flock(fd, fcntl.LOCK_EX)
                waited = time.monotonic() - start
                self.logger.info("Waited %.1f s for the Lead lock.", waited)
            try:
                yield waited
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
