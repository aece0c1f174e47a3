"""One writer of Leads per org at a time, across the target processes of one machine.

Duplicate-email protection (``sinks.LeadMatcher``) looks Leads and Contacts up, then creates
the Leads it found none for. Two processes doing that at once for the same person (the batch
job and the real-time job) would both find nothing and both create a Lead. An exclusive
``flock`` on a file per org, held from the look-ups to the end of the writes of a Lead batch,
makes the second process look up after the first one's writes. The kernel releases the lock
when its holder exits, however it exits (kill -9 included), so no stale lock is ever left.

The lock is one per org on the machine, whatever each plugin's other settings: its file is
named by the org id (what login returns, so two plugins configured with different instance
URLs or state paths for one org still meet) in one folder, by default ``target-salesforce-
leads-locks`` in the system's temporary folder. That folder is open to every user (sticky, as
``/tmp``), and the lock file is opened read-only, so jobs run by different users share it too.

It does not cover writers on other machines (or containers not sharing the folder; on NFS
``flock`` may be local only), nor other integrations or people creating Leads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator


FOLDER_NAME = "target-salesforce-leads-locks"


def default_folder() -> Path:
    """The machine's folder of Lead locks, shared by every target process on it."""
    return Path(tempfile.gettempdir()) / FOLDER_NAME


class OrgLock:
    """An exclusive lock on ``{folder}/lead-writes-{org id}.lock``."""

    def __init__(self, folder: str | Path | None, org_id: str, logger: logging.Logger) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", org_id) or "org"
        self.shared = not folder
        self.path = Path(folder or default_folder()) / f"lead-writes-{safe}.lock"
        self.logger = logger

    def _open(self) -> int:
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            if self.shared:
                # Every user's target processes meet here, as in /tmp itself.
                with contextlib.suppress(PermissionError):
                    folder.chmod(0o777 | stat.S_ISVTX)
        # Read-only is enough for flock, so a lock file another user made serves too.
        return os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)

    @contextlib.contextmanager
    def held(self) -> Iterator[float]:
        """Hold the lock for the block; yields the seconds spent waiting for it."""
        try:
            fd = self._open()
        except OSError as exc:
            raise OSError(
                f"Cannot open the Lead lock {self.path} ({exc.strerror or exc}): no Lead is "
                "written without it. Set lead_lock_dir to a folder every target process of "
                "this machine can write."
            ) from exc
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
